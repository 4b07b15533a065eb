"""The two-tower retriever's loss: softmax / InfoNCE with a temperature over in-batch, random and hard negatives,
with false-negative masking.

What it optimises: for a query q with positive product p⁺ and the batch's other products (every other row's
positive and every row's explicit negatives) as negatives N(q),

    loss(q) = -log( exp(s(q, p⁺)/τ) / (exp(s(q, p⁺)/τ) + Σ_{p ∈ N(q), p ∉ K(q)} exp(s(q, p)/τ)) )

with s the cosine similarity, τ the temperature (scale = 1/τ) and K(q) the query's *known positives* (its other
clicked or bought products, extra-source pairs, `train` labels of grade >= 2). Leaving K(q) out of the
denominator is the false-negative masking: a product we know is relevant to q is never pushed away from it,
even when it sits in the batch as another row's positive. This is the sampled-softmax objective of MGDSPR
(arXiv 2106.09297) and InfoNCE (arXiv 1807.03748).

These are sentence-transformers' `MultipleNegativesRankingLoss` and its gradient-cached variant (GradCache,
arXiv 2101.06983; large batches in small memory) with only the score matrix masked; the library owns the
embedding, caching and training loop.

Inputs: columns (anchor, positive, negative_1, ..., negative_n) and a `label` column holding each row's example
index, so that the loss can look up the row's query and the products of every column.
"""
from __future__ import annotations

from typing import Mapping, Sequence

LOSSES = ("mnrl", "cached_mnrl")


class FalseNegativeMask:
    """For a batch (given by example indices), which (row, column) scores are a known positive of the row's query."""

    def __init__(self, *, example_queries: Sequence[int], example_products: Sequence[Sequence[int]],
                 known_positives: Mapping[int, set[int]]):
        if len(example_queries) != len(example_products):
            raise ValueError("One query and one product tuple per training example are needed.")
        self.example_queries = example_queries
        self.example_products = example_products
        self.known_positives = known_positives

    def __call__(self, labels):
        """A (batch, batch * columns) bool tensor; columns are laid out as the loss concatenates them: every row's
        positive, then every row's first negative, and so on. A row's own positive is never masked."""
        import torch

        if labels is None:
            raise ValueError("The masked loss needs each row's example index in a `label` column.")
        rows = [int(i) for i in labels.tolist()]
        size = len(rows)
        columns = len(self.example_products[rows[0]])
        column_products = [self.example_products[rows[r]][k] for k in range(columns) for r in range(size)]
        mask = torch.zeros((size, size * columns), dtype=torch.bool, device=labels.device)
        for i, example in enumerate(rows):
            known = self.known_positives.get(self.example_queries[example], ())
            if not known:
                continue
            for c, product in enumerate(column_products):
                if c != i and product in known:
                    mask[i, c] = True
        return mask


def masked_infonce(queries, docs_all, *, targets, scale: float, mask):
    """Cross-entropy of each query row over all candidate columns, masked columns left out of the softmax."""
    import torch.nn.functional as F
    from sentence_transformers.util import cos_sim

    scores = cos_sim(queries, docs_all) * scale
    if mask is not None:
        scores = scores.masked_fill(mask, float("-inf"))
    return F.cross_entropy(scores, targets)


def masked_loss_classes():
    """The loss classes (built lazily so that importing this module does not import torch)."""
    import torch
    from sentence_transformers.sentence_transformer.losses import (
        CachedMultipleNegativesRankingLoss,
        MultipleNegativesRankingLoss,
    )

    class MaskedMultipleNegativesRankingLoss(MultipleNegativesRankingLoss):
        """MultipleNegativesRankingLoss whose in-batch and explicit negatives exclude the query's known positives."""

        def __init__(self, model, *, scale: float, false_negatives: FalseNegativeMask):
            super().__init__(model, scale=scale)
            self.false_negatives = false_negatives

        def compute_loss_from_embeddings(self, embeddings, labels):
            queries, docs = embeddings[0], embeddings[1:]
            targets = torch.arange(len(queries), device=queries.device)
            return masked_infonce(queries, torch.cat(docs), targets=targets, scale=self.scale,
                                  mask=self.false_negatives(labels))

    class CachedMaskedMultipleNegativesRankingLoss(CachedMultipleNegativesRankingLoss):
        """The gradient-cached variant: the same masked loss, computed over mini-batches of query rows."""

        def __init__(self, model, *, scale: float, mini_batch_size: int, false_negatives: FalseNegativeMask):
            super().__init__(model, scale=scale, mini_batch_size=mini_batch_size)
            self.false_negatives = false_negatives

        def calculate_loss(self, reps, labels=None, *, with_backward: bool = False):
            queries = torch.cat(reps[0])
            docs_all = torch.cat([torch.cat(r) for r in reps[1:]])
            mask = self.false_negatives(labels)
            size = len(queries)
            losses = []
            for begin in range(0, size, self.mini_batch_size):
                end = min(begin + self.mini_batch_size, size)
                targets = torch.arange(begin, end, device=queries.device)
                chunk = masked_infonce(queries[begin:end], docs_all, targets=targets, scale=self.scale,
                                       mask=mask[begin:end]) * (end - begin) / size
                if with_backward:
                    chunk.backward()
                    chunk = chunk.detach()
                losses.append(chunk)
            return sum(losses)

    return MaskedMultipleNegativesRankingLoss, CachedMaskedMultipleNegativesRankingLoss


def retriever_loss(model, *, temperature: float, false_negatives: FalseNegativeMask, kind: str = "mnrl",
                   mini_batch_size: int = 32):
    """The masked InfoNCE loss over in-batch + explicit negatives with temperature `temperature` (scale = 1/τ)."""
    if not 0 < float(temperature) <= 1:
        raise ValueError(f"Temperature must be in (0, 1], got {temperature!r}.")
    plain, cached = masked_loss_classes()
    scale = 1.0 / float(temperature)
    if kind == "mnrl":
        return plain(model, scale=scale, false_negatives=false_negatives)
    if kind == "cached_mnrl":
        return cached(model, scale=scale, mini_batch_size=int(mini_batch_size), false_negatives=false_negatives)
    raise ValueError(f"Unknown loss {kind!r}; choose one of {LOSSES}.")
