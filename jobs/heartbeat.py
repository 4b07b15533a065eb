"""A running job's heartbeat, and when a heartbeat counts as stale.

`Heartbeat` is a daemon thread that touches the job row every `JOBS_HEARTBEAT_SECONDS` while the job's work runs,
so a step that reports nothing for a long time (a large IVF build, encoding between progress reports) still looks
alive. A heartbeat older than `JOBS_STALE_AFTER_SECONDS` therefore means the worker died, and only then is the
job sent again (`jobs.services.sweep_stale_jobs`): a live job is never run twice.
"""
from __future__ import annotations

import logging
import threading
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from .models import Job

logger = logging.getLogger(__name__)


def heartbeat_every() -> float:
    return float(settings.JOBS_HEARTBEAT_SECONDS)


def stale_after() -> timedelta:
    return timedelta(seconds=float(settings.JOBS_STALE_AFTER_SECONDS))


def stale_cutoff():
    """Heartbeats older than this belong to dead workers."""
    return timezone.now() - stale_after()


class Heartbeat:
    """Touches `heartbeat_at` of one attempt of a running job (or of a job's shard, `model=JobShard`) every
    `interval` seconds until `stop()`.

    Only this attempt's row is touched (`status` running, `attempts` unchanged), so a worker that lost its job
    to another never keeps it looking alive. Inside an outer transaction (tests) the row is invisible to the
    thread's own connection, so no thread is started."""

    def __init__(self, job_id: int, attempt: int, interval: float | None = None, model=Job):
        self.job_id, self.attempt, self.model = job_id, attempt, model
        self.interval = heartbeat_every() if interval is None else interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Heartbeat:
        if self.interval > 0 and not transaction.get_connection().in_atomic_block:
            self._thread = threading.Thread(target=self._run, name=f"job-{self.job_id}-heartbeat", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _run(self) -> None:
        try:
            while not self._stop.wait(self.interval):
                try:
                    self.model.objects.filter(pk=self.job_id, status="running", attempts=self.attempt).update(
                        heartbeat_at=timezone.now())
                except Exception:  # a database hiccup: the next beat tries again
                    logger.exception("job %s: heartbeat failed", self.job_id)
        finally:
            connection.close()  # this thread's own connection
