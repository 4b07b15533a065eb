"""The staff form that starts a rewriter training job (SFT then GRPO): the fields come from
`RewriterTrainingConfig` and validate through it; the form adds the model choices and the flattened per-method
settings, and maps them to config keys. Limits live in the config models only."""
from __future__ import annotations

from django import forms

from core.configs import ConfigForm
from retrieval.models import Dataset, RetrieverVersion
from synthesis.models import JudgeVersion, RewriterVersion, SynthesisJob

from .config import METHODS, RewriterTrainingConfig
from .rewards import DEFAULT_WEIGHTS, REWARD_NAMES


class RewriterTrainingForm(ConfigForm):
    config_class = RewriterTrainingConfig
    exclude_config_fields = ("dataset_id", "parent_version_id", "retriever_version_id", "baseline_version_id",
                             "held_out_share", "seed", "eval_candidates")

    dataset = forms.ModelChoiceField(queryset=Dataset.objects.order_by("name"))
    methods = forms.MultipleChoiceField(choices=[(m, m.upper()) for m in METHODS], initial=list(METHODS),
                                        widget=forms.CheckboxSelectMultiple)
    parent_version = forms.ModelChoiceField(
        queryset=RewriterVersion.objects.filter(status=RewriterVersion.Status.READY), required=False,
        help_text="Start from this trained version (empty: the base model, SmolLM2-135M-Instruct by default).")
    seed_jsonl = forms.CharField(required=False, label="Seed file (JSONL)",
                                 help_text='Path on the worker: {"query": ..., "rewrites": [...]} per line.')
    seed_from_synthesis = forms.BooleanField(required=False, label="Seed from kept rewrites",
                                             help_text="Rewrites of earlier synthesis jobs that found kept products.")
    synthesis_jobs = forms.ModelMultipleChoiceField(
        queryset=SynthesisJob.objects.filter(kind=SynthesisJob.KIND, status=SynthesisJob.Status.SUCCEEDED), required=False,
        help_text="Only these jobs' rewrites (none chosen: every job of the data set).")
    teacher_queries = forms.IntegerField(initial=0, label="Teacher queries",
                                         help_text="Distil this many training queries' rewrites from the OpenAI-"
                                                   "compatible endpoint in the settings (0: off).")
    sft_steps = forms.IntegerField(initial=20, label="SFT steps")
    sft_learning_rate = forms.FloatField(initial=5e-5, label="SFT learning rate")
    grpo_steps = forms.IntegerField(initial=10, label="GRPO steps")
    num_generations = forms.IntegerField(initial=4, label="GRPO group size",
                                         help_text="GRPO group size: candidates per query, as at synthesis time.")
    grpo_prompts_per_step = forms.IntegerField(initial=1, label="GRPO queries per step")
    grpo_learning_rate = forms.FloatField(initial=1e-5, label="GRPO learning rate")
    retriever_version = forms.ModelChoiceField(
        queryset=RetrieverVersion.objects.filter(status=RetrieverVersion.Status.READY).order_by("name"), required=False,
        help_text="The strong retriever the rewrites go through (relevance and incremental rewards, evaluation).")
    baseline_version = forms.ModelChoiceField(
        queryset=RetrieverVersion.objects.filter(status=RetrieverVersion.Status.READY).order_by("name"), required=False,
        help_text="The online baseline for the incremental reward (empty: the retriever above).")
    judge_backend = forms.ChoiceField(choices=[("cross-encoder", "cross-encoder"), ("llm", "llm")],
                                      initial="cross-encoder")
    judge_version = forms.ModelChoiceField(queryset=JudgeVersion.objects.filter(status=JudgeVersion.Status.READY), required=False,
                                           help_text="Empty: the data set's newest ready judge.")
    device = forms.ChoiceField(choices=[("auto", "auto (CUDA when present)"), ("cpu", "cpu"), ("cuda", "cuda")],
                               initial="auto")
    field_order = ["dataset", "name", "methods", "parent_version", "base_model", "seed_jsonl", "seed_from_synthesis",
                   "synthesis_jobs", "teacher_queries", "sft_steps", "sft_learning_rate", "grpo_steps",
                   "num_generations", "grpo_prompts_per_step", "grpo_learning_rate", "max_grpo_queries",
                   "retriever_version", "baseline_version", "judge_backend", "judge_version", "evaluate",
                   "eval_queries", "device"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in REWARD_NAMES:
            self.fields[f"weight_{name}"] = forms.FloatField(initial=DEFAULT_WEIGHTS[name], label=f"Weight: {name}")
        self.order_fields(self.field_order)

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        dataset = data["dataset"]
        for field in ("retriever_version", "baseline_version", "judge_version"):
            version = data.get(field)
            if version is not None and version.dataset_id != dataset.pk:
                self.add_error(field, f"{version} belongs to another data set.")
        return data

    def config_data(self, cleaned: dict) -> dict:
        sources: dict = {}
        if cleaned.get("seed_jsonl"):
            sources["jsonl"] = cleaned["seed_jsonl"]
        if cleaned.get("seed_from_synthesis"):
            sources["synthesis"] = {"job_ids": [job.pk for job in cleaned.get("synthesis_jobs") or []]}
        if cleaned.get("teacher_queries"):
            sources["teacher"] = {"queries": cleaned["teacher_queries"], "n": 3}
        judge = {"backend": cleaned["judge_backend"]}
        if cleaned.get("judge_version"):
            judge["judge_version_id"] = cleaned["judge_version"].pk
        config = {
            **super().config_data(cleaned),
            "dataset_id": cleaned["dataset"].pk, "methods": list(cleaned["methods"]), "seed_sources": sources,
            "sft": {"max_steps": cleaned["sft_steps"], "learning_rate": cleaned["sft_learning_rate"]},
            "grpo": {"max_steps": cleaned["grpo_steps"], "num_generations": cleaned["num_generations"],
                     "batch_size": cleaned["grpo_prompts_per_step"], "learning_rate": cleaned["grpo_learning_rate"]},
            "rewards": {"weights": {name: cleaned[f"weight_{name}"] for name in REWARD_NAMES}},
            "judge": judge, "eval_candidates": cleaned["num_generations"], "device": cleaned["device"],
        }
        for key, field in (("parent_version_id", "parent_version"), ("retriever_version_id", "retriever_version"),
                           ("baseline_version_id", "baseline_version")):
            if cleaned.get(field):
                config[key] = cleaned[field].pk
        return config
