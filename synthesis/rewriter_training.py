"""Training the rewriter: SFT on seed (query -> rewrite) pairs, then GRPO on the rewards, as resumable jobs.

The training loops are TRL's (`SFTTrainer`, `GRPOTrainer`); this module supplies the data, the rewards and the
bookkeeping. Prompts are exactly the ones the `hf-local` rewriter sends at synthesis time
(`prompts.rewrite_messages(query, n=1, as_list=False)` through the chat template), so what is trained is what runs.

Seed pairs come from a JSONL file (`{"query": ..., "rewrites": [...]}` per line), from kept rewrites of earlier
synthesis jobs (RewriteCandidate rows whose retrieval found kept products), or from a teacher model behind the
`openai` backend (distilling a big model into the small local one).

Each method writes a `RewriterVersion` whose artifact folder is an ordinary HF model folder (load it with
`rewriters.load_rewriter(model=version.artifact_path)`), its reward curves (one point per step: the combined
reward and each component) and its checkpoints; a re-run after a killed worker resumes from the last checkpoint.
"""
from __future__ import annotations

import json
import logging
import random
import shutil
import statistics
import time
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from jobs.registry import job_kind

from .parsing import clean_rewrite, dedupe_rewrites, normalise_query
from .prompts import rewrite_messages
from .rewards import RewardSettings

logger = logging.getLogger(__name__)

METHODS = ("sft", "grpo")
SEED_SOURCES = ("jsonl", "synthesis", "teacher")
MODEL_FOLDER = "model"
CHECKPOINT_FOLDER = "checkpoints"


# --- seed pairs ---------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SeedPair:
    """One supervised example: the rewriter should answer `query` with `rewrite`."""

    query: str
    rewrite: str
    source: str


class SeedDataError(ValueError):
    """A seed file has bad rows; the message lists them as `file:line: reason`."""


def seed_pairs_from_jsonl(path: str | Path) -> list[SeedPair]:
    """Pairs from a JSONL file: `{"query": str, "rewrites": [str, ...]}` (or `"rewrite": str`) per line.

    Every bad line is reported (`file:line: reason`) and nothing is returned if there is one.
    """
    path = Path(path)
    if not path.is_file():
        raise SeedDataError(f"{path}: no such seed file")
    pairs, problems = [], []
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            where = f"{path.name}:{number}"
            try:
                row = json.loads(line)
            except ValueError as exc:
                problems.append(f"{where}: not JSON ({exc.msg})")
                continue
            if not isinstance(row, dict):
                problems.append(f"{where}: expected an object with `query` and `rewrites`")
                continue
            query = row.get("query")
            rewrites = row.get("rewrites", [row["rewrite"]] if "rewrite" in row else None)
            if not isinstance(query, str) or not query.strip():
                problems.append(f"{where}: `query` must be a non-empty string")
                continue
            if isinstance(rewrites, str):
                rewrites = [rewrites]
            if not isinstance(rewrites, list) or not rewrites or not all(isinstance(r, str) for r in rewrites):
                problems.append(f"{where}: `rewrites` must be a non-empty list of strings")
                continue
            pairs.extend(SeedPair(query.strip(), rewrite, "jsonl") for rewrite in rewrites)
    if problems:
        shown = "\n".join(problems[:20]) + (f"\n... and {len(problems) - 20} more" if len(problems) > 20 else "")
        raise SeedDataError(f"{len(problems)} bad seed row(s):\n{shown}")
    return clean_seed_pairs(pairs)


def seed_pairs_from_synthesis(*, job_ids: Sequence[int] | None = None, dataset=None,
                              min_kept: int = 1) -> list[SeedPair]:
    """Rewrites of earlier synthesis jobs that found at least `min_kept` kept products, best (most kept) first."""
    from .models import RewriteCandidate

    if min_kept < 1:
        raise ValueError("min_kept must be at least 1")
    rows = RewriteCandidate.objects.filter(kept__gte=min_kept)
    if job_ids:
        rows = rows.filter(job_id__in=list(job_ids))
    if dataset is not None:
        rows = rows.filter(query__dataset=dataset)
    rows = rows.order_by("query_id", "-kept", "rank", "pk").values_list("query__text", "text")
    return clean_seed_pairs(SeedPair(query, text, "synthesis") for query, text in rows.iterator(chunk_size=2000))


def seed_pairs_from_teacher(*, queries: Sequence[str], rewriter, n: int = 3) -> list[SeedPair]:
    """Rewrites a teacher (usually the `openai` backend on a big model) proposes for `queries`, `n` each."""
    if n < 1:
        raise ValueError("n must be at least 1")
    queries = list(queries)
    answers = rewriter.rewrite(queries, n) if queries else []
    return clean_seed_pairs(SeedPair(query, rewrite, "teacher")
                            for query, rewrites in zip(queries, answers) for rewrite in rewrites)


def clean_seed_pairs(pairs: Iterable[SeedPair]) -> list[SeedPair]:
    """Cleaned rewrites (list markers, quotes, length caps), without empties, copies of the query or repeats."""
    by_query: dict[str, list[SeedPair]] = {}
    for pair in pairs:
        by_query.setdefault(pair.query, []).append(pair)
    cleaned = []
    for query, group in by_query.items():
        sources = {}
        for pair in group:
            sources.setdefault(clean_rewrite(pair.rewrite), pair.source)
        for rewrite in dedupe_rewrites(list(sources), query=query):
            cleaned.append(SeedPair(query, rewrite, sources[rewrite]))
    return cleaned


# --- datasets ---------------------------------------------------------------------------------------------------

def rewrite_prompt(query: str) -> list[dict]:
    """The chat prompt the `hf-local` rewriter sends for one rewrite of `query`."""
    return rewrite_messages(query, n=1, as_list=False)


def sft_dataset(pairs: Sequence[SeedPair]):
    """A conversational prompt/completion dataset: the loss is on the rewrite (and its end-of-turn) only."""
    from datasets import Dataset

    if not pairs:
        raise ValueError("No seed pairs to fine-tune on: give a seed file, synthesis jobs with kept rewrites, "
                         "or a teacher endpoint.")
    return Dataset.from_list([{"prompt": rewrite_prompt(p.query),
                               "completion": [{"role": "assistant", "content": p.rewrite}]} for p in pairs])


def grpo_dataset(queries: Sequence[str]):
    """One row per query: the prompt, and the original `query` column the rewards read."""
    from datasets import Dataset

    queries = list(dict.fromkeys(q for q in queries if q.strip()))
    if not queries:
        raise ValueError("No queries to train GRPO on.")
    return Dataset.from_list([{"prompt": rewrite_prompt(q), "query": q} for q in queries])


# --- training -----------------------------------------------------------------------------------------------------

@dataclass
class TrainingSettings:
    """How long and how hard to train; the defaults are small enough for a CPU."""

    max_steps: int = 20
    learning_rate: float = 5e-5
    batch_size: int = 8  # SFT: examples per step; GRPO: prompts per step (each sampled num_generations times)
    num_generations: int = 4  # GRPO group size = the number of candidates per query at synthesis time
    max_completion_length: int = 24
    temperature: float = 0.8  # as the hf-local rewriter samples at synthesis time
    top_p: float = 0.95
    beta: float = 0.0  # GRPO KL coefficient (0: no reference model, the cheap default)
    save_steps: int = 5
    max_length: int = 512  # SFT: prompt + completion tokens
    seed: int = 13
    device: str = "auto"

    def __post_init__(self):
        positive = {"max_steps": self.max_steps, "batch_size": self.batch_size, "save_steps": self.save_steps,
                    "max_completion_length": self.max_completion_length, "max_length": self.max_length}
        bad = [name for name, value in positive.items() if not isinstance(value, int) or value < 1]
        if bad:
            raise ValueError(f"{', '.join(bad)} must be whole numbers >= 1")
        if self.num_generations < 2:
            raise ValueError("num_generations must be at least 2 (GRPO compares candidates within a group)")
        if not self.learning_rate > 0 or not self.temperature > 0 or not 0 < self.top_p <= 1 or self.beta < 0:
            raise ValueError("learning_rate and temperature must be > 0, top_p in (0, 1], beta >= 0")

    @classmethod
    def from_config(cls, config: dict | None, **defaults) -> TrainingSettings:
        known = set(cls.__dataclass_fields__)
        config = {**defaults, **(config or {})}
        unknown = sorted(set(config) - known)
        if unknown:
            raise ValueError(f"Unknown training setting(s) {unknown}; known: {', '.join(sorted(known))}.")
        return cls(**config)


def resolve_training_device(device: str = "auto") -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"Device {device!r} was asked for but CUDA is not available on this machine.")
    return device


def _common_arguments(settings: TrainingSettings, out_dir: Path) -> dict:
    import torch

    device = resolve_training_device(settings.device)
    on_gpu = device.startswith("cuda")
    return {
        "output_dir": str(out_dir / CHECKPOINT_FOLDER), "max_steps": settings.max_steps,
        "learning_rate": settings.learning_rate, "lr_scheduler_type": "constant", "warmup_steps": 0,
        "logging_steps": 1, "save_strategy": "steps", "save_steps": settings.save_steps, "save_total_limit": 2,
        "report_to": [], "disable_tqdm": True, "seed": settings.seed, "data_seed": settings.seed,
        "use_cpu": not on_gpu, "bf16": on_gpu and torch.cuda.is_bf16_supported(), "dataloader_num_workers": 0,
    }


def last_checkpoint(out_dir: Path) -> str | None:
    """The newest complete checkpoint of a training run in `out_dir`, if it was interrupted."""
    from transformers.trainer_utils import get_last_checkpoint

    folder = Path(out_dir) / CHECKPOINT_FOLDER
    return get_last_checkpoint(str(folder)) if folder.is_dir() else None


def checkpoint_step(checkpoint: str) -> int:
    """The global step a `checkpoint-<step>` folder was saved at."""
    return int(Path(checkpoint).name.rsplit("-", 1)[-1])


def resume_point(out_dir: Path, max_steps: int) -> tuple[str | None, bool]:
    """(the last checkpoint or None, whether it already holds all `max_steps`).

    A run killed after its last checkpoint but before its model was saved must not train again: resumed there,
    the HF Trainer would run one step past `max_steps`.
    """
    checkpoint = last_checkpoint(out_dir)
    return checkpoint, checkpoint is not None and checkpoint_step(checkpoint) >= max_steps


def _save_final(trainer, out_dir: Path) -> Path:
    """Save the trained model and tokenizer as a plain HF folder (staged, then renamed into place)."""
    final = Path(out_dir) / MODEL_FOLDER
    staging = Path(out_dir) / (MODEL_FOLDER + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    trainer.save_model(str(staging))
    trainer.processing_class.save_pretrained(str(staging))
    (staging / "training_args.bin").unlink(missing_ok=True)
    shutil.rmtree(final, ignore_errors=True)
    staging.rename(final)
    return final


def train_sft(*, model_path: str, pairs: Sequence[SeedPair], out_dir: Path, settings: TrainingSettings,
              callbacks: Sequence = ()) -> Path:
    """Supervised fine-tuning on seed pairs with `trl.SFTTrainer`; resumes from the last checkpoint in `out_dir`.

    Returns the folder of the trained model (`out_dir/model`).
    """
    from trl import SFTConfig, SFTTrainer

    out_dir = Path(out_dir)
    tokenizer = _tokenizer(model_path)
    checkpoint, finished = resume_point(out_dir, settings.max_steps)
    args = SFTConfig(**_common_arguments(settings, out_dir), per_device_train_batch_size=settings.batch_size,
                     max_length=settings.max_length, packing=False, completion_only_loss=True,
                     dataset_num_proc=None, model_init_kwargs={"dtype": "float32"})
    trainer = SFTTrainer(model=checkpoint if finished else model_path, args=args, train_dataset=sft_dataset(pairs),
                         processing_class=tokenizer, callbacks=list(callbacks))
    if not finished:
        trainer.train(resume_from_checkpoint=checkpoint)
    return _save_final(trainer, out_dir)


def train_grpo(*, model_path: str, queries: Sequence[str], reward_funcs: Sequence[Callable],
               reward_weights: Sequence[float], out_dir: Path, settings: TrainingSettings,
               callbacks: Sequence = ()) -> Path:
    """GRPO with `trl.GRPOTrainer`: `num_generations` candidates per query are scored by the rewards and the
    policy moves toward the better ones of each group. Resumes from the last checkpoint in `out_dir`.

    Returns the folder of the trained model (`out_dir/model`).
    """
    from trl import GRPOConfig, GRPOTrainer

    if len(reward_funcs) != len(reward_weights) or not reward_funcs:
        raise ValueError("Give one weight per reward function, and at least one reward.")
    out_dir = Path(out_dir)
    tokenizer = _tokenizer(model_path)
    checkpoint, finished = resume_point(out_dir, settings.max_steps)
    args = GRPOConfig(
        **_common_arguments(settings, out_dir),
        per_device_train_batch_size=settings.batch_size * settings.num_generations,
        num_generations=settings.num_generations, max_completion_length=settings.max_completion_length,
        temperature=settings.temperature, top_p=settings.top_p, beta=settings.beta,
        reward_weights=list(reward_weights), log_completions=False, model_init_kwargs={"dtype": "float32"})
    trainer = GRPOTrainer(model=checkpoint if finished else model_path, reward_funcs=list(reward_funcs), args=args,
                          train_dataset=grpo_dataset(queries), processing_class=tokenizer,
                          callbacks=list(callbacks))
    if not finished:
        trainer.train(resume_from_checkpoint=checkpoint)
    return _save_final(trainer, out_dir)


def _tokenizer(model_path: str):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_path)
    if not tokenizer.chat_template:
        raise ValueError(f"{model_path} has no chat template; the rewriter needs an instruction-tuned chat model.")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


# --- reward curves and progress ------------------------------------------------------------------------------------

def curve_point(logs: dict[str, Any], *, step: int) -> dict[str, float] | None:
    """One point of a training curve from a trainer log: the combined reward and each component (GRPO), the loss.

    None for logs without training metrics (the end-of-training summary).
    """
    point: dict[str, float] = {}
    if "reward" in logs:
        point["combined"] = float(logs["reward"])
    for key, value in logs.items():
        if key.startswith("rewards/") and key.endswith("/mean") and value is not None:
            point[reward_name_from_log(key)] = float(value)
    for key in ("loss", "mean_token_accuracy", "completions/mean_length"):
        if logs.get(key) is not None:
            point[key.replace("completions/", "completion_")] = float(logs[key])
    if not point or "train_runtime" in logs:
        return None
    return {"step": int(step), **point}


def reward_name_from_log(key: str) -> str:
    """`rewards/relevance_reward/mean` -> `relevance`."""
    return key.split("/")[1].removesuffix("_reward")


def merge_curve(curve: Sequence[dict], point: dict) -> list[dict]:
    """The curve with `point` in step order; a point for a step already there (a resumed run) replaces it."""
    merged = {int(p["step"]): p for p in curve}
    merged[int(point["step"])] = point
    return [merged[step] for step in sorted(merged)]


def training_report_callback(*, on_point: Callable[[dict], None], on_step: Callable[[int, int], None]):
    """A `TrainerCallback` that hands every logged curve point to `on_point` and every step to `on_step`.

    `on_step` may raise (a cancelled job) to stop training; the last checkpoint stays for a resume.
    """
    from transformers import TrainerCallback

    class TrainingReport(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            point = curve_point(logs or {}, step=state.global_step)
            if point is not None:
                on_point(point)

        def on_step_end(self, args, state, control, **kwargs):
            on_step(state.global_step, state.max_steps)

    return TrainingReport()


# --- wiring the real retriever, judge and catalogue -------------------------------------------------------------------

def catalogue_space_for(*, dataset, max_titles: int = 20000, seed: int = 13, neighbours: int = 5,
                        encoder_path: str = ""):
    """The data set's product titles (a seeded sample of at most `max_titles`) embedded with the encoder."""
    from retrieval.encoders import load_encoder

    from .rewards import catalogue_space_from_encoder

    titles = list(dataset.products.order_by("pk").values_list("title", flat=True))
    if len(titles) > max_titles:
        titles = random.Random(seed).sample(titles, max_titles)
    return catalogue_space_from_encoder(titles=titles, encoder=load_encoder(encoder_path or None),
                                        neighbours=neighbours)


def reward_setup(*, config: dict, dataset, settings: RewardSettings, device: str = "auto"):
    """(RetrievalFeedback or None, CatalogueSpace or None) for the active rewards, from a job config.

    `retriever_version_id`: the strong retriever the rewrites go through (as in the synthesis pipeline);
    `baseline_version_id`: the online baseline for the incremental reward (defaults to the retriever);
    `judge`: `{"backend": "cross-encoder", "judge_version_id": id}` or `{"backend": "llm", ...}`. A product counts
    as relevant at `settings.threshold`, or when that is None at the judge version's calibrated keep threshold
    (0.5 for the LLM judge), as in synthesis jobs.
    """
    from retrieval.models import RetrieverVersion

    from .judges import load_judge
    from .models import JudgeVersion
    from .rewards import RetrievalFeedback
    from .services import judge_keep_threshold, product_judge, version_retrieve_many

    feedback = catalogue = None
    if {"relevance", "incremental"} & set(settings.active):
        retriever_id = config.get("retriever_version_id")
        if not retriever_id:
            raise ValueError("The relevance and incremental rewards need `retriever_version_id` (a ready "
                             "retriever version of the data set).")
        retriever = RetrieverVersion.objects.get(pk=retriever_id, dataset=dataset)
        baseline_id = config.get("baseline_version_id")
        baseline = RetrieverVersion.objects.get(pk=baseline_id, dataset=dataset) if baseline_id else retriever
        judge_config = dict(config.get("judge") or {})
        backend = judge_config.pop("backend", "cross-encoder")
        judge_version_id = judge_config.pop("judge_version_id", None)
        judge_version = JudgeVersion.objects.get(pk=judge_version_id) if judge_version_id else None
        if backend == "cross-encoder" and judge_version is None:
            judge_version = JudgeVersion.objects.filter(dataset=dataset, status="ready").first()
        judge = load_judge(backend=backend, judge_version=judge_version, device=device, **judge_config)
        fields = judge_version.hyperparams.get("fields") if judge_version is not None else None
        threshold = settings.threshold if settings.threshold is not None else judge_keep_threshold(judge_version)
        feedback = RetrievalFeedback(retrieve=version_retrieve_many(retriever),
                                     judge=product_judge(judge, fields=fields),
                                     baseline_retrieve=version_retrieve_many(baseline), k=settings.k,
                                     threshold=threshold, baseline_k=settings.baseline_k)
    if "alignment" in settings.active:
        catalogue = catalogue_space_for(dataset=dataset, neighbours=settings.neighbours)
    return feedback, catalogue


# --- queries ----------------------------------------------------------------------------------------------------------

def split_tail_queries(*, dataset, held_out_share: float = 0.2, seed: int = 13,
                       segments: Sequence[str] = ("tail",)) -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
    """(training, held-out) tail queries as (pk, text): a seeded shuffle, so every run and the benchmark agree."""
    if not 0 <= held_out_share < 1:
        raise ValueError("held_out_share must be in [0, 1)")
    rows = list(dataset.queries.filter(segment__in=list(segments)).order_by("pk").values_list("pk", "text"))
    random.Random(seed).shuffle(rows)
    held = round(len(rows) * held_out_share)
    return rows[held:], rows[:held]


# --- the job ------------------------------------------------------------------------------------------------------------

@dataclass
class TrainingPlan:
    """A training job's config, validated: what to train, from what, on what."""

    dataset_id: int
    name: str
    methods: list[str] = field(default_factory=lambda: list(METHODS))
    base_model: str = ""
    parent_version_id: int | None = None
    seed_sources: dict = field(default_factory=dict)
    sft: TrainingSettings = field(default_factory=TrainingSettings)
    grpo: TrainingSettings = field(default_factory=lambda: TrainingSettings(max_steps=10, learning_rate=1e-5,
                                                                            batch_size=1))
    rewards: RewardSettings = field(default_factory=RewardSettings)
    max_grpo_queries: int = 500
    held_out_share: float = 0.2
    seed: int = 13
    evaluate: bool = True
    eval_queries: int = 20
    eval_candidates: int = 4

    @classmethod
    def from_config(cls, config: dict) -> TrainingPlan:
        config = dict(config)
        known = {"dataset_id", "name", "methods", "base_model", "parent_version_id", "seed_sources", "sft", "grpo",
                 "rewards", "max_grpo_queries", "held_out_share", "seed", "evaluate", "eval_queries",
                 "eval_candidates", "retriever_version_id", "baseline_version_id", "judge", "device", "curation"}
        unknown = sorted(set(config) - known)
        if unknown:
            raise ValueError(f"Unknown training option(s) {unknown}.")
        if not config.get("dataset_id") or not config.get("name"):
            raise ValueError("A rewriter training job needs `dataset_id` and `name`.")
        methods = list(config.get("methods") or METHODS)
        if not methods or any(m not in METHODS for m in methods) or len(set(methods)) != len(methods):
            raise ValueError(f"methods must be a subset of {list(METHODS)}, got {methods}")
        device = config.get("device", "auto")
        seed = int(config.get("seed", 13))
        sources = dict(config.get("seed_sources") or {})
        unknown_sources = sorted(set(sources) - set(SEED_SOURCES))
        if unknown_sources:
            raise ValueError(f"Unknown seed source(s) {unknown_sources}; choose from {', '.join(SEED_SOURCES)}.")
        if "sft" in methods and not sources:
            raise ValueError("SFT needs at least one seed source: jsonl, synthesis or teacher.")
        return cls(
            dataset_id=int(config["dataset_id"]), name=str(config["name"]), methods=methods,
            base_model=str(config.get("base_model") or ""), parent_version_id=config.get("parent_version_id"),
            seed_sources=sources,
            sft=TrainingSettings.from_config(config.get("sft"), device=device, seed=seed),
            grpo=TrainingSettings.from_config(config.get("grpo"), device=device, seed=seed, max_steps=10,
                                              learning_rate=1e-5, batch_size=1),
            rewards=RewardSettings.from_config(config.get("rewards")),
            max_grpo_queries=int(config.get("max_grpo_queries", 500)),
            held_out_share=float(config.get("held_out_share", 0.2)), seed=seed,
            evaluate=bool(config.get("evaluate", True)), eval_queries=int(config.get("eval_queries", 20)),
            eval_candidates=int(config.get("eval_candidates", 4)))


def version_folder(name: str) -> Path:
    from django.conf import settings

    return Path(settings.ARTIFACT_ROOT) / "rewriters" / name


def collect_seed_pairs(*, sources: dict, dataset, training_queries: Sequence[str],
                       held_out_queries: Collection[str] = (),
                       log: Callable[[str], None] = logger.info) -> tuple[list[SeedPair], dict]:
    """The seed pairs of every configured source, and a manifest of counts by source.

    `{"jsonl": path}`, `{"synthesis": {"job_ids": [...], "min_kept": 1}}` (job_ids empty = every job of the
    data set), `{"teacher": {"queries": 50, "n": 3, "base_url": ..., "model": ...}}` (the teacher rewrites that
    many training queries). Pairs for a held-out query are dropped (and counted), so that the evaluation on
    held-out queries never scores a rewriter on rewrites it was taught.
    """
    pairs: list[SeedPair] = []
    manifest: dict[str, Any] = {}
    if "jsonl" in sources:
        found = seed_pairs_from_jsonl(sources["jsonl"])
        manifest["jsonl"] = {"path": str(sources["jsonl"]), "pairs": len(found)}
        pairs += found
    if "synthesis" in sources:
        options = dict(sources["synthesis"] or {})
        found = seed_pairs_from_synthesis(job_ids=options.get("job_ids") or None, dataset=dataset,
                                          min_kept=int(options.get("min_kept", 1)))
        manifest["synthesis"] = {"job_ids": options.get("job_ids") or "all", "pairs": len(found)}
        pairs += found
    if "teacher" in sources:
        from .rewriters import load_rewriter

        options = dict(sources["teacher"] or {})
        count, n = int(options.pop("queries", 50)), int(options.pop("n", 3))
        teacher = load_rewriter(backend="openai", **options)
        found = seed_pairs_from_teacher(queries=list(training_queries)[:count], rewriter=teacher, n=n)
        manifest["teacher"] = {**teacher.describe(), "queries": min(count, len(training_queries)),
                               "pairs": len(found)}
        pairs += found
    held_out = {normalise_query(q) for q in held_out_queries}
    cleaned = clean_seed_pairs(pairs)
    pairs = [p for p in cleaned if normalise_query(p.query) not in held_out]
    manifest["dropped_held_out"] = len(cleaned) - len(pairs)
    manifest["pairs"] = len(pairs)
    manifest["queries"] = len({p.query for p in pairs})
    log(f"seed pairs: {manifest}")
    return pairs, manifest


@job_kind("rewriter_training", queue="ml", title="Train a rewriter (SFT, then GRPO)",
          legacy_task_names=("synthesis.tasks.ml_train_rewriter",))
def train_rewriter_work(ctx) -> dict:
    """The rewriter training job: SFT then GRPO (or either), each a RewriterVersion; resumable at every stage.

    A version already `ready` for this job is kept as it is; a version still `training` resumes from its last
    checkpoint; the curve points already written are kept (a resumed step replaces its old point).
    """
    from django.utils import timezone

    from retrieval.models import Dataset

    from .models import RewriterVersion

    plan = TrainingPlan.from_config(ctx.config)
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
                hyperparams=asdict(plan.sft if method == "sft" else plan.grpo))
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


def starting_point(plan: TrainingPlan):
    """(model folder, parent RewriterVersion or None) the first method starts from."""
    from .models import RewriterVersion
    from .rewriters import resolve_rewriter_model

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


def train_one_version(*, ctx, version, plan: TrainingPlan, dataset, start_model: str,
                      training_queries: Sequence[str], held_out_queries: Sequence[str] = ()) -> None:
    """Train one method into `version`'s folder, writing its curve, manifest and metrics as it goes."""
    from .models import RewriterVersion

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
        from .rewards import reward_functions

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
                  "device": resolve_training_device(settings.device),
                  "final": {k: v for k, v in final.items() if k != "step"}}})
    ctx.log(f"{version.name}: {settings.max_steps} steps in {elapsed:.0f}s")


def evaluate_job_versions(*, ctx, plan: TrainingPlan, dataset, held_out: Sequence[tuple[int, str]]) -> dict:
    """Evaluate the starting model and every version of this job on held-out tail queries; store the metrics."""
    from .models import RewriterVersion
    from .rewriter_eval import evaluation_setup, evaluate_rewriter
    from .rewriters import load_rewriter

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

JOB_KIND = "rewriter_training"


def check_training_references(plan: TrainingPlan, config: dict) -> None:
    """The data set, names, parent version, retrievers and judge a plan needs exist, fit together and are usable."""
    from django.utils.text import slugify

    from retrieval.models import Dataset, RetrieverVersion

    from .models import JudgeVersion, RewriterVersion

    dataset = Dataset.objects.filter(pk=plan.dataset_id).first()
    if dataset is None:
        raise ValueError(f"Dataset #{plan.dataset_id} does not exist.")
    if slugify(plan.name) != plan.name:
        raise ValueError(f"Name {plan.name!r} must be a slug (lower-case letters, digits, - and _).")
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
            pk = config.get(label)
            if pk is None and label == "baseline_version_id":
                continue
            version = RetrieverVersion.objects.filter(pk=pk, dataset=dataset).first() if pk else None
            if version is None:
                raise ValueError(f"The rewards and the evaluation need {label}: a retriever version of "
                                 f"{dataset.name!r}.")
            if version.status != RetrieverVersion.Status.READY:
                raise ValueError(f"Retriever version {version.name!r} is {version.status}, not ready.")
        judge = dict(config.get("judge") or {})
        if judge.get("backend", "cross-encoder") == "cross-encoder":
            judges = JudgeVersion.objects.filter(dataset=dataset, status=JudgeVersion.Status.READY)
            if judge.get("judge_version_id"):
                judges = judges.filter(pk=judge["judge_version_id"])
            if not judges.exists():
                raise ValueError("The rewards need a ready relevance judge of this data set (train one first, "
                                 "or use the LLM judge).")


def rewriter_training_start(*, config: dict, user=None):
    """Validate a training config and queue the job (on the ml queue); returns the Job."""
    from jobs.services import job_start


    plan = TrainingPlan.from_config(config)
    check_training_references(plan, config)
    return job_start(kind=JOB_KIND, config=config, user=user)


def synthesis_with_rewriter_start(*, version, user=None, overrides: dict | None = None):
    """Start a synthesis job that uses a trained rewriter version as its `hf-local` model.

    The other settings come from the data set's latest synthesis job (same retrievers, judge, mining and caps:
    only the rewriter changes, so the two jobs compare), else from the version's training job; `overrides`
    (e.g. `{"max_queries": 5}`) win over both.
    """
    from jobs.models import Job

    from .models import JudgeVersion, RewriterVersion, SynthesisJob
    from .services import SynthesisConfig, synthesis_job_start

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
        judge_id = JudgeVersion.objects.filter(dataset_id=version.dataset_id, status="ready").values_list(
            "pk", flat=True).first()
    config.update({"dataset_id": version.dataset_id, "retriever_version_id": retriever,
                   "baseline_version_id": config.get("baseline_version_id") or training.get("baseline_version_id")
                   or retriever, "judge_version_id": judge_id, "rewriter_backend": "hf-local",
                   "rewriter_model": version.artifact_path})
    config.update(overrides or {})
    return synthesis_job_start(config=SynthesisConfig.from_dict(config), user=user)
