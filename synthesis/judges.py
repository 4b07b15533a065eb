"""Relevance judges behind one interface, `score(query, products) -> list[float]` in [0, 1], and their training.

- `CrossEncoderJudge`: a transformers sequence-classification cross-encoder (sentence-transformers'
  `CrossEncoder`, one logit through a sigmoid) initialised from the MiniLM encoder weights and fine-tuned on the
  dataset's `train` qrels (grade / 3 as a soft label) and its logs (clicked = 1, sampled unclicked or random
  products = 0). `test` qrels never reach it. Stored as a `JudgeVersion` with its validation accuracy and AUC.
- `LLMJudge`: an OpenAI-compatible chat model grading each product 0-3; the score is grade / 3.

Products are passed as text (`retrieval.product_text.product_text`), so a judge never touches the database.
"""
from __future__ import annotations

import logging
import random
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from core.llm import ChatClient
from .parsing import parse_grade
from .prompts import judge_messages

logger = logging.getLogger(__name__)
JUDGE_BACKENDS = ("cross-encoder", "llm")


@runtime_checkable
class Judge(Protocol):
    def score(self, query: str, products: Sequence[str]) -> list[float]:
        """Relevance of each product text to the query, in [0, 1] (1 = exactly what the shopper wants)."""

    def describe(self) -> dict:
        """Which judge this is, recorded with what it judged."""


class CrossEncoderJudge:
    def __init__(self, *, model, name: str = "", batch_size: int = 64):
        self.model, self.name, self.batch_size = model, name, batch_size

    def describe(self) -> dict:
        return {"backend": "cross-encoder", "name": self.name}

    def score(self, query: str, products: Sequence[str]) -> list[float]:
        if not products:
            return []
        scores = self.model.predict([(query, text) for text in products], batch_size=self.batch_size,
                                    show_progress_bar=False)
        return [min(1.0, max(0.0, float(s))) for s in scores]


class LLMJudge:
    """Grades 0-3 through a chat endpoint; an answer without a grade counts as 0 (and is counted)."""

    def __init__(self, *, client: ChatClient, max_tokens: int = 16):
        self.client, self.max_tokens = client, max_tokens
        self.unparsed = 0

    def describe(self) -> dict:
        return {"backend": "llm", "model": self.client.model, "url": self.client.url}

    def score(self, query: str, products: Sequence[str]) -> list[float]:
        answers = self.client.complete_many([judge_messages(query, text) for text in products],
                                            temperature=0.0, max_tokens=self.max_tokens)
        scores = []
        for answer in answers:
            grade = parse_grade(answer[0] if answer else "")
            if grade is None:
                self.unparsed += 1
                grade = 0
            scores.append(grade / 3)
        return scores


def load_cross_encoder(path: str, *, device: str = "auto", num_labels: int | None = None):
    """A sentence-transformers CrossEncoder from a folder; a plain encoder folder gets a fresh 1-logit head."""
    from sentence_transformers.cross_encoder import CrossEncoder

    from retrieval.encoders import pick_device

    return CrossEncoder(path, device=pick_device(None if device == "auto" else device), num_labels=num_labels)


def load_judge(*, backend: str = "cross-encoder", judge_version=None, path: str = "", device: str = "auto",
               base_url: str = "", model: str = "", api_key: str = "", concurrency: int = 4,
               timeout: float = 60.0, retries: int = 3) -> Judge:
    """The judge for a backend: a trained `JudgeVersion` (or an artifact folder) or the LLM judge."""
    if backend == "cross-encoder":
        if judge_version is not None:
            if judge_version.status != "ready":
                raise ValueError(f"Judge version {judge_version.name!r} is {judge_version.status}, not ready.")
            path = judge_version.artifact_path
        if not path:
            raise ValueError("A cross-encoder judge needs a trained judge version (train one first).")
        if not Path(path).exists():
            raise FileNotFoundError(f"Judge artifact {path} is missing.")
        return CrossEncoderJudge(model=load_cross_encoder(path, device=device),
                                 name=judge_version.name if judge_version is not None else path)
    if backend == "llm":
        from core.llm import chat_client_from_settings

        return LLMJudge(client=chat_client_from_settings(base_url=base_url, model=model, api_key=api_key,
                                                         concurrency=concurrency, timeout=timeout, retries=retries))
    raise ValueError(f"Unknown judge backend {backend!r}; choose one of {', '.join(JUDGE_BACKENDS)}.")


# --- training data ---------------------------------------------------------------------------------------------

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
    import json

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


def judge_metrics(*, scores: Sequence[float], labels: Sequence[float], threshold: float = 0.5) -> dict:
    """Accuracy at `threshold` and ROC AUC of judge scores against labels binarised at 0.5, plus the calibrated
    `threshold`: the score cut that maximises Youden's J (TPR - FPR) on these examples, and the accuracy there.

    A judge trained with several negatives per positive scores relevant products well below 0.5, so a synthesis
    run should keep products at the calibrated threshold rather than at 0.5."""
    import numpy as np
    from sklearn.metrics import roc_auc_score, roc_curve

    binary = [1 if label >= 0.5 else 0 for label in labels]
    if not binary:
        return {"n": 0, "accuracy": None, "auc": None, "threshold": None}

    def accuracy(cut: float) -> float:
        return sum(1 for s, b in zip(scores, binary) if (s >= cut) == bool(b)) / len(binary)

    metrics = {"n": len(binary), "positives": sum(binary), "accuracy": accuracy(threshold), "auc": None,
               "threshold": None}
    if len(set(binary)) == 2:
        metrics["auc"] = float(roc_auc_score(binary, scores))
        fpr, tpr, cuts = roc_curve(binary, scores)
        best = float(min(1.0, max(0.0, cuts[int(np.argmax(tpr - fpr))])))
        metrics.update(threshold=round(best, 4), accuracy_at_threshold=accuracy(best))
    return metrics


def train_cross_encoder(*, train: Sequence[tuple[str, str, float]], base_model: str, out_dir: Path,
                        epochs: int = 1, batch_size: int = 32, learning_rate: float = 2e-5, max_length: int = 256,
                        seed: int = 13, device: str = "auto",
                        progress: Callable[[int, int], None] | None = None,
                        weights: Sequence[float] | None = None) -> Path:
    """Fine-tune a 1-logit cross-encoder on (query text, product text, label in [0,1]) with binary cross-entropy
    (weighted per example when `weights` are given and not all 1: `judge_losses.WeightedBinaryCrossEntropyLoss`).

    The training loop is sentence-transformers' `CrossEncoderTrainer`; `progress(step, total)` is called every
    few steps (and may raise to cancel). The model is saved to `out_dir`.
    """
    from datasets import Dataset
    from sentence_transformers.cross_encoder import CrossEncoderTrainer, CrossEncoderTrainingArguments
    from sentence_transformers.cross_encoder.losses import BinaryCrossEntropyLoss
    from transformers import PrinterCallback, TrainerCallback

    if not train:
        raise ValueError("No training examples: the dataset has no train qrels and no clicked logs.")
    from transformers import set_seed

    set_seed(seed)  # the fresh classification head is drawn here: same seed, same starting point
    model = load_cross_encoder(base_model, device=device, num_labels=1)
    model.max_length = max_length
    loss_class = BinaryCrossEntropyLoss
    labels: list = [float(t[2]) for t in train]
    if weights is not None:
        if len(weights) != len(train) or min(weights, default=1.0) <= 0:
            raise ValueError("weights must give one positive weight per training example.")
        if any(w != 1.0 for w in weights):
            from .judge_losses import WeightedBinaryCrossEntropyLoss

            loss_class = WeightedBinaryCrossEntropyLoss
            labels = [[label, float(w)] for label, w in zip(labels, weights)]
    data = Dataset.from_dict({"query": [t[0] for t in train], "product": [t[1] for t in train], "label": labels})

    class ReportProgress(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if progress is not None and (state.global_step % 5 == 0 or state.global_step == state.max_steps):
                progress(state.global_step, state.max_steps)

    args = CrossEncoderTrainingArguments(
        output_dir=str(out_dir / "checkpoints"), num_train_epochs=epochs, per_device_train_batch_size=batch_size,
        learning_rate=learning_rate, warmup_steps=0.1, seed=seed, save_strategy="no", report_to=[],
        logging_steps=50, disable_tqdm=True, use_cpu=str(model.device) == "cpu", dataloader_num_workers=0)
    trainer = CrossEncoderTrainer(model=model, args=args, train_dataset=data, loss=loss_class(model),
                                  callbacks=[ReportProgress()])
    trainer.remove_callback(PrinterCallback)  # losses go to the job log, not to stdout
    trainer.train()
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out_dir))
    return out_dir
