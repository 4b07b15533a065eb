"""Query-string filters (django-filter), validated: a bad value is a 400 that names the parameter, an unknown
parameter a 400 that lists the allowed ones, never an ignored filter.

Each list declares a `StrictFilterSet` and sets `filter_backends = [ListFilterBackend]` with `filterset_class`, so
drf-spectacular documents the parameters; a view that needs the filtered queryset itself (the streaming export)
calls `filterset_or_400`.
"""
from __future__ import annotations

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from django_filters.rest_framework import DjangoFilterBackend
from django_filters.utils import translate_validation
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

# Query parameters that belong to pagination and rendering, not to a filter.
NON_FILTER_PARAMETERS = frozenset({"page", "page_size", "cursor", "format"})


def drf_error_messages(field: forms.Field) -> dict:
    """DRF's wording for a form field's errors, so the API kept its messages when filters moved to django-filter."""
    if isinstance(field, forms.ModelChoiceField):
        if field.to_field_name:
            return {"invalid_choice": f"Object with {field.to_field_name}=%(value)s does not exist."}
        return {"invalid_choice": 'Invalid pk "%(value)s" - object does not exist.'}
    if isinstance(field, forms.ChoiceField):
        return {"invalid_choice": '"%(value)s" is not a valid choice.'}
    if isinstance(field, forms.DateTimeField):
        return {"invalid": "Datetime has wrong format. Use one of these formats instead: "
                           "YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z]."}
    if isinstance(field, forms.FloatField):
        return {"invalid": "A valid number is required."}
    if isinstance(field, forms.IntegerField):
        return {"invalid": "A valid integer is required."}
    if isinstance(field, forms.CharField):
        return {"max_length": "Ensure this field has no more than %(limit_value)d characters."}
    return {}


class StrictFilterForm(forms.Form):
    """Refuses parameters no filter knows (a typo such as `?campain=3` would otherwise return everything)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            field.error_messages = {**field.error_messages, **drf_error_messages(field)}

    def full_clean(self):
        super().full_clean()
        if not self.is_bound:
            return
        allowed = ", ".join(sorted(self.fields))
        for name in sorted(set(self.data) - set(self.fields) - NON_FILTER_PARAMETERS):
            self._errors[name] = self.error_class(["Unknown query parameter. Allowed: " + allowed])


class StrictFilterSet(django_filters.FilterSet):
    class Meta:
        form = StrictFilterForm


class ListFilterBackend(DjangoFilterBackend):
    """The view's FilterSet on its list action only: reading one object (or acting on it) ignores the query."""

    def filter_queryset(self, request, queryset, view):
        if getattr(view, "action", "list") != "list":
            return queryset
        return super().filter_queryset(request, queryset, view)


def filterset_or_400(filterset_class: type[django_filters.FilterSet], request, queryset):
    """A validated FilterSet (use `.qs` and `.form.cleaned_data`); invalid or unknown parameters raise a 400."""
    filterset = filterset_class(request.query_params, queryset=queryset, request=request)
    if not filterset.is_valid():
        raise translate_validation(filterset.errors)
    return filterset


class StrictBooleanField(forms.Field):
    """DRF's booleans (true/false, 1/0, yes/no, on/off; null or empty = no filter); anything else is refused."""

    widget = forms.TextInput
    default_error_messages = {"invalid": "Must be a valid boolean."}

    def to_python(self, value):
        value = value.lower() if isinstance(value, str) else value
        for values, result in ((serializers.BooleanField.NULL_VALUES, None),
                               (serializers.BooleanField.TRUE_VALUES, True),
                               (serializers.BooleanField.FALSE_VALUES, False)):
            if value in values:
                return result
        raise ValidationError(self.error_messages["invalid"], code="invalid")


class BooleanFilter(django_filters.BooleanFilter):
    field_class = StrictBooleanField


class LimitsInSchemaMixin:
    """Documents a number filter's min_value/max_value in the OpenAPI parameter (drf-spectacular reads no limits)."""

    openapi_schema: dict = {}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        schema = {**self.openapi_schema, "minimum": kwargs.get("min_value"), "maximum": kwargs.get("max_value"),
                  "description": kwargs.get("help_text")}
        extend_schema_field({key: value for key, value in schema.items() if value is not None})(self)


class IntegerFilter(LimitsInSchemaMixin, django_filters.NumberFilter):
    field_class = forms.IntegerField
    openapi_schema = {"type": "integer", "format": "int64"}


class FloatFilter(LimitsInSchemaMixin, django_filters.NumberFilter):
    field_class = forms.FloatField
    openapi_schema = {"type": "number", "format": "double"}
