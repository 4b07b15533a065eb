"""Read-only queries of the SBS app: campaign lists per role, progress, ratings for metrics, per-query rows, and the
data behind a campaign's plan and its sequential verdict."""
from __future__ import annotations

import statistics
from collections import defaultdict
from datetime import datetime

from django.contrib.auth import get_user_model
from django.db.models import Count, F, IntegerField, Max, Q, QuerySet, Sum
from django.db.models.functions import Least

from . import planning, sequential
from .metrics import Rating, compute_metrics, gsb_counts, sign
from .models import Campaign, Item, Judgment
from core.roles import is_analyst


def campaigns_for_user(*, user) -> QuerySet[Campaign]:
    """Analysts see every campaign; annotators only those open for judging."""
    campaigns = Campaign.objects.select_related("system_a", "system_b", "generation_job")
    if is_analyst(user):
        return campaigns
    return campaigns.filter(status=Campaign.Status.ACTIVE)


def judgments_for_campaign(*, campaign: Campaign, annotator=None, since: datetime | None = None,
                           include_skipped: bool = False) -> QuerySet[Judgment]:
    judgments = Judgment.objects.filter(campaign=campaign).select_related("item", "annotator")
    if annotator is not None:
        judgments = judgments.filter(annotator=annotator)
    if since is not None:
        judgments = judgments.filter(created_at__gte=since)
    if not include_skipped:
        judgments = judgments.filter(skipped=False)
    return judgments


def campaign_ratings(*, campaign: Campaign) -> list[Rating]:
    """Non-skipped judgments of active items as metric records."""
    rows = (
        Judgment.objects.filter(campaign=campaign, skipped=False, item__is_active=True)
        .values_list("item_id", "annotator_id", "preference", "choice", "item__kind", "item__segment",
                     "item__query_type", "item__expected_preference", "time_on_item_ms")
        .order_by("pk")
    )
    return [
        Rating(item=item, annotator=annotator, preference=preference, choice=choice, kind=kind, segment=segment,
               query_type=query_type, expected=expected, time_ms=time_ms)
        for item, annotator, preference, choice, kind, segment, query_type, expected, time_ms in rows
    ]


def campaign_skips(*, campaign: Campaign) -> dict[int, int]:
    return dict(
        Judgment.objects.filter(campaign=campaign, skipped=True)
        .values_list("annotator_id").annotate(n=Count("pk")).values_list("annotator_id", "n")
    )


def campaign_progress(*, campaign: Campaign) -> dict:
    """How far the campaign is: judgments done out of those needed over active items."""
    return campaigns_progress(campaigns=[campaign])[campaign.pk]


def campaigns_progress(*, campaigns: list[Campaign]) -> dict[int, dict]:
    """`campaign_progress` of many campaigns in three queries (the campaign list shows one per card)."""
    ids = [campaign.pk for campaign in campaigns]
    per_item = F("campaign__judgments_per_item")
    items = dict((row.pop("campaign_id"), row) for row in (
        Item.objects.filter(campaign_id__in=ids).values("campaign_id").annotate(
            items=Count("pk", filter=Q(is_active=True)),
            done=Sum(Least("judgments_count", per_item, output_field=IntegerField()), filter=Q(is_active=True)),
            complete=Count("pk", filter=Q(is_active=True, judgments_count__gte=per_item)),
            controls=Count("pk", filter=Q(is_active=True, kind__in=Item.CONTROL_KINDS)),
            hidden=Count("pk", filter=Q(identical=True, is_active=False, short_lists=False)),
            short=Count("pk", filter=Q(short_lists=True)),
        ).order_by()
    ))
    judgments = dict((row.pop("campaign_id"), row) for row in (
        Judgment.objects.filter(campaign_id__in=ids).values("campaign_id").annotate(
            skips=Count("pk", filter=Q(skipped=True)), annotators=Count("annotator", distinct=True),
        ).order_by()
    ))
    progress = {}
    for campaign in campaigns:
        totals = items.get(campaign.pk, {})
        counts = judgments.get(campaign.pk, {})
        needed = (totals.get("items") or 0) * campaign.judgments_per_item
        done = totals.get("done") or 0
        progress[campaign.pk] = {
            "items": totals.get("items") or 0,
            "control_items": totals.get("controls") or 0,
            "regular_items": (totals.get("items") or 0) - (totals.get("controls") or 0),
            "hidden_identical": totals.get("hidden") or 0,
            "excluded_short_lists": totals.get("short") or 0,
            "items_complete": totals.get("complete") or 0,
            "judgments_done": done,
            "judgments_needed": needed,
            "skips": counts.get("skips") or 0,
            "annotators": counts.get("annotators") or 0,
            "fraction": done / needed if needed else 0.0,
            "percent": round(100 * done / needed) if needed else 0,
        }
    return progress


def annotator_progress(*, campaign: Campaign, annotator) -> dict:
    """What one annotator sees: how many they judged here, how many items are still open to them, and when they
    last answered (for the undo button). Two cheap queries: this runs on every judge-and-next."""
    per_item = campaign.judgments_per_item
    mine = Judgment.objects.filter(campaign=campaign, annotator=annotator).aggregate(
        judged=Count("pk", filter=Q(skipped=False)),
        skipped=Count("pk", filter=Q(skipped=True)),
        # Items I answered that are still open to others: they are in `not_full` below but not open to me.
        mine_not_full=Count("pk", filter=Q(item__is_active=True, item__judgments_count__lt=per_item)),
        last_at=Max("created_at"),
    )
    not_full = Item.objects.filter(campaign=campaign, is_active=True, judgments_count__lt=per_item).count()
    open_items = max(0, not_full - mine["mine_not_full"])
    done = mine["judged"] + mine["skipped"]
    total = done + open_items
    return {"judged": mine["judged"], "skipped": mine["skipped"], "open": open_items, "total": total,
            "percent": round(100 * done / total) if total else 100, "last_at": mine["last_at"]}


def item_rows(*, campaign: Campaign) -> list[dict]:
    """The per-query table of the dashboard: one row per item with its G/S/B and comments."""
    items = Item.objects.filter(campaign=campaign).order_by("query_text", "pk").only(
        "token", "query_text", "segment", "query_type", "kind", "identical", "short_lists", "is_active",
        "judgments_count", "expected_preference",
    )
    prefs: dict[int, list[int]] = defaultdict(list)
    comments: dict[int, int] = defaultdict(int)
    for item_id, preference, comment in Judgment.objects.filter(campaign=campaign, skipped=False).values_list(
        "item_id", "preference", "comment"
    ):
        prefs[item_id].append(preference)
        comments[item_id] += bool(comment)
    rows = []
    for item in items:
        mine = prefs.get(item.pk, [])
        good, same, bad = gsb_counts(mine)
        mean = statistics.fmean(mine) if mine else None
        rows.append({
            "item": item,
            "judgments": len(mine),
            "good": good,
            "same": same,
            "bad": bad,
            "mean_preference": mean,
            "verdict": row_verdict(item, mine),
            "comments": comments.get(item.pk, 0),
        })
    return rows


def row_verdict(item: Item, preferences: list[int]) -> str:
    """The per-query table's verdict: the side the mean answer leans to for a regular item; for a control (A-vs-A
    or gold) how many answers met its expected preference (an A-vs-A item has no "B" to be better)."""
    if not preferences:
        return ""
    if item.is_control and item.expected_preference is not None:
        expected = sign(item.expected_preference)
        return f"control: {sum(sign(p) == expected for p in preferences)} of {len(preferences)} as expected"
    return {1: "B better", 0: "same", -1: "A better"}[sign(statistics.fmean(preferences))]


def item_judgments(*, item: Item) -> QuerySet[Judgment]:
    return item.judgments.select_related("annotator").order_by("created_at")


def annotator_history(*, annotator) -> QuerySet[Judgment]:
    """An annotator's own judgments, newest first. Rendered in screen terms only (never the preference)."""
    return (
        Judgment.objects.filter(annotator=annotator)
        .select_related("item", "campaign")
        .only("created_at", "skipped", "choice", "reasons", "comment", "time_on_item_ms",
              "item__query_text", "item__query_type", "campaign__name")
        .order_by("-created_at", "-pk")
    )


def campaign_metrics(*, campaign: Campaign) -> dict:
    """All metrics of a campaign as a plain dict (JSON-ready), with its progress."""
    ratings = campaign_ratings(campaign=campaign)
    skips = campaign_skips(campaign=campaign)
    user_ids = {r.annotator for r in ratings} | set(skips)
    names = dict(get_user_model().objects.filter(pk__in=user_ids).values_list("pk", "username"))
    metrics = compute_metrics(ratings, judgments_per_item=campaign.judgments_per_item, seed=campaign.seed,
                              skips=skips, names=names)
    return {
        "plan": campaign.plan or None,
        "sequential": campaign_sequential(campaign=campaign, ratings=ratings),
        "campaign": {
            "id": campaign.pk,
            "name": campaign.name,
            "status": campaign.status,
            "system_a": str(campaign.system_a),
            "system_b": str(campaign.system_b),
            "judgments_per_item": campaign.judgments_per_item,
        },
        "progress": campaign_progress(campaign=campaign),
        **metrics,
    }


def campaign_sequential(*, campaign: Campaign, ratings: list[Rating] | None = None) -> dict:
    """The sequential verdict of a campaign (`sequential.sequential_summary`) over its complete regular items, at the
    campaign's planned α and smallest ΔGSB worth detecting."""
    ratings = campaign_ratings(campaign=campaign) if ratings is None else ratings
    return sequential.sequential_summary(
        [(r.item, r.preference) for r in ratings if r.kind == Item.Kind.REGULAR],
        judgments_per_item=campaign.judgments_per_item, alpha=campaign.plan_alpha,
        min_delta=campaign.plan_min_delta, planned_items=(campaign.plan or {}).get("items"))


def earlier_item_verdicts(*, dataset_id: int, exclude_campaign_id: int | None = None) -> tuple[list[list[int]], int]:
    """The preferences of every judged regular item of the data set's campaigns (one list per item) and how many
    campaigns they come from: what a new campaign's plan estimates its variance from."""
    judgments = Judgment.objects.filter(campaign__system_a__dataset_id=dataset_id, skipped=False,
                                        item__kind=Item.Kind.REGULAR, item__is_active=True)
    if exclude_campaign_id is not None:
        judgments = judgments.exclude(campaign_id=exclude_campaign_id)
    by_item: dict[int, list[int]] = defaultdict(list)
    campaigns = set()
    for campaign_id, item_id, preference in judgments.values_list("campaign_id", "item_id", "preference").order_by():
        by_item[item_id].append(preference)
        campaigns.add(campaign_id)
    return list(by_item.values()), len(campaigns)


def campaign_plan(*, dataset_id: int, min_delta: float, alpha: float, power: float, judgments_per_item: int,
                  control_share: float, exclude_campaign_id: int | None = None) -> dict:
    """`planning.plan_campaign` with the variance of the data set's earlier campaigns, when they have enough items."""
    verdicts, campaigns = earlier_item_verdicts(dataset_id=dataset_id, exclude_campaign_id=exclude_campaign_id)
    return planning.plan_campaign(min_delta=min_delta, alpha=alpha, power=power,
                                  judgments_per_item=judgments_per_item, control_share=control_share,
                                  earlier=planning.variance_components(verdicts), earlier_campaigns=campaigns)
