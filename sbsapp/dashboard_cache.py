"""A campaign's dashboard metrics, computed once per change, off the web request, and shared by every viewer and
server process.

`selectors.campaign_metrics` reads every judgment and bootstraps its intervals: about a second of CPU at 5,000
judgments on this project's 2-core machine. Twenty open dashboards polling every 10 s would spend a core on it, and
run inside a web worker it holds that process (and its threads' annotators) while it runs. So each poll first reads
a cheap *change stamp* (two aggregate queries: the judgments' count, last id and last update; the controls'
expected answers; the campaign's status, plan and update time) and:

- the stamp is unchanged: the stored metrics are served, however old (nothing they depend on moved);
- it changed but the stored metrics are younger than `DASHBOARD_METRICS_SECONDS`: they are served (a live dashboard
  lags at most that long while annotators write);
- otherwise the first such poll takes a short lock in the cache and sends `sbsapp.recompute_dashboard_metrics` to a
  Celery worker (`default` queue); every poll serves the previous metrics until the worker has stored new ones.

The web request computes the metrics itself only when none are stored yet (the first view: one request computes,
the other first views wait for its result instead of computing the same thing at once), when the broker cannot be
reached (logged), or when a sent recomputation has not come back within `QUEUED_SECONDS` (no worker free to take
it: the dashboard must not freeze behind a long training job).

The metrics live in the `dashboards` cache (`DASHBOARD_CACHE_URL`: by default files under `var/`, shared by every
process on the machine; a Redis URL shares them between machines).
"""
from __future__ import annotations

import logging
import time

from celery import shared_task
from django.conf import settings
from django.core.cache import caches
from django.db.models import Count, F, Max, Q, Sum

from .models import Campaign, Item, Judgment
from .selectors import campaign_metrics

logger = logging.getLogger(__name__)

RECOMPUTE_TASK = "sbsapp.recompute_dashboard_metrics"
QUEUED_SECONDS = 30  # a recomputation sent this long ago and not stored: the next stale poll computes it itself
LOCK_SECONDS = 60  # a recomputation that dies (its process killed) blocks the others at most this long


def change_stamp(campaign: Campaign) -> list:
    """What the metrics depend on, in a few numbers that change whenever any of it changes."""
    judgments = Judgment.objects.filter(campaign=campaign).aggregate(n=Count("pk"), last=Max("pk"),
                                                                       updated=Max("updated_at"))
    controls = Item.objects.filter(campaign=campaign).aggregate(
        n=Count("pk", filter=Q(expected_preference__isnull=False)),
        signature=Sum(F("pk") * (F("expected_preference") + 3), filter=Q(expected_preference__isnull=False)),
        active=Count("pk", filter=Q(is_active=True)))
    return [judgments["n"], judgments["last"], str(judgments["updated"]), controls["n"], controls["signature"],
            controls["active"], str(campaign.updated_at), campaign.status, str(campaign.plan)]


def cache_key(campaign: Campaign) -> str:
    return f"sbs-metrics:{campaign.pk}:{campaign.created_at.timestamp():.6f}"  # a reused pk never hits another's


def dashboard_metrics(campaign: Campaign) -> dict:
    """`campaign_metrics(campaign)`, recomputed only when something changed, at most once per window, by a worker."""
    cache = caches["dashboards"]
    key = cache_key(campaign)
    stamp = change_stamp(campaign)
    entry = cache.get(key)
    if entry is None:  # the first view: one process computes them, every other first view waits for its result
        if cache.add(f"{key}:lock", time.time(), timeout=LOCK_SECONDS):
            return store_metrics(campaign)
        entry = stored_within(key, seconds=QUEUED_SECONDS)
        return store_metrics(campaign) if entry is None else entry["metrics"]
    if entry["stamp"] == stamp or time.time() - entry["at"] < settings.DASHBOARD_METRICS_SECONDS:
        return entry["metrics"]
    if cache.add(f"{key}:lock", time.time(), timeout=LOCK_SECONDS):
        if not send_recomputation(campaign):
            return store_metrics(campaign)
        return (cache.get(key) or entry)["metrics"]  # an eager task (tests, a worker-less set-up) has stored them
    sent_at = cache.get(f"{key}:lock")
    if sent_at is not None and time.time() - sent_at > QUEUED_SECONDS:  # no worker took it: do not freeze
        logger.warning("dashboard metrics of campaign %s: the recomputation sent %.0f s ago has not run; computed "
                       "in the web request", campaign.pk, time.time() - sent_at)
        cache.set(f"{key}:lock", time.time(), timeout=LOCK_SECONDS)  # the next stale poll waits for this one
        return store_metrics(campaign)
    return entry["metrics"]  # a worker (or another process) is recomputing them right now


def stored_within(key: str, *, seconds: float, poll: float = 0.1) -> dict | None:
    """The entry another process is computing, once it is stored; None if it is not within `seconds`."""
    cache = caches["dashboards"]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(poll)
        if (entry := cache.get(key)) is not None:
            return entry
        if cache.get(f"{key}:lock") is None:  # the computation ended without storing anything (it failed)
            return None
    return None


def send_recomputation(campaign: Campaign) -> bool:
    """Send the recomputation to a worker; False (logged) when the broker cannot be reached."""
    from celery import current_app

    if settings.CELERY_TASK_ALWAYS_EAGER:
        recompute_dashboard_metrics(campaign.pk)
        return True
    try:
        with current_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=settings.CELERY_BROKER_CONNECTION_TIMEOUT)
            current_app.send_task(RECOMPUTE_TASK, args=[campaign.pk], queue="default", connection=conn,
                                  expires=LOCK_SECONDS)
    except Exception as exc:  # any broker failure: the dashboard still shows fresh numbers, computed here
        logger.warning("dashboard metrics of campaign %s: the broker is unreachable (%s); computed in the web "
                       "request", campaign.pk, exc)
        return False
    return True


def store_metrics(campaign: Campaign) -> dict:
    """Compute the metrics now, store them with the stamp read *before* computing (so a judgment written meanwhile
    is seen as a change at the next poll) and release the lock."""
    cache = caches["dashboards"]
    key = cache_key(campaign)
    try:
        stamp, started = change_stamp(campaign), time.time()
        metrics = campaign_metrics(campaign=campaign)
        cache.set(key, {"stamp": stamp, "at": started, "metrics": metrics}, timeout=24 * 3600)
    finally:
        cache.delete(f"{key}:lock")
    return metrics


@shared_task(name=RECOMPUTE_TASK, ignore_result=True)
def recompute_dashboard_metrics(campaign_pk: int) -> None:
    campaign = Campaign.objects.filter(pk=campaign_pk).first()
    if campaign is not None:  # deleted meanwhile: nothing to show
        store_metrics(campaign)
