"""REST API of synthesis: list, start and cancel synthesis jobs; read their curated pairs incrementally."""
from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_field, extend_schema_view
from rest_framework import exceptions, mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from core.api.errors import ServiceUnavailable, error_responses
from core.api.filters import StrictQuerySerializer, parse_query
from core.api.pagination import IncrementalCursorPagination, StandardPagination
from core.api.permissions import AnalystReadsAdminWrites, IsAnalyst
from core.api.throttles import ThrottleRefusedRequestsMixin
from jobs.api import JOB_EXAMPLE, JobSerializer, cancel_active_job, filter_jobs
from jobs.models import Job
from jobs.services import BrokerUnavailable
from retrieval.models import Query

class SynthesisJobSerializer(JobSerializer):
    """A synthesis job with its live counts (queries done, rewrites, kept and incremental pairs)."""

    synthesis = serializers.SerializerMethodField(help_text="Counts from the rows the job has written so far.")

    class Meta(JobSerializer.Meta):
        fields = JobSerializer.Meta.fields + ["synthesis"]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_synthesis(self, job) -> dict:
        from synthesis.selectors import synthesis_counts

        return synthesis_counts(job=job)


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


class SynthesisStartSerializer(serializers.Serializer):
    """A synthesis job's config: what to mine, how to rewrite, retrieve and judge. Omitted options take the
    defaults of `synthesis.services.SynthesisConfig`; the stored config (with defaults) is the job's `config`."""

    dataset_id = serializers.IntegerField(min_value=1, max_value=2**63 - 1)
    retriever_version_id = serializers.IntegerField(min_value=1, max_value=2**63 - 1,
                                                    help_text="The strong offline retriever (e.g. hybrid, large K).")
    baseline_version_id = serializers.IntegerField(min_value=1, max_value=2**63 - 1,
                                                   help_text="The online baseline: decides the incremental flag.")
    judge_backend = serializers.ChoiceField(choices=["cross-encoder", "llm"], required=False)
    judge_version_id = serializers.IntegerField(min_value=1, max_value=2**63 - 1, required=False, allow_null=True,
                                                help_text="A ready cross-encoder judge (needed for that backend).")
    threshold = serializers.FloatField(min_value=0.0, max_value=1.0, required=False)
    rewriter_backend = serializers.ChoiceField(choices=["hf-local", "openai"], required=False)
    rewriter_model = serializers.CharField(max_length=500, required=False, allow_blank=True)
    candidates = serializers.IntegerField(min_value=1, max_value=16, required=False, help_text="Rewrites per query.")
    retrieve_k = serializers.IntegerField(min_value=1, max_value=2000, required=False)
    baseline_k = serializers.IntegerField(min_value=1, max_value=2000, required=False)
    max_pairs_per_query = serializers.IntegerField(min_value=1, max_value=10000, required=False)
    drop_logged = serializers.BooleanField(required=False)
    segments = serializers.ListField(child=serializers.ChoiceField(choices=Query.Segment.choices), required=False)
    max_clicks = serializers.IntegerField(min_value=0, max_value=2**31 - 1, required=False, allow_null=True)
    types = serializers.ListField(child=serializers.ChoiceField(choices=Query.QueryType.choices), required=False)
    max_queries = serializers.IntegerField(min_value=1, max_value=10**7, required=False, allow_null=True)
    llm_tagger = serializers.BooleanField(required=False)
    chunk_size = serializers.IntegerField(min_value=1, max_value=10000, required=False)
    batch_size = serializers.IntegerField(min_value=1, max_value=4096, required=False)
    device = serializers.CharField(max_length=32, required=False)
    seed = serializers.IntegerField(min_value=-(2**31), max_value=2**31 - 1, required=False)

    def validate(self, attrs):
        if isinstance(self.initial_data, dict):
            unknown = sorted(set(self.initial_data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({name: ["Unknown synthesis option."] for name in unknown})
        return attrs


class SynthesisJobFilter(StrictQuerySerializer):
    status = serializers.ChoiceField(choices=Job.Status.choices, required=False)


class SyntheticPairFilter(StrictQuerySerializer):
    job = serializers.PrimaryKeyRelatedField(queryset=Job.objects.filter(kind="synthesis"), required=False,
                                             help_text="Synthesis job id.")
    incremental = serializers.BooleanField(required=False, allow_null=True, default=None,
                                           help_text="Only pairs the baseline misses (true) or finds (false).")
    since_id = serializers.IntegerField(required=False, min_value=0, max_value=2**63 - 1,
                                        help_text="Only pairs with a larger id: poll with the last id you saw.")
    min_score = serializers.FloatField(required=False, min_value=0.0, max_value=1.0,
                                       help_text="Only pairs with at least this judge score.")


def filter_synthetic_pairs(queryset: QuerySet, *, job: Job | None = None, incremental: bool | None = None,
                           since_id: int | None = None, min_score: float | None = None) -> QuerySet:
    if job is not None:
        queryset = queryset.filter(job=job)
    if incremental is not None:
        queryset = queryset.filter(incremental=incremental)
    if since_id is not None:
        queryset = queryset.filter(pk__gt=since_id)
    if min_score is not None:
        queryset = queryset.filter(judge_score__gte=min_score)
    return queryset


SYNTHESIS_JOB_EXAMPLE = {
    **JOB_EXAMPLE,
    "synthesis": {"queries": 400, "queries_done": 120, "rewrites": 480, "candidates": 9100, "kept_pairs": 311,
                  "incremental_pairs": 140, "incremental_share": 0.45},
}


@extend_schema_view(
    list=extend_schema(
        summary="List synthesis jobs",
        description="Synthesis runs (mine long-tail queries, rewrite, retrieve, judge, curate), newest first, "
                    "with their live counts. Analysts and admins.",
        parameters=[SynthesisJobFilter],
        responses={200: SynthesisJobSerializer(many=True), **error_responses(400, 401, 403)},
        examples=[OpenApiExample("A running synthesis", value=SYNTHESIS_JOB_EXAMPLE, response_only=True)],
        tags=["synthesis"],
    ),
    retrieve=extend_schema(
        summary="Status of one synthesis job",
        responses={200: SynthesisJobSerializer, **error_responses(401, 403, 404)},
        examples=[OpenApiExample("A running synthesis", value=SYNTHESIS_JOB_EXAMPLE, response_only=True)],
        tags=["synthesis"],
    ),
)
class SynthesisJobViewSet(ThrottleRefusedRequestsMixin, mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    serializer_class = SynthesisJobSerializer
    permission_classes = [AnalystReadsAdminWrites]
    pagination_class = StandardPagination
    lookup_value_converter = "int"

    def get_queryset(self):
        from synthesis.models import SynthesisJob

        jobs = Job.objects.filter(kind=SynthesisJob.KIND).select_related("created_by")
        if self.action == "list":
            jobs = filter_jobs(jobs, **parse_query(SynthesisJobFilter, self.request))
        return jobs

    @extend_schema(
        summary="Start a synthesis job (admins)",
        description="Validates the config (types and ranges here, then that the dataset, both versions and the "
                    "judge exist, belong together and are ready) and queues the job on the `ml` queue. Follow it "
                    "at /api/synthesis/jobs/{id}/ and its pairs at /api/synthesis/pairs/?job={id}.",
        request=SynthesisStartSerializer,
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
        serializer = SynthesisStartSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        job = start_synthesis(options=serializer.validated_data, user=request.user)
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
        return Response(SynthesisJobSerializer(cancel_active_job(job=self.get_object())).data)


def start_synthesis(*, options: dict, user) -> Job:
    """The API's start: the service's config and reference checks become 400s, a down broker a 503."""
    from synthesis.services import SynthesisConfig, synthesis_job_start

    try:
        job = synthesis_job_start(config=SynthesisConfig.from_dict(dict(options)), user=user)
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


@extend_schema_view(
    list=extend_schema(
        summary="List synthetic pairs (incremental)",
        description="Curated (original query, product) pairs with provenance, oldest first by id. To follow a "
                    "running job, keep the largest `id` you have seen and ask again with `since_id`, or "
                    "follow `next`. Analysts and admins.",
        parameters=[SyntheticPairFilter],
        responses={200: SyntheticPairSerializer(many=True), **error_responses(400, 401, 403)},
        examples=[OpenApiExample("A kept incremental pair", value=PAIR_EXAMPLE, response_only=True)],
        tags=["synthesis"],
    ),
    retrieve=extend_schema(
        summary="One synthetic pair",
        responses={200: SyntheticPairSerializer, **error_responses(401, 403, 404)},
        examples=[OpenApiExample("A kept incremental pair", value=PAIR_EXAMPLE, response_only=True)],
        tags=["synthesis"],
    ),
)
class SyntheticPairViewSet(ThrottleRefusedRequestsMixin, viewsets.ReadOnlyModelViewSet):
    serializer_class = SyntheticPairSerializer
    permission_classes = [IsAnalyst]
    pagination_class = IncrementalCursorPagination
    lookup_value_converter = "int"

    def get_queryset(self):
        from synthesis.models import SyntheticPair

        pairs = SyntheticPair.objects.select_related("query", "product").defer(
            "product__description", "product__attributes")
        if self.action == "list":
            pairs = filter_synthetic_pairs(pairs, **parse_query(SyntheticPairFilter,
                                                                                self.request))
        return pairs
