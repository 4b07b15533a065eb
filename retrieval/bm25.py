"""BM25 over the product text through `bm25s` (English stop words, Snowball stemming via PyStemmer).

The index is saved with bm25s's own files plus our id map and `index.json` (sizes and checksums), in the
same way as the FAISS index, so that a missing or corrupt file gives `IndexUnavailable`.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

from .indexes import IDS_FILE, IndexUnavailable, file_fingerprint, read_meta, verify_files, write_meta

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

DEFAULT_BM25_CONFIG = {"k1": 1.5, "b": 0.75, "method": "lucene", "stemmer": "english", "stopwords": "en"}
BM25_FILES = ("data.csc.index.npy", "indices.csc.index.npy", "indptr.csc.index.npy", "vocab.index.json",
              "params.index.json")


def bm25_config(config: dict | None) -> dict:
    merged = {**DEFAULT_BM25_CONFIG, **(config or {})}
    unknown = set(merged) - set(DEFAULT_BM25_CONFIG)
    if unknown:
        raise ValueError(f"Unknown BM25 option(s) {sorted(unknown)}; known: {sorted(DEFAULT_BM25_CONFIG)}.")
    if merged["method"] not in ("robertson", "lucene", "bm25l", "bm25+", "atire"):
        raise ValueError(f"Unknown BM25 method {merged['method']!r}.")
    if float(merged["k1"]) <= 0 or not 0 <= float(merged["b"]) <= 1:
        raise ValueError("BM25 needs k1 > 0 and 0 <= b <= 1.")
    return merged


def _stem_function(name: str | None) -> Callable | None:
    if not name:
        return None
    try:
        import Stemmer
    except ImportError as exc:
        raise RuntimeError("BM25 stemming needs PyStemmer (pip install pystemmer), or set \"stemmer\": null.") from exc
    return Stemmer.Stemmer(name).stemWords


def tokenize(texts: Sequence[str], config: dict, *, return_ids: bool):
    import bm25s

    return bm25s.tokenize(
        list(texts),
        stopwords=config["stopwords"] or None,
        stemmer=_stem_function(config["stemmer"]),
        return_ids=return_ids,
        show_progress=False,
    )


def build_bm25_index(
    *,
    pks: Sequence[int],
    texts: Sequence[str],
    folder: Path,
    config: dict | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    import bm25s
    import numpy as np

    config = bm25_config(config)
    if len(pks) != len(texts) or not pks:
        raise ValueError(f"Expected one text per product and at least one product, got {len(pks)} ids and {len(texts)} texts.")
    if progress:
        progress(0, 2)
    tokens = tokenize(texts, config, return_ids=True)
    retriever = bm25s.BM25(k1=float(config["k1"]), b=float(config["b"]), method=config["method"])
    retriever.index(tokens, show_progress=False)
    if progress:
        progress(1, 2)
    folder.mkdir(parents=True, exist_ok=True)
    retriever.save(str(folder), show_progress=False)
    np.save(folder / IDS_FILE, np.asarray(pks, dtype=np.int64), allow_pickle=False)
    meta = {
        "type": "bm25",
        "count": len(pks),
        "config": config,
        "files": {name: file_fingerprint(folder / name) for name in (*BM25_FILES, IDS_FILE)},
    }
    write_meta(folder, meta)
    if progress:
        progress(2, 2)
    return meta


@dataclass
class BM25Index:
    retriever: object
    pks: "np.ndarray"
    meta: dict

    def search(self, texts: Sequence[str], k: int) -> list[list[tuple[int, float]]]:
        """Per query, (product pk, score) best first; products that share no term with the query are left out."""
        k = max(1, min(int(k), len(self.pks)))
        query_tokens = tokenize(texts, self.meta["config"], return_ids=False)
        results = []
        for tokens in query_tokens:
            if not tokens:
                results.append([])
                continue
            rows, scores = self.retriever.retrieve([tokens], k=k, show_progress=False, n_threads=1)
            results.append([(int(self.pks[r]), float(s)) for r, s in zip(rows[0], scores[0]) if s > 0])
        return results


def load_bm25_index(folder: Path) -> BM25Index:
    import bm25s
    import numpy as np

    meta = read_meta(folder)
    if meta.get("type") != "bm25":
        raise IndexUnavailable(f"{folder} does not hold a BM25 index.")
    verify_files(folder, meta)
    try:
        retriever = bm25s.BM25.load(str(folder), show_progress=False)
        pks = np.load(folder / IDS_FILE, allow_pickle=False)
    except Exception as exc:
        raise IndexUnavailable(f"Could not read the BM25 index in {folder}: {exc}") from exc
    if len(pks) != meta.get("count"):
        raise IndexUnavailable(f"The BM25 id map in {folder} has {len(pks)} ids, expected {meta.get('count')}.")
    return BM25Index(retriever=retriever, pks=pks, meta=meta)
