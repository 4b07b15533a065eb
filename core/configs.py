"""One typed configuration per job kind, stated once and used by the form, the API and the job.

A job kind's settings are a pydantic model (`JobConfig`): its fields carry the limits (`Field(ge=1, le=1000)`)
and its validators the cross-field rules. `config_form_fields` turns the model into Django form fields (with
the same limits as HTML attributes), `ConfigForm` validates a submitted form through the model, and
`validate_config` does the same for an API body or a stored job config. So a limit changes in one place, and
the form and the API answer an out-of-range value with the same message.
"""
from __future__ import annotations

import types
import typing
from typing import Annotated, Any, Literal

from django import forms
from django.utils.text import slugify
from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError


def _check_slug(value: str) -> str:
    if value and slugify(value) != value:
        raise ValueError(f"{value!r} must be a slug (lower-case letters, digits, - and _).")
    return value


# A name used in URLs and artifact folders (an empty string passes: "choose one for me" where the field allows it).
Slug = Annotated[str, AfterValidator(_check_slug)]


class JobConfig(BaseModel):
    """Base of every job configuration: unknown keys are refused, values are validated on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    def as_dict(self) -> dict:
        return self.model_dump(mode="json")


class ConfigInvalid(ValueError):
    """A configuration did not validate; `errors` maps each field (or "__all__") to its messages."""

    def __init__(self, errors: dict[str, list[str]]):
        self.errors = errors
        super().__init__("; ".join(f"{field}: {' '.join(msgs)}" if field != "__all__" else " ".join(msgs)
                                   for field, msgs in errors.items()))


def error_messages(exc: ValidationError) -> dict[str, list[str]]:
    """pydantic's errors as {field: [message, ...]}; errors not tied to one field go under "__all__"."""
    out: dict[str, list[str]] = {}
    for error in exc.errors():
        field = str(error["loc"][0]) if error["loc"] else "__all__"
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "Unknown field."
        out.setdefault(field, []).append(message)
    return out


def validate_config(config_class: type[JobConfig], data: dict[str, Any]) -> JobConfig:
    """Validate a mapping (API body, stored job config) against a job kind's config; raises `ConfigInvalid`."""
    try:
        return config_class.model_validate(dict(data))
    except ValidationError as exc:
        raise ConfigInvalid(error_messages(exc)) from None


def _unwrap_optional(annotation):
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return annotation, False


def _limits(field_info) -> dict[str, Any]:
    limits: dict[str, Any] = {}
    for meta in field_info.metadata:
        for attr, key in (("ge", "min_value"), ("le", "max_value"), ("gt", "min_value"), ("lt", "max_value"),
                          ("max_length", "max_length")):
            value = getattr(meta, attr, None)
            if value is not None:
                limits[key] = value
    return limits


def config_form_fields(config_class: type[JobConfig], *, exclude: tuple[str, ...] = ()) -> dict[str, forms.Field]:
    """Django form fields for a config model's plain fields (numbers, text, booleans, literal choices).

    Limits become HTML min/max hints only; the model validates the whole form in `ConfigForm.clean`, so the
    range check and its message are the model's. Fields of other types are left to the form.
    """
    fields: dict[str, forms.Field] = {}
    for name, info in config_class.model_fields.items():
        if name in exclude:
            continue
        annotation, optional = _unwrap_optional(info.annotation)
        required = info.is_required() and not optional
        common = {"required": required, "label": info.title or name.replace("_", " ").capitalize(),
                  "help_text": info.description or ""}
        default = None if info.is_required() else info.get_default(call_default_factory=True)
        if default is not None:
            common["initial"] = default
        limits = _limits(info)
        # Bounds go to the widget only (the browser's hint); the range check and its message are the model's.
        bounds = {"min": limits["min_value"]} if "min_value" in limits else {}
        bounds |= {"max": limits["max_value"]} if "max_value" in limits else {}
        if annotation is bool:
            fields[name] = forms.BooleanField(**{**common, "required": False})
        elif annotation is int:
            fields[name] = forms.IntegerField(**common, widget=forms.NumberInput(attrs=bounds))
        elif annotation is float:
            fields[name] = forms.FloatField(**common, widget=forms.NumberInput(attrs={**bounds, "step": "any"}))
        elif typing.get_origin(annotation) is Literal:
            choices = [(value, str(value).replace("_", " ").replace("-", " ")) for value in typing.get_args(annotation)]
            fields[name] = forms.ChoiceField(choices=([("", "—")] if optional else []) + choices, **common)
        elif annotation is str:
            fields[name] = forms.CharField(**common, max_length=limits.get("max_length"))
    return fields


class ConfigForm(forms.Form):
    """A form whose fields come from a job config model (`config_class`) and that validates through it.

    Subclasses set `config_class` and may add fields the model does not describe (model choices); they turn
    such fields into config values in `config_data()`. The validated config is `cleaned_data["config"]`.
    """

    config_class: type[JobConfig]
    exclude_config_fields: tuple[str, ...] = ()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        generated = config_form_fields(self.config_class, exclude=self.exclude_config_fields)
        for name, field in generated.items():
            self.fields.setdefault(name, field)

    def config_data(self, cleaned: dict[str, Any]) -> dict[str, Any]:
        """The cleaned form values as config keys (override to map model choices to ids)."""
        names = self.config_class.model_fields
        return {name: value for name, value in cleaned.items()
                if name in names and not (value in (None, "") and not self.config_class.model_fields[name].is_required())}

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        try:
            cleaned["config"] = validate_config(self.config_class, self.config_data(cleaned))
        except ConfigInvalid as exc:
            for field, messages in exc.errors.items():
                for message in messages:
                    self.add_error(field if field in self.fields else None, message)
        return cleaned
