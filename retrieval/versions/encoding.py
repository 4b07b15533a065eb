"""Catalogue encoding as a sharded step (`jobs.shards`): any number of `ml` workers encode slices of the catalogue.

The parent (a build or an index rebuild) splits the products, ordered by primary key, into shards of
`ENCODE_SHARD_PRODUCTS`; each shard reads its slice of the catalogue, encodes it with the version's saved encoder
and writes `encoding-shards/NNNNN.npz` (vectors and product pks) into the version's folder, atomically. The parent
joins the shards in order, checks that they cover the catalogue it read, and keeps the whole matrix as
`embeddings.npy` until the index is built, so that a resumed build skips encoding altogether.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from django.conf import settings

from jobs.models import JobShard
from jobs.runner import JobContext
from jobs.shards import run_shards, shard_step

from ..models import RetrieverVersion
from .paths import version_path

STEP = "catalogue_encoding"
EMBEDDINGS_FILE = "embeddings.npy"
EMBEDDING_IDS_FILE = "embedding_ids.npy"
SHARDS_FOLDER = "encoding-shards"

_encoder: dict = {}  # this process's encoder of the last shard: {"path": ..., "model": ...}


def shard_ranges(count: int, size: int) -> list[tuple[int, int]]:
    size = max(1, size)
    return [(start, min(start + size, count)) for start in range(0, count, size)]


def encode_catalogue(ctx: JobContext, version: RetrieverVersion, folder: Path, pks: list[int], encoder_path: str):
    """Every product's vector in `pks` order (resuming from an earlier attempt's saved matrix when it matches)."""
    import numpy as np

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
    ranges = shard_ranges(len(pks), settings.ENCODE_SHARD_PRODUCTS)
    specs = [{"version_id": version.pk, "encoder": encoder_path, "start": start, "stop": stop}
             for start, stop in ranges]
    run_shards(ctx, step=STEP, specs=specs, totals=[stop - start for start, stop in ranges],
               stage="encoding catalogue", describe=lambda result: f"{result['products']} products")
    parts = [np.load(shard_file(folder, index)) for index in range(len(ranges))]
    joined_ids = np.concatenate([part["pks"] for part in parts])
    if joined_ids.tolist() != list(pks):
        raise RuntimeError(f"The encoded shards of {version.name!r} do not cover the catalogue that was read "
                           f"({len(joined_ids)} vectors for {len(pks)} products): did the catalogue change during "
                           "the build? Retry the job.")
    vectors = np.concatenate([part["vectors"] for part in parts]).astype(np.float32, copy=False)
    np.save(emb_path, vectors)
    np.save(ids_path, joined_ids.astype(np.int64))
    shutil.rmtree(folder / SHARDS_FOLDER, ignore_errors=True)
    return vectors


def drop_embeddings(folder: Path) -> None:
    for name in (EMBEDDINGS_FILE, EMBEDDING_IDS_FILE):
        (folder / name).unlink(missing_ok=True)


def shard_file(folder: Path, index: int) -> Path:
    return folder / SHARDS_FOLDER / f"{index:05d}.npz"


def forget_encoder() -> None:
    _encoder.clear()


@shard_step(STEP, release=forget_encoder)
def encode_shard(shard: JobShard, report) -> dict:
    """Encode one slice of the catalogue with the version's encoder and write it atomically."""
    import numpy as np

    from ..encoders import encode_texts
    from ..product_text import catalogue_texts

    spec = shard.spec
    version = RetrieverVersion.objects.select_related("dataset").get(pk=spec["version_id"])
    params = version.hyperparams
    rows = version.dataset.products.order_by("pk").values("pk", *params["fields"])[spec["start"]:spec["stop"]]
    pks, texts = [], []
    for pk, text in catalogue_texts(rows, params["fields"]):
        pks.append(pk)
        texts.append(text)
    vectors = encode_texts(shard_encoder(spec["encoder"]), texts, batch_size=int(params["encode_batch_size"]),
                           max_seq_length=int(params["max_seq_length"]), progress=lambda done, total: report(done))
    target = shard_file(version_path(version), shard.index)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f"{target.stem}.{os.getpid()}.partial.npz")
    np.savez(partial, vectors=vectors, pks=np.asarray(pks, dtype=np.int64))
    os.replace(partial, target)
    return {"products": len(pks)}


def shard_encoder(path: str):
    """The encoder at `path`, loaded once per process for consecutive shards of the same version."""
    from ..encoders import load_encoder

    if _encoder.get("path") != path:
        _encoder.clear()
        _encoder.update(path=path, model=load_encoder(path, cache=False))
    return _encoder["model"]
