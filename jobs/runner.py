"""Running a job's work function inside a worker: `run_job` marks the row running, gives the work a `JobContext`
to report progress, log lines and honour cancellation, and records success, failure or cancellation."""
from __future__ import annotations

import logging
import traceback
from typing import Any, Callable

from django.db import transaction
from django.utils import timezone

from .models import Job

logger = logging.getLogger(__name__)
LOG_TAIL_CHARS = 8000


class JobCancelled(Exception):
    """Raised inside a task when its job was cancelled; the runner records it as cancelled."""


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
