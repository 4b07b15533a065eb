"""Forms for starting synthesis jobs, judge training and treatment builds (validation only; services do the work)."""
from __future__ import annotations

from django import forms

from retrieval.models import Dataset, RetrieverVersion

from .mining import QUERY_TYPES
from .models import JudgeVersion
from .rewriters import BACKENDS as REWRITER_BACKENDS
from .services import JUDGE_KINDS, SynthesisConfig


class SynthesisJobForm(forms.Form):
    dataset = forms.ModelChoiceField(queryset=Dataset.objects.order_by("name"))
    retriever_version = forms.ModelChoiceField(
        queryset=RetrieverVersion.objects.filter(status="ready").order_by("name"),
        help_text="The strong offline retriever every rewrite goes through (a hybrid BM25 + dense version).")
    baseline_version = forms.ModelChoiceField(
        queryset=RetrieverVersion.objects.filter(status="ready").order_by("name"),
        help_text="The online baseline: a kept product it misses in its top-K is flagged incremental.")
    judge_backend = forms.ChoiceField(choices=[(k, k) for k in JUDGE_KINDS], initial="cross-encoder")
    judge_version = forms.ModelChoiceField(queryset=JudgeVersion.objects.filter(status="ready"), required=False,
                                           help_text="Needed for the cross-encoder judge.")
    threshold = forms.FloatField(min_value=0, max_value=1, required=False,
                                 help_text="Keep products judged at or above. Empty: the judge version's calibrated "
                                           "threshold (shown with the judge), 0.5 for the LLM judge.")
    rewriter_backend = forms.ChoiceField(choices=[(b, b) for b in REWRITER_BACKENDS], initial="hf-local")
    rewriter_model = forms.CharField(required=False, max_length=500,
                                     help_text="Empty: the shipped SmolLM2-135M-Instruct (or REWRITER_MODEL).")
    candidates = forms.IntegerField(min_value=1, max_value=16, initial=4, help_text="Rewrites per query.")
    retrieve_k = forms.IntegerField(min_value=1, max_value=2000, initial=100, help_text="Products per rewrite.")
    baseline_k = forms.IntegerField(min_value=1, max_value=2000, initial=100)
    max_pairs_per_query = forms.IntegerField(min_value=1, max_value=1000, initial=20)
    drop_logged = forms.BooleanField(required=False, initial=True, help_text="Drop pairs already clicked in the logs.")
    segments = forms.MultipleChoiceField(choices=[(s, s) for s in ("head", "torso", "tail")], initial=["tail"],
                                         required=False, widget=forms.CheckboxSelectMultiple)
    max_clicks = forms.IntegerField(min_value=1, required=False,
                                    help_text="Also take queries with fewer logged clicks than this.")
    types = forms.MultipleChoiceField(choices=[(t, t) for t in QUERY_TYPES], required=False,
                                      widget=forms.CheckboxSelectMultiple,
                                      help_text="Only queries tagged with one of these (none ticked: all).")
    max_queries = forms.IntegerField(min_value=1, required=False, initial=200)
    llm_tagger = forms.BooleanField(required=False, help_text="Also tag types with the LLM endpoint.")
    chunk_size = forms.IntegerField(min_value=1, max_value=512, initial=16)

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        for field in ("retriever_version", "baseline_version", "judge_version"):
            version = data.get(field)
            if version is not None and version.dataset_id != data["dataset"].pk:
                self.add_error(field, f"{version} belongs to another dataset.")
        if data["judge_backend"] == "cross-encoder" and data.get("judge_version") is None:
            self.add_error("judge_version", "Choose a trained judge (or use the LLM judge).")
        if self.errors:
            return data
        try:
            data["config"] = self.to_config(data)
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from exc
        return data

    @staticmethod
    def to_config(data: dict) -> SynthesisConfig:
        return SynthesisConfig(
            dataset_id=data["dataset"].pk, retriever_version_id=data["retriever_version"].pk,
            baseline_version_id=data["baseline_version"].pk, judge_backend=data["judge_backend"],
            judge_version_id=data["judge_version"].pk if data.get("judge_version") else None,
            threshold=data["threshold"], rewriter_backend=data["rewriter_backend"],
            rewriter_model=data.get("rewriter_model") or "", candidates=data["candidates"],
            retrieve_k=data["retrieve_k"], baseline_k=data["baseline_k"],
            max_pairs_per_query=data["max_pairs_per_query"], drop_logged=bool(data.get("drop_logged")),
            segments=tuple(data.get("segments") or ()), max_clicks=data.get("max_clicks"),
            types=tuple(data.get("types") or ()), max_queries=data.get("max_queries"),
            llm_tagger=bool(data.get("llm_tagger")), chunk_size=data["chunk_size"])


class JudgeTrainingForm(forms.Form):
    dataset = forms.ModelChoiceField(queryset=Dataset.objects.order_by("name"))
    name = forms.SlugField(required=False, max_length=100, help_text="Empty: judge-<dataset>-<timestamp>.")
    epochs = forms.IntegerField(min_value=1, max_value=20, initial=1)
    negatives_per_positive = forms.IntegerField(min_value=0, max_value=20, initial=3)
    max_examples = forms.IntegerField(min_value=10, required=False, help_text="Cap on training examples.")


class TreatmentForm(forms.Form):
    base_version = forms.ModelChoiceField(
        queryset=RetrieverVersion.objects.filter(status="ready", kind="dense").order_by("name"),
        help_text="The dense baseline whose training config the treatment copies.")
    name = forms.SlugField(required=False, max_length=100)
    ratio = forms.FloatField(min_value=0, max_value=0.95, required=False,
                             help_text="Share of training examples from synthetic pairs (empty: natural mix).")
    only_incremental = forms.BooleanField(required=False)
