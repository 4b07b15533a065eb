"""REST endpoints of the leaderboard (analysts) and of adjudication (reviewers record, analysts read).

- `GET /api/leaderboard/{dataset}`: every version of any campaign on the data set, ranked by a Bradley–Terry
  score with a bootstrap CI from the human verdicts (`sbsapp.leaderboard`), automatic judges apart.
- `GET /api/adjudications/queue`: the reviewer's queue of split items and failed controls, blinded as for
  annotators (screen terms, names hidden).
- `POST /api/adjudications/`: a reviewer's final verdict on a queued item, in screen terms (again to revise).
- `GET /api/adjudications/`: the recorded verdicts, unblinded (analysts).
"""
from __future__ import annotations

import django_filters
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_view
from rest_framework import exceptions, mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.errors import Conflict, error_responses
from core.api.filters import ListFilterBackend, StrictFilterSet
from core.api.pagination import StandardPagination
from core.api.permissions import IsAnalyst, RolePermission
from core.api.schema import read_schema
from core.api.throttles import ThrottleRefusedRequestsMixin
from core.roles import ANALYST, REVIEWER
from retrieval.models import Dataset

from ..adjudication import AdjudicationError, adjudication_record, blinded_view, review_queue
from ..judging import COMMENT_MAX_CHARS
from ..leaderboard import dataset_leaderboard
from ..models import Adjudication, Campaign, Item, Judgment


class AnalystReadsReviewerRecords(RolePermission):
    message = "Reading adjudications needs the analyst role; recording one needs the reviewer role."
    read_roles, write_roles = (ANALYST,), (REVIEWER,)


class IsReviewer(RolePermission):
    message = "The review queue is for reviewers."
    read_roles = write_roles = (REVIEWER,)


# ---------------------------------------------------------------------------------------------- leaderboard

LEADERBOARD_EXAMPLE = {
    "dataset": "shop", "human_verdicts": 1800, "groups": 1, "bootstrap_samples": 400,
    "method": "Bradley–Terry (choix ilsr_pairwise_dense), ties as half a win each, ...",
    "versions": [{"version": "dense-synth-v2", "rank": 1, "group": 1, "score": 0.21, "ci_low": 0.12,
                  "ci_high": 0.30, "elo": 1036.5, "verdicts": 1200, "wins": 690.5,
                  "campaigns": [{"id": 7, "name": "tail-queries-nov", "human_verdicts": 600}],
                  "auto": {"dcg:judge-v1": {"score": 0.3, "ci_low": 0.2, "ci_high": 0.4, "verdicts": 200}}}],
    "campaigns": [{"id": 7, "name": "tail-queries-nov", "status": "closed", "system_a": "bm25-v1",
                   "system_b": "dense-synth-v2", "human_verdicts": 600}],
    "auto_judges": ["dcg:judge-v1"],
}


class LeaderboardView(ThrottleRefusedRequestsMixin, APIView):
    permission_classes = [IsAnalyst]

    @extend_schema(
        summary="Leaderboard of retriever versions on a data set",
        description="Every version that took part in any campaign of the data set, with a Bradley–Terry score "
                    "(natural-log strength, centred at 0 within its group), a 95% bootstrap CI over items and "
                    "the campaigns it rests on, from all human verdicts on regular items (ties count half a win "
                    "each; controls excluded). Automatic-SBS judges are ranked apart under `auto`, never mixed "
                    "into the human score. Versions no verdict links are in separate groups, whose scores are "
                    "not comparable. Analysts and admins.",
        responses={200: OpenApiTypes.OBJECT, **error_responses(401, 403, 404)},
        examples=[OpenApiExample("Leaderboard", response_only=True, value=LEADERBOARD_EXAMPLE)],
        tags=["campaigns"],
    )
    def get(self, request, dataset: str):
        return Response(dataset_leaderboard(dataset=get_object_or_404(Dataset, name=dataset)))


# ---------------------------------------------------------------------------------------------- adjudication


class AdjudicationSerializer(serializers.ModelSerializer):
    """A recorded adjudication as an analyst sees it: unblinded, with the final preference toward system B."""

    reviewer = serializers.SlugRelatedField(slug_field="username", read_only=True)
    item_token = serializers.CharField(source="item.token", read_only=True)
    item_kind = serializers.CharField(source="item.kind", read_only=True)
    query = serializers.CharField(source="item.query_text", read_only=True)

    class Meta:
        model = Adjudication
        fields = ["id", "campaign", "item", "item_token", "item_kind", "query", "reason", "choice", "preference",
                  "b_on_left", "reviewer", "comment", "created_at", "updated_at"]
        read_only_fields = fields


class RecordedSerializer(serializers.ModelSerializer):
    """What the reviewer gets back: their answer in screen terms only (nothing says which side was which)."""

    item = serializers.CharField(source="item.token", read_only=True)

    class Meta:
        model = Adjudication
        fields = ["id", "item", "reason", "choice", "comment", "updated_at"]
        read_only_fields = fields


class AdjudicationRequest(serializers.Serializer):
    item = serializers.CharField(max_length=32, help_text="The item's token (from the queue).")
    choice = serializers.ChoiceField(choices=Judgment.Choice.choices,
                                     help_text="Screen terms: -2 left much better ... 2 right much better.")
    comment = serializers.CharField(max_length=COMMENT_MAX_CHARS, required=False, allow_blank=True, default="")


class AdjudicationFilter(StrictFilterSet):
    campaign = django_filters.ModelChoiceFilter(queryset=Campaign.objects.all(), help_text="Campaign id.")
    reason = django_filters.ChoiceFilter(choices=Adjudication.Reason.choices)


class QueueParams(serializers.Serializer):
    campaign = serializers.PrimaryKeyRelatedField(queryset=Campaign.objects.all(), required=False,
                                                  help_text="Only this campaign's items.")


ADJUDICATION_EXAMPLE = {
    "id": 3, "campaign": 7, "item": 311, "item_token": "q3Yx0Jb9u1oZ7l2t5VbK3w", "item_kind": "regular",
    "query": "pan for induction hob without teflon", "reason": "split", "choice": -1, "preference": 1,
    "b_on_left": True, "reviewer": "rev1", "comment": "Left has the only induction pans.",
    "created_at": "2026-11-27T10:00:00Z", "updated_at": "2026-11-27T10:00:00Z",
}
QUEUE_EXAMPLE = {
    "token": "q3Yx0Jb9u1oZ7l2t5VbK3w", "campaign": "tail-queries-nov", "query": "pan for induction hob without "
    "teflon", "query_type": "negation", "kind": "regular", "reason": "split", "expected_choice": None,
    "expected_label": "", "left": [{"title": "Cast iron skillet", "brand": "Forge", "category": "Home > Kitchen",
                                    "price": "39.00", "description": "..."}], "right": [],
    "verdicts": [{"annotator": "Annotator 1", "choice": -1, "choice_label": "Left better", "reasons": ["relevance"],
                  "comment": "", "marks": {"left": [[1, 3]], "right": []}},
                 {"annotator": "Annotator 2", "choice": 1, "choice_label": "Right better", "reasons": [],
                  "comment": "cheaper", "marks": {"left": [], "right": []}}],
    "final_choice": None, "final_comment": "",
}


@extend_schema_view(
    **read_schema(tag="adjudication", serializer=AdjudicationSerializer, example_name="An adjudication",
                  example=ADJUDICATION_EXAMPLE, list_summary="List adjudications (unblinded)",
                  list_description="Reviewers' final verdicts on split items and failed controls, with the "
                                   "preference toward system B. Analysts and admins.",
                  retrieve_summary="One adjudication"),
    create=extend_schema(
        summary="Record a final verdict (reviewers)",
        description="The reviewer's answer on an item of their queue, in screen terms as the item was shown "
                    "(`choice`: -2 left much better ... 2 right much better). Recording again revises it. 404: "
                    "no item with that token; 409: the item is not in the queue (its annotators agree or its "
                    "judging is not over) or the reviewer judged it.",
        request=AdjudicationRequest,
        responses={201: RecordedSerializer, **error_responses(400, 401, 403, 404, 409)},
        examples=[OpenApiExample("Left better", request_only=True,
                                 value={"item": "q3Yx0Jb9u1oZ7l2t5VbK3w", "choice": -1, "comment": "In stock."}),
                  OpenApiExample("Recorded", response_only=True, status_codes=["201"],
                                 value={"id": 4, "item": "q3Yx0Jb9u1oZ7l2t5VbK3w", "reason": "split", "choice": -1,
                                        "comment": "In stock.", "updated_at": "2026-11-30T16:00:00Z"})],
        tags=["adjudication"],
    ),
)
class AdjudicationViewSet(ThrottleRefusedRequestsMixin, mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    permission_classes = [AnalystReadsReviewerRecords]
    serializer_class = AdjudicationSerializer
    pagination_class = StandardPagination
    lookup_value_converter = "int"
    queryset = Adjudication.objects.select_related("item", "reviewer").order_by("campaign_id", "item_id")
    filter_backends = [ListFilterBackend]
    filterset_class = AdjudicationFilter

    def create(self, request, *args, **kwargs):
        body = AdjudicationRequest(data=request.data)
        body.is_valid(raise_exception=True)
        item = Item.objects.select_related("campaign").filter(token=body.validated_data["item"]).first()
        if item is None:
            raise exceptions.NotFound("No item with this token.")
        try:
            adjudication = adjudication_record(item=item, reviewer=request.user, choice=body.validated_data["choice"],
                                               comment=body.validated_data["comment"])
        except AdjudicationError as exc:
            raise Conflict(str(exc)) from exc
        return Response(RecordedSerializer(adjudication).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="The review queue (reviewers)",
        description="Items waiting for a final verdict, oldest campaign first: split verdicts (both sides "
                    "preferred by someone, or no verdict from more than half the annotators) and failed controls, "
                    "once their judging is over. Blinded as for annotators: both lists as shown, the annotators' "
                    "answers in screen terms with reasons and comments, names hidden. Items the reviewer judged "
                    "are left out.",
        parameters=[QueueParams],
        responses={200: OpenApiTypes.OBJECT, **error_responses(400, 401, 403)},
        examples=[OpenApiExample("One split item", response_only=True,
                                 value={"count": 1, "next": None, "previous": None, "results": [QUEUE_EXAMPLE]})],
        tags=["adjudication"],
    )
    @action(detail=False, methods=["get"], permission_classes=[IsReviewer], pagination_class=StandardPagination,
            filter_backends=[])
    def queue(self, request):
        params = QueueParams(data=request.query_params)
        params.is_valid(raise_exception=True)
        entries = review_queue(reviewer=request.user, campaign=params.validated_data.get("campaign"))
        page = self.paginate_queryset(entries)
        return self.get_paginated_response([blinded_view(item=e["item"], reason=e["reason"]) for e in page])
