"""Retrieval with a built version: `retrieve(version, text, k)` for BM25, dense and hybrid (RRF) versions.

Artifacts are loaded once per process and cached; the cache key includes the modification time of the
version's `index.json`, so a rebuilt index is picked up by every process without a restart.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from core.artifacts import artifact_path

from .indexes import META_FILE, IndexUnavailable
from .models import RetrieverVersion

RRF_K = 60
HYBRID_DEPTH = 100

__all__ = ["Hit", "IndexUnavailable", "VersionNotReady", "retrieve", "retrieve_many", "version_folder"]


@dataclass(frozen=True)
class Hit:
    product_id: int  # Product primary key
    score: float


class VersionNotReady(IndexUnavailable):
    """The version has not finished building (or failed), so it has nothing to search."""


def version_folder(version: RetrieverVersion) -> Path:
    """Where the version's artifacts live: `artifact_dir` is relative to ARTIFACT_ROOT (or absolute)."""
    if not version.artifact_dir:
        raise VersionNotReady(f"Retriever version {version.name!r} has no artifacts yet (status {version.status}).")
    return artifact_path(version.artifact_dir)


def rebuild_hint(version: RetrieverVersion) -> str:
    return (
        f"Rebuild it with `python manage.py train_retriever --rebuild-index {version.name}` "
        "or the admin action \"Rebuild index\" on the retriever version."
    )


_cache: dict[int, tuple[tuple, object]] = {}
_lock = threading.Lock()


def retrieve(version: RetrieverVersion, text: str, k: int = 10) -> list[Hit]:
    """The top-k products for `text`, best first."""
    return retrieve_many(version, [text], k)[0]


def retrieve_many(version: RetrieverVersion, texts: Sequence[str], k: int = 10) -> list[list[Hit]]:
    """Top-k hits for several queries at once (queries are encoded in one batch)."""
    if k < 1:
        raise ValueError("k must be at least 1.")
    if version.kind == RetrieverVersion.Kind.HYBRID:
        return _retrieve_hybrid(version, texts, k)
    return loaded_searcher(version).search(list(texts), k)


def _retrieve_hybrid(version: RetrieverVersion, texts: Sequence[str], k: int) -> list[list[Hit]]:
    _require_ready(version)
    params = version.hyperparams or {}
    depth = max(k, int(params.get("depth", HYBRID_DEPTH)))
    rrf_k = float(params.get("rrf_k", RRF_K))
    components = list(version.components.order_by("name"))
    if len(components) < 2:
        raise IndexUnavailable(f"Hybrid version {version.name!r} needs at least two component versions.")
    fused: list[dict[int, float]] = [{} for _ in texts]
    for component in components:
        for scores, hits in zip(fused, retrieve_many(component, texts, depth)):
            for rank, hit in enumerate(hits, start=1):
                scores[hit.product_id] = scores.get(hit.product_id, 0.0) + 1.0 / (rrf_k + rank)
    return [
        [Hit(pk, score) for pk, score in sorted(scores.items(), key=lambda item: (-item[1], item[0]))[:k]]
        for scores in fused
    ]


def _require_ready(version: RetrieverVersion) -> None:
    if version.status != RetrieverVersion.Status.READY:
        raise VersionNotReady(
            f"Retriever version {version.name!r} is {version.status}, not ready; "
            + ("see its error and retry the build." if version.status == RetrieverVersion.Status.FAILED else "wait for its build job.")
        )


def loaded_searcher(version: RetrieverVersion):
    """The version's in-memory searcher, loading it on first use (and again after its index was rebuilt)."""
    _require_ready(version)
    folder = version_folder(version)
    try:
        stamp = (str(folder), (folder / META_FILE).stat().st_mtime_ns)
    except OSError:
        stamp = (str(folder), None)
    cached = _cache.get(version.pk)
    if cached and cached[0] == stamp:
        return cached[1]
    with _lock:
        cached = _cache.get(version.pk)
        if cached and cached[0] == stamp:
            return cached[1]
        try:
            searcher = _load_searcher(version, folder)
        except IndexUnavailable as exc:
            raise IndexUnavailable(f"Retriever version {version.name!r}: {exc} {rebuild_hint(version)}") from exc
        _cache[version.pk] = (stamp, searcher)
        return searcher


def clear_searcher_cache() -> None:
    with _lock:
        _cache.clear()


def _load_searcher(version: RetrieverVersion, folder: Path):
    if version.kind == RetrieverVersion.Kind.BM25:
        from .bm25 import load_bm25_index

        return LexicalSearcher(load_bm25_index(folder))
    if version.kind == RetrieverVersion.Kind.DENSE:
        from .encoders import EncoderUnavailable, load_encoder
        from .indexes import load_faiss_index

        index = load_faiss_index(folder)
        encoder_path = dense_encoder_path(version)
        try:
            encoder = load_encoder(encoder_path)
        except EncoderUnavailable as exc:
            raise IndexUnavailable(f"its encoder could not be loaded: {exc}") from exc
        max_len = (version.hyperparams or {}).get("query_max_seq_length")
        return DenseSearcher(index=index, encoder=encoder, query_max_seq_length=max_len)
    raise ValueError(f"Unknown retriever kind {version.kind!r}.")


def dense_encoder_path(version: RetrieverVersion) -> str:
    """A trained version's own model folder, or (zero-shot) the base encoder it was indexed with."""
    trained = (version.manifest or {}).get("encoder", {}).get("trained")
    if trained:
        folder = version_folder(version) / "model"
        if not (folder / "modules.json").exists():
            raise IndexUnavailable(f"the trained encoder folder {folder} is missing or incomplete.")
        return str(folder)
    return version.base_model or ""


class LexicalSearcher:
    def __init__(self, index):
        self.index = index

    def search(self, texts: list[str], k: int) -> list[list[Hit]]:
        return [[Hit(pk, score) for pk, score in hits] for hits in self.index.search(texts, k)]


class DenseSearcher:
    def __init__(self, *, index, encoder, query_max_seq_length: int | None = None):
        self.index = index
        self.encoder = encoder
        self.query_max_seq_length = query_max_seq_length

    def encode(self, texts: list[str]):
        from .encoders import encode_texts, encode_query

        if len(texts) == 1:
            return encode_query(self.encoder, texts[0])
        return encode_texts(self.encoder, texts, max_seq_length=self.query_max_seq_length)

    def search(self, texts: list[str], k: int) -> list[list[Hit]]:
        if not texts:
            return []
        scores, pks = self.index.search(self.encode(texts), k)
        return [
            [Hit(int(pk), float(score)) for pk, score in zip(row_pks, row_scores) if pk >= 0]
            for row_pks, row_scores in zip(pks, scores)
        ]


# --- side by side (the staff search page) ---

@dataclass
class ComparedHit:
    rank: int
    product: object  # Product
    score: float
    other_rank: int | None  # the product's rank in the other list, None when only this side has it

    @property
    def only_here(self) -> bool:
        return self.other_rank is None


@dataclass
class SideResult:
    version: RetrieverVersion
    hits: list[ComparedHit]
    error: str = ""
    milliseconds: float = 0.0


def side_by_side(*, version_a: RetrieverVersion, version_b: RetrieverVersion, text: str, k: int = 10) -> list[SideResult]:
    """Both versions' top-k for `text`, each hit marked with its rank on the other side (None: only this side)."""
    import time

    from .models import Product

    ranked: list[tuple[RetrieverVersion, list[Hit], str, float]] = []
    for version in (version_a, version_b):
        started = time.perf_counter()
        try:
            hits, error = retrieve(version, text, k), ""
        except (IndexUnavailable, ValueError) as exc:
            hits, error = [], str(exc)
        ranked.append((version, hits, error, (time.perf_counter() - started) * 1000))
    products = Product.objects.in_bulk({h.product_id for _, hits, _, _ in ranked for h in hits})
    ranks = [{h.product_id: i for i, h in enumerate(hits, start=1)} for _, hits, _, _ in ranked]
    sides = []
    for side, (version, hits, error, ms) in enumerate(ranked):
        other = ranks[1 - side]
        sides.append(SideResult(
            version=version,
            hits=[ComparedHit(rank=i, product=products.get(h.product_id), score=h.score, other_rank=other.get(h.product_id))
                  for i, h in enumerate(hits, start=1)],
            error=error,
            milliseconds=round(ms, 1),
        ))
    return sides
