"""A campaign's dashboard metrics, computed once per change and shared by every viewer and server process.

`selectors.campaign_metrics` reads every judgment and bootstraps its intervals: about half a second of CPU at 5,000
judgments on this project's 2-core machine. Twenty open dashboards polling every 10 s would spend a core on it and
slow the annotators down. So each poll first reads a cheap *change stamp* (two aggregate queries: the judgments'
count, last id and last update; the controls' expected answers; the campaign's status, plan and update time) and:

- the stamp is unchanged: the stored metrics are served, however old (nothing they depend on moved);
- it changed but the stored metrics are younger than `DASHBOARD_METRICS_SECONDS`: they are served (a live dashboard
  lags at most that long while annotators write);
- otherwise one process recomputes (a short lock in the cache), the others serve the previous metrics meanwhile.

The metrics live in the `dashboards` cache (`DASHBOARD_CACHE_URL`: by default files under `var/`, shared by every
process on the machine; a Redis URL shares them between machines).
"""
from __future__ import annotations

import time

from django.conf import settings
from django.core.cache import caches
from django.db.models import Count, F, Max, Q, Sum

from .models import Campaign, Item, Judgment
from .selectors import campaign_metrics

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


def dashboard_metrics(campaign: Campaign) -> dict:
    """`campaign_metrics(campaign)`, recomputed only when something changed and at most once per window."""
    cache = caches["dashboards"]
    key = f"sbs-metrics:{campaign.pk}:{campaign.created_at.timestamp():.6f}"  # a reused pk never hits another's
    stamp = change_stamp(campaign)
    entry = cache.get(key)
    if entry is not None and (entry["stamp"] == stamp
                              or time.time() - entry["at"] < settings.DASHBOARD_METRICS_SECONDS):
        return entry["metrics"]
    if entry is not None and not cache.add(f"{key}:lock", 1, timeout=LOCK_SECONDS):
        return entry["metrics"]  # another process is recomputing them right now
    try:
        started = time.time()
        metrics = campaign_metrics(campaign=campaign)
        cache.set(key, {"stamp": stamp, "at": started, "metrics": metrics}, timeout=24 * 3600)
    finally:
        cache.delete(f"{key}:lock")
    return metrics
