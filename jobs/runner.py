"""Running a job's work function inside a worker: `run_job` claims the row, gives the work a `JobContext` to report
progress, log lines and honour cancellation, keeps its heartbeat while the work runs (`jobs.heartbeat`), and
records success, failure or cancellation."""
from __future__ import annotations

import logging
import traceback
from typing import Any, Callable

from django.db.models import F, Q, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from .heartbeat import Heartbeat, stale_cutoff
from .kinds import RELEASES
from .models import Job

logger = logging.getLogger(__name__)
LOG_TAIL_CHARS = 8000


class JobCancelled(Exception):
    """Raised inside a task when its job was cancelled; the runner records it as cancelled."""


class JobContext:
    """What a running task uses to report: progress, counts, log lines, cancellation. `in_worker`: the work runs in
    a Celery worker (not inline in a command or benchmark), so it may send its shards to other workers."""

    def __init__(self, job: Job, *, in_worker: bool = False):
        self.job = job
        self.in_worker = in_worker

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


def run_job(job_id: int, work: Callable[[JobContext], dict | None], *, in_worker: bool = False) -> None:
    """Run `work` for a Job row: claim it, keep its heartbeat while `work` runs, record success, failure or
    cancellation.

    The claim is one conditional UPDATE, so of two deliveries of the same job only one runs it: a job runs when it
    is queued (started, retried, resumed) or running with a stale heartbeat (a redelivery after its worker died);
    a finished job is not run again, nor one that another worker is running (its heartbeat is fresh)."""
    now = timezone.now()
    runnable = Q(status=Job.Status.QUEUED) | (Q(status=Job.Status.RUNNING) & ~Q(heartbeat_at__gte=stale_cutoff()))
    claimed = (Job.objects.filter(runnable, pk=job_id)
               .update(status=Job.Status.RUNNING, attempts=F("attempts") + 1, heartbeat_at=now,
                       started_at=Coalesce("started_at", Value(now))))
    job = Job.objects.filter(pk=job_id).first()
    if job is None:
        logger.warning("job %s no longer exists; nothing to run", job_id)
        return
    if not claimed:
        logger.warning("job %s is %s%s; this delivery does not run it", job_id, job.status,
                       " in another worker" if job.status == Job.Status.RUNNING else "")
        return
    ctx = JobContext(job, in_worker=in_worker)
    if job.attempts > 1:
        ctx.log(f"resuming (attempt {job.attempts})")
    mine = Job.objects.filter(pk=job_id, status=Job.Status.RUNNING, attempts=job.attempts)  # unless ended meanwhile
    with Heartbeat(job_id, job.attempts):
        try:
            ctx.check_cancelled()
            result = work(ctx) or {}
        except JobCancelled:
            mine.update(status=Job.Status.CANCELLED, finished_at=timezone.now())
            ctx.log("cancelled")
            job.refresh_from_db()
            release_job(job)
            return
        except Exception as exc:
            ctx.log(f"failed: {exc}")
            mine.update(
                status=Job.Status.FAILED,
                error=f"{type(exc).__name__}: {exc}\n\n{traceback.format_exc()[-4000:]}",
                finished_at=timezone.now(),
            )
            logger.exception("job %s failed", job_id)
            return
    mine.update(status=Job.Status.SUCCEEDED, result=result, done=models_total(job_id), finished_at=timezone.now())
    ctx.log("done")


def release_job(job: Job) -> None:
    """Run the `@job_release` functions of the job's kind: free what it held (a version, a campaign)."""
    for release in RELEASES.get(job.kind, ()):
        try:
            release(job)
        except Exception:  # one failing release must not keep the others (or the sweep) from running
            logger.exception("releasing what job %s held failed", job.pk)


def models_total(job_id: int) -> int:
    return Job.objects.filter(pk=job_id).values_list("total", flat=True).first() or 0
