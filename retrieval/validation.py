"""Early stopping for dense training: a seeded validation split of `train` labels, measured after every epoch.

The split is up to `size` queries that have a relevant `train` label (grade >= 2), their labelled products and
`distractors` other products of the catalogue (seeded), scored by sentence-transformers'
`InformationRetrievalEvaluator` (nDCG@10 over that corpus). `train` labels are never training examples (the
examples come from the logs and named sources), so the split is held out by construction; `test` labels are
never read here.
"""
from __future__ import annotations

import random
from dataclasses import dataclass

RELEVANT_GRADE = 2
METRIC = "cosine_ndcg@10"


@dataclass(frozen=True)
class ValidationSplit:
    queries: dict[int, str]            # query pk -> text
    relevant: dict[int, set[int]]      # query pk -> relevant product pks
    corpus: list[int]                  # product pks scored: labelled products + distractors

    def describe(self) -> dict:
        return {"queries": len(self.queries), "corpus": len(self.corpus), "labels": "train (grade >= 2)",
                "metric": f"nDCG@10 over the split's corpus"}


def validation_split(*, dataset, size: int, distractors: int, seed: int) -> ValidationSplit:
    """Up to `size` seeded queries with a relevant `train` label, and the corpus to rank for them."""
    from .models import Product, Qrel

    rows = Qrel.objects.filter(query__dataset=dataset, split=Qrel.Split.TRAIN).values_list(
        "query_id", "query__text", "product_id", "grade")
    texts: dict[int, str] = {}
    labelled: dict[int, dict[int, int]] = {}
    for query_pk, text, product_pk, grade in rows.iterator(chunk_size=5000):
        texts[query_pk] = text
        labelled.setdefault(query_pk, {})[product_pk] = grade
    candidates = sorted(q for q, grades in labelled.items() if max(grades.values()) >= RELEVANT_GRADE)
    if not candidates:
        raise ValueError(f"Data set {dataset.name!r} has no relevant `train` labels to stop training early on; "
                         "turn early stopping off or import train labels.")
    rng = random.Random(f"validation-{seed}")
    chosen = sorted(rng.sample(candidates, min(size, len(candidates))))
    corpus = {p for q in chosen for p in labelled[q]}
    others = sorted(set(Product.objects.filter(dataset=dataset).values_list("pk", flat=True)) - corpus)
    corpus |= set(rng.sample(others, min(distractors, len(others))))
    return ValidationSplit(queries={q: texts[q] for q in chosen},
                           relevant={q: {p for p, g in labelled[q].items() if g >= RELEVANT_GRADE} for q in chosen},
                           corpus=sorted(corpus))


def split_evaluator(split: ValidationSplit, *, product_texts: dict[int, str], batch_size: int = 64):
    """The split as an `InformationRetrievalEvaluator` named "validation" (its primary metric: `METRIC`)."""
    from sentence_transformers.sentence_transformer.evaluation import InformationRetrievalEvaluator

    return InformationRetrievalEvaluator(
        queries={str(q): text for q, text in split.queries.items()},
        corpus={str(p): product_texts[p] for p in split.corpus},
        relevant_docs={str(q): {str(p) for p in pks} for q, pks in split.relevant.items()},
        ndcg_at_k=[10], mrr_at_k=[10], accuracy_at_k=[10], precision_recall_at_k=[10], map_at_k=[10],
        batch_size=batch_size, name="validation", write_csv=False, main_score_function="cosine")
