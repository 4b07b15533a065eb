"""Sharded job steps: a long step split into chunks that any number of workers run, under one parent job.

    @shard_step("catalogue_encoding", release=forget_encoder)
    def encode_shard(shard: JobShard, report) -> dict: ...        # idempotent: may run again after a death

    results = run_shards(ctx, step="catalogue_encoding", specs=[{"start": 0, "stop": 2000}, ...], totals=[2000, ...])

`run_shards`, inside a job's work, writes one `JobShard` row per spec (once: a resumed job whose work list is
unchanged keeps its rows and what its done shards wrote), sends up to `JOBS_SHARD_HELPERS` helper tasks to the job's
queue when the job runs in a worker, and then works through the shards itself beside the helpers: each process
claims the next shard with one conditional UPDATE, so a shard runs in one place at a time. A helper
(`jobs.shard_helper`) claims shards until none is left; then the step's `release()` frees what its shards kept
loaded in that process (models). A shard that raised is run again alone (up to `JOBS_SHARD_ATTEMPTS` times), and so
is one whose worker died (its heartbeat, kept by a thread while it runs, went stale). The parent's progress bar sums
its shards' progress; it returns the shards' results in index order once all are done. Run inline (a command, a
benchmark) the parent runs every shard itself: the same code and the same results as with many workers.
"""
from __future__ import annotations

import logging
import os
import socket
import time
import traceback
from typing import Callable

from celery import shared_task
from django.conf import settings
from django.db.models import Count, F, Q, Sum
from django.utils import timezone

from .heartbeat import Heartbeat, stale_cutoff
from .models import Job, JobShard
from .runner import JobCancelled, JobContext

logger = logging.getLogger(__name__)

HELPER_TASK = "jobs.shard_helper"
REPORT_EVERY_SECONDS = 1.0
POLL_SECONDS = 0.5

# step name -> fn(shard, report) -> dict; report(done) says how many of the shard's `total` items are done
SHARD_STEPS: dict[str, Callable[[JobShard, Callable[[int], None]], dict]] = {}
# step name -> what frees the models its shards keep loaded in a process between shards
SHARD_RELEASES: dict[str, Callable[[], None]] = {}


class ShardFailed(RuntimeError):
    """A shard kept failing (`JOBS_SHARD_ATTEMPTS` times); its last error is in the message."""


def shard_step(name: str, *, release: Callable[[], None] | None = None):
    """Register the function that runs one shard of the step `name` (in any worker, so it must be idempotent) and
    what frees the models it keeps loaded between shards (run when a process has no shard of the step left)."""
    def register(fn: Callable) -> Callable:
        SHARD_STEPS[name] = fn
        if release is not None:
            SHARD_RELEASES[name] = release
        return fn

    return register


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def max_attempts() -> int:
    return int(settings.JOBS_SHARD_ATTEMPTS)


def claimable(*, attempts: int | None = None) -> Q:
    """Shards a process may take: never started, failed with attempts left, or running on a dead worker."""
    attempts = max_attempts() if attempts is None else attempts
    return (Q(status=JobShard.Status.PENDING) | Q(status=JobShard.Status.FAILED, attempts__lt=attempts)
            | Q(status=JobShard.Status.RUNNING, heartbeat_at__lt=stale_cutoff()))


def claim_next(job_id: int, step: str) -> JobShard | None:
    """Claim the job's next claimable shard of `step` (one conditional UPDATE per try; shards never tried come
    before failed ones, so one broken chunk does not hold the others up); None when none is left."""
    while True:
        candidates = JobShard.objects.filter(claimable(), job_id=job_id, step=step)
        pk = (candidates.exclude(status=JobShard.Status.FAILED).order_by("index").values_list("pk", flat=True).first()
              or candidates.order_by("index").values_list("pk", flat=True).first())
        if pk is None:
            return None
        now = timezone.now()
        if JobShard.objects.filter(claimable(), pk=pk).update(
                status=JobShard.Status.RUNNING, attempts=F("attempts") + 1, worker=worker_name(), heartbeat_at=now,
                started_at=now, finished_at=None, error="", done=0):
            return JobShard.objects.get(pk=pk)
        # another process took it between the read and the update: try the next one


def job_still_wants(job_id: int) -> bool:
    return Job.objects.filter(pk=job_id, status=Job.Status.RUNNING, cancel_requested=False).exists()


def execute(shard: JobShard) -> bool:
    """Run a claimed shard here and record how it ended; False when its job was cancelled meanwhile."""
    fn = SHARD_STEPS[shard.step]
    mine = JobShard.objects.filter(pk=shard.pk, status=JobShard.Status.RUNNING, attempts=shard.attempts)
    last = [0.0]

    def report(done: int) -> None:
        now = time.monotonic()
        if now - last[0] >= REPORT_EVERY_SECONDS:
            last[0] = now
            if not job_still_wants(shard.job_id):
                raise JobCancelled()
            mine.update(done=done, heartbeat_at=timezone.now())

    started = time.perf_counter()
    with Heartbeat(shard.pk, shard.attempts, model=JobShard):
        try:
            result = fn(shard, report) or {}
        except JobCancelled:
            mine.update(status=JobShard.Status.PENDING, worker="")
            return False
        except Exception as exc:
            mine.update(status=JobShard.Status.FAILED, finished_at=timezone.now(),
                        error=f"{type(exc).__name__}: {exc}\n\n{traceback.format_exc()[-3000:]}")
            logger.exception("%s failed (attempt %s)", shard, shard.attempts)
            return True
    result = {**result, "seconds": round(time.perf_counter() - started, 2)}
    mine.update(status=JobShard.Status.DONE, done=F("total"), result=result, finished_at=timezone.now())
    return True


def work_through(job_id: int, step: str) -> int:
    """Claim and run shards of a job's step until none is claimable (or the job stops); returns how many ran."""
    ran = 0
    try:
        while job_still_wants(job_id):
            shard = claim_next(job_id, step)
            if shard is None or not execute(shard):
                break
            ran += 1
    finally:
        release(step)
    return ran


def release(step: str) -> None:
    if step in SHARD_RELEASES:
        SHARD_RELEASES[step]()


@shared_task(name=HELPER_TASK, ignore_result=True)
def shard_helper(job_id: int, step: str) -> int:
    """A helper sent by `run_shards`: work through the job's shards of `step` beside its parent."""
    return work_through(job_id, step)


def send_helpers(ctx: JobContext, step: str, count: int) -> int:
    """Send up to `count` helper tasks to the job's queue; a broker that cannot take them leaves the work to the
    parent (logged), it never fails the job."""
    from celery import current_app

    sent = 0
    try:
        with current_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=settings.CELERY_BROKER_CONNECTION_TIMEOUT)
            for _ in range(count):
                current_app.send_task(HELPER_TASK, args=[ctx.job.pk, step], queue=ctx.job.queue, connection=conn)
                sent += 1
    except Exception as exc:  # kombu raises many connection error types
        ctx.log(f"could not send shard helpers ({exc}); this worker runs every shard")
    return sent


def run_shards(ctx: JobContext, *, step: str, specs: list[dict], totals: list[int] | None = None,
               stage: str = "", describe: Callable[[dict], str] | None = None,
               counts: Callable[[], dict] | None = None) -> list[dict]:
    """Run `step` over `specs` as shards (see the module docstring) and return their results in order.

    `totals`: items per shard, summed into the parent's progress bar under the stage name `stage`.
    `describe(result)`: the log line of a done shard. `counts()`: extra counts for the job page, read whenever a
    shard is done and at the end."""
    if step not in SHARD_STEPS:
        raise LookupError(f"No shard step {step!r} is registered.")
    totals = totals or [1] * len(specs)
    job = ctx.job
    existing = JobShard.objects.filter(job=job, step=step)
    if list(existing.order_by("index").values_list("spec", flat=True)) != specs:
        # a first run, or a resumed one whose work list changed (a generation skips the queries already frozen)
        existing.delete()
        JobShard.objects.bulk_create([JobShard(job=job, step=step, index=i, spec=spec, total=total)
                                      for i, (spec, total) in enumerate(zip(specs, totals))])
    else:
        existing.filter(status=JobShard.Status.FAILED).update(attempts=0)  # a retry of the job: a fresh budget
    shards = JobShard.objects.filter(job=job, step=step)
    ctx.stage(stage or step.replace("_", " "), total=sum(totals))
    left = shards.exclude(status=JobShard.Status.DONE).count()
    if ctx.in_worker and left > 1 and settings.JOBS_SHARD_HELPERS > 0:
        sent = send_helpers(ctx, step, min(left - 1, settings.JOBS_SHARD_HELPERS))
        ctx.log(f"{len(specs)} shards of {step}, {left} to run; {sent} helper task(s) sent to the {job.queue} queue")
    logged: set[int] = set(shards.filter(status=JobShard.Status.DONE).values_list("index", flat=True))
    try:
        while True:
            ctx.check_cancelled()
            shard = claim_next(job.pk, step)
            if shard is not None:
                if not execute(shard):
                    ctx.check_cancelled()
            else:
                time.sleep(POLL_SECONDS)
            finished = not shards.exclude(status=JobShard.Status.DONE).exists()
            _report(ctx, shards, logged, describe, counts, final=finished)
            if finished:
                return [shard.result for shard in shards.order_by("index")]
            exhausted = shards.filter(status=JobShard.Status.FAILED, attempts__gte=max_attempts()).first()
            if exhausted is not None:
                raise ShardFailed(f"{exhausted} failed {exhausted.attempts} times; last error: "
                                  f"{exhausted.error.splitlines()[0] if exhausted.error else 'unknown'}")
    finally:
        release(step)


def _report(ctx, shards, logged: set[int], describe, counts, *, final: bool) -> None:
    """Sum the shards' progress into the parent and log each newly done shard once; `counts()` is read when a
    shard is newly done and at the end (shards run by helpers while no parent ran are done already)."""
    fresh = list(shards.filter(status=JobShard.Status.DONE).exclude(index__in=logged).order_by("index"))
    for shard in fresh:
        logged.add(shard.index)
        ctx.log(f"shard {shard.index + 1}/{shards.count()} done by {shard.worker} in {shard.result.get('seconds')} s"
                + (f": {describe(shard.result)}" if describe else ""))
    summary = shards.aggregate(done=Sum("done"), workers=Count("worker", distinct=True,
                                                                filter=~Q(worker="")))
    extra = counts() if counts and (fresh or final) else {}
    ctx.progress(summary["done"] or 0, shards_done=len(logged), shards=shards.count(),
                 shard_workers=summary["workers"], **extra)
