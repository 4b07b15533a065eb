"""REST API of jobs: list, read and cancel background jobs of every kind."""
from __future__ import annotations

import django_filters
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_view
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from core.api.configs import validate_no_body
from core.api.errors import Conflict, error_responses
from core.api.filters import ListFilterBackend, StrictFilterSet
from core.api.pagination import StandardPagination
from core.api.permissions import AnalystReadsAdminWrites
from core.api.schema import read_schema
from core.api.throttles import ThrottleRefusedRequestsMixin

from .models import Job
from .services import job_cancel


class JobSerializer(serializers.ModelSerializer):
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    percent = serializers.IntegerField(read_only=True, help_text="Progress of the current stage, 0-100.")
    is_active = serializers.BooleanField(read_only=True, help_text="Queued or running.")

    class Meta:
        model = Job
        fields = [
            "id", "kind", "status", "stage", "done", "total", "percent", "is_active", "counts", "config", "result",
            "error", "log_tail", "cancel_requested", "attempts", "queue", "created_by", "created_at",
            "started_at", "finished_at", "heartbeat_at",
        ]
        read_only_fields = fields


class JobStatusFilter(StrictFilterSet):
    status = django_filters.ChoiceFilter(choices=Job.Status.choices)


class JobFilter(JobStatusFilter):
    kind = django_filters.CharFilter(max_length=64, help_text='Job kind, e.g. "synthesis".')


JOB_EXAMPLE = {
    "id": 42, "kind": "synthesis", "status": "running", "stage": "judge relevance", "done": 120, "total": 400,
    "percent": 30, "is_active": True, "counts": {"pairs_kept": 311}, "config": {"dataset": "icecat"},
    "result": {}, "error": "", "log_tail": "12:01:07 stage: judge relevance\n", "cancel_requested": False,
    "attempts": 1, "queue": "ml", "created_by": "boss", "created_at": "2026-11-25T12:00:00Z",
    "started_at": "2026-11-25T12:00:02Z", "finished_at": None, "heartbeat_at": "2026-11-25T12:01:07Z",
}


@extend_schema_view(**read_schema(
    tag="jobs", serializer=JobSerializer, example_name="A running job", example=JOB_EXAMPLE,
    list_summary="List background jobs",
    list_description="Every long task (import, training, synthesis, campaign generation) is a job. Newest first. "
                     "Analysts and admins.",
    retrieve_summary="One job: status, progress, counts, log tail"))
class JobViewSet(ThrottleRefusedRequestsMixin, viewsets.ReadOnlyModelViewSet):
    serializer_class = JobSerializer
    lookup_value_converter = "int"
    permission_classes = [AnalystReadsAdminWrites]
    pagination_class = StandardPagination
    queryset = Job.objects.select_related("created_by")
    filter_backends = [ListFilterBackend]
    filterset_class = JobFilter

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
        validate_no_body(request.data)
        return Response(JobSerializer(cancel_active_job(job=self.get_object())).data)


def cancel_active_job(*, job: Job) -> Job:
    if not job.is_active:
        raise Conflict(f"Job #{job.pk} already {job.status}; there is nothing to cancel.")
    return job_cancel(job=job)
