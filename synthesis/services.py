"""Synthesis services: validate a job's config, start jobs, and the job bodies (`*_work(ctx)`) the tasks run.

The synthesis job mines long-tail queries once (the `MinedQuery` rows are its work list), then works through
the not-yet-done queries in chunks: rewrite, retrieve, judge, curate, and write the chunk's rows in ONE
transaction together with each query's done marker. A restarted job skips done queries; unique constraints on
(job, query, product) and (job, query, rewrite) make a chunk that is written twice harmless. Cancelling stops
at the next chunk.
"""
from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from jobs.registry import job_kind
from jobs.services import JobContext, job_start
from jobs.models import Job

from .mining import QUERY_TYPES, MiningCriteria, mine_queries
from .models import JudgeVersion, MinedQuery, RewriteCandidate, SynthesisJob, SyntheticPair
from .pipeline import CurationSettings, JudgeProducts, QueryCuration, RetrieveMany, curate_query
from .rewriters import BACKENDS as REWRITER_BACKENDS
from .rewriters import Rewriter
from .selectors import synthesis_counts, synthesis_statistics

logger = logging.getLogger(__name__)
JUDGE_KINDS = ("cross-encoder", "llm")


DEFAULT_THRESHOLD = 0.5


@dataclass(frozen=True)
class SynthesisConfig:
    """Everything a synthesis job needs, stored as the Job's config (JSON) and validated on the way in."""

    dataset_id: int
    retriever_version_id: int  # the strong offline retriever (hybrid BM25 + dense, large K)
    baseline_version_id: int  # the online baseline: its top-K decides the incremental flag
    judge_backend: str = "cross-encoder"
    judge_version_id: int | None = None
    threshold: float | None = None  # None: the judge version's calibrated threshold (0.5 without one), see below
    rewriter_backend: str = "hf-local"
    rewriter_model: str = ""
    candidates: int = 4
    retrieve_k: int = 100
    baseline_k: int = 100
    max_pairs_per_query: int = 20
    drop_logged: bool = True
    segments: tuple[str, ...] = ("tail",)
    max_clicks: int | None = None
    types: tuple[str, ...] = ()
    max_queries: int | None = None
    llm_tagger: bool = False
    chunk_size: int = 16
    batch_size: int = 8
    device: str = "auto"
    seed: int = 13

    def __post_init__(self):
        problems = []
        if self.judge_backend not in JUDGE_KINDS:
            problems.append(f"judge_backend must be one of {', '.join(JUDGE_KINDS)}")
        if self.judge_backend == "cross-encoder" and not self.judge_version_id:
            problems.append("a cross-encoder judge needs judge_version_id (train a judge first)")
        if self.rewriter_backend not in REWRITER_BACKENDS:
            problems.append(f"rewriter_backend must be one of {', '.join(REWRITER_BACKENDS)}")
        if self.threshold is not None and not 0 <= self.threshold <= 1:
            problems.append("threshold must be in [0, 1]")
        for name in ("candidates", "retrieve_k", "baseline_k", "max_pairs_per_query", "chunk_size", "batch_size"):
            if int(getattr(self, name)) < 1:
                problems.append(f"{name} must be at least 1")
        if self.candidates > 16:
            problems.append("candidates must be at most 16")
        if self.retrieve_k > 2000 or self.baseline_k > 2000:
            problems.append("retrieve_k and baseline_k must be at most 2000")
        unknown_segments = set(self.segments) - {"head", "torso", "tail"}
        if unknown_segments:
            problems.append(f"unknown segments {sorted(unknown_segments)}")
        unknown_types = set(self.types) - set(QUERY_TYPES)
        if unknown_types:
            problems.append(f"unknown query types {sorted(unknown_types)}")
        if not self.segments and self.max_clicks is None:
            problems.append("choose at least one segment or a click threshold")
        if self.max_queries is not None and self.max_queries < 1:
            problems.append("max_queries must be at least 1 when set")
        if problems:
            raise ValueError("Invalid synthesis config: " + "; ".join(problems) + ".")

    @classmethod
    def from_dict(cls, data: dict) -> "SynthesisConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"Unknown synthesis option(s) {sorted(unknown)}; known: {sorted(known)}.")
        data = dict(data)
        for name in ("segments", "types"):
            if name in data:
                data[name] = tuple(data[name])
        return cls(**data)

    def as_dict(self) -> dict:
        data = dataclasses.asdict(self)
        data["segments"], data["types"] = list(self.segments), list(self.types)
        return data

    @property
    def criteria(self) -> MiningCriteria:
        return MiningCriteria(segments=self.segments, max_clicks=self.max_clicks, types=self.types,
                              limit=self.max_queries, seed=self.seed)

    @property
    def curation(self) -> CurationSettings:
        if self.threshold is None:
            raise ValueError("The keep threshold is not decided yet (see with_keep_threshold).")
        return CurationSettings(retrieve_k=self.retrieve_k, threshold=self.threshold,
                                max_pairs_per_query=self.max_pairs_per_query, drop_logged=self.drop_logged)


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
    if config.judge_backend == "cross-encoder":
        judge = JudgeVersion.objects.filter(pk=config.judge_version_id).first()
        if judge is None:
            raise ValueError(f"Judge version #{config.judge_version_id} does not exist.")
        if judge.status != JudgeVersion.Status.READY:
            raise ValueError(f"Judge version {judge.name!r} is {judge.status}, not ready.")
    if (config.judge_backend == "llm" or config.rewriter_backend == "openai" or config.llm_tagger) \
            and not settings.OPENAI_BASE_URL:
        raise ValueError("The LLM judge, the openai rewriter and the LLM tagger need OPENAI_BASE_URL "
                         "(an OpenAI-compatible endpoint) in the settings.")


def synthesis_job_start(*, config: SynthesisConfig, user=None) -> Job:
    """Validate a synthesis config and queue its job on the ml queue."""
    check_synthesis_references(config)
    config = with_keep_threshold(config)
    return job_start(kind=SynthesisJob.KIND, config=config.as_dict(), user=user)


def with_keep_threshold(config: SynthesisConfig) -> SynthesisConfig:
    """The config with its keep threshold decided: the one given, else the cross-encoder judge version's
    calibrated threshold (`judges.judge_metrics`; a judge trained with several negatives per positive scores
    relevant products far below 0.5), else 0.5. The job's stored config records the number used."""
    if config.threshold is not None:
        return config
    threshold = DEFAULT_THRESHOLD
    if config.judge_backend == "cross-encoder":
        threshold = judge_keep_threshold(JudgeVersion.objects.get(pk=config.judge_version_id))
    return dataclasses.replace(config, threshold=threshold)


def judge_keep_threshold(judge_version) -> float:
    """A judge version's calibrated keep threshold (Youden's J on its validation split), else 0.5."""
    value = (judge_version.metrics or {}).get("threshold") if judge_version is not None else None
    return float(value) if value is not None else DEFAULT_THRESHOLD


# --- the synthesis job -----------------------------------------------------------------------------------------

@dataclass
class SynthesisComponents:
    """The models a job runs with, loaded once per run."""

    rewriter: Rewriter
    retrieve_many: RetrieveMany
    baseline_retrieve_many: RetrieveMany
    judge_products: JudgeProducts
    describe: dict = field(default_factory=dict)


def product_judge(judge, *, fields: Sequence[str] | None = None) -> JudgeProducts:
    """`judge_products(query, pks)` for a text judge: products are read and rendered as the retriever reads them."""
    from retrieval.models import Product
    from retrieval.product_text import product_text, validate_fields

    fields = validate_fields(fields)

    def judge_products(query: str, product_pks: Sequence[int]) -> list[float]:
        rows = {row["pk"]: row for row in Product.objects.filter(pk__in=list(product_pks)).values("pk", *fields)}
        return judge.score(query, [product_text(rows[pk], fields) for pk in product_pks])

    return judge_products


def version_retrieve_many(version) -> RetrieveMany:
    """`retrieve_many(texts, k)` over a built retriever version, as product pks best first."""
    from retrieval.search import retrieve_many

    def run(texts: Sequence[str], k: int) -> list[list[int]]:
        return [[hit.product_id for hit in hits] for hits in retrieve_many(version, list(texts), k)]

    return run


def load_synthesis_components(config: SynthesisConfig) -> SynthesisComponents:
    """Load the rewriter, judge and retrievers a config names (the expensive part of starting a job)."""
    from retrieval.models import RetrieverVersion

    from .judges import load_judge
    from .rewriters import load_rewriter

    rewriter = load_rewriter(backend=config.rewriter_backend, model=config.rewriter_model, device=config.device,
                             batch_size=config.batch_size, seed=config.seed)
    judge_version = JudgeVersion.objects.get(pk=config.judge_version_id) if config.judge_version_id else None
    judge = load_judge(backend=config.judge_backend, judge_version=judge_version, device=config.device)
    fields = judge_version.hyperparams.get("fields") if judge_version else None
    retriever = RetrieverVersion.objects.get(pk=config.retriever_version_id)
    baseline = RetrieverVersion.objects.get(pk=config.baseline_version_id)
    return SynthesisComponents(
        rewriter=rewriter, retrieve_many=version_retrieve_many(retriever),
        baseline_retrieve_many=version_retrieve_many(baseline),
        judge_products=product_judge(judge, fields=fields),
        describe={"rewriter": rewriter.describe(), "judge": judge.describe(), "retriever": retriever.name,
                  "baseline": baseline.name})


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


def logged_products(query_pks: Sequence[int]) -> dict[int, set[int]]:
    """Products each query already has as a log positive (a click or a purchase)."""
    from django.db.models import Q

    from retrieval.models import Interaction

    logged: dict[int, set[int]] = {pk: set() for pk in query_pks}
    for q, p in Interaction.objects.filter(query_id__in=list(query_pks)).filter(
            Q(clicks__gt=0) | Q(purchases__gt=0)).values_list("query_id", "product_id"):
        logged[q].add(p)
    return logged


def synthesize_chunk(*, chunk: Sequence[MinedQuery], components: SynthesisComponents,
                     config: SynthesisConfig) -> list[QueryCuration]:
    """Rewrite a chunk of queries in batches and run the curation pipeline on each."""
    texts = [m.query.text for m in chunk]
    rewrites = components.rewriter.rewrite(texts, config.candidates)
    baseline = components.baseline_retrieve_many(texts, config.baseline_k)
    logged = logged_products([m.query_id for m in chunk])
    return [curate_query(query_pk=m.query_id, query_text=text, rewrites=query_rewrites,
                         retrieve_many=components.retrieve_many, judge_products=components.judge_products,
                         baseline_top=baseline_top, logged=logged[m.query_id], settings=config.curation)
            for m, text, query_rewrites, baseline_top in zip(chunk, texts, rewrites, baseline)]


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
            MinedQuery.objects.filter(job=job, query_id=c.query_pk).update(candidates=c.candidates, done_at=now)


@job_kind("synthesis", queue="ml", title="Synthesise training pairs",
          legacy_task_names=("synthesis.tasks.ml_synthesize",))
def synthesis_work(ctx: JobContext) -> dict:
    """The synthesis job: mine, then rewrite -> retrieve -> judge -> curate chunk by chunk, resumably."""
    config = SynthesisConfig.from_dict(ctx.config)
    job = ctx.job
    ctx.stage("mining")
    total = ensure_mined_queries(job=job, config=config)
    ctx.log(f"{total} long-tail queries to synthesise for")
    if total == 0:
        return {**synthesis_statistics(job=job), "note": "no query matched the mining criteria"}
    ctx.stage("loading models")
    components = load_synthesis_components(config)
    ctx.log(f"models: {components.describe}")
    ctx.stage("synthesis", total=total)
    pending = list(MinedQuery.objects.filter(job=job, done_at__isnull=True).select_related("query")
                   .order_by("position"))
    ctx.progress(total - len(pending), **synthesis_counts(job=job))
    for start in range(0, len(pending), config.chunk_size):
        chunk = pending[start:start + config.chunk_size]
        curations = synthesize_chunk(chunk=chunk, components=components, config=config)
        write_chunk(job=job, curations=curations)
        counts = synthesis_counts(job=job)
        ctx.progress(counts["queries_done"], **counts)
    return {**synthesis_statistics(job=job), "components": components.describe}


# --- judge training ---------------------------------------------------------------------------------------------

def judge_version_start(*, dataset, name: str = "", base_model: str = "", epochs: int = 1, batch_size: int = 32,
                        learning_rate: float = 2e-5, negatives_per_positive: int = 3, validation_share: float = 0.1,
                        max_examples: int | None = None, seed: int = 13, user=None) -> JudgeVersion:
    """Create a JudgeVersion and queue the job that trains it on the dataset's train qrels and logs."""
    name = name or f"judge-{slugify(dataset.name)}-{timezone.now():%Y%m%d-%H%M%S}"
    if slugify(name) != name:
        raise ValueError(f"Judge name {name!r} must be a slug (lower-case letters, digits, - and _).")
    if JudgeVersion.objects.filter(name=name).exists():
        raise ValueError(f"A judge version named {name!r} already exists.")
    if epochs < 1 or batch_size < 2 or learning_rate <= 0 or negatives_per_positive < 0:
        raise ValueError("epochs >= 1, batch_size >= 2, learning_rate > 0 and negatives_per_positive >= 0 needed.")
    if not 0 <= validation_share < 0.9:
        raise ValueError("validation_share must be in [0, 0.9).")
    from retrieval.encoders import resolve_encoder

    hyperparams = {"epochs": epochs, "batch_size": batch_size, "learning_rate": learning_rate,
                   "negatives_per_positive": negatives_per_positive, "validation_share": validation_share,
                   "max_examples": max_examples, "seed": seed, "fields": None}
    version = JudgeVersion.objects.create(dataset=dataset, name=name, base_model=resolve_encoder(base_model or None),
                                          hyperparams=hyperparams,
                                          created_by=user if user is not None and user.is_authenticated else None)
    try:
        job = job_start(kind="judge_training", config={"judge_version_id": version.pk}, user=user)
    except Exception:
        version.delete()
        raise
    JudgeVersion.objects.filter(pk=version.pk).update(job=job)
    version.refresh_from_db()
    return version


@job_kind("judge_training", queue="ml", title="Train a relevance judge",
          legacy_task_names=("synthesis.tasks.ml_train_judge",))
def judge_training_work(ctx: JobContext) -> dict:
    """Train a JudgeVersion's cross-encoder, validate it on held-out queries, record artifact and metrics."""
    import random
    from itertools import groupby

    from retrieval.models import Product, Query
    from retrieval.product_text import product_text, validate_fields

    from .judges import (CrossEncoderJudge, add_extra_examples, judge_metrics, judge_training_examples,
                         load_cross_encoder, read_extra_examples, split_by_query, train_cross_encoder)

    version = JudgeVersion.objects.get(pk=ctx.config["judge_version_id"])
    params = version.hyperparams
    fields = validate_fields(params.get("fields"))
    try:
        ctx.stage("collecting examples")
        examples = judge_training_examples(dataset=version.dataset,
                                           negatives_per_positive=params["negatives_per_positive"], seed=params["seed"])
        if params.get("max_examples") and len(examples) > params["max_examples"]:
            examples = sorted(random.Random(params["seed"]).sample(examples, params["max_examples"]),
                              key=lambda e: (e.query_pk, e.product_pk))
        train, validation = split_by_query(examples, validation_share=params["validation_share"], seed=params["seed"])
        extra_counts = None
        if params.get("extra_examples_path"):  # e.g. SBS per-product marks (sbsapp.auto.closed_loop): training side only
            train, extra_counts = add_extra_examples(train=train, validation=validation,
                                                     extra=read_extra_examples(params["extra_examples_path"]))
            examples = sorted([*train, *validation], key=lambda e: (e.query_pk, e.product_pk))
        query_text = dict(Query.objects.filter(pk__in={e.query_pk for e in examples}).values_list("pk", "text"))
        product_rows = {row["pk"]: row for row in
                        Product.objects.filter(pk__in={e.product_pk for e in examples}).values("pk", *fields)}

        def as_triples(rows):
            return [(query_text[e.query_pk], product_text(product_rows[e.product_pk], fields), e.label) for e in rows]

        sources: dict[str, int] = {}
        for example in examples:
            sources[example.source] = sources.get(example.source, 0) + 1
        manifest = {"examples": len(examples), "train": len(train), "validation": len(validation),
                    "by_source": sources, "queries": len({e.query_pk for e in examples}),
                    "labels": "train qrels (grade/3) + clicks (1) + unclicked/random (0); no test qrels"}
        if extra_counts is not None:
            manifest["extra_examples"] = {"path": params["extra_examples_path"], **extra_counts}
        JudgeVersion.objects.filter(pk=version.pk).update(manifest=manifest)
        ctx.log(f"judge examples: {manifest}")
        ctx.stage("training")
        out_dir = Path(settings.ARTIFACT_ROOT) / "judges" / version.name
        train_cross_encoder(train=as_triples(train), base_model=version.base_model, out_dir=out_dir,
                            epochs=params["epochs"], batch_size=params["batch_size"],
                            learning_rate=params["learning_rate"], seed=params["seed"],
                            progress=lambda done, total: ctx.progress(done, total),
                            weights=[e.weight for e in train])
        ctx.stage("validating", total=len(validation))
        metrics: dict = {"n": 0, "accuracy": None, "auc": None}
        if validation:
            judge = CrossEncoderJudge(model=load_cross_encoder(str(out_dir)), name=version.name)
            scores: list[float] = []
            labels: list[float] = []
            for query_pk, group in groupby(validation, key=lambda e: e.query_pk):
                group = list(group)
                scores += judge.score(query_text[query_pk], [product_text(product_rows[e.product_pk], fields)
                                                             for e in group])
                labels += [e.label for e in group]
            metrics = judge_metrics(scores=scores, labels=labels)
            if params.get("compare_with_judge_version_id"):  # the older judge on the very same validation set
                older = JudgeVersion.objects.get(pk=params["compare_with_judge_version_id"])
                metrics["baseline"] = {"judge_version": older.name,
                                       **judge_validation_metrics(judge_version=older, examples=validation,
                                                                  query_text=query_text)}
        JudgeVersion.objects.filter(pk=version.pk).update(artifact_path=str(out_dir), metrics=metrics,
                                                          status=JudgeVersion.Status.READY)
        return {"judge_version": version.name, "metrics": metrics, "manifest": manifest}
    except Exception:
        JudgeVersion.objects.filter(pk=version.pk).update(status=JudgeVersion.Status.FAILED)
        raise


def judge_validation_metrics(*, judge_version: JudgeVersion, examples, query_text: dict[int, str]) -> dict:
    """Accuracy and AUC of a trained judge version on labelled examples, reading products with its own fields."""
    from itertools import groupby

    from retrieval.models import Product
    from retrieval.product_text import product_text, validate_fields

    from .judges import judge_metrics, load_judge

    fields = validate_fields(judge_version.hyperparams.get("fields"))
    rows = {row["pk"]: row for row in
            Product.objects.filter(pk__in={e.product_pk for e in examples}).values("pk", *fields)}
    judge = load_judge(judge_version=judge_version)
    scores: list[float] = []
    labels: list[float] = []
    for query_pk, group in groupby(sorted(examples, key=lambda e: e.query_pk), key=lambda e: e.query_pk):
        group = list(group)
        scores += judge.score(query_text[query_pk], [product_text(rows[e.product_pk], fields) for e in group])
        labels += [e.label for e in group]
    return judge_metrics(scores=scores, labels=labels)


# --- treatment retriever ----------------------------------------------------------------------------------------

def treatment_version_start(*, job: Job, base_version, name: str = "", ratio: float | None = None,
                            only_incremental: bool = False, user=None):
    """Build a dense treatment version: the baseline's own config plus this job's synthetic pairs.

    `base_version` is the dense baseline whose training config is copied; the synthetic pairs enter through the
    retrieval app's "synthetic" pair source with the mixing `ratio` (None: natural proportion), which the new
    version records in its manifest.
    """
    from retrieval.models import RetrieverVersion
    from retrieval.versions import version_build

    if job.kind != SynthesisJob.KIND or job.status != Job.Status.SUCCEEDED:
        raise ValueError(f"Job #{job.pk} is not a finished synthesis job.")
    if base_version.kind != RetrieverVersion.Kind.DENSE:
        raise ValueError(f"{base_version.name!r} is a {base_version.kind} version; a treatment retrains a dense one.")
    if base_version.dataset_id != job.config.get("dataset_id"):
        raise ValueError("The base version and the synthesis job use different datasets.")
    if not SyntheticPair.objects.filter(job=job).exists():
        raise ValueError(f"Synthesis job #{job.pk} kept no pairs; there is nothing to train on.")
    config = {key: value for key, value in (base_version.hyperparams or {}).items()}
    source = {"name": "synthetic", "params": {"job_ids": [job.pk], "only_incremental": only_incremental}}
    if ratio is not None:
        source["ratio"] = float(ratio)
    config["extra_sources"] = [s for s in config.get("extra_sources", []) if s.get("name") != "synthetic"] + [source]
    name = name or slugify(f"{base_version.name}-synth-{job.pk}")[:100]
    return version_build(dataset=base_version.dataset, name=name, kind=RetrieverVersion.Kind.DENSE, config=config,
                         base_model=base_version.base_model, seed=base_version.seed, user=user)
