"""Forms for starting synthesis jobs, judge training and treatment builds (validation only; services do the work).

The synthesis and judge forms are `core.configs.ConfigForm`s: their fields come from the job's typed config and
validate through it, so the page, the API and the job state each limit once (in `config` and `judging.training`).
The forms add only the model choices, and map them to ids.
"""
from __future__ import annotations

from django import forms

from core.configs import ConfigForm, ConfigInvalid, validate_config
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

    # (title, explanation, field names): how `fieldsets()` groups the fields on the page.
    FIELDSETS: tuple[tuple[str, str, tuple[str, ...]], ...] = ()

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

    def check_rest_of_config(self, cleaned: dict) -> None:
        """With some fields already invalid, `ConfigForm.clean` skips the config's own rules; check them on the
        valid fields anyway, so that a page shows every problem at once instead of one round at a time."""
        try:
            validate_config(self.config_class, self.config_data(cleaned))
        except ConfigInvalid as exc:
            for key, messages in exc.errors.items():
                field = CHOICE_FIELDS.get(key, key)
                if field in self.errors:
                    continue  # already explained (a missing value it had is why the config misses it)
                for message in messages:
                    self.add_error(field if field in self.fields else None, message)

    def fieldsets(self):
        """The form's fields in `FIELDSETS` groups, as (title, description, bound fields); fields no group names
        (a setting added to the config later) come last, under "Other settings"."""
        named = set()
        groups = []
        for title, description, names in self.FIELDSETS:
            fields = [self[name] for name in names if name in self.fields]
            named.update(names)
            if fields:
                groups.append((title, description, fields))
        rest = [self[name] for name in self.fields if name not in named]
        if rest:
            groups.append(("Other settings", "", rest))
        return groups


def ready_versions():
    return RetrieverVersion.objects.filter(status=RetrieverVersion.Status.READY)


class SynthesisJobForm(ChoiceConfigForm):
    config_class = SynthesisConfig
    exclude_config_fields = (*CHOICE_FIELDS, "batch_size", "device", "seed")

    dataset = forms.ModelChoiceField(queryset=Dataset.objects.order_by("name"), label="Data set",
                                     help_text="Its long-tail queries are rewritten; its catalogue is searched.")
    retriever_version = forms.ModelChoiceField(
        queryset=ready_versions().order_by("name"),
        help_text=SynthesisConfig.model_fields["retriever_version_id"].description)
    baseline_version = forms.ModelChoiceField(
        queryset=ready_versions().order_by("name"),
        help_text=SynthesisConfig.model_fields["baseline_version_id"].description)
    judge_version = forms.ModelChoiceField(queryset=JudgeVersion.objects.filter(status=JudgeVersion.Status.READY),
                                           required=False, empty_label="The data set's best-measured ready judge",
                                           help_text=SynthesisConfig.model_fields["judge_version_id"].description)
    segments = forms.MultipleChoiceField(choices=[(s, s) for s in ("head", "torso", "tail")], initial=["tail"],
                                         required=False, widget=forms.CheckboxSelectMultiple)
    types = forms.MultipleChoiceField(choices=[(t, t) for t in QUERY_TYPES], required=False,
                                      widget=forms.CheckboxSelectMultiple,
                                      help_text=SynthesisConfig.model_fields["types"].description)
    field_order = ["dataset", "retriever_version", "baseline_version", "judge_backend", "judge_version", "threshold",
                   "rewriter_backend", "rewriter_model", "candidates", "retrieve_k", "baseline_k",
                   "max_pairs_per_query", "drop_logged", "segments", "max_clicks", "types", "max_queries",
                   "llm_tagger", "chunk_size"]

    FIELDSETS = (
        ("Which queries", "The long-tail queries of the data set that the job rewrites.",
         ("dataset", "segments", "max_clicks", "types", "max_queries", "holdout_share", "llm_tagger")),
        ("Retrieval", "Every rewrite goes through the strong retriever; the baseline decides which kept products "
                      "are incremental (new to the online system).",
         ("retriever_version", "retrieve_k", "baseline_version", "baseline_k")),
        ("Rewriting", "The LLM that writes the rewrites.", ("rewriter_backend", "rewriter_model", "candidates")),
        ("Judging and keeping", "The relevance judge scores each (original query, product); the pairs at or above "
                                "the threshold are kept.",
         ("judge_backend", "judge_version", "threshold", "max_pairs_per_query", "drop_logged")),
        ("Running", "", ("chunk_size", "holdout_seed")),
    )

    LABELS = {"max_clicks": "Fewer clicks than", "types": "Query types", "max_queries": "At most this many queries",
              "llm_tagger": "Tag types with the LLM too", "retrieve_k": "Products per rewrite (K)",
              "baseline_k": "Baseline top-K", "candidates": "Rewrites per query", "threshold": "Keep threshold",
              "max_pairs_per_query": "Pairs kept per query, at most", "drop_logged": "Drop pairs already clicked",
              "rewriter_model": "Rewriter model (optional)", "chunk_size": "Queries per transaction",
              "holdout_share": "Held-out share of tail queries", "holdout_seed": "Hold-out seed"}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["max_queries"].initial = 200
        self.order_fields(self.field_order)
        for name, text in self.LABELS.items():
            if name in self.fields:
                self.fields[name].label = text
        if not self.is_bound:
            self.initial.update(suggested_choices())

    def config_data(self, cleaned: dict) -> dict:
        return {**super().config_data(cleaned), "segments": list(cleaned.get("segments") or []),
                "types": list(cleaned.get("types") or [])}

    def clean(self):
        data = super().clean()
        if self.errors:
            self.check_rest_of_config(data)
        self.check_same_dataset(data, ("retriever_version", "baseline_version", "judge_version"))
        return data


def suggested_choices() -> dict:
    """What a new synthesis form starts with: the only data set (else the one of the newest ready version), its
    newest ready hybrid as the strong retriever, the dense version inside that hybrid (else the newest other
    dense one) as the baseline, and its judge when it has exactly one ready (else the empty choice: the
    best-measured judge)."""
    datasets = list(Dataset.objects.all()[:2])
    newest = ready_versions().select_related("dataset").order_by("-created_at").first()
    dataset = datasets[0] if len(datasets) == 1 else (newest.dataset if newest else None)
    if dataset is None:
        return {}
    versions = list(ready_versions().filter(dataset=dataset).order_by("-created_at"))
    hybrid = next((v for v in versions if v.kind == RetrieverVersion.Kind.HYBRID), None)
    strong = hybrid or (versions[0] if versions else None)
    inside = [v for v in hybrid.components.all() if v.kind == RetrieverVersion.Kind.DENSE] if hybrid else []
    others = [v for v in versions if v != strong]
    baseline = next(iter(inside), None) or next((v for v in others if v.kind == RetrieverVersion.Kind.DENSE),
                                                next(iter(others), strong))
    judges = list(JudgeVersion.objects.filter(dataset=dataset, status=JudgeVersion.Status.READY)[:2])
    suggested = {"dataset": dataset, "retriever_version": strong, "baseline_version": baseline,
                 "judge_version": judges[0] if len(judges) == 1 else None}
    return {name: value for name, value in suggested.items() if value is not None}


class JudgeTrainingForm(ChoiceConfigForm):
    config_class = JudgeTrainingConfig
    exclude_config_fields = ("dataset_id", "base_model", "batch_size", "learning_rate", "validation_share", "seed")

    dataset = forms.ModelChoiceField(queryset=Dataset.objects.order_by("name"), label="Data set")
    field_order = ["dataset", "name", "kind", "epochs", "negatives_per_positive", "max_examples"]

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", "id_judge_%s")  # its fields' ids differ from the synthesis form's on one page
        super().__init__(*args, **kwargs)
        self.order_fields(self.field_order)
        datasets = list(Dataset.objects.all()[:2])
        if not self.is_bound and len(datasets) == 1:
            self.initial["dataset"] = datasets[0]

    def clean(self):
        data = super().clean()
        if self.errors:
            self.check_rest_of_config(data)
        return data


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
    labels = forms.ChoiceField(
        choices=[("hard", "Hard: kept pairs as positives (InfoNCE)"),
                 ("soft", "Soft: kept pair vs the judge's rejections, the judge's score margin (MarginMSE)"),
                 ("both", "Both")], initial="hard", label="Synthetic labels",
        help_text="Soft labels (GPL-style) teach the retriever how much better the judge finds a kept product than "
                  "a product it rejected for the same query; added on top of the log examples.")
