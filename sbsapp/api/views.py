"""Thin HTTP layer of the REST API: parse and validate input, call one service or selector, render.

Every endpoint declares its permission class, documents itself with `extend_schema` (with examples) and
answers errors as JSON (see `errors.py`).
"""
from __future__ import annotations

from django.db import IntegrityError, transaction
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import exceptions, generics, mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from core.api.configs import validate_body, validate_no_body
from core.api.errors import Conflict, ServiceUnavailable, error_responses
from core.api.filters import ListFilterBackend, filterset_or_400
from core.api.pagination import JudgmentCursorPagination, StandardPagination
from core.api.permissions import (
    AnalystReadsAdminWrites,
    IsAnalyst,
    ReadsOwnJudgmentsOrAll,
)
from core.api.schema import read_schema
from core.api.throttles import ThrottleRefusedRequestsMixin
from core.roles import is_analyst
from jobs.services import BrokerUnavailable

from ..campaigns import (
    CampaignError,
    campaign_close,
    campaign_create,
    campaign_plan_preview,
)
from ..generation import campaign_start_generation
from ..configs import CampaignConfig, CampaignCreateRequest, PlanRequest
from ..models import Campaign, Item, Judgment
from ..dashboard_cache import dashboard_metrics
from . import export, filters
from .serializers import (
    CampaignDetailSerializer,
    CampaignSerializer,
    ItemSerializer,
    JudgmentSerializer,
    OwnJudgmentSerializer,
)

# ------------------------------------------------------------------------------------------- SBS campaigns

CAMPAIGN_EXAMPLE = {
    "id": 7, "name": "tail-queries-nov", "status": "active", "instructions": "Judge relevance to the query.",
    "system_a": "bm25-v1", "system_b": "dense-synth-v2", "segments": ["tail"], "query_types": [],
    "allocation": "proportional",
    "sample_size": 200, "seed": 13, "k": 10, "judgments_per_item": 3, "control_share": 0.1,
    "identical_lists": "control", "reservation_minutes": 10, "plan_min_delta": 0.1, "plan_alpha": 0.05,
    "plan_power": 0.8, "plan": {"items": 281, "sample_size": 312, "judgments_per_item": 3, "judgments": 843,
                                "source": "assumption", "...": "..."},
    "auto_close": True, "closed_by_verdict": "", "generation_job": 41, "created_by": "boss",
    "created_at": "2026-11-25T12:00:00Z", "closed_at": None,
}
SEQUENTIAL_EXAMPLE = {
    "alpha": 0.05, "level": 0.95, "min_delta": 0.1, "items": 120, "delta_gsb": 0.21, "delta_low": 0.04,
    "delta_high": 0.37, "decided_items": 96, "win_share": 0.64, "win_low": 0.5, "win_high": 0.77,
    "verdict": "b_better", "verdict_text": "B better, you can stop", "more_items": None, "stop": True,
}
PLAN_EXAMPLE = {
    "min_delta": 0.1, "alpha": 0.05, "power": 0.8, "judgments_per_item": 3, "items": 281, "judgments": 843,
    "sample_size": 312, "sd": 0.5963, "source": "assumption",
    "basis": "Assumed, not measured: no earlier campaign on this data set has 20 judged items, ...",
    "between_variance": 0.2, "within_variance": 0.46667, "earlier_campaigns": 0,
    "test": "two-sided one-sample t-test of the mean per-item ΔGSB (statsmodels TTestPower)",
    "options": [{"judgments_per_item": 1, "items": 526, "judgments": 526, "sd": 0.8165, "chosen": False},
                {"judgments_per_item": 3, "items": 281, "judgments": 843, "sd": 0.5963, "chosen": True}],
}
PROGRESS_EXAMPLE = {
    "items": 200, "control_items": 20, "regular_items": 180, "hidden_identical": 3, "excluded_short_lists": 2, "items_complete": 120,
    "judgments_done": 450, "judgments_needed": 600, "skips": 12, "annotators": 5, "fraction": 0.75, "percent": 75,
}


@extend_schema_view(
    **read_schema(tag="campaigns", serializer=CampaignSerializer, example_name="An active campaign",
                  example=CAMPAIGN_EXAMPLE, list_summary="List SBS campaigns",
                  list_description="Analysts and admins. Newest first.",
                  retrieve_summary="One campaign with its progress", detail_serializer=CampaignDetailSerializer,
                  detail_example={**CAMPAIGN_EXAMPLE, "progress": PROGRESS_EXAMPLE,
                                  "sequential": SEQUENTIAL_EXAMPLE}),
    create=extend_schema(
        summary="Create a campaign (admins)",
        description="Creates the campaign and, unless `generate` is false, starts the background job that samples "
                    "the queries and freezes both result lists (watch it at /api/jobs/{generation_job}/). "
                    "Both versions must be on the same data set and, to generate, be ready.",
        request=CampaignCreateRequest,
        responses={201: CampaignSerializer, **error_responses(400, 401, 403, 503)},
        examples=[
            OpenApiExample("Tail queries, 3 judgments each", request_only=True, value={
                "name": "tail-queries-nov", "system_a": "bm25-v1", "system_b": "dense-synth-v2",
                "segments": ["tail"], "sample_size": 200, "k": 10, "judgments_per_item": 3,
            }),
            OpenApiExample("Planned for a ΔGSB of 0.1, closing itself on a verdict", request_only=True, value={
                "name": "tail-queries-dec", "system_a": "bm25-v1", "system_b": "dense-synth-v2",
                "sample_size": 320, "plan_min_delta": 0.1, "plan_alpha": 0.05, "plan_power": 0.8,
                "auto_close": True,
            }),
            OpenApiExample("Created, generating", response_only=True, status_codes=["201"],
                           value={**CAMPAIGN_EXAMPLE, "status": "generating"}),
        ],
        tags=["campaigns"],
    ),
)
class CampaignViewSet(ThrottleRefusedRequestsMixin, mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    permission_classes = [AnalystReadsAdminWrites]
    pagination_class = StandardPagination
    lookup_value_converter = "int"
    queryset = Campaign.objects.select_related("system_a", "system_b", "created_by")
    filter_backends = [ListFilterBackend]
    filterset_class = filters.CampaignFilter

    def get_serializer_class(self):
        if self.action == "retrieve":
            return CampaignDetailSerializer
        return CampaignSerializer

    def create(self, request, *args, **kwargs):
        body = validate_body(CampaignCreateRequest, request.data)
        campaign = create_campaign(config=body.campaign_config(), generate=body.generate, user=request.user)
        return Response(CampaignSerializer(campaign).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Close a campaign (admins)",
        description="Stops serving its items to annotators; judgments and metrics stay. Only an active campaign "
                    "can be closed (409 otherwise).",
        request=None,
        responses={200: CampaignSerializer, **error_responses(401, 403, 404, 409)},
        examples=[OpenApiExample("Closed", response_only=True,
                                 value={**CAMPAIGN_EXAMPLE, "status": "closed", "closed_at": "2026-11-30T09:00:00Z"})],
        tags=["campaigns"],
    )
    @action(detail=True, methods=["post"])
    def close(self, request, pk=None):
        validate_no_body(request.data)
        try:
            campaign = campaign_close(campaign=self.get_object())
        except CampaignError as exc:
            raise Conflict(str(exc)) from exc
        return Response(CampaignSerializer(campaign).data)

    @extend_schema(
        summary="Plan a campaign's size (analysts)",
        description="How many complete items (and judgments per item) detect `plan_min_delta` (the smallest ΔGSB "
                    "worth detecting) at `plan_alpha` with `plan_power`, from the variance of earlier campaigns on "
                    "system A's data set when they have enough judged items, from a stated assumption otherwise "
                    "(`source`, `basis`). Creates nothing; a campaign created with the same fields stores this plan.",
        request=PlanRequest,
        responses={200: OpenApiTypes.OBJECT, **error_responses(400, 401, 403)},
        examples=[
            OpenApiExample("A ΔGSB of 0.1", request_only=True,
                           value={"system_a": "bm25-v1", "plan_min_delta": 0.1, "judgments_per_item": 3}),
            OpenApiExample("The plan", response_only=True, value=PLAN_EXAMPLE),
        ],
        tags=["campaigns"],
    )
    @action(detail=False, methods=["post"], permission_classes=[IsAnalyst])
    def plan(self, request):
        body = validate_body(PlanRequest, request.data)
        try:
            return Response(campaign_plan_preview(config=body))
        except CampaignError as exc:
            raise exceptions.ValidationError({exc.field or "non_field_errors": [str(exc)]}) from exc

    @extend_schema(
        summary="SBS metrics of a campaign",
        description="G/S/B counts, win/tie/loss, ΔGSB = (G − B) / (G + S + B) with a bootstrap CI over queries, "
                    "sign test, breakdown by segment and query type, Krippendorff's α and Fleiss' κ, position "
                    "bias, control accuracy and the per-annotator table, plus progress, the stored `plan` and "
                    "the `sequential` verdict (anytime-valid confidence sequences). Regular items only count "
                    "toward ΔGSB; controls feed the quality numbers.",
        responses={200: OpenApiTypes.OBJECT, **error_responses(401, 403, 404)},
        examples=[OpenApiExample("Metrics", response_only=True, value={
            "campaign": {"id": 7, "name": "tail-queries-nov", "status": "active", "system_a": "bm25-v1",
                         "system_b": "dense-synth-v2", "judgments_per_item": 3},
            "progress": PROGRESS_EXAMPLE,
            "plan": PLAN_EXAMPLE,
            "sequential": SEQUENTIAL_EXAMPLE,
            "overall": {"good": 210, "same": 150, "bad": 90, "delta_gsb": 0.267, "ci_low": 0.18, "ci_high": 0.35,
                        "sign_test_p": 0.0001},
            "by_segment": {"tail": {"good": 210, "same": 150, "bad": 90, "delta_gsb": 0.267}},
            "agreement": {"krippendorff_alpha": 0.41, "fleiss_kappa": 0.33, "majority_agreement": 0.78},
        })],
        tags=["campaigns"],
    )
    @action(detail=True, methods=["get"])
    def metrics(self, request, pk=None):
        return Response(dashboard_metrics(self.get_object()))


def create_campaign(*, config: CampaignConfig, generate: bool, user) -> Campaign:
    """The API's create: the service's own errors become 400s, a down broker a 503 (the draft stays)."""
    try:
        with transaction.atomic():
            campaign = campaign_create(config=config, user=user)
    except CampaignError as exc:
        raise exceptions.ValidationError({exc.field or "non_field_errors": [str(exc)]}) from exc
    except IntegrityError as exc:
        raise Conflict(f"A campaign named {config.name!r} already exists.") from exc
    if generate:
        try:
            campaign_start_generation(campaign=campaign, user=user)
        except CampaignError as exc:
            campaign.delete()
            raise exceptions.ValidationError({"non_field_errors": [str(exc)]}) from exc
        except BrokerUnavailable as exc:
            raise ServiceUnavailable(f"{exc} The campaign was saved as a draft (id {campaign.pk}).") from exc
        campaign.refresh_from_db()
    return campaign


ITEM_EXAMPLE = {
    "id": 311, "token": "q3Yx0Jb9u1oZ7l2t5VbK3w", "campaign": 7, "query_id": "q-1182",
    "query_text": "pan for induction hob without teflon", "segment": "tail", "query_type": "negation",
    "kind": "regular", "is_active": True, "identical": False, "b_on_left": True, "aa_source": "",
    "expected_preference": None, "judgments_count": 2,
    "results_a": [{"product": 91, "product_id": "B0123", "title": "Steel frying pan 28 cm", "brand": "Acme",
                   "category": "Home > Kitchen > Pans", "price": "24.90", "description": "...", "score": 12.3}],
    "results_b": [{"product": 17, "product_id": "B0456", "title": "Cast iron skillet", "brand": "Forge",
                   "category": "Home > Kitchen > Pans", "price": "39.00", "description": "...", "score": 0.81}],
    "created_at": "2026-11-25T12:03:00Z",
}


@extend_schema_view(**read_schema(
    tag="campaigns", serializer=ItemSerializer, example_name="An item", example=ITEM_EXAMPLE,
    list_summary="List campaign items (unblinded)",
    list_description="Each item is one query with both frozen result lists and the side system B was shown on. "
                     "Analysts and admins.",
    retrieve_summary="One campaign item"))
class ItemViewSet(ThrottleRefusedRequestsMixin, viewsets.ReadOnlyModelViewSet):
    serializer_class = ItemSerializer
    permission_classes = [IsAnalyst]
    pagination_class = StandardPagination
    lookup_value_converter = "int"
    queryset = Item.objects.select_related("query").order_by("campaign_id", "pk")
    filter_backends = [ListFilterBackend]
    filterset_class = filters.ItemFilter


JUDGMENT_EXAMPLE = {
    "id": 9120, "campaign": 7, "item": 311, "item_kind": "regular", "query_id": "q-1182",
    "query": "pan for induction hob without teflon", "segment": "tail", "query_type": "negation",
    "annotator": "ann1", "skipped": False, "choice": -1, "preference": 1, "b_on_left": True,
    "left_system": "dense-synth-v2", "right_system": "bm25-v1", "marks": {"17": 3, "91": 1},
    "reasons": ["relevance"], "comment": "", "time_on_item_ms": 14250, "created_at": "2026-11-26T08:15:02Z",
}
OWN_JUDGMENT_EXAMPLE = {
    "id": 9120, "campaign": "tail-queries-nov", "query": "pan for induction hob without teflon", "skipped": False,
    "choice": -1, "reasons": ["relevance"], "comment": "", "time_on_item_ms": 14250,
    "created_at": "2026-11-26T08:15:02Z",
}


def judgments_visible_to(*, user):
    """Analysts see every judgment; an annotator only their own (the filter refuses asking for someone else's)."""
    return Judgment.objects.all() if is_analyst(user) else Judgment.objects.filter(annotator=user)


@extend_schema_view(
    list=extend_schema(
        summary="List judgments (cursor-paginated)",
        description="Analysts see every judgment, unblinded (`preference` is toward system B, `left_system` says "
                    "what was on the left). Annotators see only their own, in screen terms (no preference, no "
                    "systems). Newest first; follow `next` to page. For bulk downloads use "
                    "/api/judgments/export.",
        responses={200: JudgmentSerializer(many=True), **error_responses(400, 401, 403)},
        examples=[
            OpenApiExample("As an analyst", value=JUDGMENT_EXAMPLE, response_only=True),
            OpenApiExample("As an annotator (own, screen terms)", value=OWN_JUDGMENT_EXAMPLE, response_only=True),
        ],
        tags=["judgments"],
    ),
    retrieve=extend_schema(
        summary="One judgment",
        responses={200: JudgmentSerializer, **error_responses(401, 403, 404)},
        examples=[OpenApiExample("As an analyst", value=JUDGMENT_EXAMPLE, response_only=True)],
        tags=["judgments"],
    ),
)
class JudgmentViewSet(ThrottleRefusedRequestsMixin, viewsets.ReadOnlyModelViewSet):
    permission_classes = [ReadsOwnJudgmentsOrAll]
    pagination_class = JudgmentCursorPagination
    lookup_value_converter = "int"
    queryset = Judgment.objects.none()  # names the model for the schema; get_queryset() picks the rows
    filter_backends = [ListFilterBackend]
    filterset_class = filters.JudgmentFilter

    def get_serializer_class(self):
        return JudgmentSerializer if is_analyst(self.request.user) else OwnJudgmentSerializer

    def get_queryset(self):
        return judgments_visible_to(user=self.request.user).select_related(
            "item__query", "campaign__system_a", "campaign__system_b", "annotator"
        ).defer("item__results_a", "item__results_b", "campaign__instructions")


class ExportNegotiation(DefaultContentNegotiation):
    """The export's `format` parameter picks the file type, not a DRF renderer; errors are always JSON."""

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class JudgmentExportView(ThrottleRefusedRequestsMixin, generics.GenericAPIView):
    permission_classes = [IsAnalyst]
    queryset = Judgment.objects.all()
    filter_backends = [ListFilterBackend]  # documents ExportFilter's parameters; get() applies it itself
    filterset_class = filters.ExportFilter
    content_negotiation_class = ExportNegotiation
    renderer_classes = [JSONRenderer]

    @extend_schema(
        summary="Export judgments as CSV or JSON Lines (streamed)",
        description="Streams every matching judgment, one row each, in constant server memory (a database "
                    "cursor read in chunks), ordered by item then judgment. Analysts and admins. Skipped "
                    "judgments are included (`skipped` = true).\n\nColumns, in order:\n\n"
                    + export.columns_markdown(),
        responses={
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="CSV with a header row."),
            (200, "application/x-ndjson"): OpenApiResponse(OpenApiTypes.STR,
                                                           description="One JSON object per line."),
            **error_responses(400, 401, 403),
        },
        examples=[OpenApiExample(
            "CSV", response_only=True, media_type="text/csv",
            value=",".join(export.COLUMNS) + "\n9120,2026-11-26T08:15:02+00:00,7,tail-queries-nov,311,regular,"
                  "q-1182,pan for induction hob without teflon,tail,negation,ann1,bm25-v1,dense-synth-v2,"
                  "dense-synth-v2,bm25-v1,true,\"[\"\"B0123\"\"]\",\"[\"\"B0456\"\"]\",false,-1,1,"
                  "\"{\"\"B0456\"\":3}\",\"[\"\"relevance\"\"]\",,14250,1,split,rev1,\n",
        ), OpenApiExample(
            "JSON Lines", response_only=True, media_type="application/x-ndjson",
            value='{"judgment_id": 9120, "campaign_id": 7, "query": "pan for induction hob without teflon", '
                  '"a_product_ids": ["B0123"], "b_product_ids": ["B0456"], "left_system": "dense-synth-v2", '
                  '"preference": 1, "marks": {"B0456": 3}, "annotator": "ann1", "...": "..."}\n',
        )],
        tags=["judgments"],
        filters=True,
    )
    def get(self, request):
        filterset = filterset_or_400(self.filterset_class, request, self.get_queryset())
        params = filterset.form.cleaned_data
        file_format = params.get("format") or "csv"
        write_chunks, content_type = export.FORMATS[file_format]
        response = StreamingHttpResponse(write_chunks(export.export_rows(filterset.qs)), content_type=content_type)
        scope = f"campaign-{params['campaign'].pk}" if params.get("campaign") else "all"
        response["Content-Disposition"] = f'attachment; filename="judgments-{scope}.{file_format}"'
        response["Cache-Control"] = "no-store"
        return response
