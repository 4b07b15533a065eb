"""Making a relevance judge version: its typed config, starting the job, the job itself (examples -> training ->
validation on held-out queries -> a ready `JudgeVersion` with its metrics and calibrated threshold).

Two kinds: `cross-encoder` fine-tunes a cross-encoder on the data set's `train` labels and logs; `bi-encoder`
uses a sentence encoder zero-shot (by default the shipped all-mpnet-base-v2, a teacher independent of the
student) and only measures and calibrates it on the same held-out queries."""
from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from pathlib import Path

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify
from typing import Literal

from pydantic import Field

from core.artifacts import artifact_path
from core.devices import all_cores
from core.configs import JobConfig, Slug, validate_config
from jobs.models import Job
from jobs.registry import job_kind, job_release
from jobs.services import JobContext, job_start
from synthesis.models import JudgeVersion

from .examples import (
    add_extra_examples,
    judge_training_examples,
    read_extra_examples,
    split_by_query,
)
from .judges import (
    BiEncoderJudge,
    CrossEncoderJudge,
    load_cross_encoder,
    load_judge,
    product_judge,
    score_examples,
)

JOB_KIND = "judge_training"


class JudgeTrainingConfig(JobConfig):
    """A judge training's settings (stored on the JudgeVersion as its hyper-parameters; the job holds its id)."""

    dataset_id: int = Field(ge=1)
    name: Slug = Field("", max_length=100, description="Empty: judge-<dataset>-<timestamp>.")
    kind: Literal["cross-encoder", "bi-encoder"] = Field(
        "cross-encoder", description="cross-encoder: fine-tuned on train labels and logs; bi-encoder: a sentence "
                                     "encoder used zero-shot, only calibrated on held-out labels.")
    base_model: str = Field("", max_length=500, description="Empty: MiniLM for a cross-encoder, all-mpnet-base-v2 "
                                                            "for a bi-encoder.")
    epochs: int = Field(1, ge=1, le=20)
    batch_size: int = Field(32, ge=2, le=1024)
    learning_rate: float = Field(2e-5, gt=0, le=1e-2)
    negatives_per_positive: int = Field(3, ge=0, le=20)
    validation_share: float = Field(0.1, ge=0, lt=0.9)
    max_examples: int | None = Field(None, ge=10, le=10_000_000, description="Cap on training examples.")
    max_seq_length: int | None = Field(None, ge=8, le=512,
                                       description="bi-encoder: product tokens it reads (empty: the model's own). "
                                                   "The same as a zero-shot retriever version of that encoder lets "
                                                   "synthesis read product embeddings from its index.")
    seed: int = 13


    def hyperparams(self) -> dict:
        """What the training job reads from the JudgeVersion (`fields`: the product fields the judge reads)."""
        return {**self.model_dump(mode="json", include={"kind", "epochs", "batch_size", "learning_rate",
                                                        "negatives_per_positive", "validation_share", "max_examples",
                                                        "max_seq_length", "seed"}), "fields": None}

    def resolved_base_model(self) -> str:
        from retrieval.encoders import resolve_encoder
        from retrieval.shipped_models import MPNET

        return resolve_encoder(self.base_model or (MPNET if self.kind == "bi-encoder" else None))


def judge_training_start(*, config: JudgeTrainingConfig, user=None) -> JudgeVersion:
    """Create a JudgeVersion and queue the job that trains it on the dataset's train qrels and logs."""
    from retrieval.models import Dataset

    dataset = Dataset.objects.filter(pk=config.dataset_id).first()
    if dataset is None:
        raise ValueError(f"Dataset #{config.dataset_id} does not exist.")
    name = config.name or f"judge-{slugify(dataset.name)}-{timezone.now():%Y%m%d-%H%M%S}"
    if JudgeVersion.objects.filter(name=name).exists():
        raise ValueError(f"A judge version named {name!r} already exists.")
    try:
        with transaction.atomic():  # two simultaneous starts with one name: one version, one clear refusal
            version = JudgeVersion.objects.create(
                dataset=dataset, name=name, base_model=config.resolved_base_model(), hyperparams=config.hyperparams(),
                created_by=user if user is not None and user.is_authenticated else None)
    except IntegrityError:
        raise ValueError(f"A judge version named {name!r} already exists.") from None
    try:
        job = job_start(kind=JOB_KIND, config={"judge_version_id": version.pk}, user=user)
    except Exception:
        version.delete()
        raise
    JudgeVersion.objects.filter(pk=version.pk).update(job=job)
    version.refresh_from_db()
    return version


def judge_version_start(*, dataset, user=None, **options) -> JudgeVersion:
    """`judge_training_start` from keyword settings (commands, benchmarks); they validate through the config."""
    return judge_training_start(config=validate_config(JudgeTrainingConfig, {**options, "dataset_id": dataset.pk}),
                                user=user)


@job_kind(JOB_KIND, queue="ml", title="Train a relevance judge",
          legacy_task_names=("synthesis.tasks.ml_train_judge",))
def judge_training_work(ctx: JobContext) -> dict:
    """Train a JudgeVersion's cross-encoder (or take its bi-encoder as it is), validate it on held-out queries,
    record artifact and metrics."""
    from retrieval.models import Product, Query
    from retrieval.product_text import product_text, validate_fields

    version = JudgeVersion.objects.get(pk=ctx.config["judge_version_id"])
    params = version.hyperparams
    fields = validate_fields(params.get("fields"))
    try:
        ctx.stage("collecting examples")
        examples = judge_training_examples(dataset=version.dataset,
                                           negatives_per_positive=params["negatives_per_positive"], seed=params["seed"])
        if params.get("max_examples") and len(examples) > params["max_examples"]:
            examples = sorted(random.Random(params["seed"]).sample(examples, params["max_examples"]),
                              key=lambda e: (e.query_pk, e.product_pk))
        train, validation = split_by_query(examples, validation_share=params["validation_share"], seed=params["seed"])
        extra_counts = None
        if params.get("extra_examples_path"):  # e.g. SBS per-product marks (sbsapp.auto.closed_loop): training side only
            train, extra_counts = add_extra_examples(train=train, validation=validation,
                                                     extra=read_extra_examples(params["extra_examples_path"]))
            examples = sorted([*train, *validation], key=lambda e: (e.query_pk, e.product_pk))
        query_text = dict(Query.objects.filter(pk__in={e.query_pk for e in examples}).values_list("pk", "text"))
        product_rows = {row["pk"]: row for row in
                        Product.objects.filter(pk__in={e.product_pk for e in examples}).values("pk", *fields)}

        def as_triples(rows):
            return [(query_text[e.query_pk], product_text(product_rows[e.product_pk], fields), e.label) for e in rows]

        sources: dict[str, int] = {}
        for example in examples:
            sources[example.source] = sources.get(example.source, 0) + 1
        manifest = {"examples": len(examples), "train": len(train), "validation": len(validation),
                    "by_source": sources, "queries": len({e.query_pk for e in examples}),
                    "labels": "train qrels (grade/3) + clicks (1) + unclicked/random (0); no test qrels"}
        if extra_counts is not None:
            manifest["extra_examples"] = {"path": params["extra_examples_path"], **extra_counts}
        JudgeVersion.objects.filter(pk=version.pk).update(manifest=manifest)
        ctx.log(f"judge examples: {manifest}")
        bi_encoder = params.get("kind") == "bi-encoder"
        if bi_encoder:  # zero-shot: nothing to train; the validation below measures and calibrates it
            from retrieval.encoders import load_encoder

            out_dir = Path(version.base_model)
        else:
            ctx.stage("training")
            out_dir = artifact_path("judges", version.name)
            train_cross_encoder(train=as_triples(train), base_model=version.base_model, out_dir=out_dir,
                                epochs=params["epochs"], batch_size=params["batch_size"],
                                learning_rate=params["learning_rate"], seed=params["seed"],
                                progress=lambda done, total: ctx.progress(done, total),
                                weights=[e.weight for e in train])
        ctx.stage("validating", total=len(validation))
        metrics: dict = {"n": 0, "accuracy": None, "auc": None}
        if validation:
            judge = (BiEncoderJudge(model=load_encoder(str(out_dir)), name=version.name,
                                    max_seq_length=params.get("max_seq_length")) if bi_encoder
                     else CrossEncoderJudge(model=load_cross_encoder(str(out_dir)), name=version.name))
            scores, labels = score_examples(product_judge(judge, fields=fields), examples=validation,
                                            query_text=query_text)
            metrics = judge_metrics(scores=scores, labels=labels)
            metrics.update(subset_metrics(validation, scores, labels, tail_pks=tail_queries(version.dataset,
                                                                                            validation)))
            if params.get("compare_with_judge_version_id"):  # the older judge on the very same validation set
                older = JudgeVersion.objects.get(pk=params["compare_with_judge_version_id"])
                metrics["baseline"] = {"judge_version": older.name,
                                       **judge_validation_metrics(judge_version=older, examples=validation,
                                                                  query_text=query_text)}
        JudgeVersion.objects.filter(pk=version.pk).update(artifact_path=str(out_dir), metrics=metrics,
                                                          status=JudgeVersion.Status.READY)
        return {"judge_version": version.name, "metrics": metrics, "manifest": manifest}
    except Exception:
        JudgeVersion.objects.filter(pk=version.pk).update(status=JudgeVersion.Status.FAILED)
        raise


@job_release(JOB_KIND)
def judge_release(job: Job) -> None:
    """A judge training ended from outside its work (its worker died and it was cancelled, or an admin marked it
    failed): its version leaves `training` for `failed`."""
    JudgeVersion.objects.filter(pk=job.config.get("judge_version_id"), status=JudgeVersion.Status.TRAINING).update(
        status=JudgeVersion.Status.FAILED)


def subset_metrics(examples, scores, labels, *, tail_pks: set[int]) -> dict:
    """The validation metrics on two subsets that say more than the whole about a synthesis job's judge:

    - `tail`: the long-tail queries' examples (the tail is what the judge is for);
    - `graded`: the `train` qrels alone, without the clicks and the unclicked or random negatives. Graded products
      are the ones a search engine once showed, so the wrong ones among them are near-misses, like the products a
      synthesis job's retrieval brings back; random negatives make the plain AUC easy (every judge this project
      measured scored 0.84–0.99 on it, against 0.39–0.73 on the demo's and CrowdFlower's pipeline candidates)."""
    subsets = {"tail": [i for i, e in enumerate(examples) if e.query_pk in tail_pks],
               "graded": [i for i, e in enumerate(examples) if e.source == "qrel"]}
    return {name: judge_metrics(scores=[scores[i] for i in rows], labels=[labels[i] for i in rows])
            for name, rows in subsets.items() if rows}


def tail_queries(dataset, examples) -> set[int]:
    from retrieval.models import Query

    return set(Query.objects.filter(dataset=dataset, segment=Query.Segment.TAIL,
                                    pk__in={e.query_pk for e in examples}).values_list("pk", flat=True))


def judge_validation_metrics(*, judge_version: JudgeVersion, examples, query_text: dict[int, str]) -> dict:
    """Accuracy and AUC of a trained judge version on labelled examples, reading products with its own fields."""
    judge = product_judge(load_judge(judge_version=judge_version), fields=judge_version.hyperparams.get("fields"))
    scores, labels = score_examples(judge, examples=examples, query_text=query_text)
    return judge_metrics(scores=scores, labels=labels)


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
    (weighted per example when `weights` are given and not all 1: `losses.WeightedBinaryCrossEntropyLoss`).

    The training loop is sentence-transformers' `CrossEncoderTrainer`; `progress(step, total)` is called every
    few steps (and may raise to cancel). The model is saved to `out_dir`.
    """
    from datasets import Dataset
    from sentence_transformers.cross_encoder import (
        CrossEncoderTrainer,
        CrossEncoderTrainingArguments,
    )
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
            from .losses import WeightedBinaryCrossEntropyLoss

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
    with all_cores():
        trainer.train()
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out_dir))
    return out_dir
