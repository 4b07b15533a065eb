"""Forms of the SBS pages: they parse and validate input; the services in campaigns/judging do the work."""
from __future__ import annotations

import re

from django import forms

from retrieval.models import Query, RetrieverVersion

from .judging import COMMENT_MAX_CHARS, Verdict
from .models import Campaign, Judgment

MARK_FIELD = re.compile(r"^mark-([lr])-(\d{1,3})$")


class CampaignForm(forms.Form):
    name = forms.CharField(max_length=200)
    instructions = forms.CharField(widget=forms.Textarea(attrs={"rows": 6}), required=False,
                                   help_text="Markdown. Shown to annotators above every item.")
    system_a = forms.ModelChoiceField(queryset=RetrieverVersion.objects.none(), label="System A (baseline)")
    system_b = forms.ModelChoiceField(queryset=RetrieverVersion.objects.none(), label="System B (treatment)")
    segments = forms.MultipleChoiceField(choices=Query.Segment.choices, required=False,
                                         widget=forms.CheckboxSelectMultiple, help_text="None ticked: all segments.")
    query_types = forms.MultipleChoiceField(choices=Query.QueryType.choices, required=False,
                                            widget=forms.CheckboxSelectMultiple, help_text="None ticked: all types.")
    sample_size = forms.IntegerField(min_value=1, max_value=100_000, initial=100)
    seed = forms.IntegerField(initial=13)
    k = forms.IntegerField(min_value=1, max_value=100, initial=10, label="Results per side (K)")
    judgments_per_item = forms.IntegerField(min_value=1, max_value=20, initial=3)
    control_share = forms.FloatField(min_value=0, max_value=0.5, initial=0.1,
                                     help_text="Share of sampled queries shown as A-vs-A controls.")
    identical_lists = forms.ChoiceField(choices=Campaign.IdenticalLists.choices,
                                        initial=Campaign.IdenticalLists.CONTROL,
                                        label="When both systems return the same list")
    reservation_minutes = forms.IntegerField(min_value=1, max_value=240, initial=10)
    generate_now = forms.BooleanField(required=False, initial=True, label="Start generating right away")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        ready = RetrieverVersion.objects.filter(status=RetrieverVersion.Status.READY).select_related("dataset")
        self.fields["system_a"].queryset = ready
        self.fields["system_b"].queryset = ready

    def clean_name(self):
        name = self.cleaned_data["name"].strip()
        if Campaign.objects.filter(name=name).exists():
            raise forms.ValidationError("A campaign with this name already exists.")
        return name


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
