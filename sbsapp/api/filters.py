"""Query-string filters, validated: a bad value is a 400 that names the parameter, never an ignored filter."""
from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from rest_framework import serializers

from core.api.filters import StrictQuerySerializer
from retrieval.models import Query

from ..models import Campaign, Item


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


