"""REST API of jobs: list, read and cancel background jobs of every kind; `queue/` says whether anything is taking
queued jobs off the queue (and a queued job carries the same notice)."""
from __future__ import annotations

import django_filters
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_view
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from core.api.configs import validate_no_body
from core.api.errors import Conflict, error_responses
from core.api.filters import ListFilterBackend, StrictFilterSet, filterset_or_400
from core.api.pagination import StandardPagination
from core.api.permissions import AnalystReadsAdminWrites
from core.api.schema import read_schema
from core.api.throttles import ThrottleRefusedRequestsMixin

from .models import Job
from .presentation import duration_seconds
from .queue_health import queue_health
from .services import job_cancel


class JobSerializer(serializers.ModelSerializer):
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    title = serializers.CharField(source="get_kind_display", read_only=True,
                                  help_text='The kind in words, e.g. "Build a retriever version".')
    percent = serializers.IntegerField(read_only=True, help_text="Progress of the current stage, 0-100.")
    is_active = serializers.BooleanField(read_only=True, help_text="Queued or running.")
    duration_seconds = serializers.SerializerMethodField(
        help_text="Seconds from start to end (to now while running); null before a worker started it.")
    queue_notice = serializers.SerializerMethodField(
        help_text="For a queued job that nothing takes off the queue (no worker answered a ping, or none takes its "
                  "queue): why, with the oldest queued job's age. Null otherwise; see also `GET /api/jobs/queue/`.")

    class Meta:
        model = Job
        fields = [
            "id", "kind", "title", "status", "stage", "done", "total", "percent", "is_active", "counts", "config",
            "result", "error", "log_tail", "cancel_requested", "attempts", "queue", "queue_notice", "created_by",
            "created_at", "started_at", "finished_at", "heartbeat_at", "duration_seconds",
        ]
        read_only_fields = fields

    def get_duration_seconds(self, job: Job) -> float | None:
        seconds = duration_seconds(job)
        return None if seconds is None else round(seconds, 1)

    def get_queue_notice(self, job: Job) -> str | None:
        if job.status != Job.Status.QUEUED:
            return None
        health = self.context.get("queue_health")
        if health is None:  # asked once per response, however many jobs it lists
            health = self.context["queue_health"] = queue_health()
        return health.message or None


class QueueHealthSerializer(serializers.Serializer):
    queued = serializers.IntegerField(help_text="Jobs waiting for a worker.")
    oldest_queued_seconds = serializers.IntegerField(allow_null=True, help_text="Age of the oldest queued job.")
    workers_answered = serializers.ListField(
        child=serializers.CharField(), allow_null=True,
        help_text="Workers that answered the last ping (asked at most every 10 s); null when they were not asked "
                  "(no job queued, or a broker that cannot broadcast).")
    queues_taken = serializers.ListField(child=serializers.CharField(), help_text="Queues those workers take.")
    checked_at = serializers.DateTimeField(allow_null=True, help_text="When the workers were last asked.")
    level = serializers.ChoiceField(choices=["", "info", "warning"], help_text='"warning": nothing takes the jobs.')
    message = serializers.CharField(help_text="Why queued jobs wait, and what to do; empty when all is well.")


class JobStatusFilter(StrictFilterSet):
    status = django_filters.ChoiceFilter(choices=Job.Status.choices)


class NoParameters(StrictFilterSet):
    """An endpoint without query parameters (any given is refused)."""


class JobFilter(JobStatusFilter):
    kind = django_filters.CharFilter(max_length=64, help_text='Job kind, e.g. "synthesis".')


JOB_EXAMPLE = {
    "id": 42, "kind": "synthesis", "title": "Synthesise training pairs", "status": "running",
    "stage": "judge relevance", "done": 120, "total": 400,
    "percent": 30, "is_active": True, "counts": {"pairs_kept": 311}, "config": {"dataset": "icecat"},
    "result": {}, "error": "", "log_tail": "12:01:07 stage: judge relevance\n", "cancel_requested": False,
    "attempts": 1, "queue": "ml", "queue_notice": None, "created_by": "boss", "created_at": "2026-11-25T12:00:00Z",
    "started_at": "2026-11-25T12:00:02Z", "finished_at": None, "heartbeat_at": "2026-11-25T12:01:07Z",
    "duration_seconds": 65.0,
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
        summary="Is anything taking queued jobs?",
        description="The number of queued jobs, the oldest one's age, the workers that answered a ping and the "
                    "queues they take; `message` says why queued jobs wait (no worker, or none for their queue). "
                    "Analysts and admins.",
        responses={200: QueueHealthSerializer, **error_responses(401, 403)},
        examples=[OpenApiExample("No worker running", response_only=True, value={
            "queued": 2, "oldest_queued_seconds": 185, "workers_answered": [], "queues_taken": [],
            "checked_at": "2026-11-25T12:03:05Z", "level": "warning",
            "message": "2 jobs queued, the oldest for 3 min 5 s, and no worker answered a ping: nothing is taking "
                       "jobs off the queue. Start a worker: celery -A celery_worker worker -Q default,ml "
                       "(make worker)."})],
        tags=["jobs"],
    )
    @action(detail=False, methods=["get"], filter_backends=[], pagination_class=None)
    def queue(self, request):
        filterset_or_400(NoParameters, request, Job.objects.none())  # a stray parameter is a 400, as on lists
        return Response(QueueHealthSerializer(queue_health().as_dict()).data)

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
