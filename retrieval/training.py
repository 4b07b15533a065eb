"""Two-tower training data and training: positives from the logs (and named extra sources), weighted sampling,
random and hard negatives that are never a known positive of their query, then sentence-transformers training.

`training_set_build` is deterministic for a seed; `train_encoder` hands the examples and the masked InfoNCE loss
(losses.py, which never treats a known positive of a query as its negative) to `SentenceTransformerTrainer`.
"""
from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from core.devices import all_cores, resolve_device

from .pair_sources import LOGS, SourcePairs, collect_pairs

MAX_NEGATIVE_TRIES = 100


@dataclass
class TrainingSet:
    """Training examples: example i is (query_pks[i], positive_pks[i], negative_pks[i] ...), from sources[i]."""

    query_pks: list[int]
    positive_pks: list[int]
    negative_pks: list[list[int]]
    sources: list[str]
    known_positives: dict[int, set[int]]
    manifest: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.query_pks)

    def example_products(self) -> list[tuple[int, ...]]:
        return [(p, *n) for p, n in zip(self.positive_pks, self.negative_pks)]


def known_positive_map(*, dataset, sources: list[SourcePairs], include_train_qrels: bool) -> dict[int, set[int]]:
    """Every product we know is relevant to a query: pairs of any source, plus `train` labels of grade >= 2.

    `test` labels never enter here (nor anywhere in training).
    """
    from .models import Qrel

    known: dict[int, set[int]] = {}
    for source in sources:
        for query_pk, product_pk in source.pairs:
            known.setdefault(query_pk, set()).add(product_pk)
    if include_train_qrels:
        rows = Qrel.objects.filter(query__dataset=dataset, split=Qrel.Split.TRAIN, grade__gte=2)
        for query_pk, product_pk in rows.values_list("query_id", "product_id").iterator(chunk_size=5000):
            known.setdefault(query_pk, set()).add(product_pk)
    return known


def examples_per_source(sources: list[SourcePairs], samples_per_epoch: int | None) -> dict[str, int]:
    """How many examples each source contributes per epoch.

    A source with a `ratio` supplies that share of all examples; the others share the rest in proportion to
    their pair counts. Without `samples_per_epoch`, the sources without a ratio keep their natural pair counts
    and the total follows from the ratios. A source with `per_pair` stays out of that budget and adds
    `per_pair` examples per pair on top of it, so the other sources keep exactly what they would have without it
    (the synthetic data is added, never substituted).
    """
    added = {s.name: round(s.per_pair * s.count) for s in sources if s.per_pair is not None}
    counts = examples_in_budget([s for s in sources if s.per_pair is None], samples_per_epoch)
    return {**counts, **added}


def examples_in_budget(sources: list[SourcePairs], samples_per_epoch: int | None) -> dict[str, int]:
    ratio_sum = sum(s.ratio for s in sources if s.ratio is not None)
    if ratio_sum >= 1:
        raise ValueError(f"The extra sources' ratios add up to {ratio_sum:.2f}; they must leave room for the logs (< 1).")
    free = [s for s in sources if s.ratio is None]
    free_pairs = sum(s.count for s in free)
    if samples_per_epoch:
        total = int(samples_per_epoch)
    elif free_pairs:
        total = round(free_pairs / (1 - ratio_sum))
    else:  # only ratio sources, e.g. a synthetic-only run: each keeps its natural count
        return {s.name: s.count for s in sources}
    counts = {s.name: round(total * s.ratio) for s in sources if s.ratio is not None}
    remaining = total - sum(counts.values())
    for s in free:
        counts[s.name] = round(remaining * s.count / free_pairs) if free_pairs else 0
    for s in sources:
        if counts[s.name] and not s.count:
            raise ValueError(f"Pair source {s.name!r} has a ratio but gave no pairs for this data set.")
    return counts


def weighted_sample(rng, source: SourcePairs, size: int) -> list[tuple[int, int]]:
    """`size` pairs drawn with replacement, each with probability proportional to its weight (clicks, purchases)."""
    import numpy as np

    if size <= 0 or not source.pairs:
        return []
    keys = sorted(source.pairs)
    weights = np.array([source.pairs[k] for k in keys], dtype=np.float64)
    chosen = rng.choice(len(keys), size=size, replace=True, p=weights / weights.sum())
    return [keys[i] for i in chosen]


def random_negative(rng, catalogue_pks, excluded: set[int]) -> int:
    for _ in range(MAX_NEGATIVE_TRIES):
        candidate = int(catalogue_pks[rng.integers(len(catalogue_pks))])
        if candidate not in excluded:
            return candidate
    allowed = [int(p) for p in catalogue_pks if int(p) not in excluded]
    if not allowed:
        raise ValueError("Every product in the catalogue is a known positive of a query: no negative can be drawn.")
    return allowed[int(rng.integers(len(allowed)))]


def training_set_build(
    *,
    dataset,
    config: dict,
    seed: int,
    progress: Callable[[int, int], None] | None = None,
) -> TrainingSet:
    """Collect pairs by source, sample examples (weighted, mixed by ratio, `epochs` times) and draw negatives."""
    import numpy as np

    from .models import Product

    rng = np.random.default_rng(seed)
    sources = [collect_pairs(dataset=dataset, name=LOGS, params={
        "click_weight": config["click_weight"], "purchase_weight": config["purchase_weight"]})]
    for spec in config.get("extra_sources") or []:
        sources.append(collect_pairs(dataset=dataset, name=spec["name"], params=spec.get("params"),
                                     ratio=spec.get("ratio"), per_pair=spec.get("per_pair")))
    if not any(s.count for s in sources):
        raise ValueError(
            f"No training pairs for data set {dataset.name!r}: no clicked or purchased (query, product) in the logs "
            "and no extra source pairs. Import interactions, add an extra source, or build a zero-shot version "
            '("train": false).'
        )
    known = known_positive_map(dataset=dataset, sources=sources, include_train_qrels=config["mask_train_qrels"])
    per_source = examples_per_source(sources, config.get("samples_per_epoch"))
    epochs = int(config["epochs"])
    examples: list[tuple[int, int, str]] = []
    for source in sources:
        for query_pk, product_pk in weighted_sample(rng, source, per_source[source.name] * epochs):
            examples.append((query_pk, product_pk, source.name))
    order = rng.permutation(len(examples))
    examples = [examples[i] for i in order]

    catalogue_pks = np.fromiter(Product.objects.filter(dataset=dataset).order_by("pk").values_list("pk", flat=True),
                                dtype=np.int64)
    negatives: list[list[int]] = [[] for _ in examples]
    for i, (query_pk, _, _) in enumerate(examples):
        excluded = known.get(query_pk, set())
        negatives[i] = [random_negative(rng, catalogue_pks, excluded) for _ in range(int(config["random_negatives"]))]
        if progress and i % 1000 == 0:
            progress(i, len(examples))

    hard = config.get("hard_negatives") or None
    hard_stats = {}
    if hard:
        hard_stats = add_hard_negatives(examples=examples, negatives=negatives, known=known, config=hard,
                                        catalogue_pks=catalogue_pks, rng=rng, dataset=dataset)
    if progress:
        progress(len(examples), len(examples))

    total = len(examples)
    manifest = {
        "sources": {
            s.name: {
                "pairs": s.count,
                "examples": sum(1 for e in examples if e[2] == s.name),
                "ratio": s.ratio,
                "per_pair": s.per_pair,
                **({"params": s.params} if s.name != LOGS else {}),
            }
            for s in sources
        },
        "examples": total,
        "epochs": epochs,
        "mixing": {s.name: round(sum(1 for e in examples if e[2] == s.name) / total, 4) if total else 0.0
                   for s in sources},
        "distinct_queries": len({e[0] for e in examples}),
        "distinct_pairs": len({(e[0], e[1]) for e in examples}),
        "known_positive_pairs": sum(len(v) for v in known.values()),
        "negatives": {"random_per_example": int(config["random_negatives"]), **hard_stats},
    }
    return TrainingSet(
        query_pks=[e[0] for e in examples],
        positive_pks=[e[1] for e in examples],
        negative_pks=negatives,
        sources=[e[2] for e in examples],
        known_positives=known,
        manifest=manifest,
    )


def add_hard_negatives(*, examples, negatives, known, config: dict, catalogue_pks, rng, dataset) -> dict:
    """Append `count` hard negatives per example, mined from another ready version's top-k for the query, skipping
    the first `skip_top` results and every known positive of the query (false-negative masking). A query whose
    candidates run out gets random negatives instead; the count of those is recorded."""
    from .models import Query, RetrieverVersion
    from .search import retrieve_many

    source = RetrieverVersion.objects.filter(name=config["from_version"]).first()
    if source is None:
        raise ValueError(f"Hard negatives: no retriever version named {config['from_version']!r}.")
    if source.dataset_id != dataset.pk:
        raise ValueError(f"Hard negatives: version {source.name!r} belongs to another data set.")
    top_k, skip_top, count = int(config["top_k"]), int(config["skip_top"]), int(config["count"])
    query_pks = sorted({e[0] for e in examples})
    texts = dict(Query.objects.filter(pk__in=query_pks).values_list("pk", "text"))
    candidates: dict[int, list[int]] = {}
    for start in range(0, len(query_pks), 256):
        chunk = query_pks[start:start + 256]
        for query_pk, hits in zip(chunk, retrieve_many(source, [texts[q] for q in chunk], top_k)):
            excluded = known.get(query_pk, set())
            candidates[query_pk] = [h.product_id for h in hits[skip_top:] if h.product_id not in excluded]
    fallbacks = 0
    for i, (query_pk, _, _) in enumerate(examples):
        pool = candidates.get(query_pk) or []
        for _ in range(count):
            if pool:
                negatives[i].append(int(pool[int(rng.integers(len(pool)))]))
            else:
                fallbacks += 1
                negatives[i].append(random_negative(rng, catalogue_pks, known.get(query_pk, set())))
    return {"hard_per_example": count, "hard_from": source.name, "hard_top_k": top_k, "hard_skip_top": skip_top,
            "hard_fallback_random": fallbacks}


def train_encoder(
    *,
    training_set: TrainingSet,
    query_texts: dict[int, str],
    product_texts: dict[int, str],
    base_model: str,
    out_dir: Path,
    config: dict,
    seed: int,
    progress: Callable[[int, int], None] | None = None,
    evaluator=None,
    margin_set=None,
) -> dict:
    """Fine-tune `base_model` on the examples with the InfoNCE loss; save it to `out_dir`; return training stats.

    With an `evaluator` (`validation.split_evaluator`), the model is measured after every epoch; training stops
    after the first epoch that does not improve on the best, and the best epoch's weights are the ones saved.
    With a `margin_set` (`margin_sources.MarginSet`), its soft-label triples train with sentence-transformers'
    MarginMSELoss in the same run (each batch comes from one of the two datasets, in proportion to their sizes)."""
    import math

    from datasets import Dataset
    from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    from transformers import EarlyStoppingCallback, PrinterCallback, TrainerCallback, set_seed

    from .validation import METRIC

    from .encoders import load_encoder
    from .losses import FalseNegativeMask, retriever_loss

    set_seed(seed)
    model = load_encoder(base_model, cache=False, backend="torch")
    model.max_seq_length = int(config["max_seq_length"])
    negative_columns = len(training_set.negative_pks[0]) if training_set.negative_pks else 0
    columns = {
        "anchor": [query_texts[q] for q in training_set.query_pks],
        "positive": [product_texts[p] for p in training_set.positive_pks],
    }
    for j in range(negative_columns):
        columns[f"negative_{j + 1}"] = [product_texts[n[j]] for n in training_set.negative_pks]
    columns["label"] = list(range(len(training_set)))  # the example index, for the loss's false-negative mask
    train_dataset = Dataset.from_dict(columns)
    false_negatives = FalseNegativeMask(example_queries=training_set.query_pks,
                                        example_products=training_set.example_products(),
                                        known_positives=training_set.known_positives)
    soft_examples = len(margin_set) if margin_set else 0
    epochs = int(config["epochs"])
    steps_per_epoch = max(1, math.ceil((len(training_set) + soft_examples) / epochs / int(config["batch_size"])))
    stopping = {}
    if evaluator is not None:  # measured once per epoch; the best epoch is kept (checkpoints in the trainer folder)
        stopping = {"eval_strategy": "steps", "eval_steps": steps_per_epoch, "save_strategy": "steps",
                    "save_steps": steps_per_epoch, "save_total_limit": 2, "load_best_model_at_end": True,
                    "metric_for_best_model": f"eval_validation_{METRIC}", "greater_is_better": True}
    args = SentenceTransformerTrainingArguments(
        output_dir=str(out_dir.parent / f".{out_dir.name}-trainer"),
        num_train_epochs=1,  # the examples already hold `epochs` passes over the sampled pairs
        per_device_train_batch_size=int(config["batch_size"]),
        learning_rate=float(config["learning_rate"]),
        warmup_steps=float(config["warmup_ratio"]),  # a float below 1 is a share of the steps (Transformers v5)
        weight_decay=0.01,
        seed=seed,
        data_seed=seed,
        **({"save_strategy": "no", "eval_strategy": "no"} | stopping),
        logging_strategy="steps",
        logging_steps=10,
        report_to="none",
        disable_tqdm=True,
        dataloader_num_workers=0,
        use_cpu=resolve_device() == "cpu",
    )
    losses: list[float] = []

    class ReportProgress(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if progress:
                progress(state.global_step, state.max_steps)

        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "loss" in logs:
                losses.append(float(logs["loss"]))

    loss = retriever_loss(model, temperature=float(config["temperature"]), kind=config["loss"],
                          mini_batch_size=int(config["mini_batch_size"]), false_negatives=false_negatives)
    if margin_set:
        from datasets import DatasetDict
        from sentence_transformers.sentence_transformer.losses import MarginMSELoss

        train_dataset = DatasetDict({"logs": train_dataset, "margins": Dataset.from_dict({
            "anchor": [query_texts[q] for q in margin_set.query_pks],
            "positive": [product_texts[p] for p in margin_set.positive_pks],
            "negative": [product_texts[n] for n in margin_set.negative_pks],
            "label": [float(m) for m in margin_set.margins]})})
        loss = {"logs": loss, "margins": MarginMSELoss(model)}
    callbacks = [ReportProgress()] + ([EarlyStoppingCallback(early_stopping_patience=1)] if evaluator else [])
    trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=train_dataset, loss=loss,
                                         evaluator=evaluator, callbacks=callbacks)
    trainer.remove_callback(PrinterCallback)  # losses go to the job log and manifest, not to stdout
    started = time.monotonic()
    with all_cores():
        result = trainer.train()
    seconds = time.monotonic() - started
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save(str(out_dir))
    curve = [round(float(row[f"eval_validation_{METRIC}"]), 4) for row in trainer.state.log_history
             if f"eval_validation_{METRIC}" in row]
    early = {}
    if evaluator is not None:
        best = max(range(len(curve)), key=lambda i: curve[i]) if curve else None
        early = {"early_stopping": {"validation_ndcg@10_by_epoch": curve, "epochs_run": len(curve),
                                    "best_epoch": None if best is None else best + 1, "max_epochs": epochs}}
    shutil.rmtree(args.output_dir, ignore_errors=True)  # checkpoints: the best model is saved below
    return {
        **early,
        "steps": int(result.global_step),
        "train_loss": round(float(result.training_loss), 5),
        "loss_curve": [round(x, 5) for x in losses],
        "seconds": round(seconds, 1),
        "examples": len(training_set),
        **({"soft_label_examples": soft_examples} if soft_examples else {}),
        "examples_per_second": round((len(training_set) + soft_examples) / seconds, 1) if seconds else None,
    }
