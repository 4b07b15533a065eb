"""FAISS vector indexes for dense versions, persisted under ARTIFACT_ROOT with their id map and checksums.

A small catalogue gets an exact `IndexFlatIP`; above `flat_max` vectors an approximate index (`IndexHNSWFlat`
by default, or `IndexIVFFlat`, which builds much faster on a small CPU) keeps search under a millisecond.
Vectors are unit length, so inner product is cosine similarity. A search for one or a few queries runs on one
thread: on a busy machine OpenMP threads only wait for each other.
Every file is written under a temporary name and moved into place, and `index.json` records each file's
size and SHA-256, so a missing, truncated or corrupt file is reported as `IndexUnavailable` instead of
returning wrong results.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Sequence
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

INDEX_FILE = "index.faiss"
IDS_FILE = "ids.npy"
META_FILE = "index.json"
DEFAULT_INDEX_CONFIG = {
    "type": "auto",  # auto | flat | hnsw | ivf
    "flat_max": 20_000,  # auto: exact search up to this many vectors, `large` above
    "large": "hnsw",  # what auto picks above flat_max: hnsw | ivf
    "hnsw_m": 32,
    "ef_construction": 80,
    "ef_search": 64,
    "ivf_lists": 0,  # 0: about 4 * sqrt(n)
    "ivf_probe": 16,
}
IVF_TRAIN_PER_LIST = 40  # k-means wants about 40 training points per list
SMALL_BATCH = 16  # queries; fewer run on one thread
ADD_CHUNK = 20_000


class IndexUnavailable(RuntimeError):
    """An index artifact is missing or corrupt; the message says which file and how to rebuild it."""


def index_config(config: dict | None) -> dict:
    merged = {**DEFAULT_INDEX_CONFIG, **(config or {})}
    unknown = set(merged) - set(DEFAULT_INDEX_CONFIG)
    if unknown:
        raise ValueError(f"Unknown index option(s) {sorted(unknown)}; known: {sorted(DEFAULT_INDEX_CONFIG)}.")
    if merged["type"] not in ("auto", "flat", "hnsw", "ivf"):
        raise ValueError(f"Index type must be auto, flat, hnsw or ivf, not {merged['type']!r}.")
    if merged["large"] not in ("hnsw", "ivf"):
        raise ValueError(f"Index option large must be hnsw or ivf, not {merged['large']!r}.")
    for key in ("flat_max", "hnsw_m", "ef_construction", "ef_search", "ivf_probe"):
        if int(merged[key]) < 1:
            raise ValueError(f"Index option {key} must be a positive integer.")
    if int(merged["ivf_lists"]) < 0:
        raise ValueError("Index option ivf_lists must be 0 (automatic) or a positive integer.")
    return merged


def chosen_index_type(count: int, config: dict) -> str:
    if config["type"] != "auto":
        return config["type"]
    return "flat" if count <= int(config["flat_max"]) else config["large"]


def ivf_lists(count: int, config: dict) -> int:
    wanted = int(config["ivf_lists"]) or int(4 * count ** 0.5)
    return max(1, min(wanted, count // IVF_TRAIN_PER_LIST or 1))


def build_faiss_index(
    *,
    vectors: "np.ndarray",
    pks: "np.ndarray | list[int]",
    folder: Path,
    config: dict | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """Build and save an index of `vectors` (row i is product `pks[i]`); returns what `index.json` records."""
    import faiss
    import numpy as np

    config = index_config(config)
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    ids = np.asarray(pks, dtype=np.int64)
    if vectors.ndim != 2 or len(vectors) != len(ids):
        raise ValueError(f"Expected one vector per product id, got {vectors.shape} vectors for {len(ids)} ids.")
    if len(ids) == 0:
        raise ValueError("Cannot build an index over an empty catalogue.")
    count, dim = vectors.shape
    kind = chosen_index_type(count, config)
    lists = 0
    if kind == "flat":
        index = faiss.IndexFlatIP(dim)
    elif kind == "hnsw":
        index = faiss.IndexHNSWFlat(dim, int(config["hnsw_m"]), faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = int(config["ef_construction"])
    else:
        lists = ivf_lists(count, config)
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, lists, faiss.METRIC_INNER_PRODUCT)
        sample = min(count, lists * IVF_TRAIN_PER_LIST * 2)
        chosen = np.random.default_rng(0).choice(count, size=sample, replace=False) if sample < count else slice(None)
        index.train(vectors[chosen])
    for start in range(0, count, ADD_CHUNK):
        index.add(vectors[start:start + ADD_CHUNK])
        if progress is not None:
            progress(min(start + ADD_CHUNK, count), count)
    folder.mkdir(parents=True, exist_ok=True)
    _atomic_write(folder / INDEX_FILE, lambda tmp: faiss.write_index(index, str(tmp)))
    _atomic_write(folder / IDS_FILE, lambda tmp: np.save(tmp, ids, allow_pickle=False), suffix=".npy")
    meta = {
        "type": kind,
        "count": int(count),
        "dim": int(dim),
        "metric": "inner_product",
        "config": config,
        **({"ivf_lists": lists} if lists else {}),
        "files": {name: file_fingerprint(folder / name) for name in (INDEX_FILE, IDS_FILE)},
    }
    write_meta(folder, meta)
    return meta


@dataclass
class DenseIndex:
    """A loaded FAISS index and its id map (row -> Product primary key)."""

    index: object
    pks: "np.ndarray"
    meta: dict

    def search(self, vectors: "np.ndarray", k: int) -> tuple["np.ndarray", "np.ndarray"]:
        """(scores, product pks) of shape (n_queries, <= k), best first; missing slots are dropped per row."""
        import numpy as np

        import faiss

        k = max(1, min(int(k), len(self.pks)))
        if self.meta["type"] == "hnsw":
            self.index.hnsw.efSearch = max(int(self.meta["config"]["ef_search"]), k)
        elif self.meta["type"] == "ivf":
            self.index.nprobe = int(self.meta["config"]["ivf_probe"])
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        threads = faiss.omp_get_max_threads()
        if len(vectors) < SMALL_BATCH:
            faiss.omp_set_num_threads(1)
        try:
            scores, rows = self.index.search(vectors, k)
        finally:
            faiss.omp_set_num_threads(threads)
        return scores, np.where(rows >= 0, self.pks[np.clip(rows, 0, None)], -1)

    def vectors(self, pks: "Sequence[int]") -> "np.ndarray":
        """The stored (unit) vectors of these products, in order: what the catalogue encoding produced, read back
        from the index (flat and HNSW store them; an IVF index gets its direct map on first use)."""
        import numpy as np

        if not hasattr(self, "_rows"):
            self._rows = {int(pk): row for row, pk in enumerate(self.pks)}
            if self.meta["type"] == "ivf":
                self.index.make_direct_map()
        missing = [pk for pk in pks if int(pk) not in self._rows]
        if missing:
            raise KeyError(f"Products {missing[:5]} are not in this index.")
        rows = np.asarray([self._rows[int(pk)] for pk in pks], dtype=np.int64)
        return self.index.reconstruct_batch(rows) if len(rows) else np.empty((0, self.meta["dim"]), np.float32)


def load_faiss_index(folder: Path) -> DenseIndex:
    import faiss
    import numpy as np

    meta = read_meta(folder)
    verify_files(folder, meta)
    try:
        index = faiss.read_index(str(folder / INDEX_FILE))
        pks = np.load(folder / IDS_FILE, allow_pickle=False)
    except Exception as exc:  # faiss raises RuntimeError, numpy ValueError/OSError
        raise IndexUnavailable(f"Could not read the index in {folder}: {exc}") from exc
    if index.ntotal != len(pks) or index.ntotal != meta.get("count"):
        raise IndexUnavailable(
            f"The index in {folder} holds {index.ntotal} vectors but its id map has {len(pks)} "
            f"(expected {meta.get('count')})."
        )
    return DenseIndex(index=index, pks=pks, meta=meta)


# --- artifact bookkeeping shared with the BM25 index ---

def file_fingerprint(path: Path) -> dict:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return {"size": path.stat().st_size, "sha256": digest.hexdigest()}


def write_meta(folder: Path, meta: dict) -> None:
    _atomic_write(folder / META_FILE, lambda tmp: tmp.write_text(json.dumps(meta, indent=2), encoding="utf-8"))


def read_meta(folder: Path) -> dict:
    path = folder / META_FILE
    if not path.exists():
        raise IndexUnavailable(f"The index description {path} is missing (the index was never built or was deleted).")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise IndexUnavailable(f"The index description {path} is unreadable: {exc}") from exc
    if not isinstance(meta, dict) or not isinstance(meta.get("files"), dict):
        raise IndexUnavailable(f"The index description {path} is corrupt (no file list).")
    return meta


def verify_files(folder: Path, meta: dict) -> None:
    """Every recorded file exists with the recorded size and checksum."""
    for name, expected in meta["files"].items():
        path = folder / name
        if not path.exists():
            raise IndexUnavailable(f"Index file {path} is missing.")
        if path.stat().st_size != expected.get("size"):
            raise IndexUnavailable(
                f"Index file {path} is corrupt: {path.stat().st_size} bytes, expected {expected.get('size')}."
            )
        if file_fingerprint(path)["sha256"] != expected.get("sha256"):
            raise IndexUnavailable(f"Index file {path} is corrupt: its checksum does not match.")


def _atomic_write(path: Path, write: Callable[[Path], object], suffix: str = "") -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp{suffix}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
