"""Forms for starting synthesis jobs, judge training and treatment builds (validation only; services do the work).

The synthesis and judge forms are `core.configs.ConfigForm`s: their fields come from the job's typed config and
validate through it, so the page, the API and the job state each limit once (in `config` and `judging.training`).
The forms add only the model choices, and map them to ids.
"""
from __future__ import annotations

from django import forms

from core.configs import ConfigForm
from retrieval.models import Dataset, RetrieverVersion

from .config import SynthesisConfig
from .judging.training import JudgeTrainingConfig
from .mining import QUERY_TYPES
from .models import JudgeVersion

# Config keys the forms show as model choices.
CHOICE_FIELDS = {"dataset_id": "dataset", "retriever_version_id": "retriever_version",
                 "baseline_version_id": "baseline_version", "judge_version_id": "judge_version"}


class ChoiceConfigForm(ConfigForm):
    """A config form whose `<name>_id` keys are model choices named `<name>` (a chosen row becomes its id)."""

    def config_data(self, cleaned: dict) -> dict:
        data = super().config_data(cleaned)
        for key, field in CHOICE_FIELDS.items():
            if field in self.fields and cleaned.get(field) is not None:
                data[key] = cleaned[field].pk
        return data

    def check_same_dataset(self, data: dict, fields: tuple[str, ...]) -> None:
        for field in fields:
            version = data.get(field)
            if version is not None and data.get("dataset") is not None and version.dataset_id != data["dataset"].pk:
                self.add_error(field, f"{version} belongs to another dataset.")


class SynthesisJobForm(ChoiceConfigForm):
    config_class = SynthesisConfig
    exclude_config_fields = (*CHOICE_FIELDS, "batch_size", "device", "seed")

    dataset = forms.ModelChoiceField(queryset=Dataset.objects.order_by("name"))
    retriever_version = forms.ModelChoiceField(
        queryset=RetrieverVersion.objects.filter(status=RetrieverVersion.Status.READY).order_by("name"),
        help_text=SynthesisConfig.model_fields["retriever_version_id"].description)
    baseline_version = forms.ModelChoiceField(
        queryset=RetrieverVersion.objects.filter(status=RetrieverVersion.Status.READY).order_by("name"),
        help_text=SynthesisConfig.model_fields["baseline_version_id"].description)
    judge_version = forms.ModelChoiceField(queryset=JudgeVersion.objects.filter(status=JudgeVersion.Status.READY), required=False,
                                           help_text="Needed for the cross-encoder judge.")
    segments = forms.MultipleChoiceField(choices=[(s, s) for s in ("head", "torso", "tail")], initial=["tail"],
                                         required=False, widget=forms.CheckboxSelectMultiple)
    types = forms.MultipleChoiceField(choices=[(t, t) for t in QUERY_TYPES], required=False,
                                      widget=forms.CheckboxSelectMultiple,
                                      help_text=SynthesisConfig.model_fields["types"].description)
    field_order = ["dataset", "retriever_version", "baseline_version", "judge_backend", "judge_version", "threshold",
                   "rewriter_backend", "rewriter_model", "candidates", "retrieve_k", "baseline_k",
                   "max_pairs_per_query", "drop_logged", "segments", "max_clicks", "types", "max_queries",
                   "llm_tagger", "chunk_size"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["max_queries"].initial = 200
        self.order_fields(self.field_order)

    def config_data(self, cleaned: dict) -> dict:
        return {**super().config_data(cleaned), "segments": list(cleaned.get("segments") or []),
                "types": list(cleaned.get("types") or [])}

    def clean(self):
        data = super().clean()
        self.check_same_dataset(data, ("retriever_version", "baseline_version", "judge_version"))
        return data


class JudgeTrainingForm(ChoiceConfigForm):
    config_class = JudgeTrainingConfig
    exclude_config_fields = ("dataset_id", "base_model", "batch_size", "learning_rate", "validation_share", "seed")

    dataset = forms.ModelChoiceField(queryset=Dataset.objects.order_by("name"))
    field_order = ["dataset", "name", "kind", "epochs", "negatives_per_positive", "max_examples"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.order_fields(self.field_order)


class TreatmentForm(forms.Form):
    base_version = forms.ModelChoiceField(
        queryset=RetrieverVersion.objects.filter(status=RetrieverVersion.Status.READY, kind=RetrieverVersion.Kind.DENSE).order_by("name"),
        help_text="The dense baseline whose training config the treatment copies.")
    name = forms.SlugField(required=False, max_length=100)
    # The limits of ratio and per_pair are the retriever config's (retrieval.versions.config.ExtraSource).
    per_pair = forms.FloatField(required=False, label="Added examples per synthetic pair",
                                help_text="Add the synthetic pairs on top of the baseline's log examples, this many "
                                          "examples per pair per epoch (the logs keep every example).")
    ratio = forms.FloatField(required=False, label="Or: share of the budget",
                             help_text="Instead: the synthetic pairs take this share of the baseline's examples "
                                       "(the logs give up that share). Empty with per-pair empty: natural mix.")
    only_incremental = forms.BooleanField(required=False)
