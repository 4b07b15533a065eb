"""Soft-label training triples for a dense version: (query, positive, negative, teacher margin), trained with
sentence-transformers' `MarginMSELoss` beside the version's InfoNCE examples (GPL-style distillation: the student
learns how much better the teacher finds one product than another, not only which one is kept).

An app registers a margin source as it registers a pair source, in its AppConfig.ready():

    # fn(dataset, **params) -> Iterable[(query_pk, positive_pk, negative_pk, margin)]
    register_margin_source("synthetic-margins", fn)

and a version asks for it in its config:

    {"margin_sources": [{"name": "synthetic-margins", "params": {"job_ids": [3]}, "per_triple": 1.0}]}

The triples are ADDED to the version's log examples (`per_triple` examples per triple per epoch, like an extra
pair source's `per_pair`): the logs keep every example they would have without them.
"""
from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from .pair_sources import InvalidPairs

MarginSourceFn = Callable[..., Iterable[tuple[int, int, int, float]]]
_SOURCES: dict[str, MarginSourceFn] = {}


def register_margin_source(name: str, fn: MarginSourceFn) -> None:
    _SOURCES[name] = fn


def get_margin_source(name: str) -> MarginSourceFn:
    if name not in _SOURCES:
        raise ValueError(f"No margin source named {name!r}; registered: {', '.join(sorted(_SOURCES)) or 'none'}. "
                         "An app registers one with retrieval.margin_sources.register_margin_source().")
    return _SOURCES[name]


@dataclass
class MarginSet:
    """The soft-label examples of one build: parallel lists, already repeated for the epochs and shuffled."""

    query_pks: list[int] = field(default_factory=list)
    positive_pks: list[int] = field(default_factory=list)
    negative_pks: list[int] = field(default_factory=list)
    margins: list[float] = field(default_factory=list)
    manifest: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.margins)


def collect_triples(*, dataset, name: str, params: dict | None = None) -> list[tuple[int, int, int, float]]:
    """Run one margin source; every triple must lie in `dataset` (duplicates keep their first margin)."""
    from .models import Product, Query

    triples: dict[tuple[int, int, int], float] = {}
    for row in get_margin_source(name)(dataset, **(params or {})):
        try:
            key, margin = (int(row[0]), int(row[1]), int(row[2])), float(row[3])
        except (TypeError, ValueError, IndexError) as exc:
            raise InvalidPairs(f"Margin source {name!r} gave {row!r}; expected (query_pk, positive_pk, "
                               "negative_pk, margin).") from exc
        if key[1] != key[2]:
            triples.setdefault(key, margin)
    queries = {q for q, _, _ in triples}
    products = {p for _, pos, neg in triples for p in (pos, neg)}
    known_queries = set(Query.objects.filter(dataset=dataset, pk__in=queries).values_list("pk", flat=True))
    known_products = set(Product.objects.filter(dataset=dataset, pk__in=products).values_list("pk", flat=True))
    stray = [t for t in triples if t[0] not in known_queries or {t[1], t[2]} - known_products]
    if stray:
        raise InvalidPairs(f"Margin source {name!r} gave {len(stray)} triple(s) outside data set {dataset.name!r}, "
                           f"e.g. {stray[:3]}.")
    return [(*key, margin) for key, margin in triples.items()]


def margin_set_build(*, dataset, sources: list[dict], seed: int, epochs: int = 1) -> MarginSet:
    """Sample `per_triple` examples per triple of each source (with replacement above 1), repeat for `epochs`."""
    rng = random.Random(seed)
    rows: list[tuple[int, int, int, float]] = []
    manifest: dict = {}
    for source in sources:
        triples = sorted(collect_triples(dataset=dataset, name=source["name"], params=source.get("params")))
        count = round(float(source.get("per_triple", 1.0)) * len(triples))
        whole, rest = divmod(count, len(triples)) if triples else (0, 0)
        chosen = triples * whole + rng.sample(triples, rest)
        manifest[source["name"]] = {"triples": len(triples), "examples": len(chosen),
                                    "per_triple": source.get("per_triple", 1.0)}
        rows.extend(chosen)
    rows = rows * max(1, int(epochs))
    rng.shuffle(rows)
    return MarginSet(query_pks=[r[0] for r in rows], positive_pks=[r[1] for r in rows],
                     negative_pks=[r[2] for r in rows], margins=[r[3] for r in rows], manifest=manifest)
