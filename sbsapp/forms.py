"""Forms of the SBS pages: they parse and validate input; the services in campaigns/judging do the work."""
from __future__ import annotations

import re

from django import forms

from core.configs import ConfigForm
from retrieval.models import Query, RetrieverVersion

from .configs import CampaignConfig, PlanRequest
from .judging import COMMENT_MAX_CHARS, Verdict
from .models import Campaign, Judgment

MARK_FIELD = re.compile(r"^mark-([lr])-(\d{1,3})$")


class CampaignForm(ConfigForm):
    """The campaign page's form: its settings and limits are `CampaignConfig`'s; the form adds the choices."""

    config_class = CampaignConfig
    field_order = ["name", "instructions", "system_a", "system_b", "segments", "query_types", "allocation", "sample_size", "seed",
                   "k", "judgments_per_item", "control_share", "identical_lists", "reservation_minutes",
                   "plan_min_delta", "plan_alpha", "plan_power", "auto_close", "generate_now"]

    instructions = forms.CharField(widget=forms.Textarea(attrs={"rows": 6}), required=False,
                                   help_text=CampaignConfig.model_fields["instructions"].description)
    system_a = forms.ModelChoiceField(queryset=RetrieverVersion.objects.none(), label="System A (baseline)")
    system_b = forms.ModelChoiceField(queryset=RetrieverVersion.objects.none(), label="System B (treatment)")
    segments = forms.MultipleChoiceField(choices=Query.Segment.choices, required=False,
                                         widget=forms.CheckboxSelectMultiple, help_text="None ticked: all segments.")
    query_types = forms.MultipleChoiceField(choices=Query.QueryType.choices, required=False,
                                            widget=forms.CheckboxSelectMultiple, help_text="None ticked: all types.")
    allocation = forms.ChoiceField(choices=Campaign.Allocation.choices, initial=Campaign.Allocation.PROPORTIONAL,
                                   required=False,
                                   label="How the sample is spread",
                                   help_text=CampaignConfig.model_fields["allocation"].description)
    identical_lists = forms.ChoiceField(choices=Campaign.IdenticalLists.choices,
                                        initial=Campaign.IdenticalLists.CONTROL,
                                        label="When both systems return the same list")
    generate_now = forms.BooleanField(required=False, initial=True, label="Start generating right away")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.order_fields(self.field_order)  # the config's fields were added after Django ordered the form
        ready = RetrieverVersion.objects.filter(status=RetrieverVersion.Status.READY).select_related("dataset")
        self.fields["system_a"].queryset = ready
        self.fields["system_b"].queryset = ready

    def clean_name(self):
        name = self.cleaned_data["name"].strip()
        if Campaign.objects.filter(name=name).exists():
            raise forms.ValidationError("A campaign with this name already exists.")
        return name

    def config_data(self, cleaned: dict) -> dict:
        data = super().config_data(cleaned)
        for side in ("system_a", "system_b"):
            data[side] = cleaned[side].name
        return data


class PlanForm(ConfigForm):
    """The plan's inputs of the campaign form, for its live preview (`PlanRequest`'s fields and limits)."""

    config_class = PlanRequest
    system_a = forms.ModelChoiceField(queryset=RetrieverVersion.objects.all(), label="System A (baseline)")

    def config_data(self, cleaned: dict) -> dict:
        return {**super().config_data(cleaned), "system_a": cleaned["system_a"].name}


class JudgeForm(forms.Form):
    """The judging form. Marks come as `mark-l-<position>` / `mark-r-<position>` (screen positions only)."""

    choice = forms.TypedChoiceField(choices=Judgment.Choice.choices, coerce=int, required=True,
                                    error_messages={"required": "Choose one of the five answers (keys 1 to 5)."})
    reasons = forms.MultipleChoiceField(choices=Judgment.Reason.choices, required=False)
    comment = forms.CharField(max_length=COMMENT_MAX_CHARS, required=False)
    submit_key = forms.CharField(max_length=64, min_length=8)

    def clean(self):
        cleaned = super().clean()
        left: dict[int, int] = {}
        right: dict[int, int] = {}
        for name, value in self.data.items():
            match = MARK_FIELD.match(name)
            if not match or value in ("", None):
                continue
            if value not in ("0", "1", "2", "3"):
                raise forms.ValidationError("Relevance marks go from 0 (irrelevant) to 3 (exactly what was asked).")
            (left if match.group(1) == "l" else right)[int(match.group(2))] = int(value)
        cleaned["left_marks"], cleaned["right_marks"] = left, right
        return cleaned

    def verdict(self) -> Verdict:
        data = self.cleaned_data
        return Verdict(choice=data["choice"], left_marks=data["left_marks"], right_marks=data["right_marks"],
                       reasons=data.get("reasons") or [], comment=data.get("comment") or "")


class SkipForm(forms.Form):
    submit_key = forms.CharField(max_length=64, min_length=8)
    comment = forms.CharField(max_length=COMMENT_MAX_CHARS, required=False)


class GoldForm(forms.Form):
    expected_preference = forms.TypedChoiceField(
        choices=[("", "Not gold (regular item)"), (-2, "A much better"), (-1, "A better"), (0, "About the same"),
                 (1, "B better"), (2, "B much better")],
        coerce=int, empty_value=None, required=False, label="Expected answer",
    )
