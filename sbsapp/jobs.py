"""Starting, running, cancelling and resuming background jobs.

`job_start` creates the Job row and sends its task in one step: if the broker cannot take the task, the row is
removed and `BrokerUnavailable` says so, so no half-created job is left behind. Inside the task, `run_job`
gives the domain function a `JobContext` to report progress, log lines and honour cancellation.
"""
from __future__ import annotations

import logging
import traceback
from datetime import timedelta
from typing import Any, Callable

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from .models import Job

logger = logging.getLogger(__name__)
LOG_TAIL_CHARS = 8000
STALE_AFTER = timedelta(minutes=2)


class BrokerUnavailable(RuntimeError):
    """The task queue could not be reached, so the job was not started."""


class JobCancelled(Exception):
    """Raised inside a task when its job was cancelled; the runner records it as cancelled."""


def job_start(*, kind: str, task, config: dict | None = None, user=None) -> Job:
    job = Job.objects.create(
        kind=kind,
        task_name=task.name,
        queue=task_queue(task.name),
        config=config or {},
        created_by=user if user is not None and user.is_authenticated else None,
    )
    try:
        send_job(job)
    except Exception as exc:  # kombu raises many connection error types
        job.delete()
        raise BrokerUnavailable(
            f"The task queue is not reachable ({settings.CELERY_BROKER_URL.split('@')[-1]}): {exc}. "
            "Nothing was started; start the broker and try again."
        ) from exc
    return job


def task_queue(task_name: str) -> str:
    short = task_name.rsplit(".", 1)[-1]
    return "ml" if short.startswith("ml_") else "default"


def send_job(job: Job) -> None:
    from celery_worker import app

    if settings.CELERY_TASK_ALWAYS_EAGER:
        app.tasks[job.task_name].apply(args=[job.pk])
        return
    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=settings.CELERY_BROKER_CONNECTION_TIMEOUT)
        app.send_task(job.task_name, args=[job.pk], queue=job.queue, connection=conn)


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
    """Send a failed or cancelled job again; its task resumes from what it already wrote."""
    if job.is_active:
        return job
    Job.objects.filter(pk=job.pk).update(
        status=Job.Status.QUEUED, cancel_requested=False, error="", finished_at=None
    )
    job.refresh_from_db()
    try:
        send_job(job)
    except Exception as exc:
        Job.objects.filter(pk=job.pk).update(status=Job.Status.FAILED, error=f"Broker unreachable: {exc}")
        raise BrokerUnavailable(f"The task queue is not reachable: {exc}") from exc
    return job


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


class JobContext:
    """What a running task uses to report: progress, counts, log lines, cancellation."""

    def __init__(self, job: Job):
        self.job = job

    @property
    def config(self) -> dict:
        return self.job.config

    def stage(self, name: str, total: int = 0) -> None:
        self.log(f"stage: {name}")
        Job.objects.filter(pk=self.job.pk).update(stage=name, done=0, total=total, heartbeat_at=timezone.now())
        self.job.stage, self.job.done, self.job.total = name, 0, total

    def progress(self, done: int, total: int | None = None, **counts: Any) -> None:
        self.check_cancelled()
        fields: dict[str, Any] = {"done": done, "heartbeat_at": timezone.now()}
        if total is not None:
            fields["total"] = total
        if counts:
            self.job.counts = {**self.job.counts, **counts}
            fields["counts"] = self.job.counts
        Job.objects.filter(pk=self.job.pk).update(**fields)

    def log(self, message: str) -> None:
        line = f"{timezone.now():%H:%M:%S} {message}\n"
        self.job.log_tail = (self.job.log_tail + line)[-LOG_TAIL_CHARS:]
        Job.objects.filter(pk=self.job.pk).update(log_tail=self.job.log_tail, heartbeat_at=timezone.now())
        logger.info("job %s: %s", self.job.pk, message)

    def check_cancelled(self) -> None:
        if Job.objects.filter(pk=self.job.pk, cancel_requested=True).exists():
            raise JobCancelled()

    def tqdm_callback(self) -> Callable[[int, int], None]:
        return lambda done, total: self.progress(done, total)


def run_job(job_id: int, work: Callable[[JobContext], dict | None]) -> None:
    """Run `work` for a Job row: mark it running, record success, failure or cancellation."""
    with transaction.atomic():
        job = Job.objects.select_for_update().filter(pk=job_id).first()
        if job is None:
            logger.warning("job %s no longer exists; nothing to run", job_id)
            return
        if job.status in (Job.Status.SUCCEEDED, Job.Status.CANCELLED):
            return  # a re-delivered message for a finished job
        job.status = Job.Status.RUNNING
        job.attempts += 1
        job.started_at = job.started_at or timezone.now()
        job.heartbeat_at = timezone.now()
        job.save(update_fields=["status", "attempts", "started_at", "heartbeat_at"])
    ctx = JobContext(job)
    if job.attempts > 1:
        ctx.log(f"resuming (attempt {job.attempts})")
    try:
        ctx.check_cancelled()
        result = work(ctx) or {}
    except JobCancelled:
        Job.objects.filter(pk=job_id).update(status=Job.Status.CANCELLED, finished_at=timezone.now())
        ctx.log("cancelled")
        return
    except Exception as exc:
        ctx.log(f"failed: {exc}")
        Job.objects.filter(pk=job_id).update(
            status=Job.Status.FAILED,
            error=f"{type(exc).__name__}: {exc}\n\n{traceback.format_exc()[-4000:]}",
            finished_at=timezone.now(),
        )
        logger.exception("job %s failed", job_id)
        return
    Job.objects.filter(pk=job_id).update(
        status=Job.Status.SUCCEEDED, result=result, done=models_total(job_id), finished_at=timezone.now()
    )
    ctx.log("done")


def models_total(job_id: int) -> int:
    return Job.objects.filter(pk=job_id).values_list("total", flat=True).first() or 0
