"""REST API of synthesis: list, start and cancel synthesis jobs; read their curated pairs incrementally."""
from __future__ import annotations

import django_filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
)
from rest_framework import exceptions, mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from core.api.configs import validate_no_body
from core.api.errors import ServiceUnavailable, error_responses
from core.api.filters import (
    BooleanFilter,
    FloatFilter,
    IntegerFilter,
    ListFilterBackend,
    StrictFilterSet,
)
from core.api.pagination import IncrementalCursorPagination, StandardPagination
from core.api.permissions import AnalystReadsAdminWrites, IsAnalyst
from core.api.schema import read_schema
from core.api.throttles import ThrottleRefusedRequestsMixin
from core.configs import ConfigInvalid, validate_config
from jobs.api import JOB_EXAMPLE, JobSerializer, JobStatusFilter, cancel_active_job
from jobs.models import Job
from jobs.services import BrokerUnavailable
from synthesis.config import SynthesisConfig
from synthesis.models import SynthesisJob, SyntheticPair
from synthesis.selectors import synthesis_counts, with_synthesis_counts
from synthesis.services import synthesis_job_start


class SynthesisJobSerializer(JobSerializer):
    """A synthesis job with its live counts (queries done, rewrites, kept and incremental pairs)."""

    synthesis = serializers.SerializerMethodField(help_text="Counts from the rows the job has written so far.")

    class Meta(JobSerializer.Meta):
        fields = JobSerializer.Meta.fields + ["synthesis"]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_synthesis(self, job) -> dict:
        return synthesis_counts(job=job)  # from the row's annotations on a list (see get_queryset)


class SyntheticPairSerializer(serializers.Serializer):
    """A curated (original query, product) pair and its provenance."""

    id = serializers.IntegerField()
    job = serializers.IntegerField(source="job_id")
    query_id = serializers.CharField(source="query.query_id", help_text="Catalogue query id.")
    query = serializers.CharField(source="query.text", help_text="The ORIGINAL query text.")
    product_id = serializers.CharField(source="product.product_id", help_text="Catalogue product id.")
    product_title = serializers.CharField(source="product.title")
    judge_score = serializers.FloatField(help_text="Relevance to the original query, 0..1.")
    incremental = serializers.BooleanField(help_text="Not in the baseline's top-K for the original query.")
    found_by_original = serializers.BooleanField()
    rewrites = serializers.ListField(child=serializers.CharField(), help_text="Rewrites whose retrieval found it.")
    created_at = serializers.DateTimeField()


def config_fields_doc(config_class) -> str:
    """A Markdown list of a config model's fields with their defaults and limits, for the API description (the
    request schema is a plain object: OpenAPI 3.0 has no `null` type for pydantic's optional fields)."""
    rows = []
    for name, info in config_class.model_fields.items():
        limits = [f"{symbol} {getattr(meta, attr)}" for meta in info.metadata
                  for attr, symbol in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<"), ("max_length", "length <="))
                  if getattr(meta, attr, None) is not None]
        default = "required" if info.is_required() else f"default `{info.get_default(call_default_factory=True)!r}`"
        rows.append(f"- `{name}` ({', '.join([default, *limits])}){': ' + info.description if info.description else ''}")
    return "\n".join(rows)


class SyntheticPairFilter(StrictFilterSet):
    job = django_filters.ModelChoiceFilter(queryset=Job.objects.filter(kind="synthesis"),
                                           help_text="Synthesis job id.")
    incremental = BooleanFilter(help_text="Only pairs the baseline misses (true) or finds (false).")
    since_id = IntegerFilter(field_name="id", lookup_expr="gt", min_value=0, max_value=2**63 - 1,
                             help_text="Only pairs with a larger id: poll with the last id you saw.")
    min_score = FloatFilter(field_name="judge_score", lookup_expr="gte", min_value=0.0, max_value=1.0,
                            help_text="Only pairs with at least this judge score.")


SYNTHESIS_JOB_EXAMPLE = {
    **JOB_EXAMPLE,
    "synthesis": {"queries": 400, "queries_done": 120, "rewrites": 480, "candidates": 9100, "kept_pairs": 311,
                  "incremental_pairs": 140, "incremental_share": 0.45},
}


@extend_schema_view(**read_schema(
    tag="synthesis", serializer=SynthesisJobSerializer, example_name="A running synthesis",
    example=SYNTHESIS_JOB_EXAMPLE, list_summary="List synthesis jobs",
    list_description="Synthesis runs (mine long-tail queries, rewrite, retrieve, judge, curate), newest first, "
                     "with their live counts. Analysts and admins.",
    retrieve_summary="Status of one synthesis job"))
class SynthesisJobViewSet(ThrottleRefusedRequestsMixin, mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    serializer_class = SynthesisJobSerializer
    permission_classes = [AnalystReadsAdminWrites]
    pagination_class = StandardPagination
    lookup_value_converter = "int"
    filter_backends = [ListFilterBackend]
    filterset_class = JobStatusFilter

    def get_queryset(self):
        return with_synthesis_counts(Job.objects.filter(kind=SynthesisJob.KIND).select_related("created_by"))

    @extend_schema(
        summary="Start a synthesis job (admins)",
        description="Validates the config (`SynthesisConfig`: the same types, ranges and messages as the staff "
                    "form; omitted options take its defaults), then that the dataset, both versions and the judge "
                    "exist, belong together and are ready, and queues the job on the `ml` queue. The stored config "
                    "(with defaults) is the job's `config`. Follow it at /api/synthesis/jobs/{id}/ and its pairs at "
                    "/api/synthesis/pairs/?job={id}.\n\nFields (a JSON object):\n\n" + config_fields_doc(SynthesisConfig),
        request=OpenApiTypes.OBJECT,
        responses={201: SynthesisJobSerializer, **error_responses(400, 401, 403, 503)},
        examples=[
            OpenApiExample("Tail queries, cross-encoder judge", request_only=True, value={
                "dataset_id": 1, "retriever_version_id": 3, "baseline_version_id": 2, "judge_version_id": 1,
                "segments": ["tail"], "candidates": 4, "retrieve_k": 100, "threshold": 0.6, "max_queries": 500,
            }),
            OpenApiExample("Queued", response_only=True, status_codes=["201"], value={
                **SYNTHESIS_JOB_EXAMPLE, "status": "queued", "stage": "", "done": 0, "total": 0, "percent": 0,
                "synthesis": {"queries": 0, "queries_done": 0, "rewrites": 0, "candidates": 0, "kept_pairs": 0,
                              "incremental_pairs": 0, "incremental_share": 0.0},
            }),
        ],
        tags=["synthesis"],
    )
    def create(self, request, *args, **kwargs):
        if not isinstance(request.data, dict):
            raise exceptions.ValidationError({"non_field_errors": ["Send the config as a JSON object."]})
        try:
            config = validate_config(SynthesisConfig, request.data)
        except ConfigInvalid as exc:
            raise exceptions.ValidationError({"non_field_errors" if field == "__all__" else field: messages
                                              for field, messages in exc.errors.items()}) from None
        job = start_synthesis(config=config, user=request.user)
        return Response(SynthesisJobSerializer(job).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Cancel a synthesis job (admins)",
        description="Stops at the next query boundary; pairs written so far stay and a retry resumes from them. "
                    "A finished job answers 409.",
        request=None,
        responses={200: SynthesisJobSerializer, **error_responses(401, 403, 404, 409)},
        examples=[OpenApiExample("Cancellation requested", response_only=True,
                                 value={**SYNTHESIS_JOB_EXAMPLE, "cancel_requested": True})],
        tags=["synthesis"],
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        validate_no_body(request.data)
        return Response(SynthesisJobSerializer(cancel_active_job(job=self.get_object())).data)


def start_synthesis(*, config: SynthesisConfig, user) -> Job:
    """The API's start: the service's reference checks become 400s, a down broker a 503."""
    try:
        job = synthesis_job_start(config=config, user=user)
    except ValueError as exc:
        raise exceptions.ValidationError({"non_field_errors": [str(exc)]}) from exc
    except BrokerUnavailable as exc:
        raise ServiceUnavailable(str(exc)) from exc
    job.refresh_from_db()
    return job


PAIR_EXAMPLE = {
    "id": 5012, "job": 42, "query_id": "q-1182", "query": "pan for induction hob without teflon",
    "product_id": "B0456", "product_title": "Cast iron skillet", "judge_score": 0.93, "incremental": True,
    "found_by_original": False, "rewrites": ["cast iron pan induction", "stainless steel pan no coating"],
    "created_at": "2026-11-25T12:04:10Z",
}


@extend_schema_view(**read_schema(
    tag="synthesis", serializer=SyntheticPairSerializer, example_name="A kept incremental pair", example=PAIR_EXAMPLE,
    list_summary="List synthetic pairs (incremental)",
    list_description="Curated (original query, product) pairs with provenance, oldest first by id. To follow a "
                     "running job, keep the largest `id` you have seen and ask again with `since_id`, or "
                     "follow `next`. Analysts and admins.",
    retrieve_summary="One synthetic pair"))
class SyntheticPairViewSet(ThrottleRefusedRequestsMixin, viewsets.ReadOnlyModelViewSet):
    serializer_class = SyntheticPairSerializer
    permission_classes = [IsAnalyst]
    pagination_class = IncrementalCursorPagination
    lookup_value_converter = "int"
    filter_backends = [ListFilterBackend]
    filterset_class = SyntheticPairFilter

    def get_queryset(self):
        return SyntheticPair.objects.select_related("query", "product").defer(
            "product__description", "product__attributes")
