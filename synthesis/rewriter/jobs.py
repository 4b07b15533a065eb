"""The rewriter training job: SFT then GRPO (or either), each written as a `RewriterVersion`, resumable at every
stage, then evaluated on held-out tail queries; and starting one (or a synthesis job with a trained version).

Each method writes a `RewriterVersion` whose artifact folder is an ordinary HF model folder (load it with
`backends.load_rewriter(model=version.artifact_path)`), its reward curves (one point per step: the combined
reward and each component) and its checkpoints; a re-run after a killed worker resumes from the last checkpoint.
"""
from __future__ import annotations

import random
import statistics
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from core.artifacts import artifact_path
from core.configs import validate_config
from core.devices import resolve_device
from jobs.registry import job_kind

from .backends import load_rewriter, resolve_rewriter_model
from .checkpoints import (
    MODEL_FOLDER,
    checkpoint_step,
    last_checkpoint,
    merge_curve,
    training_report_callback,
)
from .config import RewriterTrainingConfig
from .evaluation import evaluate_rewriter, evaluation_setup
from .rewards import reward_functions
from .seed_pairs import collect_seed_pairs
from .setup import reward_setup
from .training import train_grpo, train_sft

JOB_KIND = "rewriter_training"


def split_tail_queries(*, dataset, held_out_share: float = 0.2, seed: int = 13,
                       segments: Sequence[str] = ("tail",)) -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
    """(training, held-out) tail queries as (pk, text): a seeded shuffle, so every run and the benchmark agree."""
    if not 0 <= held_out_share < 1:
        raise ValueError("held_out_share must be in [0, 1)")
    rows = list(dataset.queries.filter(segment__in=list(segments)).order_by("pk").values_list("pk", "text"))
    random.Random(seed).shuffle(rows)
    held = round(len(rows) * held_out_share)
    return rows[held:], rows[:held]


def version_folder(name: str) -> Path:
    return artifact_path("rewriters", name)


@job_kind(JOB_KIND, queue="ml", title="Train a rewriter (SFT, then GRPO)",
          legacy_task_names=("synthesis.tasks.ml_train_rewriter",))
def train_rewriter_work(ctx) -> dict:
    """The rewriter training job: SFT then GRPO (or either), each a RewriterVersion; resumable at every stage.

    A version already `ready` for this job is kept as it is; a version still `training` resumes from its last
    checkpoint; the curve points already written are kept (a resumed step replaces its old point).
    """
    from django.utils import timezone

    from retrieval.models import Dataset
    from synthesis.models import RewriterVersion

    plan = validate_config(RewriterTrainingConfig, ctx.config)
    dataset = Dataset.objects.get(pk=plan.dataset_id)
    training_queries, held_out = split_tail_queries(dataset=dataset, held_out_share=plan.held_out_share,
                                                    seed=plan.seed)
    start_model, parent = starting_point(plan)
    result: dict[str, Any] = {"versions": {}}
    for method in plan.methods:
        version = RewriterVersion.objects.filter(job=ctx.job, method=method).first()
        if version is None:
            version = RewriterVersion.objects.create(
                name=f"{plan.name}-{method}", dataset=dataset, method=method, job=ctx.job, parent=parent,
                base_model=start_model, created_by=ctx.job.created_by,
                artifact_path=str(version_folder(f"{plan.name}-{method}") / MODEL_FOLDER),
                reward_weights=plan.rewards.as_dict() if method == "grpo" else {},
                hyperparams=(plan.sft if method == "sft" else plan.grpo).as_dict())
        if version.status != RewriterVersion.Status.READY:
            RewriterVersion.objects.filter(pk=version.pk).update(status=RewriterVersion.Status.TRAINING, error="")
            try:
                train_one_version(ctx=ctx, version=version, plan=plan, dataset=dataset, start_model=start_model,
                                  training_queries=[text for _, text in training_queries],
                                  held_out_queries=[text for _, text in held_out])
            except Exception as exc:
                from jobs.services import JobCancelled

                if not isinstance(exc, JobCancelled):
                    RewriterVersion.objects.filter(pk=version.pk).update(
                        status=RewriterVersion.Status.FAILED, error=f"{type(exc).__name__}: {exc}")
                raise
            version.refresh_from_db()
            RewriterVersion.objects.filter(pk=version.pk).update(status=RewriterVersion.Status.READY,
                                                                 trained_at=timezone.now())
            version.refresh_from_db()
        result["versions"][method] = {"id": version.pk, "name": version.name, "path": version.artifact_path}
        start_model, parent = version.artifact_path, version
    if plan.evaluate and held_out:
        result["evaluation"] = evaluate_job_versions(ctx=ctx, plan=plan, dataset=dataset, held_out=held_out)
    return result


def starting_point(plan: RewriterTrainingConfig):
    """(model folder, parent RewriterVersion or None) the first method starts from."""
    from synthesis.models import RewriterVersion

    if plan.parent_version_id:
        parent = RewriterVersion.objects.get(pk=plan.parent_version_id)
        if parent.status != RewriterVersion.Status.READY:
            raise ValueError(f"Rewriter version {parent.name!r} is {parent.status}, not ready.")
        return parent.artifact_path, parent
    path, gguf_file = resolve_rewriter_model(plan.base_model)
    if gguf_file:
        raise ValueError("A GGUF model cannot be fine-tuned; convert it first (leave the base model empty for the "
                         "shipped SmolLM2, which is converted automatically).")
    return path, None


def train_one_version(*, ctx, version, plan: RewriterTrainingConfig, dataset, start_model: str,
                      training_queries: Sequence[str], held_out_queries: Sequence[str] = ()) -> None:
    """Train one method into `version`'s folder, writing its curve, manifest and metrics as it goes."""
    from synthesis.models import RewriterVersion

    settings = plan.sft if version.method == "sft" else plan.grpo
    out_dir = Path(version.artifact_path).parent
    curve = list(version.reward_curves or [])
    started = time.monotonic()
    checkpoint = last_checkpoint(out_dir)
    steps_at_start = checkpoint_step(checkpoint) if checkpoint else 0
    if checkpoint:
        ctx.log(f"{version.name}: resuming from {Path(checkpoint).name}")

    def on_point(point: dict) -> None:
        nonlocal curve
        curve = merge_curve(curve, point)
        RewriterVersion.objects.filter(pk=version.pk).update(reward_curves=curve)
        latest = {key: round(value, 4) for key, value in point.items() if key != "step"}
        ctx.progress(point["step"], **{f"{version.method}_{key}": value for key, value in latest.items()})

    step_ends: list[float] = []

    def on_step(step: int, total: int) -> None:
        step_ends.append(time.monotonic())
        ctx.progress(step, total)

    report = training_report_callback(on_point=on_point, on_step=on_step)
    ctx.stage(f"{version.method}: training {version.name}", total=settings.max_steps)
    if version.method == "sft":
        pairs, manifest = collect_seed_pairs(sources=plan.seed_sources, dataset=dataset,
                                             training_queries=training_queries, held_out_queries=held_out_queries,
                                             log=ctx.log)
        RewriterVersion.objects.filter(pk=version.pk).update(manifest=manifest)
        train_sft(model_path=start_model, pairs=pairs, out_dir=out_dir, settings=settings, callbacks=[report])
    else:
        queries = list(training_queries)[:plan.max_grpo_queries]
        RewriterVersion.objects.filter(pk=version.pk).update(manifest={
            "queries": len(queries), "segment": "tail", "held_out_share": plan.held_out_share, "seed": plan.seed})
        ctx.log("loading retriever, judge and catalogue for the rewards")
        feedback, catalogue = reward_setup(config=ctx.config, dataset=dataset, settings=plan.rewards,
                                           device=settings.device)
        if feedback is not None:
            ctx.log(f"relevant products: judge score >= {feedback.threshold:.3f}")
            RewriterVersion.objects.filter(pk=version.pk).update(
                reward_weights={**plan.rewards.as_dict(), "threshold": feedback.threshold})
        functions = reward_functions(settings=plan.rewards, feedback=feedback, catalogue=catalogue)
        train_grpo(model_path=start_model, queries=queries, reward_funcs=functions,
                   reward_weights=plan.rewards.normalised_weights(), out_dir=out_dir, settings=settings,
                   callbacks=[report])
    elapsed = time.monotonic() - started
    trained_steps = max(1, settings.max_steps - steps_at_start)
    durations = [later - earlier for earlier, later in zip(step_ends, step_ends[1:])]
    per_step = statistics.median(durations) if durations else elapsed / trained_steps
    final = curve[-1] if curve else {}
    RewriterVersion.objects.filter(pk=version.pk).update(metrics={
        "train": {"steps": settings.max_steps, "seconds": round(elapsed, 1),
                  "seconds_per_step": round(per_step, 2),  # median step (model loading and saving excluded)
                  "device": resolve_device(settings.device),
                  "final": {k: v for k, v in final.items() if k != "step"}}})
    ctx.log(f"{version.name}: {settings.max_steps} steps in {elapsed:.0f}s")


def evaluate_job_versions(*, ctx, plan: RewriterTrainingConfig, dataset, held_out: Sequence[tuple[int, str]]) -> dict:
    """Evaluate the starting model and every version of this job on held-out tail queries; store the metrics."""
    from synthesis.models import RewriterVersion

    queries = list(held_out)[:plan.eval_queries]
    ctx.stage("evaluating on held-out tail queries", total=len(plan.methods) + 1)
    setup = evaluation_setup(config=ctx.config, dataset=dataset, settings=plan.rewards, device=plan.grpo.device,
                             query_pks=[pk for pk, _ in queries])
    start_model, _ = starting_point(plan)
    versions = list(RewriterVersion.objects.filter(job=ctx.job).order_by("pk"))
    results: dict[str, Any] = {}
    for done, (label, model_path, version) in enumerate(
            [("start", start_model, None)] + [(v.method, v.artifact_path, v) for v in versions], start=1):
        rewriter = load_rewriter(backend="hf-local", model=model_path, device=plan.grpo.device,
                                 max_new_tokens=plan.grpo.max_completion_length, seed=plan.seed)
        metrics = evaluate_rewriter(rewriter=rewriter, queries=queries, n=plan.eval_candidates, setup=setup)
        results[label] = metrics
        if version is not None:
            version.refresh_from_db()
            RewriterVersion.objects.filter(pk=version.pk).update(metrics={**version.metrics, "eval": metrics})
        ctx.progress(done)
        ctx.log(f"eval {label}: combined {metrics['rewards']['combined']:.3f}, "
                f"new relevant share {metrics['new_relevant_share']:.2f}, pairs/query {metrics['pairs_per_query']:.2f}")
    return results


# --- starting a training job ----------------------------------------------------------------------------------------

def check_training_references(plan: RewriterTrainingConfig) -> None:
    """The data set, names, parent version, retrievers and judge a plan needs exist, fit together and are usable."""
    from retrieval.models import Dataset, RetrieverVersion
    from synthesis.models import JudgeVersion, RewriterVersion

    dataset = Dataset.objects.filter(pk=plan.dataset_id).first()
    if dataset is None:
        raise ValueError(f"Dataset #{plan.dataset_id} does not exist.")
    taken = list(RewriterVersion.objects.filter(name__in=[f"{plan.name}-{m}" for m in plan.methods])
                 .values_list("name", flat=True))
    if taken:
        raise ValueError(f"Rewriter version(s) {', '.join(taken)} already exist; choose another name.")
    if plan.parent_version_id:
        parent = RewriterVersion.objects.filter(pk=plan.parent_version_id).first()
        if parent is None or parent.status != RewriterVersion.Status.READY:
            raise ValueError(f"Parent rewriter version #{plan.parent_version_id} does not exist or is not ready.")
    if "sft" in plan.methods and "jsonl" in plan.seed_sources and not Path(plan.seed_sources["jsonl"]).is_file():
        raise ValueError(f"Seed file {plan.seed_sources['jsonl']} does not exist.")
    needs_retrieval = {"relevance", "incremental"} & set(plan.rewards.active) and "grpo" in plan.methods
    if needs_retrieval or plan.evaluate:
        for label in ("retriever_version_id", "baseline_version_id"):
            pk = getattr(plan, label)
            if pk is None and label == "baseline_version_id":
                continue
            version = RetrieverVersion.objects.filter(pk=pk, dataset=dataset).first() if pk else None
            if version is None:
                raise ValueError(f"The rewards and the evaluation need {label}: a retriever version of "
                                 f"{dataset.name!r}.")
            if version.status != RetrieverVersion.Status.READY:
                raise ValueError(f"Retriever version {version.name!r} is {version.status}, not ready.")
        judge = plan.judge
        if judge.get("backend", "cross-encoder") == "cross-encoder":
            judges = JudgeVersion.objects.filter(dataset=dataset, status=JudgeVersion.Status.READY)
            if judge.get("judge_version_id"):
                judges = judges.filter(pk=judge["judge_version_id"])
            if not judges.exists():
                raise ValueError("The rewards need a ready relevance judge of this data set (train one first, "
                                 "or use the LLM judge).")


def rewriter_training_start(*, config: RewriterTrainingConfig | dict, user=None):
    """Validate a training config (a typed one, or a dict such as an API body) and queue the job on the ml queue;
    returns the Job. A config that does not validate raises `core.configs.ConfigInvalid` (a ValueError)."""
    from jobs.services import job_start

    plan = config if isinstance(config, RewriterTrainingConfig) else validate_config(RewriterTrainingConfig, config)
    check_training_references(plan)
    return job_start(kind=JOB_KIND, config=plan.as_dict(), user=user)


def synthesis_with_rewriter_start(*, version, user=None, overrides: dict | None = None):
    """Start a synthesis job that uses a trained rewriter version as its `hf-local` model.

    The other settings come from the data set's latest synthesis job (same retrievers, judge, mining and caps:
    only the rewriter changes, so the two jobs compare), else from the version's training job; `overrides`
    (e.g. `{"max_queries": 5}`) win over both.
    """
    from jobs.models import Job
    from synthesis.config import SynthesisConfig
    from synthesis.models import JudgeVersion, RewriterVersion, SynthesisJob
    from synthesis.services import synthesis_job_start

    if version.status != RewriterVersion.Status.READY:
        raise ValueError(f"Rewriter version {version.name!r} is {version.status}, not ready.")
    if not (Path(version.artifact_path) / "config.json").exists():
        raise ValueError(f"Rewriter version {version.name!r} has no model folder at {version.artifact_path}.")
    previous = Job.objects.filter(kind=SynthesisJob.KIND, config__dataset_id=version.dataset_id).order_by("-pk").first()
    config = dict(previous.config) if previous is not None else {}
    training = (version.job.config if version.job_id else {}) or {}
    retriever = config.get("retriever_version_id") or training.get("retriever_version_id")
    if not retriever:
        raise ValueError("No retriever to synthesise with: run one synthesis job first, or train the rewriter with "
                         "a retriever version.")
    judge_id = config.get("judge_version_id") or (training.get("judge") or {}).get("judge_version_id")
    if not judge_id and config.get("judge_backend", "cross-encoder") == "cross-encoder":
        judge_id = JudgeVersion.objects.filter(dataset_id=version.dataset_id, status=JudgeVersion.Status.READY).values_list(
            "pk", flat=True).first()
    config.update({"dataset_id": version.dataset_id, "retriever_version_id": retriever,
                   "baseline_version_id": config.get("baseline_version_id") or training.get("baseline_version_id")
                   or retriever, "judge_version_id": judge_id, "rewriter_backend": "hf-local",
                   "rewriter_model": version.artifact_path})
    config.update(overrides or {})
    return synthesis_job_start(config=validate_config(SynthesisConfig, config), user=user)
