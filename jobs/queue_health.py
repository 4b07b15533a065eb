"""Is anything taking jobs off the queue? The oldest queued job's age and which workers answered a broadcast, so a job
that sits in "Queued" says why on the job pages and in the API.

The workers are asked (Celery's `inspect().active_queues()`, which is a ping that also names the queues each worker
takes) at most once every `CACHE_SECONDS`, with a `PING_TIMEOUT` seconds wait, so the pages that show the answer
stay fast. A broker that cannot broadcast (or is down) gives no answer at all: then a queue is judged stuck when its
oldest job has waited `STUCK_AFTER` and no job has started or reported meanwhile.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db.models import Max, Min
from django.utils import timezone

from .models import Job
from .presentation import format_seconds

logger = logging.getLogger(__name__)
PING_TIMEOUT = 0.5
CACHE_SECONDS = 10
CACHE_KEY = "jobs.queue_health.workers"
STUCK_AFTER = timedelta(seconds=60)
START_WORKER = "celery -A celery_worker worker -Q default,ml (make worker)"


@dataclass(frozen=True)
class Workers:
    """What the last broadcast found: worker name -> the queues it takes; `answered` is False when the broker
    could not be asked."""

    queues: dict[str, list[str]] = field(default_factory=dict)
    answered: bool = True
    checked_at: datetime | None = None


@dataclass(frozen=True)
class QueueHealth:
    queued: int
    oldest_queued_at: datetime | None
    workers: Workers
    now: datetime
    level: str = ""  # "" (nothing to say), "info" or "warning"
    message: str = ""

    @property
    def oldest_queued_seconds(self) -> int | None:
        if self.oldest_queued_at is None:
            return None
        return max(0, int((self.now - self.oldest_queued_at).total_seconds()))

    def as_dict(self) -> dict:
        return {
            "queued": self.queued,
            "oldest_queued_seconds": self.oldest_queued_seconds,
            "workers_answered": sorted(self.workers.queues) if self.workers.answered else None,
            "queues_taken": sorted({q for queues in self.workers.queues.values() for q in queues}),
            "checked_at": self.workers.checked_at,
            "level": self.level,
            "message": self.message,
        }


def ask_workers() -> Workers:
    """Broadcast to the workers (cached for `CACHE_SECONDS`): who answers and which queues each one takes."""
    cached = cache.get(CACHE_KEY)
    if cached is not None:
        return cached
    from celery import current_app

    now = timezone.now()
    try:
        replies = current_app.control.inspect(timeout=PING_TIMEOUT).active_queues() or {}
        workers = Workers(queues={name: sorted(q["name"] for q in queues or []) for name, queues in replies.items()},
                          checked_at=now)
    except Exception as exc:  # a broker without broadcast, or none reachable: decide from the job rows instead
        logger.info("could not ask the workers: %s", exc)
        workers = Workers(answered=False, checked_at=now)
    cache.set(CACHE_KEY, workers, CACHE_SECONDS)
    return workers


def queue_health() -> QueueHealth:
    """The queue's state and, when queued jobs are not being taken, a sentence saying so (and what to do)."""
    now = timezone.now()
    queued = Job.objects.filter(status=Job.Status.QUEUED)
    summary = queued.aggregate(oldest=Min("created_at"))
    count = queued.count()
    if not count or settings.CELERY_TASK_ALWAYS_EAGER:
        return QueueHealth(queued=count, oldest_queued_at=summary["oldest"], workers=Workers(answered=False), now=now)
    health = QueueHealth(queued=count, oldest_queued_at=summary["oldest"], workers=ask_workers(), now=now)
    level, message = _verdict(health, waiting_queues=set(queued.values_list("queue", flat=True)))
    return replace(health, level=level, message=message)


def _verdict(health: QueueHealth, *, waiting_queues: set[str]) -> tuple[str, str]:
    jobs = f"{health.queued} job{'s' if health.queued != 1 else ''} queued, the oldest for " \
           f"{format_seconds(health.oldest_queued_seconds)}"
    workers = health.workers
    if workers.answered and not workers.queues:
        return "warning", (f"{jobs}, and no worker answered a ping: nothing is taking jobs off the queue. "
                           f"Start a worker: {START_WORKER}.")
    if workers.answered:
        taken = {q for queues in workers.queues.values() for q in queues}
        untaken = sorted(waiting_queues - taken)
        if untaken:
            return "warning", (f"{jobs}. {len(workers.queues)} worker(s) answered, but none takes the "
                               f"{', '.join(untaken)} queue: start one with -Q {','.join(untaken)}.")
        if health.now - health.oldest_queued_at > STUCK_AFTER:
            return "info", f"{jobs}; {len(workers.queues)} worker(s) answered and are busy: the jobs wait their turn."
        return "", ""
    if health.now - health.oldest_queued_at <= STUCK_AFTER:
        return "", ""
    last = Job.objects.aggregate(started=Max("started_at"), beat=Max("heartbeat_at"))
    recent = max((t for t in last.values() if t is not None), default=None)
    if recent is not None and health.now - recent <= STUCK_AFTER:
        ago = format_seconds(int((health.now - recent).total_seconds()))
        return "info", f"{jobs}; the workers could not be pinged, but a job reported {ago} ago: they wait their turn."
    return "warning", (f"{jobs}, the workers could not be pinged and no job has started for over "
                       f"{format_seconds(int(STUCK_AFTER.total_seconds()))}: is a worker running? "
                       f"Start one: {START_WORKER}.")

