"""What the rewards read besides the text: retrieval and judging (`RetrievalFeedback`, cached) and the catalogue's
product titles as vectors (`CatalogueSpace`). Plain classes over callables; `setup.reward_setup` wires them to the
real retriever versions, judge and encoder."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from synthesis.pipeline import JudgeProducts, RetrieveMany


class RetrievalFeedback:
    """Retrieval and judging for the rewards, cached: a rewrite sampled twice is retrieved once.

    `retrieve(texts, k)` returns product pks best first per text (the strong offline retriever of the synthesis
    pipeline); `judge(original_query, pks)` scores each product's relevance to the original query in [0, 1];
    `baseline_retrieve` is the online baseline whose top-`baseline_k` for the original query counts as "already
    found" (defaults to `retrieve`).
    """

    def __init__(self, *, retrieve: RetrieveMany, judge: JudgeProducts, k: int = 10, threshold: float = 0.5,
                 baseline_retrieve: RetrieveMany | None = None, baseline_k: int = 100, max_cached: int = 200_000):
        if k < 1 or baseline_k < 1:
            raise ValueError("k and baseline_k must be at least 1")
        if not 0 <= threshold <= 1:
            raise ValueError(f"The relevance threshold must be in [0, 1], got {threshold}")
        self.retrieve, self.judge = retrieve, judge
        self.baseline_retrieve = baseline_retrieve or retrieve
        self.k, self.threshold, self.baseline_k, self.max_cached = k, threshold, baseline_k, max_cached
        self._retrieved: dict[str, list[int]] = {}
        self._scores: dict[tuple[str, int], float] = {}
        self._baseline: dict[str, frozenset[int]] = {}

    def retrieved(self, texts: Sequence[str]) -> list[list[int]]:
        """Top-k product pks for each text."""
        missing = list(dict.fromkeys(t for t in texts if t not in self._retrieved))
        if missing:
            self._trim(self._retrieved)
            for text, pks in zip(missing, self.retrieve(missing, self.k)):
                self._retrieved[text] = list(pks)[:self.k]
        return [self._retrieved[t] for t in texts]

    def scores(self, query: str, pks: Sequence[int]) -> list[float]:
        """Judge scores of products for the original query."""
        missing = list(dict.fromkeys(pk for pk in pks if (query, pk) not in self._scores))
        if missing:
            self._trim(self._scores)
            judged = self.judge(query, missing)
            if len(judged) != len(missing):
                raise ValueError(f"The judge returned {len(judged)} scores for {len(missing)} products.")
            for pk, score in zip(missing, judged):
                self._scores[(query, pk)] = min(1.0, max(0.0, float(score)))
        return [self._scores[(query, pk)] for pk in pks]

    def baseline_top(self, query: str) -> frozenset[int]:
        """What the baseline already returns for the original query (its top `baseline_k`)."""
        if query not in self._baseline:
            self._trim(self._baseline)
            self._baseline[query] = frozenset(self.baseline_retrieve([query], self.baseline_k)[0])
        return self._baseline[query]

    def _trim(self, cache: dict) -> None:
        if len(cache) >= self.max_cached:
            cache.clear()



class CatalogueSpace:
    """Product titles as unit vectors, and how close a text lies to its nearest titles (cosine similarity).

    `embed(texts)` must return an (n, d) array of L2-normalised vectors in the same space as `title_vectors`.
    """

    def __init__(self, *, title_vectors, embed: Callable[[Sequence[str]], Any], neighbours: int = 5):
        import numpy as np

        vectors = np.asarray(title_vectors, dtype=np.float32)
        if vectors.ndim != 2 or len(vectors) == 0:
            raise ValueError("The catalogue space needs at least one title vector (an (n, d) array).")
        if neighbours < 1:
            raise ValueError("neighbours must be at least 1")
        self.title_vectors, self.embed = vectors, embed
        self.neighbours = min(neighbours, len(vectors))

    def closeness(self, texts: Sequence[str]) -> list[float]:
        """Mean cosine similarity of each text to its `neighbours` nearest titles, clipped to [0, 1]."""
        import numpy as np

        if not texts:
            return []
        sims = np.asarray(self.embed(list(texts)), dtype=np.float32) @ self.title_vectors.T
        nearest = -np.sort(-sims, axis=1)[:, :self.neighbours]
        return [float(min(1.0, max(0.0, value))) for value in nearest.mean(axis=1)]


def catalogue_space_from_encoder(*, titles: Sequence[str], encoder, neighbours: int = 5,
                                 batch_size: int = 64) -> CatalogueSpace:
    """A catalogue space over product titles embedded with a sentence-transformers encoder (e.g. MiniLM)."""
    from retrieval.encoders import encode_texts

    if not titles:
        raise ValueError("The catalogue has no product titles to align rewrites with.")
    vectors = encode_texts(encoder, list(titles), batch_size=batch_size)
    return CatalogueSpace(title_vectors=vectors, neighbours=neighbours,
                          embed=lambda texts: encode_texts(encoder, list(texts), batch_size=batch_size))
