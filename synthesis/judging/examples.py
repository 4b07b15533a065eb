"""Training data for the cross-encoder judge: labelled (query, product) examples from `train` qrels and the logs
(never from `test` qrels), the split by query, and extra labelled pairs (e.g. SBS marks) added on the training side."""
from __future__ import annotations

import json
import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class JudgeExample:
    query_pk: int
    product_pk: int
    label: float
    source: str  # qrel | click | unclicked | random | sbs (extra labelled pairs)
    weight: float = 1.0  # how much the example counts in training (extra pairs carry annotator-quality weights)


def judge_training_examples(*, dataset, negatives_per_positive: int = 3, seed: int = 13) -> list[JudgeExample]:
    """Labelled (query, product) pairs from `train` qrels and the logs; never from `test` qrels.

    A qrel gives grade / 3. A clicked logged pair gives 1. For each query with positives, up to
    `negatives_per_positive` negatives per positive: logged-but-unclicked products first, then random
    catalogue products. A qrel overrides the log for the same pair.
    """
    from retrieval.models import Interaction, Product, Qrel

    rng = random.Random(seed)
    labelled: dict[tuple[int, int], JudgeExample] = {}
    for q, p, grade in Qrel.objects.filter(query__dataset=dataset, split=Qrel.Split.TRAIN).values_list(
            "query_id", "product_id", "grade").order_by("query_id", "product_id"):
        labelled[(q, p)] = JudgeExample(q, p, grade / 3, "qrel")
    unclicked: dict[int, list[int]] = defaultdict(list)
    positives: dict[int, int] = defaultdict(int)
    for q, p, clicks in Interaction.objects.filter(query__dataset=dataset).values_list(
            "query_id", "product_id", "clicks").order_by("query_id", "product_id"):
        if (q, p) in labelled:
            continue
        if clicks > 0:
            labelled[(q, p)] = JudgeExample(q, p, 1.0, "click")
        else:
            unclicked[q].append(p)
    negatives: dict[int, int] = defaultdict(int)
    for example in labelled.values():
        if example.label >= 0.5:
            positives[example.query_pk] += 1
        else:
            negatives[example.query_pk] += 1
    product_pks = list(Product.objects.filter(dataset=dataset).values_list("pk", flat=True).order_by("pk"))
    for q, n_pos in sorted(positives.items()):
        wanted = n_pos * negatives_per_positive - negatives[q]
        pool = [p for p in unclicked.get(q, []) if (q, p) not in labelled]
        rng.shuffle(pool)
        for p in pool[:max(0, wanted)]:
            labelled[(q, p)] = JudgeExample(q, p, 0.0, "unclicked")
        wanted -= min(len(pool), max(0, wanted))
        tries, max_tries = 0, wanted * 10
        while wanted > 0 and product_pks and tries < max_tries:
            tries += 1
            p = rng.choice(product_pks)
            if (q, p) not in labelled:
                labelled[(q, p)] = JudgeExample(q, p, 0.0, "random")
                wanted -= 1
    return sorted(labelled.values(), key=lambda e: (e.query_pk, e.product_pk))


def split_by_query(examples: Sequence[JudgeExample], *, validation_share: float,
                   seed: int = 13) -> tuple[list[JudgeExample], list[JudgeExample]]:
    """(train, validation), whole queries on one side so validation measures unseen queries."""
    if not 0 <= validation_share < 1:
        raise ValueError("validation_share must be in [0, 1)")
    queries = sorted({e.query_pk for e in examples})
    random.Random(seed).shuffle(queries)
    held = set(queries[:round(len(queries) * validation_share)])
    return [e for e in examples if e.query_pk not in held], [e for e in examples if e.query_pk in held]


def read_extra_examples(path: str | Path) -> list[JudgeExample]:
    """Extra labelled pairs from a JSONL file, one `{"query_pk", "product_pk", "label", "weight", "source"}` a line
    (written e.g. by `sbsapp.auto.closed_loop` from SBS per-product marks)."""
    examples = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                example = JudgeExample(int(row["query_pk"]), int(row["product_pk"]), float(row["label"]),
                                       str(row.get("source", "extra")), float(row.get("weight", 1.0)))
            except (ValueError, KeyError, TypeError) as exc:
                raise ValueError(f"{path}:{number}: not an extra labelled pair ({exc})") from exc
            if not 0 <= example.label <= 1 or example.weight <= 0:
                raise ValueError(f"{path}:{number}: label must be in [0, 1] and weight > 0")
            examples.append(example)
    return examples


def add_extra_examples(*, train: Sequence[JudgeExample], validation: Sequence[JudgeExample],
                       extra: Sequence[JudgeExample]) -> tuple[list[JudgeExample], dict]:
    """The training side with extra labelled pairs added; validation is left exactly as it was.

    An extra pair on a validation query is dropped (validation must stay unseen, and the same held-out set as a
    judge trained without extras). A pair a `train` qrel already labels keeps the qrel; an extra pair replaces a
    label derived from the logs (click / unclicked / random). Returns (train, counts).
    """
    held_out = {e.query_pk for e in validation}
    merged = {(e.query_pk, e.product_pk): e for e in train}
    counts = {"extra": len(extra), "added": 0, "replaced_log_label": 0, "kept_qrel": 0, "on_validation_queries": 0}
    for example in extra:
        key = (example.query_pk, example.product_pk)
        if example.query_pk in held_out:
            counts["on_validation_queries"] += 1
        elif key in merged and merged[key].source == "qrel":
            counts["kept_qrel"] += 1
        else:
            counts["replaced_log_label" if key in merged else "added"] += 1
            merged[key] = example
    return sorted(merged.values(), key=lambda e: (e.query_pk, e.product_pk)), counts

