"""Named sources of (query, product) training pairs for the two-tower retriever: the "extra pairs door".

The behavioural logs are the built-in source `logs`. Another app adds its own source at start-up, e.g. the
synthesis app in its `AppConfig.ready()`:

    from retrieval.pair_sources import register_pair_source
    register_pair_source("synthetic", synthetic_pairs)   # fn(dataset, **params) -> Iterable[(query_pk, product_pk, weight)]

A version's training config names the sources it mixes in, each with its params and (optionally) a ratio, the
share of training examples drawn from that source:

    {"extra_sources": [{"name": "synthetic", "params": {"job_ids": [3]}, "ratio": 0.5}]}
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from django.db.models import Q

PairSourceFn = Callable[..., Iterable[tuple[int, int, float]]]
LOGS = "logs"
_registry: dict[str, PairSourceFn] = {}


class UnknownPairSource(KeyError):
    def __str__(self) -> str:  # KeyError quotes its message; say it plainly
        return self.args[0]


class InvalidPairs(ValueError):
    """A source returned pairs that do not belong to the data set, or a bad weight."""


def register_pair_source(name: str, fn: PairSourceFn, *, replace: bool = True) -> None:
    """Register `fn(dataset, **params) -> Iterable[(query_pk, product_pk, weight)]` under `name`.

    Registering the same function again is harmless (apps may be readied more than once in tests); a different
    function under a taken name needs `replace=True` (the default), except for the built-in `logs`.
    """
    if not name or not name.replace("_", "").replace("-", "").isalnum():
        raise ValueError(f"Pair source name {name!r} must be a short slug (letters, digits, - and _).")
    if name == LOGS and fn is not log_pairs:
        raise ValueError("The 'logs' pair source is built in and cannot be replaced.")
    if not replace and name in _registry and _registry[name] is not fn:
        raise ValueError(f"A pair source named {name!r} is already registered.")
    _registry[name] = fn


def unregister_pair_source(name: str) -> None:
    if name != LOGS:
        _registry.pop(name, None)


def registered_pair_sources() -> list[str]:
    return sorted(_registry)


def get_pair_source(name: str) -> PairSourceFn:
    try:
        return _registry[name]
    except KeyError:
        raise UnknownPairSource(
            f"No pair source named {name!r}; registered sources: {', '.join(registered_pair_sources()) or 'none'}. "
            "An app registers its source with retrieval.pair_sources.register_pair_source() in its AppConfig.ready()."
        ) from None


def log_pairs(dataset, *, click_weight: float = 1.0, purchase_weight: float = 3.0,
              **_ignored: Any) -> Iterable[tuple[int, int, float]]:
    """Positives from the behavioural logs: every (query, product) with a click or a purchase, weighted by
    `click_weight * clicks + purchase_weight * purchases`."""
    from .models import Interaction

    rows = (
        Interaction.objects.filter(query__dataset=dataset)
        .filter(Q(clicks__gt=0) | Q(purchases__gt=0))
        .order_by("query_id", "product_id")
        .values_list("query_id", "product_id", "clicks", "purchases")
    )
    for query_pk, product_pk, clicks, purchases in rows.iterator(chunk_size=5000):
        weight = click_weight * clicks + purchase_weight * purchases
        if weight > 0:
            yield query_pk, product_pk, float(weight)


register_pair_source(LOGS, log_pairs)


@dataclass
class SourcePairs:
    """The pairs one source gave for one data set, validated and de-duplicated (weights of duplicates add up)."""

    name: str
    params: dict
    ratio: float | None
    pairs: dict[tuple[int, int], float] = field(default_factory=dict)
    per_pair: float | None = None  # examples per pair added on top of the budget (exclusive with ratio)

    @property
    def count(self) -> int:
        return len(self.pairs)


def collect_pairs(*, dataset, name: str, params: dict | None = None, ratio: float | None = None,
                  per_pair: float | None = None) -> SourcePairs:
    """Run one source and check that every pair belongs to `dataset` and has a positive weight."""
    from .models import Product, Query

    params = dict(params or {})
    if ratio is not None and not (0 <= float(ratio) < 1):
        raise ValueError(f"Pair source {name!r}: ratio must be in [0, 1), got {ratio!r}.")
    fn = get_pair_source(name)
    collected = SourcePairs(name=name, params=params, ratio=None if ratio is None else float(ratio),
                            per_pair=None if per_pair is None else float(per_pair))
    for row in fn(dataset, **params):
        try:
            query_pk, product_pk, weight = int(row[0]), int(row[1]), float(row[2])
        except (TypeError, ValueError, IndexError) as exc:
            raise InvalidPairs(f"Pair source {name!r} gave {row!r}; expected (query_pk, product_pk, weight).") from exc
        if weight <= 0:
            continue
        key = (query_pk, product_pk)
        collected.pairs[key] = collected.pairs.get(key, 0.0) + weight
    if collected.pairs:
        query_pks = {q for q, _ in collected.pairs}
        product_pks = {p for _, p in collected.pairs}
        known_queries = set(Query.objects.filter(dataset=dataset, pk__in=query_pks).values_list("pk", flat=True))
        known_products = set(Product.objects.filter(dataset=dataset, pk__in=product_pks).values_list("pk", flat=True))
        stray = [(q, p) for q, p in collected.pairs if q not in known_queries or p not in known_products]
        if stray:
            raise InvalidPairs(
                f"Pair source {name!r} gave {len(stray)} pair(s) outside data set {dataset.name!r}, "
                f"e.g. (query pk, product pk) {stray[:3]}."
            )
    return collected
