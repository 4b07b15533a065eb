"""Query-string filters of the SBS API (django-filter): a bad value is a 400 that names the parameter, never an
ignored filter (see core.api.filters)."""
from __future__ import annotations

from datetime import timezone as dt_timezone

import django_filters
from django.contrib.auth import get_user_model
from rest_framework import exceptions

from core.api.filters import BooleanFilter, StrictFilterForm, StrictFilterSet
from core.roles import is_analyst
from retrieval.models import Query

from ..models import Campaign, Item


class CampaignFilter(StrictFilterSet):
    status = django_filters.ChoiceFilter(choices=Campaign.Status.choices)


class ItemFilter(StrictFilterSet):
    campaign = django_filters.ModelChoiceFilter(queryset=Campaign.objects.all(), help_text="Campaign id.")
    kind = django_filters.ChoiceFilter(choices=Item.Kind.choices)
    segment = django_filters.ChoiceFilter(choices=Query.Segment.choices)
    query_type = django_filters.ChoiceFilter(choices=Query.QueryType.choices)
    is_active = BooleanFilter(help_text="Only items served (true) or hidden (false) to annotators.")


class JudgmentFilterForm(StrictFilterForm):
    def clean(self):
        cleaned = super().clean()
        for key in ("created_after", "created_before"):
            # ISO 8601 allows offsets PostgreSQL refuses (beyond ±15:59): compare in UTC, which both accept.
            if cleaned.get(key) is not None:
                cleaned[key] = cleaned[key].astimezone(dt_timezone.utc)
        after, before = cleaned.get("created_after"), cleaned.get("created_before")
        if after and before and after >= before:
            self.add_error("created_before", "Must be later than created_after.")
        return cleaned


class JudgmentFilter(StrictFilterSet):
    campaign = django_filters.ModelChoiceFilter(queryset=Campaign.objects.all(), help_text="Campaign id.")
    annotator = django_filters.ModelChoiceFilter(queryset=get_user_model().objects.all(), to_field_name="username",
                                                 method="filter_annotator", help_text="Annotator username.")
    segment = django_filters.ChoiceFilter(field_name="item__segment", choices=Query.Segment.choices)
    query_type = django_filters.ChoiceFilter(field_name="item__query_type", choices=Query.QueryType.choices)
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte",
                                                     help_text="ISO 8601; inclusive.")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt",
                                                      help_text="ISO 8601; exclusive.")

    class Meta:
        form = JudgmentFilterForm

    def filter_annotator(self, queryset, name, value):
        """Annotators may ask only for their own judgments (the view already limits them to those)."""
        user = getattr(self.request, "user", None)
        if user is not None and not is_analyst(user) and value.pk != user.pk:
            raise exceptions.PermissionDenied("Annotators can read only their own judgments.")
        return queryset.filter(annotator=value)


class ExportFilter(JudgmentFilter):
    format = django_filters.ChoiceFilter(
        choices=[("csv", "CSV"), ("jsonl", "JSON Lines")], method="pick_format",
        help_text="csv (the default; one header row) or jsonl (one JSON object a line).")

    def pick_format(self, queryset, name, value):
        return queryset  # chooses the file type (read from the form), filters nothing
