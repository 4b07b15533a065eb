"""Starting, cancelling, retrying and resuming background jobs of any registered kind.

`job_start` creates the Job row and sends its task in one step: if the broker cannot take the task, the row is
removed and `BrokerUnavailable` says so, so no half-created job is left behind. `inline=True` runs the work in
this process instead (management commands, benchmarks). Inside the task, `jobs.runner.run_job` gives the work
a `JobContext`. A start that must be single claims what it works on in the job's own transaction (`claim`).

A job whose worker died (heartbeat older than `JOBS_STALE_AFTER_SECONDS`) is found by `sweep_stale_jobs`, which
Celery beat runs periodically (`jobs.sweep`): it is sent again, or ended as cancelled if its cancellation was
asked; `job_mark_failed` ends a stuck one by hand. A job ended from outside its work frees what it held through
its kind's `@job_release` functions.
"""
from __future__ import annotations

import logging
from datetime import timedelta
from typing import Callable

from django.conf import settings
from django.db import connections, transaction
from django.db.models import F, Q
from django.utils import timezone

from . import heartbeat
from .kinds import get_kind
from .models import Job
from .runner import LOG_TAIL_CHARS, JobCancelled, JobContext, release_job, run_job

__all__ = ["BrokerUnavailable", "JobCancelled", "JobContext", "NotRetryable", "NotStuck", "cancel_stale_jobs",
           "job_cancel", "job_mark_failed", "job_retry", "job_retry_many", "job_start", "lock_row", "release_job",
           "resume_stale_jobs", "run_job", "send_job", "sweep_stale_jobs"]

logger = logging.getLogger(__name__)


class BrokerUnavailable(RuntimeError):
    """The task queue could not be reached, so the job was not started."""


class NotRetryable(ValueError):
    """Only a failed or cancelled job can be retried; the message says why this one cannot."""


RETRYABLE = (Job.Status.FAILED, Job.Status.CANCELLED)


def job_start(*, kind: str, config: dict | None = None, user=None, inline: bool = False,
              claim: Callable[[], object] | None = None,
              on_created: Callable[[Job], object] | None = None) -> Job:
    """Create a job of a registered kind and send it to its queue (or run it here with `inline=True`).

    For a start that must be single (one build per version, one generation per campaign), `claim()` runs first,
    in the same transaction as the row: it locks what the job will work on (`lock_row`), checks that nothing
    else holds it and raises to refuse. `on_created(job)` then links the job to it (a version's `build_job`, a
    campaign's `generation_job`). The task is sent only after that transaction commits, so a worker always finds
    the row and its link, and of simultaneous starts one makes a job while the others' claims wait, then refuse."""
    job_kind = get_kind(kind)
    with transaction.atomic():
        if claim is not None:
            claim()
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


def lock_row(queryset):
    """Inside `transaction.atomic()`: lock the queryset's one row until the transaction ends and return it as it
    is now, so that a second start of the same thing waits here and then sees what the first one wrote.

    SQLite has no row locks and a transaction that read cannot always take the write lock later, so there a
    no-op UPDATE takes the database's write lock first (a concurrent start waits for the busy timeout)."""
    if connections[queryset.db].vendor == "sqlite":
        pk = queryset.model._meta.pk.attname
        queryset.update(**{pk: F(pk)})
    return queryset.select_for_update().get()


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
    """Ask a job to stop; a queued job stops at once, a running one at its next checkpoint, and one whose worker
    died (stale heartbeat) at once too: nothing would ever reach its next checkpoint."""
    with transaction.atomic():
        job = Job.objects.select_for_update().get(pk=job.pk)
        ended = job.status == Job.Status.QUEUED
        if ended:
            job.status = Job.Status.CANCELLED
            job.finished_at = timezone.now()
        job.cancel_requested = True
        job.save(update_fields=["cancel_requested", "status", "finished_at"])
    if ended:
        release_job(job)
    elif job.status == Job.Status.RUNNING:
        cancel_stale_jobs(pks=[job.pk])
        job.refresh_from_db()
    return job


class NotStuck(ValueError):
    """Only a queued job or a running one whose worker died can be marked failed; the message says why not."""


def job_mark_failed(*, job: Job, user=None) -> Job:
    """End a stuck job as failed and free what it held (its version, its campaign): for a job still queued with no
    worker to take it, or running with a stale heartbeat. A live job is refused (`NotStuck`): cancel it instead,
    so its work stops at a checkpoint rather than writing on after being marked failed."""
    who = f" by {user.get_username()}" if user is not None and getattr(user, "is_authenticated", False) else ""
    reason = f"Marked failed{who}: the job was stuck ({job.status}, no live worker). Retry it to resume."
    stuck = Q(status=Job.Status.QUEUED) | Q(status=Job.Status.RUNNING, heartbeat_at__lt=heartbeat.stale_cutoff())
    ended = Job.objects.filter(stuck, pk=job.pk).update(status=Job.Status.FAILED, error=reason,
                                                         finished_at=timezone.now())
    job.refresh_from_db()
    if not ended:
        why = ("its worker is alive (fresh heartbeat); cancel it instead" if job.status == Job.Status.RUNNING
               else f"it is already {job.status}")
        raise NotStuck(f"{job} was not marked failed: {why}.")
    _note(job, reason)
    release_job(job)
    return job


def cancel_stale_jobs(*, pks: list[int] | None = None) -> list[int]:
    """End as cancelled the running jobs whose cancellation was asked and whose worker died (stale heartbeat),
    and free what each held; returns their ids."""
    cutoff = heartbeat.stale_cutoff()
    stale = Job.objects.filter(status=Job.Status.RUNNING, cancel_requested=True, heartbeat_at__lt=cutoff)
    if pks is not None:
        stale = stale.filter(pk__in=pks)
    cancelled = []
    for job in stale:
        if Job.objects.filter(pk=job.pk, status=Job.Status.RUNNING, heartbeat_at__lt=cutoff).update(
                status=Job.Status.CANCELLED, finished_at=timezone.now()):
            job.refresh_from_db()
            _note(job, "cancelled (its worker had died)")
            release_job(job)
            cancelled.append(job.pk)
    return cancelled


def sweep_stale_jobs() -> dict[str, list[int]]:
    """The periodic sweep (`jobs.sweep`, run by Celery beat): end stale jobs whose cancellation was asked, send
    the other stale ones again so that they resume."""
    return {"cancelled": cancel_stale_jobs(), "resumed": resume_stale_jobs()}


def _note(job: Job, message: str) -> None:
    """A log line on a job that no worker runs any more."""
    job.log_tail = (job.log_tail + f"{timezone.now():%H:%M:%S} {message}\n")[-LOG_TAIL_CHARS:]
    Job.objects.filter(pk=job.pk).update(log_tail=job.log_tail)


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


def resume_stale_jobs(*, stale_after: timedelta | None = None) -> list[int]:
    """Re-send jobs whose worker died (running, heartbeat older than `JOBS_STALE_AFTER_SECONDS`) so that they
    resume; a job whose cancellation was asked is left to `cancel_stale_jobs`, which ends it."""
    cutoff = timezone.now() - (stale_after or heartbeat.stale_after())
    stale = Job.objects.filter(status=Job.Status.RUNNING, heartbeat_at__lt=cutoff, cancel_requested=False)
    resumed = []
    for job in stale:
        updated = Job.objects.filter(pk=job.pk, status=Job.Status.RUNNING, heartbeat_at__lt=cutoff,
                                     cancel_requested=False).update(status=Job.Status.QUEUED)
        if updated:
            try:
                send_job(job)
                resumed.append(job.pk)
            except Exception:
                Job.objects.filter(pk=job.pk, status=Job.Status.QUEUED).update(status=Job.Status.RUNNING)
                logger.exception("could not resume job %s", job.pk)
    return resumed
