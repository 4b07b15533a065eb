"""Factories for SBS tests (factory_boy): a small catalogue, two ready retriever versions, campaigns with frozen
items, and a fake retrieval engine (so no test needs a trained model). The `make_*` helpers are what tests call."""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import factory
from factory.django import DjangoModelFactory

from retrieval.models import Dataset, Product, Query, RetrieverVersion
from sbsapp.campaigns import product_snapshot
from sbsapp.models import Campaign, Item
from tests.retrieval_factories import DatasetFactory, ProductFactory, QueryFactory, RetrieverVersionFactory


class CatalogueProductFactory(ProductFactory):
    """Product number `number` of a catalogue: p0, p1, ... with a brand, a price and a description."""

    class Params:
        number = factory.Sequence(int)

    product_id = factory.LazyAttribute(lambda product: f"p{product.number}")
    title = factory.LazyAttribute(lambda product: f"Product {product.number}")
    brand = factory.LazyAttribute(lambda product: f"Brand {product.number % 3}")
    category = "Home > Kitchen > Pans"
    price = factory.LazyAttribute(lambda product: Decimal("10.50") + product.number)
    description = factory.LazyAttribute(lambda product: f"Description of {product.number}. " * 5)


def make_dataset(*, products: int = 12, queries: int = 6, segments=("head", "torso", "tail"),
                 query_types=("plain", "knowledge")) -> Dataset:
    dataset = DatasetFactory()
    Product.objects.bulk_create(CatalogueProductFactory.build(dataset=dataset, number=i) for i in range(products))
    Query.objects.bulk_create(
        QueryFactory.build(dataset=dataset, query_id=f"q{i}", text=f"query number {i}",
                           segment=segments[i % len(segments)], query_type=query_types[i % len(query_types)])
        for i in range(queries)
    )
    return dataset


def make_version(*, dataset: Dataset, name: str | None = None, kind: str = "bm25",
                 status: str = RetrieverVersion.Status.READY) -> RetrieverVersion:
    return RetrieverVersionFactory(dataset=dataset, kind=kind, status=status, **({"name": name} if name else {}))


class CampaignFactory(DjangoModelFactory):
    """A campaign between two ready versions on one data set (a new catalogue unless `dataset` is given)."""

    class Meta:
        model = Campaign

    class Params:
        dataset = factory.LazyFunction(make_dataset)

    name = factory.Sequence(lambda n: f"campaign-{n}")
    status = Campaign.Status.ACTIVE
    system_a = factory.SubFactory(RetrieverVersionFactory, dataset=factory.SelfAttribute("..dataset"))
    system_b = factory.SubFactory(RetrieverVersionFactory, dataset=factory.SelfAttribute("..dataset"))


def make_campaign(*, dataset: Dataset | None = None, status: str = Campaign.Status.ACTIVE, **fields) -> Campaign:
    return CampaignFactory(status=status, **fields, **({"dataset": dataset} if dataset is not None else {}))


def unused_query(campaign: Campaign) -> Query:
    """The campaign's data set's first query without an item yet (a new one when all have one)."""
    dataset = campaign.system_a.dataset
    used = Item.objects.filter(campaign=campaign).values_list("query_id", flat=True)
    query = Query.objects.filter(dataset=dataset).exclude(pk__in=used).order_by("pk").first()
    return query or QueryFactory(dataset=dataset, query_id=factory.Sequence(lambda n: f"extra-{n}"),
                                 text=factory.Sequence(lambda n: f"extra query {n}"))


def snapshots(products) -> list[dict]:
    return [product_snapshot(product, 1.0 / (rank + 1)) for rank, product in enumerate(products)]


class ItemFactory(DjangoModelFactory):
    """An item with both result lists frozen: by default the catalogue's products 0-2 for A and 3-5 for B."""

    class Meta:
        model = Item

    class Params:
        catalogue = factory.LazyAttribute(
            lambda item: list(Product.objects.filter(dataset=item.campaign.system_a.dataset).order_by("pk")))
        a_products = factory.LazyAttribute(lambda item: item.catalogue[:3])
        # an A/A control shows A's list on both sides, so neither side may win
        b_products = factory.LazyAttribute(lambda item: item.a_products if item.kind == "aa" else item.catalogue[3:6])

    campaign = factory.SubFactory(CampaignFactory)
    query = factory.LazyAttribute(lambda item: unused_query(item.campaign))
    query_text = factory.SelfAttribute("query.text")
    segment = factory.SelfAttribute("query.segment")
    query_type = factory.SelfAttribute("query.query_type")
    kind = "regular"
    b_on_left = False
    expected_preference = factory.LazyAttribute(lambda item: 0 if item.kind == "aa" else None)
    results_a = factory.LazyAttribute(lambda item: snapshots(item.a_products))
    results_b = factory.LazyAttribute(lambda item: snapshots(item.b_products))


def make_item(*, campaign: Campaign, query: Query | None = None, b_on_left: bool = False, kind: str = "regular",
              a_products: list[Product] | None = None, b_products: list[Product] | None = None,
              expected_preference: int | None = None, **fields) -> Item:
    given = {name: value for name, value in (("query", query), ("a_products", a_products),
                                             ("b_products", b_products)) if value is not None}
    if kind == "aa":
        given.pop("b_products", None)
    else:
        given["expected_preference"] = expected_preference
    return ItemFactory(campaign=campaign, b_on_left=b_on_left, kind=kind, **given, **fields)


@dataclass
class FakeHit:
    product_id: int
    score: float


def install_fake_retrieval(monkeypatch, lists: dict) -> list:
    """Make `retrieval.search.retrieve(version, text, k)` (and `retrieve_many`) answer from
    `lists[(version.name, text)]` (product pks). Returns the list of (version, text, k) looked up."""
    calls: list = []

    def retrieve(version, text, k, wait=True):  # `wait`: web requests never wait for a model (always loaded here)
        calls.append((version.name, text, k))
        return [FakeHit(pk, 1.0 / (rank + 1)) for rank, pk in enumerate(lists.get((version.name, text), [])[:k])]

    from retrieval import search

    monkeypatch.setattr(search, "retrieve", retrieve, raising=False)
    monkeypatch.setattr(search, "retrieve_many",
                        lambda version, texts, k, wait=True: [retrieve(version, t, k) for t in texts], raising=False)
    return calls
