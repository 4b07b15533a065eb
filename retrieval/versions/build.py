"""The retriever jobs' work: build a version (train if dense, encode, index), rebuild an index, evaluate.

Each `@job_kind` function runs through `jobs.runner.run_job` (in a worker, or inline for commands); they are
resumable: a re-run after a killed worker skips the steps whose artifacts are already complete.
"""
from __future__ import annotations

import json

from django.utils import timezone

from core.configs import validate_config
from jobs.registry import job_kind
from jobs.runner import JobCancelled, JobContext

from ..models import Query, RetrieverVersion
from .config import EvaluateJobConfig, VersionJobConfig
from .encoding import drop_embeddings, encode_catalogue
from .paths import catalogue_fingerprint, version_path
from .services import VersionImmutable, ensure_mutable

TRAINED_MARKER = ".trained.json"


def _version_for(ctx: JobContext) -> RetrieverVersion:
    config = validate_config(VersionJobConfig, ctx.config)
    return RetrieverVersion.objects.select_related("dataset").get(pk=config.version_id)
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
    from ..bm25 import build_bm25_index
    from ..product_text import dataset_product_texts

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
    from ..encoders import load_encoder, resolve_encoder
    from ..product_text import dataset_product_texts
    from ..training import train_encoder, training_set_build

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
        margin_set = None
        if params.get("margin_sources"):  # soft labels: (query, positive, negative, teacher margin), MarginMSE
            from ..margin_sources import margin_set_build

            margin_set = margin_set_build(dataset=version.dataset, sources=params["margin_sources"],
                                          seed=version.seed, epochs=int(params["epochs"]))
            training_set.manifest["margin_sources"] = margin_set.manifest
            ctx.log(f"{len(margin_set)} soft-label examples: {json.dumps(margin_set.manifest)}")
        version.manifest = {**manifest, "training_data": training_set.manifest}
        version.save(update_fields=["manifest"])
        text_by_pk = dict(zip(pks, texts))
        needed_queries = set(training_set.query_pks) | set(margin_set.query_pks if margin_set else ())
        query_texts = dict(Query.objects.filter(pk__in=needed_queries).values_list("pk", "text"))
        evaluator = None
        if params.get("early_stopping"):
            from ..validation import split_evaluator, validation_split

            split = validation_split(dataset=version.dataset, size=params["validation_queries"],
                                     distractors=params["validation_distractors"], seed=version.seed)
            ctx.log(f"early stopping on {split.describe()}")
            evaluator = split_evaluator(split, product_texts=text_by_pk, batch_size=int(params["encode_batch_size"]))
        ctx.stage("training encoder", total=1)
        stats = train_encoder(training_set=training_set, query_texts=query_texts, product_texts=text_by_pk,
                              base_model=version.base_model, out_dir=model_dir, config=params, seed=version.seed,
                              progress=lambda done, total: ctx.progress(done, total, loss_steps=done),
                              evaluator=evaluator, margin_set=margin_set)
        manifest["training_data"] = training_set.manifest
        manifest["training"] = stats
        marker.write_text(json.dumps({"manifest": {"training_data": training_set.manifest}, "training": stats}))
        ctx.log(f"trained: {stats['steps']} steps, loss {stats['train_loss']}, {stats['seconds']} s")
    else:
        ctx.stage("copying the zero-shot encoder", total=1)
        load_encoder(version.base_model, backend="torch").save(str(model_dir))
        manifest["training_data"] = {"sources": {}, "examples": 0, "zero_shot": True}
        marker.write_text(json.dumps({"manifest": {"training_data": manifest["training_data"]}, "training": None}))
        manifest["training"] = None
        ctx.progress(1)

    _set_status(version, RetrieverVersion.Status.INDEXING)
    vectors = encode_catalogue(ctx, version, folder, pks, str(model_dir))
    ctx.stage("building the FAISS index", total=len(pks))
    from ..indexes import build_faiss_index

    meta = build_faiss_index(vectors=vectors, pks=pks, folder=folder, config=params["index"],
                             progress=lambda done, total: ctx.progress(done, total))
    manifest["index"] = {"type": meta["type"], "count": meta["count"], "dim": meta["dim"]}
    version.manifest = manifest
    version.save(update_fields=["manifest"])
    drop_embeddings(folder)
    return {"products": len(pks), "index": meta["type"], "training": manifest.get("training")}


@job_kind("retriever_rebuild_index", queue="ml", title="Rebuild a retriever index",
          legacy_task_names=("retrieval.tasks.ml_rebuild_index",))
def rebuild_index_work(ctx: JobContext) -> dict:
    """Re-create a ready version's index files from its own artifacts; the catalogue must be unchanged."""
    from ..product_text import dataset_product_texts
    from ..search import clear_searcher_cache

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
        from ..bm25 import build_bm25_index

        ctx.stage("indexing (BM25)", total=2)
        build_bm25_index(pks=pks, texts=texts, folder=folder, config=params["bm25"],
                         progress=lambda done, total: ctx.progress(done, total))
    else:
        from ..indexes import build_faiss_index

        model_dir = folder / "model"
        if not (model_dir / "modules.json").exists():
            raise VersionImmutable(
                f"The encoder of {version.name!r} ({model_dir}) is missing, so its index cannot be rebuilt "
                "identically. Build a new version."
            )
        vectors = encode_catalogue(ctx, version, folder, pks, str(model_dir))
        ctx.stage("building the FAISS index", total=len(pks))
        build_faiss_index(vectors=vectors, pks=pks, folder=folder, config=params["index"],
                          progress=lambda done, total: ctx.progress(done, total))
        drop_embeddings(folder)
    clear_searcher_cache()
    ctx.log(f"index of {version.name} rebuilt over {len(pks)} products")
    return {"products": len(pks)}


@job_kind("retriever_evaluate", queue="ml", title="Evaluate a retriever version",
          legacy_task_names=("retrieval.tasks.ml_evaluate_version",))
def evaluate_version_work(ctx: JobContext) -> dict:
    from ..evaluation import evaluate_version

    config = validate_config(EvaluateJobConfig, ctx.config)
    version = RetrieverVersion.objects.select_related("dataset").get(pk=config.version_id)
    ctx.stage("retrieving for test queries", total=1)
    report = evaluate_version(version=version, depth=config.depth,
                              progress=lambda done, total: ctx.progress(done, total))
    RetrieverVersion.objects.filter(pk=version.pk).update(metrics=report)
    ctx.log(f"evaluated {report['all'].get('queries', 0)} queries: " + json.dumps(report["all"]))
    return {"all": report["all"]}

