"""Closed loop: per-product relevance marks from SBS judgments become labelled pairs for the relevance judge, and a
job retrains the judge on `train` qrels + logs + these pairs.

Annotator quality comes from the control items (gold and A-vs-A, `metrics.control_correct`) over the campaigns
used: quality = (correct + 1) / (controls + 2) (a Laplace estimate, so an annotator without controls gets 0.5);
an annotator with at least `min_controls` controls and an accuracy below `pass_accuracy` fails the controls and
their weight is further multiplied by `failed_weight` (0 drops them).

A (query, product) pair's grade is the weighted majority of its marks: each grade collects the weights of the
annotators who gave it, the heaviest grade wins (ties go to the lower grade). The pair's training weight is the
winning grade's total weight, capped at `max_pair_weight` (so a pair marked by humans counts at most like a qrel);
a pair whose winning weight is below `min_pair_weight` is dropped.

Marks on a query that has any `test` label in the data set never become training pairs: test labels are for
evaluation only, and a human mark on such a query would leak them into training.

The retraining job writes the pairs to a JSONL file and runs the synthesis app's judge training
(`synthesis.judging.training.judge_training_work`) for a new `JudgeVersion` with the old version's hyper-parameters, the
pairs as its extra labelled examples (training side only) and the old version scored on the same validation set,
so the new version records its validation AUC next to the old one's. The new version is an ordinary ready judge:
a synthesis job can name it as its `judge_version_id`.
"""
from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from django.utils import timezone
from django.utils.text import slugify

from core.artifacts import artifact_path
from core.configs import ConfigInvalid, validate_config
from jobs.registry import job_kind
from jobs.services import JobContext, job_start
from sbsapp.metrics import Rating, control_correct
from jobs.models import Job
from sbsapp.models import Campaign, Judgment

from .configs import ClosedLoopConfig, MarkWeighting

JOB_KIND = "judge_from_sbs"
MAX_GRADE = 3
# What `synthesis.judging.training.judge_version_start` uses when a base judge records no hyper-parameters of its own.
DEFAULT_JUDGE_HYPERPARAMS = {"epochs": 1, "batch_size": 32, "learning_rate": 2e-5, "negatives_per_positive": 3,
                             "validation_share": 0.1, "max_examples": None, "seed": 13, "fields": None}


class ClosedLoopError(ValueError):
    """A retraining that cannot be started; the message is shown to the user as is."""


@dataclass(frozen=True)
class AnnotatorQuality:
    annotator: int | str
    controls: int
    correct: int
    quality: float
    failed: bool
    weight: float

    @property
    def accuracy(self) -> float | None:
        return self.correct / self.controls if self.controls else None


@dataclass(frozen=True)
class Mark:
    query_pk: int
    product_pk: int
    annotator: int | str
    grade: int  # 0..3


@dataclass(frozen=True)
class LabelledPair:
    query_pk: int
    product_pk: int
    grade: int
    weight: float  # the training weight (capped)
    votes: int
    agreement: float  # share of the vote weight behind the winning grade

    @property
    def label(self) -> float:
        return self.grade / MAX_GRADE


def annotator_quality(*, ratings: Iterable[Rating], weighting: MarkWeighting) -> dict:
    """Annotator -> `AnnotatorQuality` from their control items (regular ratings are ignored)."""
    tallies: dict = defaultdict(lambda: [0, 0])
    for rating in ratings:
        outcome = control_correct(rating)
        if outcome is None:
            continue
        tallies[rating.annotator][0] += 1
        tallies[rating.annotator][1] += int(outcome)
    qualities = {}
    for annotator, (controls, correct) in tallies.items():
        qualities[annotator] = quality_of(annotator=annotator, controls=controls, correct=correct,
                                          weighting=weighting)
    return qualities


def quality_of(*, annotator, controls: int, correct: int, weighting: MarkWeighting) -> AnnotatorQuality:
    quality = (correct + 1) / (controls + 2)
    failed = controls >= weighting.min_controls and correct / controls < weighting.pass_accuracy
    weight = quality * (weighting.failed_weight if failed else 1.0)
    return AnnotatorQuality(annotator=annotator, controls=controls, correct=correct, quality=quality, failed=failed,
                            weight=weight)


def aggregate_marks(*, marks: Iterable[Mark], qualities: dict, weighting: MarkWeighting) -> list[LabelledPair]:
    """One labelled pair per (query, product): the weighted-majority grade and its training weight."""
    no_controls = quality_of(annotator=None, controls=0, correct=0, weighting=weighting).weight
    votes: dict[tuple[int, int], dict[int, float]] = defaultdict(lambda: defaultdict(float))
    voters: dict[tuple[int, int], int] = defaultdict(int)
    for mark in marks:
        if not 0 <= mark.grade <= MAX_GRADE:
            raise ClosedLoopError(f"Mark grade {mark.grade} on query {mark.query_pk} is outside 0-{MAX_GRADE}.")
        quality = qualities.get(mark.annotator)
        weight = quality.weight if quality is not None else no_controls
        votes[(mark.query_pk, mark.product_pk)][mark.grade] += weight
        voters[(mark.query_pk, mark.product_pk)] += 1
    pairs = []
    for (query_pk, product_pk), by_grade in sorted(votes.items()):
        grade, winning = max(by_grade.items(), key=lambda entry: (entry[1], -entry[0]))
        total = sum(by_grade.values())
        if winning <= 0 or winning < weighting.min_pair_weight:
            continue
        pairs.append(LabelledPair(query_pk=query_pk, product_pk=product_pk, grade=grade,
                                  weight=min(winning, weighting.max_pair_weight), votes=voters[(query_pk, product_pk)],
                                  agreement=winning / total))
    return pairs


# ------------------------------------------------------------------------------------------------ from the database


def campaign_marks(*, campaigns: Sequence[Campaign]) -> list[Mark]:
    """Every per-product mark of the campaigns' (non-skipped) human judgments."""
    marks = []
    rows = (Judgment.objects.filter(campaign__in=campaigns, skipped=False)
            .values_list("item__query_id", "annotator_id", "marks").order_by("pk"))
    for query_pk, annotator, product_marks in rows:
        for product_pk, grade in (product_marks or {}).items():
            marks.append(Mark(query_pk=query_pk, product_pk=int(product_pk), annotator=annotator, grade=int(grade)))
    return marks


def query_pks_with_test_labels(*, dataset_id: int) -> set[int]:
    """Queries of the data set with at least one `test` label: their marks never reach training."""
    from retrieval.models import Qrel

    return set(Qrel.objects.filter(query__dataset_id=dataset_id, split=Qrel.Split.TEST)
               .values_list("query_id", flat=True).distinct())


def sbs_labelled_pairs(*, campaigns: Sequence[Campaign], weighting: MarkWeighting) -> tuple[list[LabelledPair], dict]:
    """The labelled pairs the campaigns' marks give, and a report of what was counted, weighted and left out."""
    from sbsapp.selectors import campaign_ratings

    datasets = {campaign.system_a.dataset_id for campaign in campaigns}
    if len(datasets) != 1:
        raise ClosedLoopError("Choose campaigns of one data set (the judge's).")
    ratings = [rating for campaign in campaigns for rating in campaign_ratings(campaign=campaign)]
    qualities = annotator_quality(ratings=ratings, weighting=weighting)
    marks = campaign_marks(campaigns=campaigns)
    test_queries = query_pks_with_test_labels(dataset_id=datasets.pop())
    usable = [mark for mark in marks if mark.query_pk not in test_queries]
    pairs = aggregate_marks(marks=usable, qualities=qualities, weighting=weighting)
    report = {
        "campaigns": [campaign.pk for campaign in campaigns],
        "marks": len(marks),
        "marks_on_test_queries": len(marks) - len(usable),
        "test_queries_left_out": len({mark.query_pk for mark in marks} & test_queries),
        "pairs": len(pairs),
        "positive_pairs": sum(1 for pair in pairs if pair.label >= 0.5),
        "annotators": [
            {"annotator": q.annotator, "controls": q.controls, "accuracy": q.accuracy, "quality": round(q.quality, 4),
             "failed": q.failed, "weight": round(q.weight, 4)}
            for q in sorted(qualities.values(), key=lambda q: str(q.annotator))
        ],
        "failed_annotators": sum(1 for q in qualities.values() if q.failed),
        "weighting": weighting.as_dict(),
    }
    return pairs, report


def write_pairs(*, pairs: Sequence[LabelledPair], path: Path) -> Path:
    """The pairs as the JSONL of extra labelled examples `synthesis.judging.examples.read_extra_examples` reads."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        for pair in pairs:
            handle.write(json.dumps({"query_pk": pair.query_pk, "product_pk": pair.product_pk, "label": pair.label,
                                     "weight": pair.weight, "source": "sbs"}) + "\n")
    return path


# ------------------------------------------------------------------------------------------------------- the job


def closed_loop_start(*, campaigns: Sequence[Campaign] = (), base_judge=None, name: str = "",
                      weighting: MarkWeighting | None = None, user=None, config: ClosedLoopConfig | None = None) -> Job:
    """Queue the job that retrains `base_judge` with the campaigns' marks as extra labelled pairs.

    The retraining is a `ClosedLoopConfig` (the form's), or its parts as keywords (campaigns and a judge version).
    """
    from synthesis.models import JudgeVersion

    if config is None:
        campaigns = list(campaigns)
        if not campaigns:
            raise ClosedLoopError("Choose at least one campaign whose marks to learn from.")
        if base_judge is None:
            raise ClosedLoopError("Choose a ready judge version to improve (train one on the synthesis page first).")
        config = {"campaign_ids": [campaign.pk for campaign in campaigns], "base_judge_version_id": base_judge.pk,
                  "name": name, "weighting": (weighting or MarkWeighting()).as_dict()}
    try:
        config = validate_config(ClosedLoopConfig, config if isinstance(config, dict) else config.as_dict())
    except ConfigInvalid as exc:
        raise ClosedLoopError(str(exc)) from None
    if base_judge is None or base_judge.pk != config.base_judge_version_id:
        base_judge = JudgeVersion.objects.filter(pk=config.base_judge_version_id).first()
    campaigns = list(Campaign.objects.filter(pk__in=config.campaign_ids).select_related("system_a"))
    if base_judge is None or base_judge.status != JudgeVersion.Status.READY:
        raise ClosedLoopError("Choose a ready judge version to improve (train one on the synthesis page first).")
    if any(campaign.system_a.dataset_id != base_judge.dataset_id for campaign in campaigns):
        raise ClosedLoopError(f"Judge {base_judge.name} was trained on another data set than these campaigns.")
    if not config.name:
        config.name = slugify(f"{base_judge.name}-sbs-{timezone.now():%Y%m%d-%H%M%S}")[:100]
    if JudgeVersion.objects.filter(name=config.name).exists():
        raise ClosedLoopError(f"A judge version named {config.name!r} already exists.")
    if not Judgment.objects.filter(campaign__in=campaigns, skipped=False).exclude(marks={}).exists():
        raise ClosedLoopError("These campaigns have no per-product relevance marks yet.")
    return job_start(kind=JOB_KIND, config=config.as_dict(), user=user)


@job_kind(JOB_KIND, queue="ml", title="Retrain the judge from SBS marks",
          legacy_task_names=("sbsapp.tasks.ml_retrain_judge_from_sbs",))
def closed_loop_work(ctx: JobContext) -> dict:
    """Marks -> labelled pairs -> a new judge version trained with them, validated next to the old one."""
    from synthesis.models import JudgeVersion
    from synthesis.judging.training import judge_training_work

    config = validate_config(ClosedLoopConfig, ctx.config)
    base = JudgeVersion.objects.select_related("dataset").get(pk=config.base_judge_version_id)
    campaigns = list(Campaign.objects.filter(pk__in=config.campaign_ids).select_related("system_a"))
    ctx.stage("collecting SBS marks")
    pairs, report = sbs_labelled_pairs(campaigns=campaigns, weighting=config.weighting)
    ctx.log(f"{report['marks']} marks, {report['marks_on_test_queries']} on test queries left out, "
            f"{report['failed_annotators']} annotators failing controls, {len(pairs)} labelled pairs")
    if not pairs:
        raise ClosedLoopError("No usable marks: every mark was on a test query or carried too little weight.")
    path = write_pairs(pairs=pairs, path=artifact_path("closed_loop", config.name, "sbs_pairs.jsonl"))
    version = JudgeVersion.objects.filter(name=config.name).first()
    if version is None:
        version = JudgeVersion.objects.create(
            dataset=base.dataset, name=config.name, base_model=base.base_model, job=ctx.job,
            hyperparams={**DEFAULT_JUDGE_HYPERPARAMS, **base.hyperparams, "extra_examples_path": str(path),
                         "compare_with_judge_version_id": base.pk},
            manifest={"sbs": report}, created_by=ctx.job.created_by)
    elif version.status == JudgeVersion.Status.READY:  # a re-delivered job that had already finished
        return closed_loop_result(version=version, base=base, report=report)
    else:
        JudgeVersion.objects.filter(pk=version.pk).update(status=JudgeVersion.Status.TRAINING)
    config.judge_version_id = version.pk
    ctx.job.config = config.as_dict()
    Job.objects.filter(pk=ctx.job.pk).update(config=ctx.job.config)
    judge_training_work(ctx)
    version.refresh_from_db()
    JudgeVersion.objects.filter(pk=version.pk).update(manifest={**version.manifest, "sbs": report})
    return closed_loop_result(version=version, base=base, report=report)


def closed_loop_result(*, version, base, report: dict) -> dict:
    baseline = version.metrics.get("baseline") or {}
    return {
        "judge_version": version.name,
        "judge_version_id": version.pk,
        "base_judge_version": base.name,
        "auc_new": version.metrics.get("auc"),
        "auc_old_same_validation": baseline.get("auc"),
        "auc_old_recorded": base.metrics.get("auc"),
        "accuracy_new": version.metrics.get("accuracy"),
        "accuracy_old_same_validation": baseline.get("accuracy"),
        "validation_examples": version.metrics.get("n"),
        "pairs": report["pairs"],
        "marks_on_test_queries": report["marks_on_test_queries"],
        "failed_annotators": report["failed_annotators"],
    }


def closed_loop_jobs(*, limit: int = 20) -> list[Job]:
    return list(Job.objects.filter(kind=JOB_KIND).order_by("-created_at")[:limit])
