"""Starting, cancelling, retrying and resuming background jobs of any registered kind.

`job_start` creates the Job row and sends its task in one step: if the broker cannot take the task, the row is
removed and `BrokerUnavailable` says so, so no half-created job is left behind. `inline=True` runs the work in
this process instead (management commands, benchmarks). Inside the task, `jobs.runner.run_job` gives the work
a `JobContext`.
"""
from __future__ import annotations

import logging
from datetime import timedelta
from typing import Callable

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from .kinds import get_kind
from .models import Job
from .runner import JobCancelled, JobContext, run_job

__all__ = ["BrokerUnavailable", "JobCancelled", "JobContext", "NotRetryable", "job_cancel", "job_retry",
           "job_retry_many", "job_start", "resume_stale_jobs", "run_job", "send_job"]

logger = logging.getLogger(__name__)
STALE_AFTER = timedelta(minutes=2)


class BrokerUnavailable(RuntimeError):
    """The task queue could not be reached, so the job was not started."""


class NotRetryable(ValueError):
    """Only a failed or cancelled job can be retried; the message says why this one cannot."""


RETRYABLE = (Job.Status.FAILED, Job.Status.CANCELLED)


def job_start(*, kind: str, config: dict | None = None, user=None, inline: bool = False,
              on_created: Callable[[Job], object] | None = None) -> Job:
    """Create a job of a registered kind and send it to its queue (or run it here with `inline=True`).

    `on_created(job)` runs after the row exists and before any worker can see it: the place to link the job
    to what it works on (a version's `build_job`, a campaign's `generation_job`)."""
    job_kind = get_kind(kind)
    job = Job.objects.create(
        kind=kind,
        task_name=job_kind.task_name,
        queue=job_kind.queue,
        config=config or {},
        created_by=user if user is not None and getattr(user, "is_authenticated", False) else None,
    )
    if on_created is not None:
        on_created(job)
    if inline:
        run_job(job.pk, job_kind.work)
        job.refresh_from_db()
        return job
    try:
        send_job(job)
    except Exception as exc:  # kombu raises many connection error types
        job.delete()
        raise BrokerUnavailable(
            f"The task queue is not reachable ({settings.CELERY_BROKER_URL.split('@')[-1]}): {exc}. "
            "Nothing was started; start the broker and try again."
        ) from exc
    return job


def send_job(job: Job) -> None:
    """Send a job's task; the task is found by the job's kind, so rows written under old task names resolve."""
    from celery import current_app

    job_kind = get_kind(job.kind)
    if settings.CELERY_TASK_ALWAYS_EAGER:
        run_job(job.pk, job_kind.work)
        return
    with current_app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=settings.CELERY_BROKER_CONNECTION_TIMEOUT)
        current_app.send_task(job_kind.task_name, args=[job.pk], queue=job_kind.queue, connection=conn)


def job_cancel(*, job: Job) -> Job:
    """Ask a job to stop; a queued job stops at once, a running one at its next checkpoint."""
    with transaction.atomic():
        job = Job.objects.select_for_update().get(pk=job.pk)
        if job.status == Job.Status.QUEUED:
            job.status = Job.Status.CANCELLED
            job.finished_at = timezone.now()
        job.cancel_requested = True
        job.save(update_fields=["cancel_requested", "status", "finished_at"])
    return job


def job_retry(*, job: Job) -> Job:
    """Send a failed or cancelled job again; its task resumes from what it already wrote.

    Raises `NotRetryable` for any other status: a succeeded job is not run again and an active one is already
    queued or running (the status is claimed atomically, so two clicks send the job once)."""
    claimed = Job.objects.filter(pk=job.pk, status__in=RETRYABLE).update(
        status=Job.Status.QUEUED, cancel_requested=False, error="", finished_at=None
    )
    job.refresh_from_db()
    if not claimed:
        why = "it is already queued or running" if job.is_active else "a succeeded job is not run again"
        raise NotRetryable(f"{job} was not sent again: only failed or cancelled jobs can be retried ({why}).")
    try:
        send_job(job)
    except Exception as exc:
        Job.objects.filter(pk=job.pk).update(status=Job.Status.FAILED, error=f"Broker unreachable: {exc}")
        raise BrokerUnavailable(f"The task queue is not reachable: {exc}") from exc
    return job


def job_retry_many(jobs) -> tuple[list[Job], list[Job]]:
    """Retry each job that can be retried; returns (sent, skipped). `BrokerUnavailable` stops at the first."""
    sent, skipped = [], []
    for job in jobs:
        try:
            sent.append(job_retry(job=job))
        except NotRetryable:
            skipped.append(job)
    return sent, skipped


def resume_stale_jobs(*, stale_after: timedelta = STALE_AFTER) -> list[int]:
    """Re-send jobs whose worker died (running with an old heartbeat) so that they resume."""
    cutoff = timezone.now() - stale_after
    stale = Job.objects.filter(status=Job.Status.RUNNING, heartbeat_at__lt=cutoff, cancel_requested=False)
    resumed = []
    for job in stale:
        updated = Job.objects.filter(pk=job.pk, status=Job.Status.RUNNING, heartbeat_at__lt=cutoff).update(
            status=Job.Status.QUEUED
        )
        if updated:
            try:
                send_job(job)
                resumed.append(job.pk)
            except Exception:
                logger.exception("could not resume job %s", job.pk)
    return resumed
