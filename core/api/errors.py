"""Errors as JSON: one shape for every failure under /api/, never an HTML page.

Every error body is ``{"status": 400, "code": "invalid", "message": "k: Ensure ...", "errors": {...}}``:
`message` is one readable sentence (field errors are joined into it), `errors` keeps the per-field detail
when there is some. DRF exceptions go through `api_exception_handler` (a body over Django's upload limit is a
413 there); Django's own 400/404/500 pages are replaced by JSON for /api/ paths through `bad_request`,
`page_not_found` and `server_error` (root urls' handler400/404/500).
"""
from __future__ import annotations

from django.conf import settings
from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from django.views import defaults
from drf_spectacular.utils import OpenApiResponse
from rest_framework import exceptions, serializers, status
from rest_framework.views import exception_handler

API_PREFIX = "/api/"


class ErrorSerializer(serializers.Serializer):
    """The body of every error response (documented in the schema)."""

    status = serializers.IntegerField(help_text="HTTP status code, repeated in the body.")
    code = serializers.CharField(help_text='Machine-readable reason, e.g. "invalid", "permission_denied".')
    message = serializers.CharField(help_text="One readable sentence saying what went wrong.")
    errors = serializers.DictField(required=False, help_text="Per-field messages, when the input was invalid.")


def flatten_messages(detail, prefix: str = "") -> list[str]:
    """Turn DRF's nested error detail into 'field: message' lines."""
    if isinstance(detail, dict):
        lines = []
        for key, value in detail.items():
            name = "" if key == "non_field_errors" else f"{prefix}{key}"
            lines += flatten_messages(value, prefix=f"{name}." if name else "")
        return lines
    if isinstance(detail, list):
        return [line for item in detail for line in flatten_messages(item, prefix)]
    label = prefix.rstrip(".")
    return [f"{label}: {detail}" if label else str(detail)]


def error_body(*, status: int, code: str, message: str, errors=None) -> dict:
    body = {"status": status, "code": code, "message": message}
    if errors:
        body["errors"] = errors
    return body


def api_exception_handler(exc, context):
    """DRF's handler, reshaped into the one error body; unknown exceptions still propagate (JSON 500 below)."""
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(
            exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        )
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(*exc.args)
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied(*exc.args)
    elif isinstance(exc, RequestDataTooBig):
        exc = RequestTooLarge()
    response = exception_handler(exc, context)
    if response is None:
        return None
    detail = exc.detail if isinstance(exc, exceptions.APIException) else response.data
    if isinstance(exc, exceptions.ValidationError):
        codes = exc.get_codes()
        code = codes if isinstance(codes, str) else "invalid"
        errors = detail if isinstance(detail, dict) else {"non_field_errors": detail}
        message = "; ".join(flatten_messages(detail)) or "The request is invalid."
    else:
        code = getattr(detail, "code", None) or getattr(exc, "default_code", "error")
        errors = None
        message = " ".join(flatten_messages(detail))
    response.data = error_body(status=response.status_code, code=str(code), message=message, errors=errors)
    return response


def bad_request(request, exception=None):
    """Django's 400 (a suspicious request refused before or outside DRF), as JSON under /api/."""
    if request.path.startswith(API_PREFIX):
        return JsonResponse(error_body(status=400, code="bad_request", message="The request was refused as "
                                       "malformed or unsafe (e.g. a body or header over a limit)."), status=400)
    return defaults.bad_request(request, exception)


def page_not_found(request, exception=None):
    if request.path.startswith(API_PREFIX):
        return JsonResponse(
            error_body(status=404, code="not_found", message=f"No API endpoint or object at {request.path}."),
            status=404,
        )
    return defaults.page_not_found(request, exception)


def server_error(request):
    if request.path.startswith(API_PREFIX):
        return JsonResponse(
            error_body(status=500, code="server_error",
                       message="The server failed while handling this request; the error was logged."),
            status=500,
        )
    return defaults.server_error(request)


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the current state of the resource."
    default_code = "conflict"


class RequestTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "request_too_large"

    def __init__(self):
        super().__init__(f"The request body is larger than the {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes this "
                         "server accepts.")


class ServiceUnavailable(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "A service this request needs is not reachable."
    default_code = "service_unavailable"


def error_responses(*codes: int) -> dict:
    """The documented error responses of an endpoint (all share the JSON error body)."""
    texts = {
        400: "Invalid parameters or body; `message` names the parameter.",
        401: "No or an invalid token.",
        403: "Authenticated but the role does not allow this.",
        404: "No such object.",
        409: "The object is in a state that does not allow this.",
        413: "The body is over the server's upload limit.",
        503: "The task queue (or another service) is not reachable; nothing was started.",
    }
    return {code: OpenApiResponse(ErrorSerializer, description=texts[code]) for code in codes}
