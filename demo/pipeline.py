"""The whole loop on the demo data set, as Celery jobs under a running worker (what `make demo` runs).

Each stage is idempotent: a re-run finds what is already built (by name) and skips it, resumes what failed, and
waits for what is still running. Progress of every job is printed on the terminal and shown on /jobs/.
"""
from __future__ import annotations

import sys
import time
from typing import Callable

from django.contrib.auth import get_user_model

from retrieval.models import Dataset, RetrieverVersion

from jobs.models import Job

BM25, BASELINE, TEACHER, TREATMENT = "demo-bm25", "demo-baseline", "demo-teacher", "demo-treatment"
JUDGES = ("demo-judge-teacher", "demo-judge-minilm")
CAMPAIGN = "Demo: log-trained baseline vs synthetic-data retriever"
# Bounded so that the whole demo finishes in minutes on a 2-core CPU.
# Short texts and a capped sample keep CPU training to a few minutes (each step encodes 3 texts per example).
# The recipe `bench/retrieval_quality.py --synthesis` measures (README "Retrieval quality"): the baseline's recipe
# is the benchmark's `dense-logs`; the teacher (all-mpnet-base-v2, zero-shot) retrieves for the rewrites; the judge
# is the best-measured (held-out train labels) of two calibrated bi-encoders, the teacher and the zero-shot MiniLM,
# either reading product embeddings from a zero-shot index of its own model when there is one (same 64 product
# tokens); the treatment ADDS half an example per synthetic pair to the baseline's examples.
BASELINE_CONFIG = {"epochs": 1, "batch_size": 32, "max_seq_length": 64, "samples_per_epoch": 2048,
                   "learning_rate": 5e-5, "temperature": 0.05, "random_negatives": 1, "encode_batch_size": 64}
TEACHER_CONFIG = {"train": False, "base_model": "all-mpnet-base-v2", "max_seq_length": 64, "encode_batch_size": 64}
JUDGE_CONFIG = {"kind": "bi-encoder", "max_seq_length": 64, "max_examples": 3000}
JUDGE_MODELS = {"demo-judge-teacher": "all-mpnet-base-v2", "demo-judge-minilm": ""}  # "": the student's MiniLM
SYNTHESIS_CONFIG = {"candidates": 4, "max_queries": 60, "retrieve_k": 50, "baseline_k": 100,
                    "max_pairs_per_query": 20, "segments": ["tail"]}
TREATMENT_PER_PAIR = 0.5
SHOWN_METRICS = ("Recall@100", "nDCG@10", "QueryGoodRate@10")
CAMPAIGN_CONFIG = {"segments": [], "allocation": "equal_segments", "sample_size": 60, "k": 10, "judgments_per_item": 3, "control_share": 0.1}


class DemoPipelineError(RuntimeError):
    """A stage failed; the message names the job to look at."""


def run_demo_pipeline(*, out: Callable[[str], None] = print, poll: float = 1.0) -> dict:
    from synthesis.models import JudgeVersion

    dataset = Dataset.objects.get(name="demo")
    user = get_user_model().objects.filter(username="admin").first()

    out("1/7 BM25 retriever")
    bm25 = ensure_version(dataset, BM25, "bm25", {}, user, out, poll)
    out("2/7 baseline: two-tower encoder trained on the behavioural logs")
    baseline = ensure_version(dataset, BASELINE, "dense", BASELINE_CONFIG, user, out, poll)
    out("3/7 the teacher's index for synthesis: all-mpnet-base-v2 zero-shot (larger than the student, independent)")
    teacher = ensure_version(dataset, TEACHER, "dense", TEACHER_CONFIG, user, out, poll)
    out("4/7 relevance judges: the teacher and the zero-shot MiniLM as bi-encoders, measured and calibrated on "
        "held-out train labels; synthesis takes the best-measured")
    for name in JUDGES:
        ensure_judge(dataset, name, user, out, poll)
    out("5/7 synthesis over tail queries: rewrites -> teacher retrieval -> judge -> (query, product) pairs")
    synthesis_job = ensure_synthesis(dataset, teacher, baseline, user, out, poll)
    judge = JudgeVersion.objects.get(pk=synthesis_job.config["judge_version_id"])
    out("6/7 treatment: the baseline's examples + half an example per synthetic pair; offline evaluation")
    treatment = ensure_treatment(synthesis_job, baseline, user, out, poll)
    for version in (bm25, baseline, treatment):
        ensure_evaluated(version, user, out, poll)
    out("7/7 SBS campaign between the baseline and the treatment")
    campaign = ensure_campaign(baseline, treatment, user, out, poll)
    return {"campaign": campaign, "baseline": baseline, "treatment": treatment, "judge": judge,
            "synthesis_job": synthesis_job}


def watch(job: Job, out: Callable[[str], None], poll: float) -> Job:
    """Print a live progress line until the job is finished; raise if it did not succeed."""
    tty = sys.stdout.isatty()
    last_line, last_step = "", None
    while True:
        job.refresh_from_db()
        line = f"    [{'#' * (job.percent // 5):<20}] {job.percent:3d}% {job.kind} #{job.pk} {job.stage}"
        if job.total:
            line += f" ({job.done}/{job.total})"
        if tty and line != last_line:
            sys.stdout.write("\r" + line[:120].ljust(120))
            sys.stdout.flush()
        step = (job.stage, job.percent // 10)
        if not tty and step != last_step:  # a log file: one line per stage and per 10 %
            out(line)
        last_line, last_step = line, step
        if not job.is_active:
            break
        time.sleep(poll)
    if tty:
        sys.stdout.write("\n")
    if job.status != Job.Status.SUCCEEDED:
        raise DemoPipelineError(f"{job.kind} job #{job.pk} {job.status}: {job.error.splitlines()[0] if job.error else ''}"
                                f" (see /jobs/{job.pk}/)")
    out(f"    {job.kind} job #{job.pk} succeeded ({job_seconds(job):.0f} s)")
    return job


def job_seconds(job: Job) -> float:
    return (job.finished_at - job.started_at).total_seconds() if job.finished_at and job.started_at else 0.0


def ensure_version(dataset, name, kind, config, user, out, poll) -> RetrieverVersion:
    from retrieval.versions import version_build

    return build_once(name, lambda: version_build(dataset=dataset, name=name, kind=kind, config=config, user=user),
                      user, out, poll)


def build_once(name, create, user, out, poll) -> RetrieverVersion:
    """The version named `name`: created by `create()` and built, resumed if a build was interrupted, or as is."""
    from retrieval.versions import version_start_build

    version = RetrieverVersion.objects.filter(name=name).first()
    if version is None:
        version = create()
    elif version.status == RetrieverVersion.Status.READY:
        out(f"    {name} is already built")
        return version
    job = version.build_job
    if job is None or not job.is_active:
        job = version_start_build(version=version, user=user)
    watch(job, out, poll)
    version.refresh_from_db()
    return version


def ensure_judge(dataset, name, user, out, poll):
    from retrieval.encoders import resolve_encoder
    from synthesis.models import JudgeVersion
    from synthesis.judging.training import judge_version_start

    judge = JudgeVersion.objects.filter(name=name).first()
    if judge is not None and judge.status == JudgeVersion.Status.READY:
        out(f"    {name} is already calibrated (held-out AUC {judge.metrics.get('auc') or 0:.3f})")
        return judge
    if judge is not None and not (judge.job and judge.job.is_active):
        judge.delete()  # a failed attempt: train it again from scratch
        judge = None
    if judge is None:
        judge = judge_version_start(dataset=dataset, name=name, user=user,
                                    base_model=resolve_encoder(JUDGE_MODELS[name] or None), **JUDGE_CONFIG)
    watch(judge.job, out, poll)
    judge.refresh_from_db()
    metrics = judge.metrics
    out(f"    {name}: held-out train labels AUC {metrics['auc']:.3f} (tail {(metrics.get('tail') or {}).get('auc') or 0:.3f}), "
        f"calibrated keep threshold {metrics['threshold']:.3f} (accuracy there {metrics['accuracy_at_threshold']:.3f})")
    return judge


def ensure_synthesis(dataset, teacher, baseline, user, out, poll) -> Job:
    from synthesis.config import SynthesisConfig
    from synthesis.services import synthesis_job_start, with_judge, with_keep_threshold

    config = with_keep_threshold(with_judge(SynthesisConfig.model_validate({  # the best-measured judge, its threshold
        "dataset_id": dataset.pk, "retriever_version_id": teacher.pk, "baseline_version_id": baseline.pk,
        **SYNTHESIS_CONFIG})))
    same = [j for j in Job.objects.filter(kind="synthesis").order_by("-created_at") if j.config == config.as_dict()]
    done = next((j for j in same if j.status == Job.Status.SUCCEEDED), None)
    if done is not None:
        out(f"    synthesis job #{done.pk} already done: {synthesis_summary(done.counts)}")
        return done
    active = next((j for j in same if j.is_active), None)
    job = active or synthesis_job_start(config=config, user=user)
    watch(job, out, poll)
    job.refresh_from_db()
    out(f"    {synthesis_summary(job.counts)}")
    return job


def synthesis_summary(counts: dict) -> str:
    """A synthesis job's counts as a sentence (the terminal shows no Python dicts)."""
    return (f"{counts.get('queries_done', 0)} of {counts.get('queries', 0)} queries, {counts.get('rewrites', 0)} "
            f"rewrites, {counts.get('candidates', 0)} candidate products judged, {counts.get('kept_pairs', 0)} kept "
            f"pairs ({counts.get('incremental_pairs', 0)} not in the baseline's top results, "
            f"{counts.get('incremental_share') or 0:.1%})")


def ensure_treatment(synthesis_job, baseline, user, out, poll) -> RetrieverVersion:
    from synthesis.treatment import treatment_version_start

    version = build_once(TREATMENT, lambda: treatment_version_start(job=synthesis_job, base_version=baseline,
                                                                    name=TREATMENT, per_pair=TREATMENT_PER_PAIR,
                                                                    user=user), user, out, poll)
    sources = version.manifest.get("training_data", {}).get("sources", {})
    out("    training examples by source: " + ", ".join(f"{name} {row['examples']} (of {row['pairs']} pairs)"
                                                    for name, row in sources.items()))
    return version


def ensure_evaluated(version, user, out, poll) -> None:
    from retrieval.versions import version_evaluate

    version.refresh_from_db()
    if version.metrics:
        out(f"    {version.name} already evaluated")
        return
    watch(version_evaluate(version=version, user=user), out, poll)
    version.refresh_from_db()
    for group, row in [("all", version.metrics["all"]), *version.metrics.get("segment", {}).items()]:
        out(f"    {version.name} {group:>5}: " + ", ".join(f"{name} {row[name]:.3f}" for name in SHOWN_METRICS
                                                          if name in row) + f" ({row.get('queries', 0)} queries)")


def ensure_campaign(baseline, treatment, user, out, poll):
    from sbsapp.campaigns import campaign_create
    from sbsapp.generation import campaign_start_generation
    from sbsapp.models import Campaign

    campaign = Campaign.objects.filter(name=CAMPAIGN).first()
    if campaign is None:
        campaign = campaign_create(name=CAMPAIGN, system_a=baseline, system_b=treatment, user=user,
                                   instructions=CAMPAIGN_INSTRUCTIONS, **CAMPAIGN_CONFIG)
    if campaign.status == Campaign.Status.ACTIVE:
        out(f"    campaign #{campaign.pk} is active")
        return campaign
    job = campaign.generation_job
    if job is None or not job.is_active:
        job = campaign_start_generation(campaign=campaign, user=user)
    watch(job, out, poll)
    campaign.refresh_from_db()
    out(f"    campaign #{campaign.pk} is {campaign.status}")
    return campaign


CAMPAIGN_INSTRUCTIONS = """\
You see one shopper query and two result lists. Judge which list serves **this shopper's need** better.

* Look at the whole top of each list: are the products what the shopper needs (even when the words differ)?
* Knowledge queries ("what do I need to re-grout a shower") need the products that do the job.
* Negations ("sofa cover but not leather") must be respected.
* Use *about the same* when neither list is clearly better.

Keys: `1`–`5` choose the scale, `s` skips, `u` undoes the last judgment.
"""
