"""The offline retrieval pipeline for one query: original + rewrites -> retrieve -> union -> judge -> curate.

Every rewrite and the original query go through a strong retriever with a large K; the union of what they found
is judged against the ORIGINAL query (the rewrites only help find products; the training pair is always
(original query, product)). Pairs already in the logs are dropped, items at or above the threshold are kept,
the best `max_pairs_per_query` survive, and each is flagged *incremental* when the baseline retriever does not
return it in its top-K for the original query. The judge's rejections (scored below the threshold), best-retrieved
first, are kept with their scores as the query's hard negatives (soft labels train on them). Plain functions over
callables, so each step is testable alone.
"""
from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field

# retrieve_many(texts, k) -> for each text, product pks best first
RetrieveMany = Callable[[Sequence[str], int], list[list[int]]]
# judge_products(original_query, product_pks) -> a score in [0, 1] per product
JudgeProducts = Callable[[str, Sequence[int]], list[float]]


@dataclass(frozen=True)
class CurationSettings:
    retrieve_k: int = 100
    threshold: float = 0.5
    max_pairs_per_query: int = 20
    drop_logged: bool = True
    hard_negatives: int = 0  # judge rejections kept per query

    def __post_init__(self):
        if self.retrieve_k < 1 or self.max_pairs_per_query < 1 or self.hard_negatives < 0:
            raise ValueError("retrieve_k and max_pairs_per_query must be at least 1, hard_negatives at least 0")
        if not 0 <= self.threshold <= 1:
            raise ValueError(f"The judge threshold must be in [0, 1], got {self.threshold}")


@dataclass
class Provenance:
    """Who found a product: the original query and/or which rewrites."""

    found_by_original: bool = False
    rewrites: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class CuratedPair:
    product_pk: int
    score: float
    incremental: bool
    found_by_original: bool
    rewrites: tuple[str, ...]


@dataclass
class QueryCuration:
    """Everything the pipeline learnt about one query, ready to be written."""

    query_pk: int
    rewrites: list[str]
    retrieved_per_rewrite: dict[str, int]
    kept_per_rewrite: dict[str, int]
    candidates: int
    judged: int
    dropped_logged: int
    pairs: list[CuratedPair]
    rejected: list[tuple[int, float]] = field(default_factory=list)  # (product pk, judge score), best-retrieved first


def union_candidates(*, original: Sequence[int], by_rewrite: dict[str, Sequence[int]]) -> dict[int, Provenance]:
    """One entry per distinct product found by the original query or any rewrite, with who found it."""
    union: dict[int, Provenance] = {}
    for pk in original:
        union.setdefault(pk, Provenance()).found_by_original = True
    for rewrite, pks in by_rewrite.items():
        for pk in dict.fromkeys(pks):
            union.setdefault(pk, Provenance()).rewrites.append(rewrite)
    return union


def select_pairs(*, candidates: dict[int, Provenance], scores: dict[int, float], baseline_top: Collection[int],
                 threshold: float, cap: int) -> list[CuratedPair]:
    """Products scored at or above `threshold`, best first (ties: found by more rewrites, then pk), at most `cap`."""
    kept = [pk for pk, score in scores.items() if score >= threshold]
    kept.sort(key=lambda pk: (-scores[pk], -len(candidates[pk].rewrites), pk))
    baseline = set(baseline_top)
    return [CuratedPair(product_pk=pk, score=float(scores[pk]), incremental=pk not in baseline,
                        found_by_original=candidates[pk].found_by_original,
                        rewrites=tuple(candidates[pk].rewrites)) for pk in kept[:cap]]


def curate_query(*, query_pk: int, query_text: str, rewrites: Sequence[str], retrieve_many: RetrieveMany,
                 judge_products: JudgeProducts, baseline_top: Collection[int], logged: Collection[int],
                 settings: CurationSettings) -> QueryCuration:
    """Run the pipeline for one query (see the module docstring) and say what it kept and why."""
    results = retrieve_many([query_text, *rewrites], settings.retrieve_k)
    by_rewrite = dict(zip(rewrites, results[1:]))
    candidates = union_candidates(original=results[0], by_rewrite=by_rewrite)
    logged = set(logged) if settings.drop_logged else set()
    to_judge = [pk for pk in candidates if pk not in logged]
    scores = dict(zip(to_judge, judge_products(query_text, to_judge))) if to_judge else {}
    pairs = select_pairs(candidates=candidates, scores=scores, baseline_top=baseline_top,
                         threshold=settings.threshold, cap=settings.max_pairs_per_query)
    rejected = [(pk, float(scores[pk])) for pk in to_judge if scores[pk] < settings.threshold]
    kept_per_rewrite = {rewrite: 0 for rewrite in rewrites}
    for pair in pairs:
        for rewrite in pair.rewrites:
            kept_per_rewrite[rewrite] += 1
    return QueryCuration(
        query_pk=query_pk, rewrites=list(rewrites),
        retrieved_per_rewrite={rewrite: len(set(pks)) for rewrite, pks in by_rewrite.items()},
        kept_per_rewrite=kept_per_rewrite, candidates=len(candidates), judged=len(to_judge),
        dropped_logged=len(candidates) - len(to_judge), pairs=pairs, rejected=rejected[:settings.hard_negatives])


# --- the real retriever and logs behind the callables ------------------------------------------------------------

def version_retrieve_many(version) -> RetrieveMany:
    """`retrieve_many(texts, k)` over a built retriever version, as product pks best first."""
    from retrieval.search import retrieve_many

    def run(texts: Sequence[str], k: int) -> list[list[int]]:
        return [[hit.product_id for hit in hits] for hits in retrieve_many(version, list(texts), k)]

    return run


def logged_products(query_pks: Sequence[int]) -> dict[int, set[int]]:
    """Products each query already has as a log positive (a click or a purchase)."""
    from django.db.models import Q

    from retrieval.models import Interaction

    logged: dict[int, set[int]] = {pk: set() for pk in query_pks}
    for q, p in Interaction.objects.filter(query_id__in=list(query_pks)).filter(
            Q(clicks__gt=0) | Q(purchases__gt=0)).values_list("query_id", "product_id"):
        logged[q].add(p)
    return logged

