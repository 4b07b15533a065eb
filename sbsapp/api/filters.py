"""Query-string filters, validated: a bad value is a 400 that names the parameter, never an ignored filter."""
from __future__ import annotations

from django.db.models import QuerySet
from rest_framework import serializers

from retrieval.models import RetrieverVersion

from ..models import Job


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
