"""Forms of the automatic SBS and closed-loop pages (validation only; `auto_sbs` and `closed_loop` do the work)."""
from __future__ import annotations

from django import forms

from .sbs import DEFAULT_STRONG_BAND, DEFAULT_TIE_BAND
from .closed_loop import MarkWeighting
from sbsapp.models import AutoJudgment, Campaign


def ready_judges(*, dataset_id: int | None = None):
    from synthesis.models import JudgeVersion

    judges = JudgeVersion.objects.filter(status=JudgeVersion.Status.READY).select_related("dataset")
    return judges.filter(dataset_id=dataset_id) if dataset_id is not None else judges


class AutoSBSForm(forms.Form):
    judge_kind = forms.ChoiceField(choices=AutoJudgment.Kind.choices, initial=AutoJudgment.Kind.DCG, label="Judge")
    judge_version = forms.ModelChoiceField(queryset=ready_judges().none(), required=False,
                                           help_text="The relevance judge scoring every product (DCG judge).")
    tie_band = forms.FloatField(min_value=0, max_value=1, initial=DEFAULT_TIE_BAND,
                                help_text="|normalised DCG difference| below this: about the same.")
    strong_band = forms.FloatField(min_value=0, max_value=1, initial=DEFAULT_STRONG_BAND,
                                   help_text="At or above this: much better.")
    llm_model = forms.CharField(required=False, max_length=200, label="LLM model",
                                help_text="LLM judge: the endpoint's model name (empty: OPENAI_MODEL).")

    def __init__(self, *args, campaign: Campaign, **kwargs):
        super().__init__(*args, **kwargs)
        judges = ready_judges(dataset_id=campaign.system_a.dataset_id)
        self.fields["judge_version"].queryset = judges
        self.fields["judge_version"].initial = judges.order_by("-created_at").first()

    def clean(self):
        data = super().clean()
        if data.get("judge_kind") == AutoJudgment.Kind.DCG and not data.get("judge_version"):
            self.add_error("judge_version", "Choose a trained judge version (or use the LLM judge).")
        if (data.get("tie_band") or 0) > (data.get("strong_band") or 0):
            self.add_error("strong_band", "The strong band must be at least the tie band.")
        return data


class RetrainJudgeForm(forms.Form):
    campaigns = forms.ModelMultipleChoiceField(
        queryset=Campaign.objects.filter(status__in=[Campaign.Status.ACTIVE, Campaign.Status.CLOSED]),
        help_text="Campaigns whose per-product marks become labelled pairs (one data set).")
    base_judge = forms.ModelChoiceField(queryset=ready_judges(), label="Judge to improve",
                                        help_text="The new version keeps its settings and is validated beside it.")
    name = forms.SlugField(required=False, max_length=100, help_text="Empty: <judge>-sbs-<time>.")
    pass_accuracy = forms.FloatField(min_value=0, max_value=1, initial=MarkWeighting.pass_accuracy,
                                     help_text="Control accuracy below this fails an annotator.")
    failed_weight = forms.FloatField(min_value=0, max_value=1, initial=MarkWeighting.failed_weight,
                                     help_text="Multiplier on the marks of annotators who fail (0 drops them).")
    min_controls = forms.IntegerField(min_value=1, initial=MarkWeighting.min_controls,
                                      help_text="Controls judged before an annotator can fail.")
    min_pair_weight = forms.FloatField(min_value=0, initial=MarkWeighting.min_pair_weight,
                                       help_text="Pairs whose winning grade has less vote weight are dropped.")

    def weighting(self) -> MarkWeighting:
        data = self.cleaned_data
        return MarkWeighting(pass_accuracy=data["pass_accuracy"], failed_weight=data["failed_weight"],
                             min_controls=data["min_controls"], min_pair_weight=data["min_pair_weight"])
