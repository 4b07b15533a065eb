"""Jobs whose worker died: the periodic sweep, cancelling a stuck job, the heartbeat of a silent step, and the
admin's "mark failed" action. (The same under a real worker killed with SIGKILL: test_stale_jobs_worker.py.)"""
from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from jobs import services as jobs
from jobs.models import Job
from jobs.runner import run_job
from retrieval.models import RetrieverVersion
from retrieval.versions import VersionBusy, version_create, version_start_build
from sbsapp.generation import campaign_start_generation
from sbsapp.models import Campaign

from .retrieval_factories import make_dataset
from .sbs_factories import make_campaign
from .sbs_factories import make_dataset as make_sbs_dataset

LONG_AGO = timedelta(minutes=10)


def stuck_build(*, cancel_requested: bool) -> tuple[RetrieverVersion, Job]:
    """A BM25 version left `indexing` by a build job whose worker was killed (running, heartbeat 10 min old)."""
    version = version_create(dataset=make_dataset(), name="stuck-bm25", kind="bm25")
    job = Job.objects.create(kind="retriever_build", task_name="jobs.retriever_build", queue="ml",
                             config={"version_id": version.pk, "version": version.name}, status=Job.Status.RUNNING,
                             attempts=1, heartbeat_at=timezone.now() - LONG_AGO, cancel_requested=cancel_requested)
    RetrieverVersion.objects.filter(pk=version.pk).update(status=RetrieverVersion.Status.INDEXING, build_job=job)
    version.refresh_from_db()
    return version, job


@pytest.mark.django_db
def test_the_sweep_ends_a_stuck_cancelled_build_and_the_version_can_be_built_again():
    version, job = stuck_build(cancel_requested=True)  # Cancel was pressed after the worker died
    with pytest.raises(VersionBusy):
        version_start_build(version=version)
    assert jobs.sweep_stale_jobs() == {"cancelled": [job.pk], "resumed": []}
    job.refresh_from_db()
    version.refresh_from_db()
    assert job.status == Job.Status.CANCELLED and job.finished_at is not None
    assert "cancelled (its worker had died)" in job.log_tail
    assert version.status == RetrieverVersion.Status.FAILED and f"job #{job.pk}" in version.error
    rebuild = version_start_build(version=version)  # no VersionBusy; the eager test broker runs it here
    version.refresh_from_db()
    assert rebuild.status == Job.Status.SUCCEEDED and version.status == RetrieverVersion.Status.READY


@pytest.mark.django_db
def test_cancel_on_a_job_whose_worker_died_ends_it_at_once():
    version, job = stuck_build(cancel_requested=False)
    job = jobs.job_cancel(job=job)
    version.refresh_from_db()
    assert job.status == Job.Status.CANCELLED and version.status == RetrieverVersion.Status.FAILED
    live = Job.objects.create(kind="ping", task_name="jobs.ping", status=Job.Status.RUNNING,
                              heartbeat_at=timezone.now())
    assert jobs.job_cancel(job=live).status == Job.Status.RUNNING  # a live one stops at its next checkpoint


@pytest.mark.django_db
def test_a_stuck_cancelled_generation_frees_its_campaign(monkeypatch):
    campaign = make_campaign(dataset=make_sbs_dataset(), status=Campaign.Status.GENERATING)
    job = Job.objects.create(kind="sbs_generate", task_name="jobs.sbs_generate", queue="ml", attempts=1,
                             config={"campaign_id": campaign.pk}, status=Job.Status.RUNNING,
                             heartbeat_at=timezone.now() - LONG_AGO, cancel_requested=True)
    Campaign.objects.filter(pk=campaign.pk).update(generation_job=job)
    assert jobs.sweep_stale_jobs()["cancelled"] == [job.pk]
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DRAFT
    sent = []
    monkeypatch.setattr(jobs, "send_job", lambda j: sent.append(j.pk))
    again = campaign_start_generation(campaign=campaign)
    assert sent == [again.pk] and Campaign.objects.get(pk=campaign.pk).generation_job == again


@pytest.mark.django_db
def test_the_sweep_resends_stale_jobs_and_leaves_live_ones(monkeypatch):
    stale = Job.objects.create(kind="ping", task_name="jobs.ping", status=Job.Status.RUNNING,
                               heartbeat_at=timezone.now() - LONG_AGO)
    live = Job.objects.create(kind="ping", task_name="jobs.ping", status=Job.Status.RUNNING,
                              heartbeat_at=timezone.now() - timedelta(seconds=30))
    sent = []
    monkeypatch.setattr(jobs, "send_job", lambda j: sent.append(j.pk))
    assert jobs.sweep_stale_jobs() == {"cancelled": [], "resumed": [stale.pk]}
    assert sent == [stale.pk]
    assert Job.objects.get(pk=stale.pk).status == Job.Status.QUEUED
    assert Job.objects.get(pk=live.pk).status == Job.Status.RUNNING


def test_celery_beat_runs_the_sweep_every_configured_interval():
    from django.conf import settings

    from celery_worker import app

    entries = [entry for entry in app.conf.beat_schedule.values() if entry["task"] == "jobs.sweep_stale_jobs"]
    assert len(entries) == 1 and entries[0]["schedule"] == settings.JOBS_SWEEP_SECONDS
    assert "jobs.sweep_stale_jobs" in app.tasks
    assert settings.JOBS_HEARTBEAT_SECONDS * 3 <= settings.JOBS_STALE_AFTER_SECONDS


@pytest.mark.django_db
def test_a_second_delivery_of_a_live_job_does_not_run_it_again():
    job = Job.objects.create(kind="ping", task_name="jobs.ping", status=Job.Status.RUNNING, attempts=1,
                             heartbeat_at=timezone.now())
    calls = []
    run_job(job.pk, lambda ctx: calls.append(1))
    job.refresh_from_db()
    assert calls == [] and job.status == Job.Status.RUNNING and job.attempts == 1
    Job.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - LONG_AGO)  # now its worker is dead
    run_job(job.pk, lambda ctx: calls.append(1))
    job.refresh_from_db()
    assert calls == [1] and job.status == Job.Status.SUCCEEDED and job.attempts == 2


@pytest.mark.django_db(transaction=True)
def test_the_heartbeat_keeps_a_silent_step_fresh_so_the_sweep_never_resends_it(settings, monkeypatch):
    settings.JOBS_HEARTBEAT_SECONDS = 0.2
    settings.JOBS_STALE_AFTER_SECONDS = 1.0
    sent = []
    monkeypatch.setattr(jobs, "send_job", lambda j: sent.append(j.pk))
    job = Job.objects.create(kind="ping", task_name="jobs.ping")
    seen = {}

    def silent_work(ctx):  # one long step that reports nothing (a large index build, say)
        time.sleep(2.5)
        row = Job.objects.get(pk=ctx.job.pk)
        seen["age"] = (timezone.now() - row.heartbeat_at).total_seconds()
        seen["swept"] = jobs.sweep_stale_jobs()  # what beat would do meanwhile in another process
        return {"ok": True}

    run_job(job.pk, silent_work)
    job.refresh_from_db()
    assert seen["age"] < 1.0 and seen["swept"] == {"cancelled": [], "resumed": []} and sent == []
    assert job.status == Job.Status.SUCCEEDED and job.attempts == 1
    assert not [t for t in threading.enumerate() if t.name == f"job-{job.pk}-heartbeat"]  # stopped with the job
    beat = job.heartbeat_at
    time.sleep(0.6)
    assert Job.objects.get(pk=job.pk).heartbeat_at == beat


@pytest.mark.django_db
def test_admin_marks_stuck_jobs_failed_and_refuses_live_ones(client, admin_user):
    version, stuck = stuck_build(cancel_requested=False)
    queued = Job.objects.create(kind="ping", task_name="jobs.ping")  # no worker ever took it
    live = Job.objects.create(kind="ping", task_name="jobs.ping", status=Job.Status.RUNNING,
                              heartbeat_at=timezone.now())
    client.force_login(admin_user)
    page = client.post(reverse("admin:jobs_job_changelist"),
                       {"action": "mark_jobs_failed", "_selected_action": [stuck.pk, queued.pk, live.pk]},
                       follow=True).content.decode()
    assert "2 stuck job(s) marked failed" in page and "its worker is alive" in page
    for job in (stuck, queued):
        job.refresh_from_db()
        assert job.status == Job.Status.FAILED and "Marked failed by boss" in job.error
    assert Job.objects.get(pk=live.pk).status == Job.Status.RUNNING
    version.refresh_from_db()
    assert version.status == RetrieverVersion.Status.FAILED
    assert version_start_build(version=version).status == Job.Status.SUCCEEDED  # and it builds again


@pytest.mark.django_db
def test_a_stuck_cancelled_judge_training_fails_its_judge_version():
    from synthesis.models import JudgeVersion

    dataset = make_dataset()
    judge = JudgeVersion.objects.create(dataset=dataset, name="stuck-judge", base_model="x")
    job = Job.objects.create(kind="judge_training", task_name="jobs.judge_training", queue="ml", attempts=1,
                             config={"judge_version_id": judge.pk}, status=Job.Status.RUNNING,
                             heartbeat_at=timezone.now() - LONG_AGO, cancel_requested=True)
    assert jobs.sweep_stale_jobs()["cancelled"] == [job.pk]
    judge.refresh_from_db()
    assert judge.status == JudgeVersion.Status.FAILED


@pytest.mark.django_db(transaction=True)
def test_two_judge_trainings_with_one_name_give_one_version_and_a_clear_refusal(monkeypatch):
    """The second of two simultaneous starts passes the name check before the first one's row exists: the unique
    name then refuses it with the same message, never a 500."""
    from django.db.models import QuerySet

    from synthesis.judging.training import judge_version_start
    from synthesis.models import JudgeVersion

    dataset = make_dataset()
    JudgeVersion.objects.create(dataset=dataset, name="same-name", base_model="x")  # the first start's row
    monkeypatch.setattr(QuerySet, "exists", lambda self: False)  # the race: the check ran before that row existed
    with pytest.raises(ValueError, match="already exists"):
        judge_version_start(dataset=dataset, name="same-name", kind="bi-encoder", base_model="x")
    assert JudgeVersion.objects.filter(name="same-name").count() == 1
