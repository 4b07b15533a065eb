"""The staff form that starts a rewriter training job (SFT then GRPO); validation only, the service does the work."""
from __future__ import annotations

from django import forms

from retrieval.models import Dataset, RetrieverVersion

from .models import JudgeVersion, RewriterVersion, SynthesisJob
from .rewards import DEFAULT_WEIGHTS, REWARD_NAMES
from .rewriter_training import METHODS


class RewriterTrainingForm(forms.Form):
    dataset = forms.ModelChoiceField(queryset=Dataset.objects.order_by("name"))
    name = forms.SlugField(max_length=90, help_text="Versions are named <name>-sft and <name>-grpo.")
    methods = forms.MultipleChoiceField(choices=[(m, m.upper()) for m in METHODS], initial=list(METHODS),
                                        widget=forms.CheckboxSelectMultiple)
    parent_version = forms.ModelChoiceField(
        queryset=RewriterVersion.objects.filter(status="ready"), required=False,
        help_text="Start from this trained version (empty: the base model, SmolLM2-135M-Instruct by default).")
    base_model = forms.CharField(required=False, max_length=500,
                                 help_text="Base model folder or id when no parent is chosen (empty: the default).")
    seed_jsonl = forms.CharField(required=False, max_length=500, label="Seed file (JSONL)",
                                 help_text='Path on the worker: {"query": ..., "rewrites": [...]} per line.')
    seed_from_synthesis = forms.BooleanField(required=False, label="Seed from kept rewrites",
                                             help_text="Rewrites of earlier synthesis jobs that found kept products.")
    synthesis_jobs = forms.ModelMultipleChoiceField(
        queryset=SynthesisJob.objects.filter(kind=SynthesisJob.KIND, status="succeeded"), required=False,
        help_text="Only these jobs' rewrites (none chosen: every job of the data set).")
    teacher_queries = forms.IntegerField(min_value=0, initial=0, label="Teacher queries",
                                         help_text="Distil this many training queries' rewrites from the OpenAI-"
                                                   "compatible endpoint in the settings (0: off).")
    sft_steps = forms.IntegerField(min_value=1, max_value=100000, initial=20, label="SFT steps")
    sft_learning_rate = forms.FloatField(min_value=1e-8, max_value=1e-2, initial=5e-5, label="SFT learning rate")
    grpo_steps = forms.IntegerField(min_value=1, max_value=100000, initial=10, label="GRPO steps")
    num_generations = forms.IntegerField(min_value=2, max_value=16, initial=4, label="GRPO group size",
                                         help_text="GRPO group size: candidates per query, as at synthesis time.")
    grpo_prompts_per_step = forms.IntegerField(min_value=1, max_value=64, initial=1, label="GRPO queries per step")
    grpo_learning_rate = forms.FloatField(min_value=1e-8, max_value=1e-2, initial=1e-5, label="GRPO learning rate")
    max_grpo_queries = forms.IntegerField(min_value=1, initial=500, label="GRPO training queries",
                                          help_text="At most this many training tail queries.")
    retriever_version = forms.ModelChoiceField(
        queryset=RetrieverVersion.objects.filter(status="ready").order_by("name"), required=False,
        help_text="The strong retriever the rewrites go through (relevance and incremental rewards, evaluation).")
    baseline_version = forms.ModelChoiceField(
        queryset=RetrieverVersion.objects.filter(status="ready").order_by("name"), required=False,
        help_text="The online baseline for the incremental reward (empty: the retriever above).")
    judge_backend = forms.ChoiceField(choices=[("cross-encoder", "cross-encoder"), ("llm", "llm")],
                                      initial="cross-encoder")
    judge_version = forms.ModelChoiceField(queryset=JudgeVersion.objects.filter(status="ready"), required=False,
                                           help_text="Empty: the data set's newest ready judge.")
    evaluate = forms.BooleanField(required=False, initial=True,
                                  help_text="Evaluate the start model and each version on held-out tail queries.")
    eval_queries = forms.IntegerField(min_value=1, max_value=5000, initial=20)
    device = forms.ChoiceField(choices=[("auto", "auto (CUDA when present)"), ("cpu", "cpu"), ("cuda", "cuda")],
                               initial="auto")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in REWARD_NAMES:
            self.fields[f"weight_{name}"] = forms.FloatField(
                min_value=0, max_value=100, initial=DEFAULT_WEIGHTS[name], label=f"Weight: {name}")

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        dataset = data["dataset"]
        for field in ("retriever_version", "baseline_version", "judge_version"):
            version = data.get(field)
            if version is not None and version.dataset_id != dataset.pk:
                self.add_error(field, f"{version} belongs to another data set.")
        if "sft" in data["methods"] and not (data.get("seed_jsonl") or data.get("seed_from_synthesis")
                                              or data.get("teacher_queries")):
            self.add_error(None, "SFT needs seed pairs: a seed file, kept rewrites or a teacher.")
        if not self.errors:
            data["config"] = self.to_config(data)
        return data

    @staticmethod
    def to_config(data: dict) -> dict:
        sources: dict = {}
        if data.get("seed_jsonl"):
            sources["jsonl"] = data["seed_jsonl"]
        if data.get("seed_from_synthesis"):
            sources["synthesis"] = {"job_ids": [job.pk for job in data.get("synthesis_jobs") or []]}
        if data.get("teacher_queries"):
            sources["teacher"] = {"queries": data["teacher_queries"], "n": 3}
        judge = {"backend": data["judge_backend"]}
        if data.get("judge_version"):
            judge["judge_version_id"] = data["judge_version"].pk
        config = {
            "dataset_id": data["dataset"].pk, "name": data["name"], "methods": list(data["methods"]),
            "base_model": data.get("base_model") or "", "seed_sources": sources,
            "sft": {"max_steps": data["sft_steps"], "learning_rate": data["sft_learning_rate"]},
            "grpo": {"max_steps": data["grpo_steps"], "num_generations": data["num_generations"],
                     "batch_size": data["grpo_prompts_per_step"], "learning_rate": data["grpo_learning_rate"]},
            "max_grpo_queries": data["max_grpo_queries"],
            "rewards": {"weights": {name: data[f"weight_{name}"] for name in REWARD_NAMES}},
            "judge": judge, "evaluate": bool(data.get("evaluate")), "eval_queries": data["eval_queries"],
            "eval_candidates": data["num_generations"], "device": data["device"],
        }
        if data.get("parent_version"):
            config["parent_version_id"] = data["parent_version"].pk
        if data.get("retriever_version"):
            config["retriever_version_id"] = data["retriever_version"].pk
        if data.get("baseline_version"):
            config["baseline_version_id"] = data["baseline_version"].pk
        return config
