"""The two-tower retriever's loss: softmax / InfoNCE with a temperature over in-batch, random and hard negatives.

What it optimises: for a query q with positive product p⁺ and the batch's other products (every other row's
positive and every row's explicit negatives) as negatives,

    loss(q) = -log( exp(s(q, p⁺)/τ) / Σ_p exp(s(q, p)/τ) ),     s = cosine similarity, τ = temperature

This is the sampled-softmax objective of MGDSPR (arXiv 2106.09297) and of DPR / CPC (InfoNCE). We use the
library's implementation, sentence-transformers' `MultipleNegativesRankingLoss` (or its gradient-cached variant
for large batches on small memory), with `scale = 1/τ`.

Inputs: rows of (query text, positive product text, negative product text ...). The loss treats every
product in the batch except a row's own positive as a negative for that row, so a product that is a *known*
positive of that query (a second clicked product, a synthetic pair) would be a false negative. The loss cannot
see that, so `FalseNegativeFreeBatchSampler` builds batches in which it never happens: no query twice, and no
product that is a known positive of another row's query. Explicit negatives are drawn outside each query's
known positives before training (see training.py).
"""
from __future__ import annotations

from typing import Iterator, Mapping, Sequence

LOSSES = ("mnrl", "cached_mnrl")


def retriever_loss(model, *, temperature: float, kind: str = "mnrl", mini_batch_size: int = 32):
    """The InfoNCE loss over in-batch + explicit negatives with temperature `temperature` (scale = 1/τ)."""
    from sentence_transformers.sentence_transformer.losses import (
        CachedMultipleNegativesRankingLoss,
        MultipleNegativesRankingLoss,
    )

    if not 0 < float(temperature) <= 1:
        raise ValueError(f"Temperature must be in (0, 1], got {temperature!r}.")
    scale = 1.0 / float(temperature)
    if kind == "mnrl":
        return MultipleNegativesRankingLoss(model, scale=scale)
    if kind == "cached_mnrl":
        return CachedMultipleNegativesRankingLoss(model, scale=scale, mini_batch_size=int(mini_batch_size))
    raise ValueError(f"Unknown loss {kind!r}; choose one of {LOSSES}.")


def false_negative_free_batches(
    order: Sequence[int],
    *,
    batch_size: int,
    example_queries: Sequence[int],
    example_products: Sequence[Sequence[int]],
    known_positives: Mapping[int, set[int]],
) -> list[list[int]]:
    """Group example indices (in `order`) into batches where no row's in-batch negative is a known positive.

    An example joins the open batch unless its query is already there, one of its products is a known positive
    of a query already there, or a product already there is a known positive of its query; such an example
    waits for a later batch. Every batch is full except possibly the last.
    """
    batches: list[list[int]] = []
    batch: list[int] = []
    batch_queries: set[int] = set()
    batch_products: set[int] = set()
    forbidden: set[int] = set()  # known positives of the queries in the open batch
    remaining = list(order)
    while remaining:
        waiting: list[int] = []
        added = 0
        for idx in remaining:
            query = example_queries[idx]
            products = example_products[idx]
            positives = known_positives.get(query, set())
            if (
                query in batch_queries
                or any(p in forbidden for p in products)
                or not positives.isdisjoint(batch_products)
            ):
                waiting.append(idx)
                continue
            batch.append(idx)
            added += 1
            batch_queries.add(query)
            batch_products.update(products)
            forbidden |= positives
            if len(batch) == batch_size:
                batches.append(batch)
                batch, batch_queries, batch_products, forbidden = [], set(), set(), set()
        if waiting and added == 0:
            # Nothing more fits the open batch: close it; an empty batch accepts any example.
            batches.append(batch)
            batch, batch_queries, batch_products, forbidden = [], set(), set(), set()
        remaining = waiting
    if batch:
        batches.append(batch)
    return batches


def false_negative_free_sampler_class():
    """The batch sampler class (built lazily so that importing this module does not import torch)."""
    from sentence_transformers.base.sampler import DefaultBatchSampler

    class FalseNegativeFreeBatchSampler(DefaultBatchSampler):
        """A sentence-transformers batch sampler over `false_negative_free_batches`, reshuffled per epoch."""

        def __init__(self, dataset, *, batch_size: int, drop_last: bool, example_queries, example_products,
                     known_positives, valid_label_columns=None, generator=None, seed: int = 0, shuffle: bool = True):
            super().__init__(dataset, batch_size=batch_size, drop_last=drop_last,
                             valid_label_columns=valid_label_columns, generator=generator, seed=seed)
            if len(example_queries) != len(dataset) or len(example_products) != len(dataset):
                raise ValueError("The sampler needs the query and products of every training example.")
            self.example_queries = example_queries
            self.example_products = example_products
            self.known_positives = known_positives
            self.shuffle = shuffle
            self._batches: dict[int, list[list[int]]] = {}

        def batches_for_epoch(self, epoch: int) -> list[list[int]]:
            if epoch not in self._batches:
                import numpy as np

                count = len(self.example_queries)
                order = (np.random.default_rng(self.seed + epoch).permutation(count) if self.shuffle
                         else np.arange(count)).tolist()
                self._batches = {epoch: false_negative_free_batches(
                    order,
                    batch_size=self.batch_size,
                    example_queries=self.example_queries,
                    example_products=self.example_products,
                    known_positives=self.known_positives,
                )}
            return self._batches[epoch]

        def __iter__(self) -> Iterator[list[int]]:
            yield from self.batches_for_epoch(self.epoch)

        def __len__(self) -> int:
            return len(self.batches_for_epoch(self.epoch))

    return FalseNegativeFreeBatchSampler
