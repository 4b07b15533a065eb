"""OpenAPI documentation shared by the read-only endpoints of every app: the list and retrieve operations of a
viewset, with their error responses and one response example."""
from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, extend_schema

from .errors import error_responses


def read_schema(*, tag: str, serializer, example_name: str, example: dict, list_summary: str,
                list_description: str, retrieve_summary: str, detail_serializer=None,
                detail_example: dict | None = None) -> dict:
    """`list=` and `retrieve=` for `extend_schema_view(**read_schema(...))`; the detail may use its own
    serializer and example (a campaign with its progress)."""
    return {
        "list": extend_schema(
            summary=list_summary, description=list_description, tags=[tag],
            responses={200: serializer(many=True), **error_responses(400, 401, 403)},
            examples=[OpenApiExample(example_name, value=example, response_only=True)],
        ),
        "retrieve": extend_schema(
            summary=retrieve_summary, tags=[tag],
            responses={200: detail_serializer or serializer, **error_responses(401, 403, 404)},
            examples=[OpenApiExample(example_name, value=detail_example or example, response_only=True)],
        ),
    }
