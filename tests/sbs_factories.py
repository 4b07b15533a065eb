"""Factories for SBS tests: a small catalogue, two ready retriever versions, campaigns with frozen items, and a
fake retrieval engine (so no test needs a trained model)."""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from decimal import Decimal

from retrieval.models import Dataset, Product, Query, RetrieverVersion
from sbsapp.campaigns import product_snapshot
from sbsapp.models import Campaign, Item

_sequence = itertools.count(1)


def make_dataset(*, products: int = 12, queries: int = 6, segments=("head", "torso", "tail"),
                 query_types=("plain", "knowledge")) -> Dataset:
    n = next(_sequence)
    dataset = Dataset.objects.create(name=f"ds-{n}")
    Product.objects.bulk_create(
        Product(dataset=dataset, product_id=f"p{i}", title=f"Product {i}", brand=f"Brand {i % 3}",
                category="Home > Kitchen > Pans", price=Decimal("10.50") + i, description=f"Description of {i}. " * 5)
        for i in range(products)
    )
    Query.objects.bulk_create(
        Query(dataset=dataset, query_id=f"q{i}", text=f"query number {i}", segment=segments[i % len(segments)],
              query_type=query_types[i % len(query_types)])
        for i in range(queries)
    )
    return dataset


def make_version(*, dataset: Dataset, name: str | None = None, kind: str = "bm25",
                 status: str = RetrieverVersion.Status.READY) -> RetrieverVersion:
    return RetrieverVersion.objects.create(dataset=dataset, name=name or f"v-{next(_sequence)}", kind=kind,
                                           status=status)


def make_campaign(*, dataset: Dataset | None = None, status: str = Campaign.Status.ACTIVE, **fields) -> Campaign:
    dataset = dataset or make_dataset()
    fields.setdefault("name", f"campaign-{next(_sequence)}")
    fields.setdefault("system_a", make_version(dataset=dataset))
    fields.setdefault("system_b", make_version(dataset=dataset))
    return Campaign.objects.create(status=status, **fields)


def make_item(*, campaign: Campaign, query: Query | None = None, b_on_left: bool = False, kind: str = "regular",
              a_products: list[Product] | None = None, b_products: list[Product] | None = None,
              expected_preference: int | None = None, **fields) -> Item:
    dataset = campaign.system_a.dataset
    if query is None:
        used = Item.objects.filter(campaign=campaign).values_list("query_id", flat=True)
        query = Query.objects.filter(dataset=dataset).exclude(pk__in=used).order_by("pk").first()
        if query is None:
            query = Query.objects.create(dataset=dataset, query_id=f"extra-{next(_sequence)}",
                                         text=f"extra query {next(_sequence)}")
    products = list(Product.objects.filter(dataset=dataset).order_by("pk"))
    a_products = a_products if a_products is not None else products[:3]
    b_products = b_products if b_products is not None else products[3:6]
    if kind == "aa":
        b_products, expected_preference = a_products, 0
    return Item.objects.create(
        campaign=campaign, query=query, query_text=query.text, segment=query.segment, query_type=query.query_type,
        kind=kind, b_on_left=b_on_left, expected_preference=expected_preference,
        results_a=[product_snapshot(p, 1.0 / (i + 1)) for i, p in enumerate(a_products)],
        results_b=[product_snapshot(p, 1.0 / (i + 1)) for i, p in enumerate(b_products)],
        **fields,
    )


@dataclass
class FakeHit:
    product_id: int
    score: float


def install_fake_retrieval(monkeypatch, lists: dict) -> list:
    """Make `retrieval.search.retrieve(version, text, k)` (and `retrieve_many`) answer from
    `lists[(version.name, text)]` (product pks). Returns the list of (version, text, k) looked up."""
    calls: list = []

    def retrieve(version, text, k):
        calls.append((version.name, text, k))
        return [FakeHit(pk, 1.0 / (rank + 1)) for rank, pk in enumerate(lists.get((version.name, text), [])[:k])]

    from retrieval import search

    monkeypatch.setattr(search, "retrieve", retrieve, raising=False)
    monkeypatch.setattr(search, "retrieve_many", lambda version, texts, k: [retrieve(version, t, k) for t in texts],
                        raising=False)
    return calls
