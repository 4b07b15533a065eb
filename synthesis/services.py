"""The synthesis job service: check a job's config against the database, start the job, and the job body.

The synthesis job mines long-tail queries once (the `MinedQuery` rows are its work list), then works through
the not-yet-done queries in chunks: rewrite, retrieve, judge, curate, and write the chunk's rows in ONE
transaction together with each query's done marker. A restarted job skips done queries; unique constraints on
(job, query, product) and (job, query, rewrite) make a chunk that is written twice harmless. Cancelling stops
at the next chunk. The config is `config.SynthesisConfig` (validated by the form, the API and the job alike).
"""
from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core.configs import validate_config
from jobs.models import Job, JobShard
from jobs.registry import job_kind
from jobs.services import JobContext, job_start
from jobs.shards import run_shards, shard_step

from .config import SynthesisConfig
from .judging.judges import (
    DEFAULT_THRESHOLD,
    index_backed_judge,
    judge_keep_threshold,
    load_judge,
    product_judge,
)
from .mining import mine_queries
from .models import (
    JudgeVersion,
    MinedQuery,
    RewriteCandidate,
    SynthesisJob,
    SyntheticPair,
)
from .pipeline import (
    JudgeProducts,
    QueryCuration,
    RetrieveMany,
    curate_query,
    logged_products,
    version_retrieve_many,
)
from .rewriter.backends import Rewriter, load_rewriter
from .selectors import synthesis_counts, synthesis_statistics
from .timing import STAGES, StageClock

logger = logging.getLogger(__name__)


def check_synthesis_references(config: SynthesisConfig) -> None:
    """The dataset, versions and judge named in `config` exist, belong together and are usable."""
    from retrieval.models import Dataset, RetrieverVersion

    dataset = Dataset.objects.filter(pk=config.dataset_id).first()
    if dataset is None:
        raise ValueError(f"Dataset #{config.dataset_id} does not exist.")
    for label, pk in (("retriever", config.retriever_version_id), ("baseline", config.baseline_version_id)):
        version = RetrieverVersion.objects.filter(pk=pk).first()
        if version is None:
            raise ValueError(f"The {label} version #{pk} does not exist.")
        if version.dataset_id != dataset.pk:
            raise ValueError(f"The {label} version {version.name!r} belongs to another dataset.")
        if version.status != RetrieverVersion.Status.READY:
            raise ValueError(f"The {label} version {version.name!r} is {version.status}, not ready.")
    if config.judge_backend == "cross-encoder" and config.judge_version_id is not None:
        judge = JudgeVersion.objects.filter(pk=config.judge_version_id).first()
        if judge is None:
            raise ValueError(f"Judge version #{config.judge_version_id} does not exist.")
        if judge.status != JudgeVersion.Status.READY:
            raise ValueError(f"Judge version {judge.name!r} is {judge.status}, not ready.")
        if judge.dataset_id != dataset.pk:
            raise ValueError(f"Judge version {judge.name!r} belongs to another dataset.")
    elif config.judge_backend == "cross-encoder" and best_judge(dataset) is None:
        raise ValueError(f"Data set {dataset.name!r} has no ready judge version: train or calibrate one first "
                         "(or use the LLM judge).")
    if (config.judge_backend == "llm" or config.rewriter_backend == "openai" or config.llm_tagger) \
            and not settings.OPENAI_BASE_URL:
        raise ValueError("The LLM judge, the openai rewriter and the LLM tagger need OPENAI_BASE_URL "
                         "(an OpenAI-compatible endpoint) in the settings.")


def synthesis_job_start(*, config: SynthesisConfig, user=None) -> Job:
    """Validate a synthesis config and queue its job on the ml queue."""
    check_synthesis_references(config)
    config = with_keep_threshold(with_judge(config))
    return job_start(kind=SynthesisJob.KIND, config=config.as_dict(), user=user)


def judge_rank(judge: JudgeVersion) -> tuple[float, float]:
    """How a judge version measured: AUC on held-out tail labels first (the tail is what it judges), then overall.
    (The AUC on the held-out graded products, `judging.training.subset_metrics`, is recorded beside them and not
    yet used: it is measured against the pipeline-candidate AUC first.)"""
    metrics = judge.metrics or {}
    tail = (metrics.get("tail") or {}).get("auc")
    overall = metrics.get("auc")
    return (tail if tail is not None else -1.0, overall if overall is not None else -1.0)


def best_judge(dataset) -> JudgeVersion | None:
    """The data set's best-measured ready judge version (`judge_rank`), the default of a synthesis job."""
    ready = JudgeVersion.objects.filter(dataset=dataset, status=JudgeVersion.Status.READY).order_by("-pk")
    return max(ready, key=judge_rank, default=None)


def with_judge(config: SynthesisConfig) -> SynthesisConfig:
    """The config with its judge decided: the one given, else the best-measured (recorded in the stored config)."""
    if config.judge_backend != "cross-encoder" or config.judge_version_id is not None:
        return config
    from retrieval.models import Dataset

    return config.model_copy(update={"judge_version_id": best_judge(Dataset.objects.get(pk=config.dataset_id)).pk})


def with_keep_threshold(config: SynthesisConfig) -> SynthesisConfig:
    """The config with its keep threshold decided: the one given, else the judge version's calibrated threshold
    (`judging.training.judge_metrics`; a judge trained with several negatives per positive scores relevant
    products far below 0.5), else 0.5. The job's stored config records the number used."""
    if config.threshold is not None:
        return config
    threshold = DEFAULT_THRESHOLD
    if config.judge_backend == "cross-encoder":
        threshold = judge_keep_threshold(JudgeVersion.objects.get(pk=config.judge_version_id))
    return config.model_copy(update={"threshold": threshold})


# --- the synthesis job -----------------------------------------------------------------------------------------

@dataclass
class SynthesisComponents:
    """The models a job runs with, loaded once per run."""

    rewriter: Rewriter
    retrieve_many: RetrieveMany
    baseline_retrieve_many: RetrieveMany
    judge_products: JudgeProducts
    describe: dict = field(default_factory=dict)



def load_synthesis_components(config: SynthesisConfig) -> SynthesisComponents:
    """Load the rewriter, judge and retrievers a config names (the expensive part of starting a job)."""
    from retrieval.models import RetrieverVersion

    rewriter = load_rewriter(backend=config.rewriter_backend, model=config.rewriter_model, device=config.device,
                             batch_size=config.batch_size, seed=config.seed)
    judge_version = JudgeVersion.objects.get(pk=config.judge_version_id) if config.judge_version_id else None
    judge = load_judge(backend=config.judge_backend, judge_version=judge_version, device=config.device)
    fields = judge_version.hyperparams.get("fields") if judge_version else None
    retriever = RetrieverVersion.objects.get(pk=config.retriever_version_id)
    baseline = RetrieverVersion.objects.get(pk=config.baseline_version_id)
    from_index, index_version = judge_from_an_index(judge, judge_version=judge_version, retriever=retriever)
    describe = {"rewriter": rewriter.describe(), "judge": judge.describe(), "retriever": retriever.name,
                "baseline": baseline.name}
    if from_index is not None:
        describe["judge"]["product_embeddings_from"] = index_version.name
    return SynthesisComponents(
        rewriter=rewriter, retrieve_many=version_retrieve_many(retriever),
        baseline_retrieve_many=version_retrieve_many(baseline),
        judge_products=from_index or product_judge(judge, fields=fields), describe=describe)


def judge_from_an_index(judge, *, judge_version: JudgeVersion | None, retriever):
    """A bi-encoder judge that reads its product embeddings from a zero-shot index of its own encoder: the job's
    retriever when it is one, else the data set's newest ready zero-shot dense version that matches (same encoder,
    product fields and length). Returns (judge_products, that version), or (None, None): encode products anew."""
    from retrieval.models import RetrieverVersion

    if judge_version is None:
        return None, None
    others = RetrieverVersion.objects.filter(dataset_id=retriever.dataset_id, kind="dense", status="ready",
                                             hyperparams__train=False).exclude(pk=retriever.pk).order_by("-pk")
    for version in [retriever, *others]:
        from_index = index_backed_judge(judge, judge_version=judge_version, retriever_version=version)
        if from_index is not None:
            return from_index, version
    return None, None


def ensure_mined_queries(*, job: Job, config: SynthesisConfig) -> int:
    """Mine the job's queries once; a resumed job keeps the list it already has. Returns how many there are."""
    existing = MinedQuery.objects.filter(job=job).count()
    if existing:
        return existing
    from retrieval.models import Dataset

    llm_client = None
    if config.llm_tagger:
        from core.llm import chat_client_from_settings

        llm_client = chat_client_from_settings()
    mined = mine_queries(dataset=Dataset.objects.get(pk=config.dataset_id), criteria=config.criteria,
                         llm_client=llm_client)
    with transaction.atomic():
        MinedQuery.objects.bulk_create(
            [MinedQuery(job=job, query_id=m.query_pk, position=i, clicks=m.clicks, tags=[t.as_dict() for t in m.tags])
             for i, m in enumerate(mined)], ignore_conflicts=True)
    return MinedQuery.objects.filter(job=job).count()



def synthesize_chunk(*, chunk: Sequence[MinedQuery], components: SynthesisComponents,
                     config: SynthesisConfig, clock: StageClock | None = None) -> list[QueryCuration]:
    """Rewrite a chunk of queries in batches, retrieve for every query and rewrite of the chunk in one batched call,
    and run the curation pipeline on each query (`clock`: time per stage)."""
    clock = clock or StageClock()
    texts = [m.query.text for m in chunk]
    rewrites = clock.timed("rewrite", components.rewriter.rewrite)(texts, config.candidates)
    baseline = clock.timed("retrieve", components.baseline_retrieve_many)(texts, config.baseline_k)
    asked = [[text, *query_rewrites] for text, query_rewrites in zip(texts, rewrites)]
    found = clock.timed("retrieve", components.retrieve_many)([t for group in asked for t in group],
                                                              config.curation.retrieve_k)
    logged = logged_products([m.query_id for m in chunk])
    judge_products = clock.timed("judge", components.judge_products)
    curations, start = [], 0
    for m, group, query_rewrites, baseline_top in zip(chunk, asked, rewrites, baseline):
        curations.append(curate_query(
            query_pk=m.query_id, query_text=group[0], rewrites=query_rewrites,
            retrieve_many=already_retrieved(group, found[start:start + len(group)]), judge_products=judge_products,
            baseline_top=baseline_top, logged=logged[m.query_id], settings=config.curation))
        start += len(group)
    return curations


def already_retrieved(texts: list[str], results: list[list[int]]) -> RetrieveMany:
    """`retrieve_many` answering from the chunk's one batched retrieval (for exactly these texts)."""
    def answer(asked: Sequence[str], k: int) -> list[list[int]]:
        if list(asked) != texts:
            raise ValueError(f"expected the texts retrieved for this query, got {list(asked)[:3]}...")
        return results

    return answer


def write_chunk(*, job: Job, curations: Sequence[QueryCuration]) -> None:
    """All rows of a chunk and its queries' done markers in one transaction (a kill leaves none or all)."""
    now = timezone.now()
    with transaction.atomic():
        RewriteCandidate.objects.bulk_create(
            [RewriteCandidate(job=job, query_id=c.query_pk, text=text[:300], rank=rank,
                              retrieved=c.retrieved_per_rewrite.get(text, 0), kept=c.kept_per_rewrite.get(text, 0))
             for c in curations for rank, text in enumerate(c.rewrites)], ignore_conflicts=True)
        SyntheticPair.objects.bulk_create(
            [SyntheticPair(job=job, query_id=c.query_pk, product_id=p.product_pk, judge_score=p.score,
                           incremental=p.incremental, found_by_original=p.found_by_original,
                           rewrites=list(p.rewrites)) for c in curations for p in c.pairs], ignore_conflicts=True)
        for c in curations:
            MinedQuery.objects.filter(job=job, query_id=c.query_pk).update(
                candidates=c.candidates, hard_negatives=[[pk, round(score, 6)] for pk, score in c.rejected],
                done_at=now)


STEP = "synthesis_chunks"
_components: dict = {}  # this process's models for the synthesis job whose shards it ran last: {job_pk: ...}


def job_components(job_pk: int, config: SynthesisConfig) -> SynthesisComponents:
    """The models of a job, loaded once per process for all the shards of that job it runs."""
    if job_pk not in _components:
        _components.clear()
        _components[job_pk] = load_synthesis_components(config)
    return _components[job_pk]


def forget_components() -> None:
    _components.clear()


@shard_step(STEP, release=forget_components)
def synthesis_shard(shard: JobShard, report) -> dict:
    """One chunk of a synthesis job (its queries by mining position), in any worker: the chunk's not-done queries
    are rewritten (the rewriter is seeded per chunk, so the same chunk gives the same rewrites wherever it runs),
    retrieved, judged and written in one transaction."""
    job = Job.objects.get(pk=shard.job_id)
    config = validate_config(SynthesisConfig, job.config)
    first, stop = shard.spec["positions"]
    chunk = list(MinedQuery.objects.filter(job=job, done_at__isnull=True, position__gte=first, position__lt=stop)
                 .select_related("query").order_by("position"))
    if not chunk:
        return {"queries": 0, "stages": {}}
    clock, components = StageClock(), job_components(job.pk, config)
    curations = synthesize_chunk(chunk=chunk, components=components, config=config, clock=clock)
    with clock.stage("write"):
        write_chunk(job=job, curations=curations)
    return {"queries": len(chunk), "stages": clock.end_chunk(), "components": components.describe}


@job_kind("synthesis", queue="ml", title="Synthesise training pairs",
          legacy_task_names=("synthesis.tasks.ml_synthesize",))
def synthesis_work(ctx: JobContext) -> dict:
    """The synthesis job: mine, then rewrite -> retrieve -> judge -> curate chunk by chunk (shards that any `ml`
    worker may run, `jobs.shards`), resumably."""
    config = validate_config(SynthesisConfig, ctx.config)
    job = ctx.job
    ctx.stage("mining")
    total = ensure_mined_queries(job=job, config=config)
    ctx.log(f"{total} long-tail queries to synthesise for"
            + (f" ({config.holdout_share:.0%} of the long-tail queries held out)" if config.holdout_share else ""))
    if total == 0:
        return {**synthesis_statistics(job=job), "note": "no query matched the mining criteria"}
    pending = MinedQuery.objects.filter(job=job, done_at__isnull=True).count()
    ranges = [(start, min(start + config.chunk_size, total)) for start in range(0, total, config.chunk_size)]
    started = time.perf_counter()
    results = run_shards(
        ctx, step=STEP, specs=[{"positions": [start, stop]} for start, stop in ranges],
        totals=[stop - start for start, stop in ranges], stage="synthesis",
        describe=lambda result: (f"{result['queries']} quer{'y' if result['queries'] == 1 else 'ies'}, "
                                 f"{StageClock.describe(result['stages'])}" if result["queries"] else "nothing left"),
        counts=lambda: synthesis_counts(job=job))
    seconds = time.perf_counter() - started
    stages = {name: round(sum(r["stages"].get(name, 0.0) for r in results), 1) for name in STAGES}
    timings = {"queries": pending, "seconds": round(seconds, 1),
               "queries_per_min": round(60 * pending / seconds, 1) if seconds and pending else None,
               "stages": stages, "workers": len({shard.worker for shard in job.shards.filter(step=STEP)})}
    components = next((result["components"] for result in results if result.get("components")), {})
    return {**synthesis_statistics(job=job), "components": components, "timings": timings}

