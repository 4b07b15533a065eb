"""Services for retriever versions: create, build (train + encode + index), rebuild a broken index, evaluate.

A version is defined by its data set, kind, base model, config (hyper-parameters) and seed. Once it is built
(status `ready`) that definition and its artifacts are immutable: a different config is a new version. Only
two things may happen to a built version: an evaluation (which records metrics) and an index *repair*
(`version_rebuild_index`), which re-creates missing or corrupt index files from the version's own encoder
over the same catalogue and refuses if the catalogue has changed since the build.

The `*_work(ctx)` functions are what the Celery tasks run through `jobs.services.run_job`; they are resumable:
a re-run after a killed worker skips the steps whose artifacts are already complete.
"""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from jobs.registry import job_kind
from jobs.services import JobCancelled, JobContext, job_start
from jobs.models import Job

from .models import Dataset, RetrieverVersion
from .product_text import DEFAULT_FIELDS, validate_fields

ARTIFACT_SUBDIR = "retrievers"
TRAINED_MARKER = ".trained.json"
EMBEDDINGS_FILE = "embeddings.npy"
EMBEDDING_IDS_FILE = "embedding_ids.npy"

DENSE_DEFAULTS: dict[str, Any] = {
    "fields": list(DEFAULT_FIELDS),
    "train": True,  # False: zero-shot (the base encoder as it is)
    "epochs": 1,
    "batch_size": 32,
    "learning_rate": 5e-5,
    "warmup_ratio": 0.1,
    "temperature": 0.05,
    "loss": "mnrl",  # mnrl | cached_mnrl
    "mini_batch_size": 16,  # cached_mnrl only
    "random_negatives": 1,
    "hard_negatives": None,  # {"from_version": NAME, "top_k": 50, "skip_top": 3, "count": 1}
    "click_weight": 1.0,
    "purchase_weight": 3.0,
    "samples_per_epoch": None,
    "mask_train_qrels": True,
    "extra_sources": [],
    "max_seq_length": 128,
    "query_max_seq_length": 32,
    "encode_batch_size": 64,
    "index": {},
}
HARD_NEGATIVE_DEFAULTS = {"top_k": 50, "skip_top": 3, "count": 1}
BM25_DEFAULTS: dict[str, Any] = {"fields": list(DEFAULT_FIELDS), "bm25": {}}
HYBRID_DEFAULTS: dict[str, Any] = {"components": [], "rrf_k": 60, "depth": 100}


class VersionImmutable(Exception):
    """A built version cannot be changed or rebuilt; create a new version instead."""


class VersionBusy(Exception):
    """The version already has a build running."""


# --- config ---

def normalize_config(*, kind: str, config: dict | None, dataset: Dataset | None = None) -> dict:
    """The full config of a version (defaults filled in), validated; raises ValueError with a plain message."""
    from .bm25 import bm25_config
    from .indexes import index_config
    from .losses import LOSSES
    from .pair_sources import get_pair_source

    config = dict(config or {})
    config.pop("base_model", None)
    config.pop("seed", None)
    if kind == RetrieverVersion.Kind.BM25:
        merged = _merge(BM25_DEFAULTS, config, kind)
        merged["bm25"] = bm25_config(merged["bm25"])
        merged["fields"] = list(validate_fields(merged["fields"]))
        return merged
    if kind == RetrieverVersion.Kind.HYBRID:
        merged = _merge(HYBRID_DEFAULTS, config, kind)
        names = merged["components"]
        if not isinstance(names, list) or len(set(names)) < 2:
            raise ValueError("A hybrid version needs \"components\": a list of at least two version names.")
        if int(merged["rrf_k"]) < 1 or int(merged["depth"]) < 1:
            raise ValueError("rrf_k and depth must be positive.")
        return merged
    if kind != RetrieverVersion.Kind.DENSE:
        raise ValueError(f"Unknown retriever kind {kind!r}; choose bm25, dense or hybrid.")
    merged = _merge(DENSE_DEFAULTS, config, kind)
    merged["fields"] = list(validate_fields(merged["fields"]))
    merged["index"] = index_config(merged["index"])
    if merged["loss"] not in LOSSES:
        raise ValueError(f"Unknown loss {merged['loss']!r}; choose one of {list(LOSSES)}.")
    for key in ("epochs", "batch_size", "max_seq_length", "query_max_seq_length", "encode_batch_size", "mini_batch_size"):
        if int(merged[key]) < 1:
            raise ValueError(f"{key} must be a positive integer.")
    if int(merged["batch_size"]) < 2:
        raise ValueError("batch_size must be at least 2 (in-batch negatives need company).")
    if not 0 < float(merged["temperature"]) <= 1:
        raise ValueError("temperature must be in (0, 1].")
    if float(merged["learning_rate"]) <= 0:
        raise ValueError("learning_rate must be positive.")
    if int(merged["random_negatives"]) < 0:
        raise ValueError("random_negatives must be 0 or more.")
    if merged["hard_negatives"]:
        hard = {**HARD_NEGATIVE_DEFAULTS, **merged["hard_negatives"]}
        if not hard.get("from_version"):
            raise ValueError("hard_negatives needs \"from_version\": the name of a ready version to mine from.")
        if int(hard["count"]) < 1 or int(hard["top_k"]) <= int(hard["skip_top"]):
            raise ValueError("hard_negatives needs count >= 1 and top_k > skip_top.")
        merged["hard_negatives"] = hard
    sources = merged["extra_sources"]
    if not isinstance(sources, list):
        raise ValueError("extra_sources must be a list of {\"name\": ..., \"params\": {...}, \"ratio\": ...}.")
    for spec in sources:
        if not isinstance(spec, dict) or "name" not in spec:
            raise ValueError(f"Each extra source needs a name, got {spec!r}.")
        get_pair_source(spec["name"])
        if spec.get("ratio") is not None and not 0 <= float(spec["ratio"]) < 1:
            raise ValueError(f"Extra source {spec['name']!r}: ratio must be in [0, 1).")
    if sum(float(s.get("ratio") or 0) for s in sources) >= 1:
        raise ValueError("The extra sources' ratios must add up to less than 1.")
    return merged


def _merge(defaults: dict, config: dict, kind: str) -> dict:
    unknown = set(config) - set(defaults)
    if unknown:
        raise ValueError(f"Unknown option(s) for a {kind} version: {sorted(unknown)}; known: {sorted(defaults)}.")
    return json.loads(json.dumps({**defaults, **config}))  # a deep, JSON-safe copy


# --- services ---

def artifact_relpath(name: str) -> str:
    return f"{ARTIFACT_SUBDIR}/{name}"


def version_definition_check(*, dataset: Dataset, name: str, kind: str, config: dict | None) -> tuple[dict, list]:
    """Validate a new version's name and config; returns (full config, component versions). Raises ValueError."""
    if not name or slugify(name) != name:
        raise ValueError(f"Version name {name!r} must be a slug (lower-case letters, digits, - and _).")
    if RetrieverVersion.objects.filter(name=name).exists():
        raise ValueError(f"A retriever version named {name!r} already exists; versions are immutable, pick a new name.")
    hyperparams = normalize_config(kind=kind, config=config, dataset=dataset)
    components: list[RetrieverVersion] = []
    if kind == RetrieverVersion.Kind.HYBRID:
        components = list(RetrieverVersion.objects.filter(name__in=hyperparams["components"]))
        missing = set(hyperparams["components"]) - {c.name for c in components}
        if missing:
            raise ValueError(f"Unknown component version(s): {sorted(missing)}.")
        for component in components:
            if component.dataset_id != dataset.pk:
                raise ValueError(f"Component {component.name!r} belongs to data set {component.dataset.name!r}.")
            if component.kind == RetrieverVersion.Kind.HYBRID:
                raise ValueError(f"Component {component.name!r} is itself hybrid; fuse bm25 and dense versions.")
    if kind == RetrieverVersion.Kind.DENSE and hyperparams["hard_negatives"]:
        source_name = hyperparams["hard_negatives"]["from_version"]
        source = RetrieverVersion.objects.filter(name=source_name).first()
        if source is None or source.dataset_id != dataset.pk:
            raise ValueError(f"hard_negatives.from_version {source_name!r} is not a version of data set {dataset.name!r}.")
    return hyperparams, components


def version_create(
    *,
    dataset: Dataset,
    name: str,
    kind: str,
    config: dict | None = None,
    base_model: str = "",
    seed: int = 13,
    user=None,
) -> RetrieverVersion:
    """A draft version with a validated config; nothing is built yet."""
    config = dict(config or {})
    base_model = base_model or config.get("base_model", "") or ""
    seed = int(config.get("seed", seed))
    hyperparams, components = version_definition_check(dataset=dataset, name=name, kind=kind, config=config)
    with transaction.atomic():
        version = RetrieverVersion.objects.create(
            dataset=dataset,
            name=name,
            kind=kind,
            base_model=base_model if kind == RetrieverVersion.Kind.DENSE else "",
            hyperparams=hyperparams,
            seed=seed,
            artifact_dir="" if kind == RetrieverVersion.Kind.HYBRID else artifact_relpath(name),
            created_by=user if user is not None and getattr(user, "is_authenticated", False) else None,
        )
        if components:
            version.components.set(components)
    return version


def ensure_mutable(version: RetrieverVersion) -> None:
    if version.status == RetrieverVersion.Status.READY:
        raise VersionImmutable(
            f"Retriever version {version.name!r} is built and immutable; create a new version with the new settings."
        )


def version_update(*, version: RetrieverVersion, config: dict | None = None, base_model: str | None = None,
                   seed: int | None = None) -> RetrieverVersion:
    """Change a draft (or failed) version's definition; built versions refuse. Partial artifacts are dropped."""
    ensure_mutable(version)
    _ensure_not_building(version)
    components = None
    if config is not None:
        version.hyperparams = normalize_config(kind=version.kind, config=config, dataset=version.dataset)
        if version.kind == RetrieverVersion.Kind.HYBRID:
            components = list(RetrieverVersion.objects.filter(name__in=version.hyperparams["components"],
                                                              dataset=version.dataset).exclude(kind="hybrid"))
            if len(components) != len(set(version.hyperparams["components"])):
                raise ValueError("Every component must be a bm25 or dense version of the same data set.")
    if base_model is not None:
        version.base_model = base_model
    if seed is not None:
        version.seed = int(seed)
    version.status = RetrieverVersion.Status.DRAFT
    version.save(update_fields=["hyperparams", "base_model", "seed", "status"])
    if components is not None:
        version.components.set(components)
    if version.artifact_dir:
        shutil.rmtree(version_path(version), ignore_errors=True)
    return version


def _ensure_not_building(version: RetrieverVersion) -> None:
    if version.build_job_id and Job.objects.filter(pk=version.build_job_id, status__in=Job.ACTIVE).exists():
        raise VersionBusy(f"Retriever version {version.name!r} is being built (job #{version.build_job_id}).")


def version_build(
    *,
    dataset: Dataset,
    name: str,
    kind: str,
    config: dict | None = None,
    base_model: str = "",
    seed: int = 13,
    user=None,
    inline: bool = False,
) -> RetrieverVersion:
    """Create a version and start its build job (train if dense, encode, index). Returns the version; its
    `build_job` is the job to watch. `inline=True` runs the job in this process (commands, benchmarks)."""
    version = version_create(dataset=dataset, name=name, kind=kind, config=config, base_model=base_model,
                             seed=seed, user=user)
    version_start_build(version=version, user=user, inline=inline)
    version.refresh_from_db()
    return version


def version_start_build(*, version: RetrieverVersion, user=None, inline: bool = False) -> Job:
    """Start (or resume, after a failure) the build of a draft version."""
    ensure_mutable(version)
    _ensure_not_building(version)
    job = _start_job(kind="retriever_build", version=version, user=user, inline=inline,
                     field="build_job")
    return job


def version_rebuild_index(*, version: RetrieverVersion, user=None, inline: bool = False) -> Job:
    """Repair a built version's index files (missing or corrupt) from its own encoder over the same catalogue."""
    if version.kind == RetrieverVersion.Kind.HYBRID:
        raise ValueError("A hybrid version has no index of its own; rebuild its components' indexes.")
    if version.status != RetrieverVersion.Status.READY:
        raise ValueError(f"Retriever version {version.name!r} is {version.status}; build it instead of rebuilding.")
    _ensure_not_building(version)
    return _start_job(kind="retriever_rebuild_index", version=version, user=user,
                      inline=inline, field="build_job")


def version_evaluate(*, version: RetrieverVersion, user=None, inline: bool = False, depth: int = 100) -> Job:
    """Start an evaluation job on the `test` labels; its metrics land in `version.metrics`."""
    if version.status != RetrieverVersion.Status.READY:
        raise ValueError(f"Retriever version {version.name!r} is {version.status}; only ready versions can be evaluated.")
    return _start_job(kind="retriever_evaluate", version=version, user=user,
                      inline=inline, field="eval_job", extra={"depth": int(depth)})


def _start_job(*, kind: str, version: RetrieverVersion, user, inline: bool, field: str,
               extra: dict | None = None) -> Job:
    config = {"version_id": version.pk, "version": version.name, **(extra or {})}
    job = job_start(kind=kind, config=config, user=user, inline=inline,
                    on_created=lambda job: RetrieverVersion.objects.filter(pk=version.pk).update(**{field: job}))
    job.refresh_from_db()
    return job


# --- paths ---

def version_path(version: RetrieverVersion) -> Path:
    folder = Path(version.artifact_dir)
    return folder if folder.is_absolute() else Path(settings.ARTIFACT_ROOT) / folder


def catalogue_fingerprint(pks: list[int]) -> dict:
    digest = hashlib.sha256(",".join(map(str, pks)).encode()).hexdigest()
    return {"products": len(pks), "sha256": digest}


# --- job work (run inside Celery tasks) ---

def _version_for(ctx: JobContext) -> RetrieverVersion:
    return RetrieverVersion.objects.select_related("dataset").get(pk=ctx.config["version_id"])


def _set_status(version: RetrieverVersion, status: str, **fields) -> None:
    version.status = status
    for key, value in fields.items():
        setattr(version, key, value)
    version.save(update_fields=["status", *fields])


@job_kind("retriever_build", queue="ml", title="Build a retriever version",
          legacy_task_names=("retrieval.tasks.ml_build_version",))
def build_version_work(ctx: JobContext) -> dict:
    version = _version_for(ctx)
    ensure_mutable(version)
    try:
        _set_status(version, RetrieverVersion.Status.TRAINING, error="")
        if version.kind == RetrieverVersion.Kind.BM25:
            result = _build_bm25(ctx, version)
        elif version.kind == RetrieverVersion.Kind.DENSE:
            result = _build_dense(ctx, version)
        else:
            result = _build_hybrid(ctx, version)
    except JobCancelled:
        _set_status(version, RetrieverVersion.Status.FAILED,
                    error="Build cancelled; start the build again to resume from what was already written.")
        raise
    except BaseException as exc:
        _set_status(version, RetrieverVersion.Status.FAILED, error=f"{type(exc).__name__}: {exc}"[:4000])
        raise
    _set_status(version, RetrieverVersion.Status.READY, built_at=timezone.now())
    return result


def _build_bm25(ctx: JobContext, version: RetrieverVersion) -> dict:
    from .bm25 import build_bm25_index
    from .product_text import dataset_product_texts

    params = version.hyperparams
    ctx.stage("reading catalogue", total=1)
    pks, texts = dataset_product_texts(dataset=version.dataset, fields=params["fields"])
    if not pks:
        raise ValueError(f"Data set {version.dataset.name!r} has no products.")
    ctx.progress(1)
    _set_status(version, RetrieverVersion.Status.INDEXING)
    ctx.stage("indexing (BM25)", total=2)
    meta = build_bm25_index(pks=pks, texts=texts, folder=version_path(version), config=params["bm25"],
                            progress=lambda done, total: ctx.progress(done, total))
    version.manifest = {"catalogue": catalogue_fingerprint(pks), "index": {"type": "bm25", "count": meta["count"]}}
    version.save(update_fields=["manifest"])
    return {"products": len(pks)}


def _build_hybrid(ctx: JobContext, version: RetrieverVersion) -> dict:
    ctx.stage("checking components", total=1)
    components = list(version.components.all())
    not_ready = [c.name for c in components if c.status != RetrieverVersion.Status.READY]
    if not_ready:
        raise ValueError(f"Hybrid version {version.name!r}: component(s) {not_ready} are not built yet.")
    version.manifest = {
        "components": {c.name: {"kind": c.kind, "manifest": c.manifest} for c in components},
        "fusion": {"method": "rrf", "rrf_k": version.hyperparams["rrf_k"], "depth": version.hyperparams["depth"]},
    }
    version.save(update_fields=["manifest"])
    ctx.progress(1)
    return {"components": [c.name for c in components]}


def _build_dense(ctx: JobContext, version: RetrieverVersion) -> dict:
    from .encoders import load_encoder, resolve_encoder
    from .models import Query
    from .product_text import dataset_product_texts
    from .training import train_encoder, training_set_build

    params = version.hyperparams
    folder = version_path(version)
    folder.mkdir(parents=True, exist_ok=True)
    model_dir = folder / "model"
    marker = model_dir / TRAINED_MARKER
    manifest: dict = {"encoder": {"base_model": version.base_model, "resolved": resolve_encoder(version.base_model),
                                  "trained": bool(params["train"])}}

    ctx.stage("reading catalogue", total=1)
    pks, texts = dataset_product_texts(dataset=version.dataset, fields=params["fields"])
    if not pks:
        raise ValueError(f"Data set {version.dataset.name!r} has no products.")
    manifest["catalogue"] = catalogue_fingerprint(pks)
    ctx.progress(1)

    if marker.exists():
        ctx.log("encoder already trained in an earlier attempt; skipping training")
        saved = json.loads(marker.read_text())
        manifest.update(saved["manifest"])
        manifest["training"] = saved["training"]
    elif params["train"]:
        ctx.stage("building training pairs", total=1)
        training_set = training_set_build(dataset=version.dataset, config=params, seed=version.seed,
                                          progress=lambda done, total: ctx.progress(done, total))
        ctx.log(f"{len(training_set)} training examples: {json.dumps(training_set.manifest['sources'])}")
        version.manifest = {**manifest, "training_data": training_set.manifest}
        version.save(update_fields=["manifest"])
        text_by_pk = dict(zip(pks, texts))
        needed_queries = set(training_set.query_pks)
        query_texts = dict(Query.objects.filter(pk__in=needed_queries).values_list("pk", "text"))
        ctx.stage("training encoder", total=1)
        stats = train_encoder(training_set=training_set, query_texts=query_texts, product_texts=text_by_pk,
                              base_model=version.base_model, out_dir=model_dir, config=params, seed=version.seed,
                              progress=lambda done, total: ctx.progress(done, total, loss_steps=done))
        manifest["training_data"] = training_set.manifest
        manifest["training"] = stats
        marker.write_text(json.dumps({"manifest": {"training_data": training_set.manifest}, "training": stats}))
        ctx.log(f"trained: {stats['steps']} steps, loss {stats['train_loss']}, {stats['seconds']} s")
    else:
        ctx.stage("copying the zero-shot encoder", total=1)
        load_encoder(version.base_model).save(str(model_dir))
        manifest["training_data"] = {"sources": {}, "examples": 0, "zero_shot": True}
        marker.write_text(json.dumps({"manifest": {"training_data": manifest["training_data"]}, "training": None}))
        manifest["training"] = None
        ctx.progress(1)

    _set_status(version, RetrieverVersion.Status.INDEXING)
    vectors = _encode_catalogue(ctx, version, folder, pks, texts, str(model_dir))
    ctx.stage("building the FAISS index", total=len(pks))
    from .indexes import build_faiss_index

    meta = build_faiss_index(vectors=vectors, pks=pks, folder=folder, config=params["index"],
                             progress=lambda done, total: ctx.progress(done, total))
    manifest["index"] = {"type": meta["type"], "count": meta["count"], "dim": meta["dim"]}
    version.manifest = manifest
    version.save(update_fields=["manifest"])
    _drop_embeddings(folder)
    return {"products": len(pks), "index": meta["type"], "training": manifest.get("training")}


def _encode_catalogue(ctx: JobContext, version: RetrieverVersion, folder: Path, pks: list[int], texts: list[str],
                      encoder_path: str):
    """Encode every product (resuming from an earlier attempt's saved embeddings when they match)."""
    import numpy as np

    from .encoders import encode_texts, load_encoder

    emb_path, ids_path = folder / EMBEDDINGS_FILE, folder / EMBEDDING_IDS_FILE
    if emb_path.exists() and ids_path.exists():
        try:
            saved_ids = np.load(ids_path)
            vectors = np.load(emb_path)
            if saved_ids.tolist() == list(pks) and len(vectors) == len(pks):
                ctx.log("catalogue embeddings found from an earlier attempt; skipping encoding")
                return vectors
        except (OSError, ValueError):
            pass
    ctx.stage("encoding catalogue", total=len(pks))
    encoder = load_encoder(encoder_path, cache=False)
    params = version.hyperparams
    vectors = encode_texts(encoder, texts, batch_size=int(params["encode_batch_size"]),
                           max_seq_length=int(params["max_seq_length"]),
                           progress=lambda done, total: ctx.progress(done, total))
    np.save(emb_path, vectors)
    np.save(ids_path, np.asarray(pks, dtype=np.int64))
    return vectors


def _drop_embeddings(folder: Path) -> None:
    for name in (EMBEDDINGS_FILE, EMBEDDING_IDS_FILE):
        (folder / name).unlink(missing_ok=True)


@job_kind("retriever_rebuild_index", queue="ml", title="Rebuild a retriever index",
          legacy_task_names=("retrieval.tasks.ml_rebuild_index",))
def rebuild_index_work(ctx: JobContext) -> dict:
    """Re-create a ready version's index files from its own artifacts; the catalogue must be unchanged."""
    from .product_text import dataset_product_texts
    from .search import clear_searcher_cache

    version = _version_for(ctx)
    params = version.hyperparams
    folder = version_path(version)
    ctx.stage("reading catalogue", total=1)
    pks, texts = dataset_product_texts(dataset=version.dataset, fields=params["fields"])
    recorded = (version.manifest or {}).get("catalogue")
    if recorded and recorded != catalogue_fingerprint(pks):
        raise VersionImmutable(
            f"The catalogue of {version.dataset.name!r} changed since {version.name!r} was built "
            f"({recorded['products']} -> {len(pks)} products); an identical index cannot be rebuilt. "
            "Build a new version instead."
        )
    ctx.progress(1)
    if version.kind == RetrieverVersion.Kind.BM25:
        from .bm25 import build_bm25_index

        ctx.stage("indexing (BM25)", total=2)
        build_bm25_index(pks=pks, texts=texts, folder=folder, config=params["bm25"],
                         progress=lambda done, total: ctx.progress(done, total))
    else:
        from .indexes import build_faiss_index

        model_dir = folder / "model"
        if not (model_dir / "modules.json").exists():
            raise VersionImmutable(
                f"The encoder of {version.name!r} ({model_dir}) is missing, so its index cannot be rebuilt "
                "identically. Build a new version."
            )
        vectors = _encode_catalogue(ctx, version, folder, pks, texts, str(model_dir))
        ctx.stage("building the FAISS index", total=len(pks))
        build_faiss_index(vectors=vectors, pks=pks, folder=folder, config=params["index"],
                          progress=lambda done, total: ctx.progress(done, total))
        _drop_embeddings(folder)
    clear_searcher_cache()
    ctx.log(f"index of {version.name} rebuilt over {len(pks)} products")
    return {"products": len(pks)}


@job_kind("retriever_evaluate", queue="ml", title="Evaluate a retriever version",
          legacy_task_names=("retrieval.tasks.ml_evaluate_version",))
def evaluate_version_work(ctx: JobContext) -> dict:
    from .evaluation import evaluate_version

    version = _version_for(ctx)
    ctx.stage("retrieving for test queries", total=1)
    report = evaluate_version(version=version, depth=int(ctx.config.get("depth", 100)),
                              progress=lambda done, total: ctx.progress(done, total))
    RetrieverVersion.objects.filter(pk=version.pk).update(metrics=report)
    ctx.log(f"evaluated {report['all'].get('queries', 0)} queries: " + json.dumps(report["all"]))
    return {"all": report["all"]}

