"""Thin HTTP layer of the REST API: parse and validate input, call one service or selector, render.

Every endpoint declares its permission class, documents itself with `extend_schema` (with examples) and
answers errors as JSON (see `errors.py`).
"""
from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import exceptions, mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from retrieval.models import RetrieverVersion

from ..jobs import job_cancel
from ..models import Job
from . import filters
from .errors import ErrorSerializer
from .pagination import StandardPagination
from .permissions import AnalystReadsAdminWrites, IsAnalyst
from .serializers import JobSerializer, RetrieverVersionSerializer
from .throttles import ThrottleRefusedRequestsMixin


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the current state of the resource."
    default_code = "conflict"


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
        503: "The task queue (or another service) is not reachable; nothing was started.",
    }
    return {code: OpenApiResponse(ErrorSerializer, description=texts[code]) for code in codes}


JOB_EXAMPLE = {
    "id": 42, "kind": "synthesis", "status": "running", "stage": "judge relevance", "done": 120, "total": 400,
    "percent": 30, "is_active": True, "counts": {"pairs_kept": 311}, "config": {"dataset": "icecat"},
    "result": {}, "error": "", "log_tail": "12:01:07 stage: judge relevance\n", "cancel_requested": False,
    "attempts": 1, "queue": "ml", "created_by": "boss", "created_at": "2026-11-25T12:00:00Z",
    "started_at": "2026-11-25T12:00:02Z", "finished_at": None, "heartbeat_at": "2026-11-25T12:01:07Z",
}


@extend_schema_view(
    list=extend_schema(
        summary="List background jobs",
        description="Every long task (import, training, synthesis, campaign generation) is a job. Newest first. "
                    "Analysts and admins.",
        parameters=[filters.JobFilter],
        responses={200: JobSerializer(many=True), **error_responses(400, 401, 403)},
        examples=[OpenApiExample("A running job", value=JOB_EXAMPLE, response_only=True)],
        tags=["jobs"],
    ),
    retrieve=extend_schema(
        summary="One job: status, progress, counts, log tail",
        responses={200: JobSerializer, **error_responses(401, 403, 404)},
        examples=[OpenApiExample("A running job", value=JOB_EXAMPLE, response_only=True)],
        tags=["jobs"],
    ),
)
class JobViewSet(ThrottleRefusedRequestsMixin, viewsets.ReadOnlyModelViewSet):
    serializer_class = JobSerializer
    lookup_value_converter = "int"
    permission_classes = [AnalystReadsAdminWrites]
    pagination_class = StandardPagination
    queryset = Job.objects.select_related("created_by")

    def get_queryset(self):
        queryset = super().get_queryset()
        if self.action == "list":
            queryset = filters.filter_jobs(queryset, **filters.parse_query(filters.JobFilter, self.request))
        return queryset

    @extend_schema(
        summary="Cancel a job (admins)",
        description="A queued job stops at once; a running one at its next progress checkpoint. Cancelling a "
                    "finished job is refused with 409.",
        request=None,
        responses={200: JobSerializer, **error_responses(401, 403, 404, 409)},
        examples=[OpenApiExample("Cancellation requested", response_only=True,
                                 value={**JOB_EXAMPLE, "cancel_requested": True})],
        tags=["jobs"],
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        return Response(JobSerializer(cancel_active_job(job=self.get_object())).data)


def cancel_active_job(*, job: Job) -> Job:
    if not job.is_active:
        raise Conflict(f"Job #{job.pk} already {job.status}; there is nothing to cancel.")
    return job_cancel(job=job)


VERSION_EXAMPLE = {
    "id": 3, "name": "dense-logs-synth-v2", "dataset": "icecat", "kind": "dense", "status": "ready",
    "base_model": "all-MiniLM-L6-v2", "components": ["dense-logs-v1"],
    "manifest": {"logs": 18234, "synthetic": 5120}, "hyperparams": {"epochs": 2, "temperature": 0.05},
    "seed": 13, "metrics": {"test": {"ndcg@10": 0.412, "recall@100": 0.733}}, "error": "",
    "created_by": "boss", "created_at": "2026-11-25T12:00:00Z", "built_at": "2026-11-25T12:20:00Z",
}


@extend_schema_view(
    list=extend_schema(
        summary="List retriever versions",
        description="Built (and building) retrievers with their training manifest and offline metrics. "
                    "Analysts and admins.",
        parameters=[filters.RetrieverVersionFilter],
        responses={200: RetrieverVersionSerializer(many=True), **error_responses(400, 401, 403)},
        examples=[OpenApiExample("A dense treatment version", value=VERSION_EXAMPLE, response_only=True)],
        tags=["retrievers"],
    ),
    retrieve=extend_schema(
        summary="One retriever version",
        responses={200: RetrieverVersionSerializer, **error_responses(401, 403, 404)},
        examples=[OpenApiExample("A dense treatment version", value=VERSION_EXAMPLE, response_only=True)],
        tags=["retrievers"],
    ),
)
class RetrieverVersionViewSet(ThrottleRefusedRequestsMixin, viewsets.ReadOnlyModelViewSet):
    serializer_class = RetrieverVersionSerializer
    lookup_value_converter = "int"
    permission_classes = [IsAnalyst]
    pagination_class = StandardPagination
    queryset = RetrieverVersion.objects.select_related("dataset", "created_by").prefetch_related("components")

    def get_queryset(self):
        queryset = super().get_queryset()
        if self.action == "list":
            queryset = filters.filter_retriever_versions(
                queryset, **filters.parse_query(filters.RetrieverVersionFilter, self.request)
            )
        return queryset

    @extend_schema(
        summary="Offline metrics of a retriever version",
        description="Recall@K, nDCG@K, MRR, ItemGoodRate@K and QueryGoodRate@K as recorded at evaluation, "
                    "overall and split by segment and query type. Empty until the version is evaluated.",
        responses={200: OpenApiTypes.OBJECT, **error_responses(401, 403, 404)},
        examples=[OpenApiExample("Metrics", response_only=True, value={
            "version": "dense-logs-synth-v2", "status": "ready",
            "metrics": {"test": {"ndcg@10": 0.412, "recall@100": 0.733},
                        "by_segment": {"tail": {"ndcg@10": 0.35}}},
        })],
        tags=["retrievers"],
    )
    @action(detail=True, methods=["get"])
    def metrics(self, request, pk=None):
        version = self.get_object()
        return Response({"version": version.name, "status": version.status, "metrics": version.metrics})
