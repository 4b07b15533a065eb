"""API bodies validated by a typed config (`core.configs`): the API answers with the same messages as the form."""
from __future__ import annotations

import typing
from collections.abc import Mapping

from rest_framework import exceptions

from core.configs import ConfigInvalid, JobConfig, validate_config


def _is_list_field(config_class: type[JobConfig], name: str) -> bool:
    field = config_class.model_fields.get(name)
    return field is not None and typing.get_origin(field.annotation) is list


def validate_body(config_class: type[JobConfig], data) -> JobConfig:
    """`request.data` as a validated config; invalid input is a 400 whose messages are the config's.

    A form-encoded body keeps every value of a list field (`segments=tail&segments=head`); errors not tied to
    one field are DRF's `non_field_errors`.
    """
    if hasattr(data, "getlist"):
        data = {key: data.getlist(key) if _is_list_field(config_class, key) else data.get(key) for key in data}
    if not isinstance(data, Mapping):
        raise exceptions.ValidationError({"non_field_errors": ["The body must be a JSON object."]})
    try:
        return validate_config(config_class, data)
    except ConfigInvalid as exc:
        raise exceptions.ValidationError(
            {"non_field_errors" if field == "__all__" else field: messages for field, messages in exc.errors.items()}
        ) from None


def validate_no_body(data) -> None:
    """An action that takes no body (cancel, close) refuses any field, as a create refuses unknown ones."""
    if data and isinstance(data, Mapping):
        raise exceptions.ValidationError({key: ["Unknown field: this action takes no body."] for key in data})
    if data:
        raise exceptions.ValidationError({"non_field_errors": ["This action takes no body."]})
