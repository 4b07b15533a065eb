"""Query-string filters, validated: a bad value is a 400 that names the parameter, never an ignored filter."""
from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from rest_framework import serializers

from retrieval.models import Query, RetrieverVersion

from ..models import Campaign, Item, Job


class StrictQuerySerializer(serializers.Serializer):
    """Rejects parameters it does not know (a typo such as `?campain=3` would otherwise return everything)."""

    allowed_extra = {"page", "page_size", "cursor", "format"}

    def validate(self, attrs):
        unknown = sorted(set(self.initial_data) - set(self.fields) - self.allowed_extra)
        if unknown:
            raise serializers.ValidationError(
                {name: ["Unknown query parameter. Allowed: " + ", ".join(sorted(self.fields))] for name in unknown}
            )
        return attrs


def parse_query(serializer_class: type[serializers.Serializer], request) -> dict:
    serializer = serializer_class(data=request.query_params)
    serializer.is_valid(raise_exception=True)
    return {key: value for key, value in serializer.validated_data.items() if value not in (None, "")}


class JobFilter(StrictQuerySerializer):
    kind = serializers.CharField(required=False, max_length=64, help_text='Job kind, e.g. "synthesis".')
    status = serializers.ChoiceField(choices=Job.Status.choices, required=False)


def filter_jobs(queryset: QuerySet, *, kind: str | None = None, status: str | None = None) -> QuerySet:
    if kind:
        queryset = queryset.filter(kind=kind)
    if status:
        queryset = queryset.filter(status=status)
    return queryset


class RetrieverVersionFilter(StrictQuerySerializer):
    dataset = serializers.CharField(required=False, max_length=100, help_text="Dataset name.")
    kind = serializers.ChoiceField(choices=RetrieverVersion.Kind.choices, required=False)
    status = serializers.ChoiceField(choices=RetrieverVersion.Status.choices, required=False)


def filter_retriever_versions(queryset: QuerySet, *, dataset: str | None = None, kind: str | None = None,
                              status: str | None = None) -> QuerySet:
    if dataset:
        queryset = queryset.filter(dataset__name=dataset)
    if kind:
        queryset = queryset.filter(kind=kind)
    if status:
        queryset = queryset.filter(status=status)
    return queryset


class CampaignFilter(StrictQuerySerializer):
    status = serializers.ChoiceField(choices=Campaign.Status.choices, required=False)


def filter_campaigns(queryset: QuerySet, *, status: str | None = None) -> QuerySet:
    return queryset.filter(status=status) if status else queryset


class ItemFilter(StrictQuerySerializer):
    campaign = serializers.PrimaryKeyRelatedField(queryset=Campaign.objects.all(), required=False,
                                                  help_text="Campaign id.")
    kind = serializers.ChoiceField(choices=Item.Kind.choices, required=False)
    segment = serializers.ChoiceField(choices=Query.Segment.choices, required=False)
    query_type = serializers.ChoiceField(choices=Query.QueryType.choices, required=False)
    is_active = serializers.BooleanField(required=False, allow_null=True, default=None,
                                         help_text="Only items served (true) or hidden (false) to annotators.")


def filter_items(queryset: QuerySet, *, campaign: Campaign | None = None, kind: str | None = None,
                 segment: str | None = None, query_type: str | None = None,
                 is_active: bool | None = None) -> QuerySet:
    if campaign is not None:
        queryset = queryset.filter(campaign=campaign)
    if kind:
        queryset = queryset.filter(kind=kind)
    if segment:
        queryset = queryset.filter(segment=segment)
    if query_type:
        queryset = queryset.filter(query_type=query_type)
    if is_active is not None:
        queryset = queryset.filter(is_active=is_active)
    return queryset


class JudgmentFilter(StrictQuerySerializer):
    campaign = serializers.PrimaryKeyRelatedField(queryset=Campaign.objects.all(), required=False,
                                                  help_text="Campaign id.")
    annotator = serializers.SlugRelatedField(slug_field="username", queryset=get_user_model().objects.all(),
                                             required=False, help_text="Annotator username.")
    segment = serializers.ChoiceField(choices=Query.Segment.choices, required=False)
    query_type = serializers.ChoiceField(choices=Query.QueryType.choices, required=False)
    created_after = serializers.DateTimeField(required=False, help_text="ISO 8601; inclusive.")
    created_before = serializers.DateTimeField(required=False, help_text="ISO 8601; exclusive.")

    def validate(self, attrs):
        attrs = super().validate(attrs)
        after, before = attrs.get("created_after"), attrs.get("created_before")
        if after and before and after >= before:
            raise serializers.ValidationError({"created_before": ["Must be later than created_after."]})
        return attrs


def filter_judgments(queryset: QuerySet, *, campaign: Campaign | None = None, annotator=None,
                     segment: str | None = None, query_type: str | None = None, created_after=None,
                     created_before=None) -> QuerySet:
    if campaign is not None:
        queryset = queryset.filter(campaign=campaign)
    if annotator is not None:
        queryset = queryset.filter(annotator=annotator)
    if segment:
        queryset = queryset.filter(item__segment=segment)
    if query_type:
        queryset = queryset.filter(item__query_type=query_type)
    if created_after is not None:
        queryset = queryset.filter(created_at__gte=created_after)
    if created_before is not None:
        queryset = queryset.filter(created_at__lt=created_before)
    return queryset


class ExportFilter(JudgmentFilter):
    format = serializers.ChoiceField(choices=[("csv", "CSV"), ("jsonl", "JSON Lines")], default="csv",
                                     help_text="csv (one header row) or jsonl (one JSON object a line).")


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
