"""Campaign generation: freeze both systems' top K for every sampled query, as a job whose chunks any `ml` worker
may run (`jobs.shards`). Idempotent and resumable: items are keyed by (campaign, query), and a re-run only
retrieves the queries that have no item yet.
"""
from __future__ import annotations

from typing import Callable

from jobs.models import Job, JobShard
from jobs.registry import job_kind, job_release
from jobs.services import BrokerUnavailable, JobContext, job_start, lock_row
from jobs.shards import run_shards, shard_step
from retrieval.models import Product, Query, RetrieverVersion

from .campaigns import CampaignError, build_item, control_query_ids, sample_query_ids
from .models import Campaign, Item

GENERATION_CHUNK = 25
STEP = "campaign_items"


def campaign_start_generation(*, campaign: Campaign, user=None) -> Job:
    """Start (or resume) freezing the result lists as a background job; the campaign becomes `generating`."""
    for system in (campaign.system_a, campaign.system_b):
        if system.status != RetrieverVersion.Status.READY:
            raise CampaignError(f"Retriever version {system} is {system.status}, not ready; build it first.")
    previous = campaign.status

    def claim() -> None:  # in the job's transaction: of simultaneous clicks one generates, the others are refused
        locked = lock_row(Campaign.objects.filter(pk=campaign.pk))
        if locked.generation_job_id and Job.objects.filter(pk=locked.generation_job_id, status__in=Job.ACTIVE).exists():
            raise CampaignError("Generation is already running for this campaign.")
        if locked.status not in (Campaign.Status.DRAFT, Campaign.Status.GENERATING):
            raise CampaignError(f"A {locked.get_status_display().lower()} campaign cannot be generated again.")
        Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.GENERATING)

    try:
        job = job_start(kind="sbs_generate", config={"campaign_id": campaign.pk}, user=user, claim=claim,
                        on_created=lambda job: Campaign.objects.filter(pk=campaign.pk).update(generation_job=job))
    except BrokerUnavailable:  # the job row is gone: leave the campaign as it was
        Campaign.objects.filter(pk=campaign.pk, generation_job__isnull=True).update(status=previous)
        raise
    campaign.refresh_from_db()
    return job


@job_release("sbs_generate")
def campaign_release_generation(job: Job) -> None:
    """A generation cancelled, or ended from outside its work (its worker died, an admin marked it failed): the
    campaign goes back from `generating` to `draft`; Generate resumes from the items already frozen."""
    Campaign.objects.filter(generation_job=job, status=Campaign.Status.GENERATING).update(status=Campaign.Status.DRAFT)


@job_kind("sbs_generate", queue="ml", title="Generate an SBS campaign",
          legacy_task_names=("sbsapp.tasks.ml_generate_campaign",))
def generate_campaign_work(ctx: JobContext) -> dict:
    """Freeze the sampled queries' result lists in shards of `GENERATION_CHUNK` queries that any `ml` worker may
    run (`jobs.shards`), then open the campaign."""
    campaign = Campaign.objects.select_related("system_a", "system_b").get(pk=ctx.config["campaign_id"])
    query_ids, controls, todo = generation_plan(campaign)
    ctx.log(f"{len(query_ids)} queries sampled, {len(controls)} A-vs-A controls, "
            f"{len(query_ids) - len(todo)} already frozen")
    chunks = [todo[start:start + GENERATION_CHUNK] for start in range(0, len(todo), GENERATION_CHUNK)]
    specs = [{"campaign_id": campaign.pk, "queries": chunk, "controls": [pk for pk in chunk if pk in controls]}
             for chunk in chunks]
    if specs:
        run_shards(ctx, step=STEP, specs=specs, totals=[len(chunk) for chunk in chunks],
                   stage="freezing result lists", describe=lambda result: f"{result['items']} items",
                   counts=lambda: frozen_counts(campaign))
    return open_campaign(campaign, log=ctx.log)


@shard_step(STEP)
def freeze_shard(shard: JobShard, report) -> dict:
    campaign = Campaign.objects.select_related("system_a", "system_b").get(pk=shard.spec["campaign_id"])
    created, excluded = freeze_items(campaign=campaign, query_pks=shard.spec["queries"],
                                     controls=set(shard.spec["controls"]))
    return {"items": created, "excluded_short_lists": excluded}


def frozen_counts(campaign: Campaign) -> dict:
    items = Item.objects.filter(campaign=campaign)
    return {"frozen": items.count(), "excluded_short_lists": items.filter(short_lists=True).count()}


def generation_plan(campaign: Campaign) -> tuple[list[int], set[int], list[int]]:
    """(the sampled query pks, the A-vs-A controls among them, those without an item yet, in sample order)."""
    query_ids = sample_query_ids(
        dataset_id=campaign.system_a.dataset_id,
        segments=campaign.segments,
        query_types=campaign.query_types,
        size=campaign.sample_size,
        seed=campaign.seed,
        allocation=campaign.allocation,
    )
    controls = control_query_ids(query_ids=query_ids, share=campaign.control_share, seed=campaign.seed)
    done = set(Item.objects.filter(campaign=campaign).values_list("query_id", flat=True))
    return query_ids, controls, [pk for pk in query_ids if pk not in done]


def freeze_items(*, campaign: Campaign, query_pks: list[int], controls: set[int]) -> tuple[int, int]:
    """Retrieve both systems' top K for these queries and write their items; returns (items, short-list items).
    Idempotent: items are keyed by (campaign, query), so a chunk written twice adds nothing."""
    from retrieval import search  # the retrieval engine loads models lazily

    chunk = list(Query.objects.filter(pk__in=query_pks).order_by("pk"))
    texts = [query.text for query in chunk]
    # One batch per system and chunk: a dense version encodes the chunk's queries together.
    hits_a = search.retrieve_many(campaign.system_a, texts, campaign.k)
    hits_b = search.retrieve_many(campaign.system_b, texts, campaign.k)
    hits = {query.pk: (a, b) for query, a, b in zip(chunk, hits_a, hits_b)}
    products = Product.objects.in_bulk(
        {hit.product_id for pair in hits.values() for hits_of_system in pair for hit in hits_of_system}
    )
    items = [
        build_item(campaign=campaign, query=query, hits_a=hits[query.pk][0], hits_b=hits[query.pk][1],
                   products=products, as_control=query.pk in controls)
        for query in chunk
    ]
    # ignore_conflicts: a resumed run racing an older worker never duplicates an item.
    Item.objects.bulk_create(items, ignore_conflicts=True)
    return len(items), sum(item.short_lists for item in items)


def campaign_generate_items(*, campaign: Campaign, log: Callable[[str], None] | None = None) -> dict:
    """Freeze every sampled query's lists in this process (no job: benchmarks), then open the campaign."""
    _, controls, todo = generation_plan(campaign)
    for start in range(0, len(todo), GENERATION_CHUNK):
        freeze_items(campaign=campaign, query_pks=todo[start:start + GENERATION_CHUNK], controls=controls)
    return open_campaign(campaign, log=log)


def open_campaign(campaign: Campaign, *, log: Callable[[str], None] | None = None) -> dict:
    Campaign.objects.filter(pk=campaign.pk, status=Campaign.Status.GENERATING).update(status=Campaign.Status.ACTIVE)
    totals = campaign_item_counts(campaign=campaign)
    if log:
        log(f"campaign open: {totals}")
    return totals


def campaign_item_counts(*, campaign: Campaign) -> dict:
    items = Item.objects.filter(campaign=campaign)
    return {
        "items": items.count(),
        "regular": items.filter(kind=Item.Kind.REGULAR, is_active=True).count(),
        "aa_controls": items.filter(kind=Item.Kind.AA).count(),
        "gold": items.filter(kind=Item.Kind.GOLD).count(),
        "identical_hidden": items.filter(identical=True, is_active=False, short_lists=False).count(),
        "excluded_short_lists": items.filter(short_lists=True).count(),
    }
