"""Retrieval with a built version: `retrieve(version, text, k)` for BM25, dense and hybrid (RRF) versions.

Artifacts are loaded once per process and cached; the cache key includes the modification time of the
version's `index.json`, so a rebuilt index is picked up by every process without a restart.

Loading a dense version's searcher means importing torch and loading a sentence-transformers model (12-21 s the
first time). Workers, commands and benchmarks wait for it (`wait=True`, the default). Web requests pass
`wait=False`: a searcher that is not in memory yet starts loading in a background thread (one per version) and
`SearcherLoading` is raised at once, so the page can say "loading" and ask again.
"""
from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from core.artifacts import artifact_path

from .indexes import META_FILE, IndexUnavailable
from .models import RetrieverVersion

RRF_K = 60
HYBRID_DEPTH = 100

__all__ = ["Hit", "IndexUnavailable", "SearcherLoading", "VersionNotReady", "retrieve", "retrieve_many",
           "version_folder"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Hit:
    product_id: int  # Product primary key
    score: float


class VersionNotReady(IndexUnavailable):
    """The version has not finished building (or failed), so it has nothing to search."""


class SearcherLoading(Exception):
    """A `wait=False` caller asked for a searcher that is still loading in the background; ask again shortly.

    Deliberately not an `IndexUnavailable`: nothing is wrong with the version, so it must not read as an error.
    """

    def __init__(self, names: Sequence[str]):
        self.names = list(names)
        listed = ", ".join(self.names)
        super().__init__(f"The model for {listed} is loading in the background.")


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
_lock = threading.Lock()  # guards the dicts below (held briefly, never while loading)
_version_locks: dict[int, threading.Lock] = {}  # one per version, held while that version's searcher loads
_loaders: dict[int, threading.Thread] = {}  # background loads in flight, by version pk
_failures: dict[int, tuple[tuple, BaseException]] = {}  # a background load's error, raised to the next caller


def retrieve(version: RetrieverVersion, text: str, k: int = 10, *, wait: bool = True) -> list[Hit]:
    """The top-k products for `text`, best first (`wait=False`: see `loaded_searcher`)."""
    return retrieve_many(version, [text], k, wait=wait)[0]


def retrieve_many(version: RetrieverVersion, texts: Sequence[str], k: int = 10, *, wait: bool = True) -> list[list[Hit]]:
    """Top-k hits for several queries at once (queries are encoded in one batch)."""
    if k < 1:
        raise ValueError("k must be at least 1.")
    if version.kind == RetrieverVersion.Kind.HYBRID:
        return _retrieve_hybrid(version, texts, k, wait=wait)
    return loaded_searcher(version, wait=wait).search(list(texts), k)


def _retrieve_hybrid(version: RetrieverVersion, texts: Sequence[str], k: int, *, wait: bool) -> list[list[Hit]]:
    _require_ready(version)
    params = version.hyperparams or {}
    depth = max(k, int(params.get("depth", HYBRID_DEPTH)))
    rrf_k = float(params.get("rrf_k", RRF_K))
    components = list(version.components.order_by("name"))
    if len(components) < 2:
        raise IndexUnavailable(f"Hybrid version {version.name!r} needs at least two component versions.")
    if not wait:  # start every component that is not in memory, not only the first one found missing
        loading = []
        for component in components:
            try:
                if component.kind != RetrieverVersion.Kind.HYBRID:
                    loaded_searcher(component, wait=False)
            except SearcherLoading as exc:
                loading += exc.names
        if loading:
            raise SearcherLoading(loading)
    fused: list[dict[int, float]] = [{} for _ in texts]
    for component in components:
        for scores, hits in zip(fused, retrieve_many(component, texts, depth, wait=wait)):
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


def loaded_searcher(version: RetrieverVersion, *, wait: bool = True):
    """The version's in-memory searcher, loading it on first use (and again after its index was rebuilt).

    `wait=False` (web requests): a dense searcher that is not in memory starts loading in the background and
    `SearcherLoading` is raised at once; the error of a background load that failed is raised to the next caller.
    BM25 indexes load from disk quickly, so they load in the caller either way.
    """
    _require_ready(version)
    folder = version_folder(version)
    stamp = _stamp(folder)
    cached = _cache.get(version.pk)
    if cached and cached[0] == stamp:
        return cached[1]
    if wait or version.kind != RetrieverVersion.Kind.DENSE:
        return _load_now(version, folder, stamp)
    with _lock:
        cached = _cache.get(version.pk)
        if cached and cached[0] == stamp:
            return cached[1]
        failure = _failures.pop(version.pk, None)
        if failure and failure[0] == stamp:
            raise failure[1]
        _start_loader(version, folder, stamp)
    raise SearcherLoading([version.name])


def start_loading(version: RetrieverVersion) -> threading.Thread | None:
    """Load the version's searcher in a background thread (the one already running, if any); None when it is
    in memory. Errors are logged and kept for the next `wait=False` caller."""
    _require_ready(version)
    folder = version_folder(version)
    stamp = _stamp(folder)
    with _lock:
        cached = _cache.get(version.pk)
        if cached and cached[0] == stamp:
            return None
        return _start_loader(version, folder, stamp)


def _start_loader(version: RetrieverVersion, folder: Path, stamp: tuple) -> threading.Thread:
    """The version's background loader, started unless one is running (call with `_lock` held)."""
    loader = _loaders.get(version.pk)
    if loader is None or not loader.is_alive():
        _failures.pop(version.pk, None)  # an earlier failure is stale once a new attempt runs
        loader = threading.Thread(target=_load_in_background, args=(version, folder, stamp), daemon=True,
                                  name=f"load-searcher-{version.pk}")
        _loaders[version.pk] = loader
        loader.start()
    return loader


def _load_in_background(version: RetrieverVersion, folder: Path, stamp: tuple) -> None:
    failure = None
    try:
        _load_now(version, folder, stamp)
        logger.info("Searcher of retriever version %s loaded.", version.name)
    except IndexUnavailable as exc:
        failure = exc
        logger.warning("Searcher of retriever version %s could not be loaded: %s", version.name, exc)
    except Exception as exc:  # kept for the next request, which raises it (a logged 500), then tries again
        failure = exc
        logger.exception("Loading the searcher of retriever version %s failed.", version.name)
    finally:
        with _lock:
            if failure is not None:
                _failures[version.pk] = (stamp, failure)
            if _loaders.get(version.pk) is threading.current_thread():
                del _loaders[version.pk]


def _load_now(version: RetrieverVersion, folder: Path, stamp: tuple):
    """Load in the calling thread; a caller arriving while the same version loads waits for that load."""
    with _lock:
        version_lock = _version_locks.setdefault(version.pk, threading.Lock())
    with version_lock:
        cached = _cache.get(version.pk)
        if cached and cached[0] == stamp:
            return cached[1]
        try:
            searcher = _load_searcher(version, folder)
        except IndexUnavailable as exc:
            raise IndexUnavailable(f"Retriever version {version.name!r}: {exc} {rebuild_hint(version)}") from exc
        _cache[version.pk] = (stamp, searcher)
        return searcher


def _stamp(folder: Path) -> tuple:
    try:
        return (str(folder), (folder / META_FILE).stat().st_mtime_ns)
    except OSError:
        return (str(folder), None)


def is_loaded(version: RetrieverVersion) -> bool:
    """Whether the version's current searcher is in memory (a hybrid: all its components')."""
    if version.kind == RetrieverVersion.Kind.HYBRID:
        return all(is_loaded(component) for component in version.components.all())
    try:
        folder = version_folder(version)
    except IndexUnavailable:
        return False
    cached = _cache.get(version.pk)
    return bool(cached and cached[0] == _stamp(folder))


def clear_searcher_cache() -> None:
    with _lock:
        _cache.clear()
        _failures.clear()


def _reset_after_fork() -> None:
    """A forked child (gunicorn --preload, a Celery pool) keeps loaded searchers but not the parent's threads:
    locks a parent's loader held would stay locked for ever, so they are made anew."""
    global _lock
    _lock = threading.Lock()
    _version_locks.clear()
    _loaders.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)


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


def side_by_side(*, version_a: RetrieverVersion, version_b: RetrieverVersion, text: str, k: int = 10,
                 wait: bool = True) -> list[SideResult]:
    """Both versions' top-k for `text`, each hit marked with its rank on the other side (None: only this side).

    `wait=False` (the web page): `SearcherLoading` naming every side whose model is still loading; both sides
    start loading in this one call.
    """
    import time

    from .models import Product

    ranked: list[tuple[RetrieverVersion, list[Hit], str, float]] = []
    loading: list[str] = []
    for version in (version_a, version_b):
        started = time.perf_counter()
        try:
            hits, error = retrieve(version, text, k, wait=wait), ""
        except SearcherLoading as exc:
            loading += [name for name in exc.names if name not in loading]
            continue
        except (IndexUnavailable, ValueError) as exc:
            hits, error = [], str(exc)
        ranked.append((version, hits, error, (time.perf_counter() - started) * 1000))
    if loading:
        raise SearcherLoading(loading)
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
