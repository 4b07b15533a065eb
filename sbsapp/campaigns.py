"""Campaign services: create a campaign, sample its queries, build frozen items, open, close, set gold.

Generation (freezing both result lists as a sharded job) is in `generation`.
"""
from __future__ import annotations

import random
import secrets
from collections import defaultdict
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from retrieval.models import Product, Query, RetrieverVersion

from core.configs import ConfigInvalid, validate_config
from . import selectors
from .configs import CampaignConfig, PlanRequest
from .models import Campaign, Item

DESCRIPTION_CHARS = 2000


class CampaignError(ValueError):
    """A campaign operation that cannot be done; the message is shown to the user as is (`field`: the input it
    is about, when there is one)."""

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.field = field


def campaign_config(fields: dict | CampaignConfig) -> CampaignConfig:
    """The campaign's settings validated by `CampaignConfig`; the systems may be given as versions."""
    if isinstance(fields, CampaignConfig):
        fields = fields.as_dict()
    data = {key: value.name if isinstance(value, RetrieverVersion) else value for key, value in fields.items()}
    try:
        return validate_config(CampaignConfig, data)
    except ConfigInvalid as exc:
        raise CampaignError(str(exc)) from None


def campaign_create(*, user=None, config: CampaignConfig | None = None, **fields) -> Campaign:
    """Create a draft campaign from a `CampaignConfig` (or its fields as keywords: `name=`, `system_a=` a version
    or its name, ...); nothing is retrieved until `campaign_start_generation`."""
    config = campaign_config(config if config is not None else fields)
    versions = RetrieverVersion.objects.select_related("dataset").in_bulk(
        [config.system_a, config.system_b], field_name="name")
    for side in ("system_a", "system_b"):
        if getattr(config, side) not in versions:
            raise CampaignError(f"No retriever version is named {getattr(config, side)!r}.", field=side)
    system_a, system_b = versions[config.system_a], versions[config.system_b]
    if system_a.dataset_id != system_b.dataset_id:
        raise CampaignError(
            f"Both systems must be built on the same data set ({system_a} is on {system_a.dataset}, "
            f"{system_b} on {system_b.dataset})."
        )
    settings = config.model_dump(exclude={"system_a", "system_b"})
    campaign = Campaign(
        **settings, system_a=system_a, system_b=system_b,
        created_by=user if user is not None and getattr(user, "is_authenticated", False) else None,
    )
    try:
        campaign.full_clean()
    except ValidationError as exc:
        raise CampaignError("; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in exc.message_dict.items()))
    if config.plan_min_delta is not None:
        campaign.plan = plan_for(config, dataset_id=system_a.dataset_id)
    campaign.save()
    return campaign


def campaign_plan_preview(*, config: PlanRequest) -> dict:
    """The plan a campaign with these inputs would get, before it exists (the form's preview, the API's plan)."""
    version = RetrieverVersion.objects.filter(name=config.system_a).only("dataset_id").first()
    if version is None:
        raise CampaignError(f"No retriever version is named {config.system_a!r}.", field="system_a")
    return plan_for(config, dataset_id=version.dataset_id)


def plan_for(config: CampaignConfig | PlanRequest, *, dataset_id: int) -> dict:
    """The campaign's planned size (`planning.plan_campaign`) from the data set's earlier campaigns or the stated
    assumption; the campaign form's preview shows the same answer before the campaign exists."""
    return selectors.campaign_plan(dataset_id=dataset_id, min_delta=config.plan_min_delta, alpha=config.plan_alpha,
                                   power=config.plan_power, judgments_per_item=config.judgments_per_item,
                                   control_share=config.control_share)



def sample_query_ids(*, dataset_id: int, segments: list[str], query_types: list[str], size: int,
                     seed: int, allocation: str = Campaign.Allocation.PROPORTIONAL) -> list[int]:
    """A stratified random sample over (segment, query type) strata.

    `proportional`: each stratum gets its share of `size` in proportion to its queries. `equal_segments`: each
    segment gets an equal share of `size` (what a segment cannot fill goes to the others), spread over its query
    types in proportion. Shares are rounded by largest remainder, so the sample has exactly `size` queries (or all
    of them when fewer match). The result is deterministic for a seed and the same set of queries.
    """
    queries = Query.objects.filter(dataset_id=dataset_id)
    if segments:
        queries = queries.filter(segment__in=segments)
    if query_types:
        queries = queries.filter(query_type__in=query_types)
    strata: dict[tuple[str, str], list[int]] = defaultdict(list)
    for pk, segment, query_type in queries.order_by("pk").values_list("pk", "segment", "query_type"):
        strata[(segment, query_type)].append(pk)
    population = sum(len(members) for members in strata.values())
    if population == 0:
        raise CampaignError("No query of the data set matches the campaign's segment and type filters.")
    size = min(size, population)
    if allocation == Campaign.Allocation.EQUAL_SEGMENTS:
        by_segment: dict[str, dict] = defaultdict(dict)
        for (segment, query_type), members in strata.items():
            by_segment[segment][(segment, query_type)] = len(members)
        segment_sizes = equal_shares({seg: sum(counts.values()) for seg, counts in by_segment.items()}, size)
        allocation_of = {}
        for segment, counts in by_segment.items():
            allocation_of.update(proportional_shares(counts, segment_sizes[segment]))
    else:
        allocation_of = proportional_shares({key: len(members) for key, members in strata.items()}, size)
    rng = random.Random(seed)
    sample = [pk for key in sorted(strata) for pk in rng.sample(strata[key], allocation_of[key])]
    rng.shuffle(sample)
    return sample


def proportional_shares(counts: dict, size: int) -> dict:
    """`size` split over `counts` in proportion, rounded by largest remainder (ties by key)."""
    total = sum(counts.values())
    quotas = {key: size * count / total for key, count in counts.items()} if total else {k: 0 for k in counts}
    shares = {key: int(quota) for key, quota in quotas.items()}
    for key in sorted(quotas, key=lambda key: (-(quotas[key] - shares[key]), key))[: size - sum(shares.values())]:
        shares[key] += 1
    return shares


def equal_shares(capacity: dict, size: int) -> dict:
    """`size` split as evenly as `capacity` allows: a group that cannot fill its share gives the rest to the others."""
    shares = {key: 0 for key in capacity}
    left, open_keys = size, sorted(capacity)
    while left > 0 and open_keys:
        each, extra = divmod(left, len(open_keys))
        for index, key in enumerate(list(open_keys)):
            take = min(each + (1 if index < extra else 0), capacity[key] - shares[key])
            shares[key] += take
            left -= take
        open_keys = [key for key in open_keys if shares[key] < capacity[key]]
    return shares


def control_query_ids(*, query_ids: list[int], share: float, seed: int) -> set[int]:
    """Which sampled queries become A-vs-A controls (deterministic, so a resumed run picks the same ones)."""
    count = round(len(query_ids) * share)
    return set(random.Random(f"controls-{seed}").sample(sorted(query_ids), count)) if count else set()


def build_item(*, campaign: Campaign, query: Query, hits_a: list, hits_b: list, products: dict[int, Product],
               as_control: bool) -> Item:
    """One unsaved item: both lists snapshotted, the side chosen at random (never from the seed).

    A list shorter than K (BM25 finds few matches for a rare query) would tell the annotator which side is which,
    so such a query is excluded: kept as an inactive item marked `short_lists` (counted on the dashboard, and a
    resumed run does not retrieve it again), neither judged nor made a control."""
    results_a = [product_snapshot(products[hit.product_id], hit.score) for hit in hits_a if hit.product_id in products]
    results_b = [product_snapshot(products[hit.product_id], hit.score) for hit in hits_b if hit.product_id in products]
    identical = [p["product"] for p in results_a] == [p["product"] for p in results_b]
    short = min(len(results_a), len(results_b)) < campaign.k
    item = Item(
        campaign=campaign,
        query=query,
        query_text=query.text,
        segment=query.segment,
        query_type=query.query_type,
        b_on_left=secrets.randbelow(2) == 1,
        results_a=results_a,
        results_b=results_b,
        identical=identical,
        short_lists=short,
        is_active=not short,
    )
    if short:
        return item
    if as_control or (identical and campaign.identical_lists == Campaign.IdenticalLists.CONTROL):
        source = "a" if identical else random.Random(f"aa-{campaign.seed}-{query.pk}").choice("ab")
        shown = results_a if source == "a" else results_b
        item.kind, item.aa_source, item.expected_preference = Item.Kind.AA, source, 0
        item.results_a, item.results_b = shown, list(shown)
    elif identical:
        item.is_active = False  # nothing to compare; kept so that the analyst sees it was sampled
    return item


def product_snapshot(product: Product, score: float | None) -> dict:
    """What a product card shows, frozen at generation time so later catalogue edits do not alter the campaign."""
    price = product.price
    return {
        "product": product.pk,
        "product_id": product.product_id,
        "title": product.title,
        "brand": product.brand,
        "category": product.category,
        "price": str(price.quantize(Decimal("0.01"))) if price is not None else None,
        "description": product.description[:DESCRIPTION_CHARS],
        "score": float(score) if score is not None else None,
    }


def campaign_close(*, campaign: Campaign) -> Campaign:
    if campaign.status != Campaign.Status.ACTIVE:
        raise CampaignError("Only an active campaign can be closed.")
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.CLOSED, closed_at=timezone.now())
    campaign.refresh_from_db()
    return campaign


def campaign_reopen(*, campaign: Campaign) -> Campaign:
    """Open a closed campaign again. One its sequential verdict closed stops closing itself: the verdict stands
    (it never goes back), so auto-close would end it again at the next complete item."""
    if campaign.status != Campaign.Status.CLOSED:
        raise CampaignError("Only a closed campaign can be reopened.")
    changes = {"auto_close": False, "closed_by_verdict": ""} if campaign.closed_by_verdict else {}
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.ACTIVE, closed_at=None, **changes)
    campaign.refresh_from_db()
    return campaign


def campaign_item_judged(*, item: Item) -> str | None:
    """After a counted judgment (judging calls this): if it completed the item and the campaign closes itself on a
    verdict, close it when the sequential verdict says stop. Returns the verdict that closed it, else None."""
    campaign = item.campaign
    if not campaign.auto_close or campaign.status != Campaign.Status.ACTIVE:
        return None
    if not Item.objects.filter(pk=item.pk, judgments_count__gte=campaign.judgments_per_item).exists():
        return None
    summary = selectors.campaign_sequential(campaign=campaign)
    if not summary["stop"]:
        return None
    closed = Campaign.objects.filter(pk=campaign.pk, status=Campaign.Status.ACTIVE).update(
        status=Campaign.Status.CLOSED, closed_at=timezone.now(), closed_by_verdict=summary["verdict"])
    return summary["verdict"] if closed else None


@transaction.atomic
def item_set_gold(*, item: Item, expected_preference: int | None) -> Item:
    """Make an item a gold control with the expected preference toward B, or (None) a regular item again."""
    item = Item.objects.select_for_update().get(pk=item.pk)
    if item.kind == Item.Kind.AA:
        raise CampaignError("An A-vs-A control already has its expected answer (about the same).")
    if expected_preference is None:
        item.kind, item.expected_preference = Item.Kind.REGULAR, None
    else:
        if expected_preference not in range(-2, 3):
            raise CampaignError("The expected preference must be between -2 (A much better) and +2 (B much better).")
        item.kind, item.expected_preference = Item.Kind.GOLD, expected_preference
    item.save(update_fields=["kind", "expected_preference"])
    return item
