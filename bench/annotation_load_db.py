"""The database side of `bench/annotation_load.py`, run in a child interpreter on the benchmark's own settings:
`seed` fills a fresh database (a campaign, annotators, analysts, optionally judgments already made), `verify`
checks it afterwards against what the clients were told."""
from __future__ import annotations

import random
from collections import Counter

PASSWORD = "bench-annotator-pw"
PER_SIDE = 10
PRODUCTS = 3000
ANNOTATOR_PREFIX, PREFILL_PREFIX, ANALYST_PREFIX = "bench-ann-", "bench-prefill-", "bench-analyst-"


def seed(*, items: int, users: int, judgments_per_item: int, prefill: int = 0, analysts: int = 0) -> dict:
    """A campaign of `items` frozen 10-product lists per side, `users` annotators and `analysts` analysts; with
    `prefill`, that many judgments already made by other accounts (at most judgments_per_item - 1 per item, so the
    annotators still find work), as a campaign in full swing would have."""
    from bench.django_env import setup_django

    setup_django()
    from decimal import Decimal

    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.db import connection

    from core.roles import ANALYST, ANNOTATOR
    from retrieval.models import Dataset, Product, Query, RetrieverVersion
    from sbsapp.campaigns import product_snapshot
    from sbsapp.models import Campaign, Item, Judgment

    rng = random.Random(11)
    dataset = Dataset.objects.create(name="annotation-bench")
    Product.objects.bulk_create(
        Product(dataset=dataset, product_id=f"SKU-{i:06d}", title=f"Product {i} &amp; stainless steel pan 28 cm",
                brand=f"Brand {i % 40}", category="Home > Kitchen > Pans", price=Decimal("9.99") + i % 90,
                description="A sturdy pan for every hob, induction included. " * 6)
        for i in range(PRODUCTS)
    )
    products = list(Product.objects.filter(dataset=dataset).order_by("pk"))
    Query.objects.bulk_create(
        Query(dataset=dataset, query_id=f"Q{i}", text=f"long tail query {i} pans without teflon",
              segment=("head", "torso", "tail")[i % 3], query_type=("plain", "negation", "knowledge")[i % 3])
        for i in range(items)
    )
    a = RetrieverVersion.objects.create(dataset=dataset, name="bench-a", kind="bm25", status="ready")
    b = RetrieverVersion.objects.create(dataset=dataset, name="bench-b", kind="dense", status="ready")
    campaign = Campaign.objects.create(name="annotation bench", system_a=a, system_b=b, sample_size=items,
                                       judgments_per_item=judgments_per_item, status=Campaign.Status.ACTIVE,
                                       instructions="Which list serves the shopper better?")
    Item.objects.bulk_create(
        (Item(campaign=campaign, query=query, query_text=query.text, segment=query.segment,
              query_type=query.query_type, b_on_left=rng.random() < 0.5,
              kind="aa" if rng.random() < 0.05 else "regular",
              results_a=[product_snapshot(p, 1.0) for p in rng.sample(products, PER_SIDE)],
              results_b=[product_snapshot(p, 1.0) for p in rng.sample(products, PER_SIDE)])
         for query in Query.objects.filter(dataset=dataset).order_by("pk")),
        batch_size=500,
    )

    def accounts(prefix: str, count: int, role: str) -> list:
        group, _ = Group.objects.get_or_create(name=role)
        made = []
        for i in range(count):
            user = get_user_model().objects.create_user(username=f"{prefix}{i:03d}", password=PASSWORD)
            user.groups.add(group)
            made.append(user)
        return made

    per_item = max(0, judgments_per_item - 1)
    fillers = accounts(PREFILL_PREFIX, per_item if prefill else 0, ANNOTATOR)
    prefilled = Counter()
    judgments = []
    for item in Item.objects.filter(campaign=campaign, is_active=True).order_by("pk"):
        for user in fillers:
            if len(judgments) >= prefill:
                break
            preference = rng.choice((-2, -1, 0, 1, 2))
            judgments.append(Judgment(item=item, campaign=campaign, annotator=user, b_on_left=item.b_on_left,
                                      choice=-preference if item.b_on_left else preference, preference=preference,
                                      submit_key=f"prefill-{item.pk}-{user.pk}", time_on_item_ms=4000))
            prefilled[item.pk] += 1
    Judgment.objects.bulk_create(judgments, batch_size=1000)
    for count in set(prefilled.values()):
        Item.objects.filter(pk__in=[pk for pk, n in prefilled.items() if n == count]).update(judgments_count=count)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")  # planner statistics, as autovacuum would have gathered in production
    return {"campaign": campaign.pk, "users": [u.username for u in accounts(ANNOTATOR_PREFIX, users, ANNOTATOR)],
            "analysts": [u.username for u in accounts(ANALYST_PREFIX, analysts, ANALYST)],
            "prefilled": len(judgments)}


def verify(*, campaign_id: int, confirmed: list[list[str]], confirmed_skips: list[list[str]]) -> dict:
    """Every answer confirmed to a client is stored once and nothing else by the annotators (prefilled judgments
    are not theirs); no item has more judgments than asked; counters match; nobody judged an item twice."""
    from bench.django_env import setup_django

    setup_django()
    from django.db.models import Count

    from sbsapp.models import Campaign, Item, Judgment

    campaign = Campaign.objects.get(pk=campaign_id)
    every = list(Judgment.objects.filter(campaign=campaign, skipped=False)
                 .values_list("annotator__username", "submit_key", "item_id"))
    stored = [row for row in every if row[0].startswith(ANNOTATOR_PREFIX)]
    stored_keys = Counter((user, key) for user, key, _ in stored)
    confirmed_keys = Counter(tuple(pair) for pair in confirmed)
    per_item = Counter(item for _, _, item in every)
    counters = dict(Item.objects.filter(campaign=campaign).values_list("pk", "judgments_count"))
    pairs = Counter((user, item) for user, _, item in every)
    stored_skips = Counter(Judgment.objects.filter(campaign=campaign, skipped=True)
                           .values_list("annotator__username", "submit_key"))
    confirmed_skip_keys = Counter(tuple(pair) for pair in confirmed_skips)
    return {
        "stored": len(stored), "confirmed": sum(confirmed_keys.values()),
        "lost": sum((confirmed_keys - stored_keys).values()),
        "unconfirmed_extra": sum((stored_keys - confirmed_keys).values()),
        "duplicate_confirmations": sum(n - 1 for n in confirmed_keys.values() if n > 1),
        "overfilled_items": sum(1 for n in per_item.values() if n > campaign.judgments_per_item),
        "double_judged": sum(1 for n in pairs.values() if n > 1),
        "counter_mismatches": sum(1 for pk, n in counters.items() if per_item.get(pk, 0) != n),
        "skips_confirmed": sum(confirmed_skip_keys.values()), "skips_stored": sum(stored_skips.values()),
        "skips_lost": sum((confirmed_skip_keys - stored_skips).values()),
        "skips_unconfirmed_extra": sum((stored_skips - confirmed_skip_keys).values()),
        "items_complete": Item.objects.filter(campaign=campaign, judgments_count=campaign.judgments_per_item).count(),
        "judgments_in_campaign": len(every),
        "annotators": Judgment.objects.filter(campaign=campaign, annotator__username__startswith=ANNOTATOR_PREFIX)
        .aggregate(n=Count("annotator", distinct=True))["n"],
    }
