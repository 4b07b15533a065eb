"""Campaigns: stratified sampling, frozen snapshots, controls, identical lists, resumable generation as a job."""
from collections import Counter

import pytest

from retrieval.models import Product, Query
from sbsapp.campaigns import CampaignError, campaign_close, campaign_create, item_set_gold, sample_query_ids
from sbsapp.generation import campaign_start_generation
from jobs.models import Job
from sbsapp.models import Campaign, Item
from tests.sbs_factories import install_fake_retrieval, make_campaign, make_dataset, make_item, make_version

pytestmark = pytest.mark.django_db


def two_systems(dataset, monkeypatch, *, identical_for=()):
    """Fake lists: A returns products 0-2, B products 3-5, except the given query texts where both agree."""
    a, b = make_version(dataset=dataset, name="base"), make_version(dataset=dataset, name="treat")
    pks = list(Product.objects.filter(dataset=dataset).order_by("pk").values_list("pk", flat=True))
    lists = {}
    for query in Query.objects.filter(dataset=dataset):
        lists[("base", query.text)] = pks[:3]
        lists[("treat", query.text)] = pks[:3] if query.text in identical_for else pks[3:6]
    calls = install_fake_retrieval(monkeypatch, lists)
    return a, b, calls


def test_generation_job_freezes_both_lists_and_opens_the_campaign(admin_user, monkeypatch):
    dataset = make_dataset(queries=10)
    a, b, _ = two_systems(dataset, monkeypatch)
    campaign = campaign_create(name="c1", system_a=a, system_b=b, sample_size=10, k=3, control_share=0.2,
                               user=admin_user)
    job = campaign_start_generation(campaign=campaign, user=admin_user)

    job.refresh_from_db()
    campaign.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert campaign.status == Campaign.Status.ACTIVE and campaign.generation_job == job
    assert job.result["items"] == 10 and job.result["aa_controls"] == 2 and job.result["regular"] == 8
    regular = Item.objects.filter(campaign=campaign, kind="regular").first()
    assert [p["title"] for p in regular.results_a] == ["Product 0", "Product 1", "Product 2"]
    assert [p["title"] for p in regular.results_b] == ["Product 3", "Product 4", "Product 5"]
    for control in Item.objects.filter(campaign=campaign, kind="aa"):
        assert control.results_a == control.results_b and control.expected_preference == 0


def test_snapshots_do_not_change_when_the_catalogue_does(admin_user, monkeypatch):
    dataset = make_dataset(queries=2)
    a, b, _ = two_systems(dataset, monkeypatch)
    campaign = campaign_create(name="c", system_a=a, system_b=b, sample_size=2, k=3, control_share=0)
    campaign_start_generation(campaign=campaign)
    Product.objects.filter(dataset=dataset).update(title="Renamed", price=1)
    item = Item.objects.filter(campaign=campaign).first()
    assert item.results_a[0]["title"] == "Product 0" and item.results_a[0]["price"] == "10.50"


def test_generation_resumes_without_duplicating_or_retrieving_again(monkeypatch):
    dataset = make_dataset(queries=6)
    a, b, calls = two_systems(dataset, monkeypatch)
    campaign = campaign_create(name="c", system_a=a, system_b=b, sample_size=6, k=3, control_share=0)
    first_half = sample_query_ids(dataset_id=dataset.pk, segments=[], query_types=[], size=6, seed=13)[:3]
    for pk in first_half:  # as if a killed worker had frozen half of the sample
        make_item(campaign=campaign, query=Query.objects.get(pk=pk))
    campaign_start_generation(campaign=campaign)

    assert Item.objects.filter(campaign=campaign).count() == 6
    assert len(calls) == 2 * 3  # only the three missing queries were retrieved, once per system


def test_identical_lists_become_controls_or_are_hidden(monkeypatch):
    dataset = make_dataset(queries=4)
    a, b, _ = two_systems(dataset, monkeypatch, identical_for={"query number 0"})
    shown = campaign_create(name="shown", system_a=a, system_b=b, sample_size=4, k=3, control_share=0)
    hidden = campaign_create(name="hidden", system_a=a, system_b=b, sample_size=4, k=3, control_share=0,
                             identical_lists=Campaign.IdenticalLists.HIDE)
    campaign_start_generation(campaign=shown)
    campaign_start_generation(campaign=hidden)

    as_control = Item.objects.get(campaign=shown, query_text="query number 0")
    assert as_control.identical and as_control.kind == "aa" and as_control.is_active
    not_shown = Item.objects.get(campaign=hidden, query_text="query number 0")
    assert not_shown.identical and not not_shown.is_active and not_shown.kind == "regular"


def test_stratified_sample_keeps_segment_proportions_and_is_reproducible():
    dataset = make_dataset(queries=60, segments=("head", "tail", "tail"), query_types=("plain",))
    sample = sample_query_ids(dataset_id=dataset.pk, segments=[], query_types=[], size=30, seed=7)
    segments = Counter(Query.objects.filter(pk__in=sample).values_list("segment", flat=True))
    assert len(sample) == len(set(sample)) == 30
    assert segments == {"head": 10, "tail": 20}
    assert sample == sample_query_ids(dataset_id=dataset.pk, segments=[], query_types=[], size=30, seed=7)
    assert sample != sample_query_ids(dataset_id=dataset.pk, segments=[], query_types=[], size=30, seed=8)


def test_an_equal_share_per_segment_lets_the_few_tail_queries_count_as_much_as_the_many_torso_ones():
    dataset = make_dataset(queries=60, segments=("torso",) * 8 + ("head", "tail"), query_types=("plain", "qa"))
    sample = sample_query_ids(dataset_id=dataset.pk, segments=[], query_types=[], size=12, seed=7,
                              allocation=Campaign.Allocation.EQUAL_SEGMENTS)
    segments = Counter(Query.objects.filter(pk__in=sample).values_list("segment", flat=True))
    assert len(sample) == len(set(sample)) == 12 and segments == {"torso": 4, "head": 4, "tail": 4}
    proportional = sample_query_ids(dataset_id=dataset.pk, segments=[], query_types=[], size=12, seed=7)
    assert Counter(Query.objects.filter(pk__in=proportional).values_list("segment", flat=True))["tail"] < 4
    # a segment too small for its share gives the rest to the others: 6 tail queries exist, 30 asked
    big = sample_query_ids(dataset_id=dataset.pk, segments=[], query_types=[], size=30, seed=7,
                           allocation=Campaign.Allocation.EQUAL_SEGMENTS)
    assert Counter(Query.objects.filter(pk__in=big).values_list("segment", flat=True)) == {
        "tail": 6, "head": 6, "torso": 18}


def test_the_dashboard_says_how_items_were_drawn(client, analyst):
    campaign = make_campaign(dataset=make_dataset(), segments=["tail", "head"],
                             allocation=Campaign.Allocation.EQUAL_SEGMENTS)
    client.force_login(analyst)
    page = client.get(f"/sbs/campaigns/{campaign.pk}/").content.decode()
    assert "How items were drawn" in page and "the tail, head segments" in page
    assert "an equal share per segment" in page


def test_sample_respects_filters_and_complains_when_nothing_matches():
    dataset = make_dataset(queries=12)
    tail = sample_query_ids(dataset_id=dataset.pk, segments=["tail"], query_types=["knowledge"], size=100, seed=1)
    assert set(Query.objects.filter(pk__in=tail).values_list("segment", "query_type")) == {("tail", "knowledge")}
    with pytest.raises(CampaignError, match="No query"):
        sample_query_ids(dataset_id=dataset.pk, segments=["head"], query_types=["typo"], size=5, seed=1)


def test_campaign_needs_two_ready_systems_on_one_dataset():
    dataset = make_dataset()
    a = make_version(dataset=dataset)
    with pytest.raises(CampaignError, match="two different"):
        campaign_create(name="x", system_a=a, system_b=a)
    with pytest.raises(CampaignError, match="same data set"):
        campaign_create(name="x", system_a=a, system_b=make_version(dataset=make_dataset()))
    draft = campaign_create(name="x", system_a=a, system_b=make_version(dataset=dataset, status="training"))
    with pytest.raises(CampaignError, match="not ready"):
        campaign_start_generation(campaign=draft)
    with pytest.raises(CampaignError, match="control_share"):
        campaign_create(name="y", system_a=a, system_b=make_version(dataset=dataset), control_share=0.9)


def test_gold_items_and_closing():
    campaign = make_campaign()
    item = make_item(campaign=campaign)
    gold = item_set_gold(item=item, expected_preference=2)
    assert gold.kind == "gold" and gold.expected_preference == 2
    assert item_set_gold(item=item, expected_preference=None).kind == "regular"
    with pytest.raises(CampaignError):
        item_set_gold(item=make_item(campaign=campaign, kind="aa"), expected_preference=1)
    assert campaign_close(campaign=campaign).status == Campaign.Status.CLOSED
    with pytest.raises(CampaignError):
        campaign_close(campaign=campaign)


def test_generation_freezes_what_real_retrievers_return(tmp_path):
    """Against the retrieval engine itself: a BM25 and a zero-shot dense version on a small catalogue."""
    from retrieval.search import retrieve
    from retrieval.versions import version_build
    from tests.retrieval_factories import all_texts, make_dataset as make_shop, tiny_encoder_folder

    shop = make_shop()
    bm25 = version_build(dataset=shop, name="bm25-sbs", kind="bm25")
    dense = version_build(dataset=shop, name="dense-sbs", kind="dense", config={"train": False},
                          base_model=str(tiny_encoder_folder(tmp_path / "enc", all_texts())))
    assert bm25.status == dense.status == "ready"
    campaign = campaign_create(name="real", system_a=bm25, system_b=dense, sample_size=100, k=3, control_share=0,
                               identical_lists=Campaign.IdenticalLists.HIDE)
    campaign_start_generation(campaign=campaign)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.ACTIVE, campaign.generation_job.error
    items = list(Item.objects.filter(campaign=campaign))
    assert len(items) == Query.objects.filter(dataset=shop).count()
    for item in items:
        assert [p["product"] for p in item.results_a] == [h.product_id for h in retrieve(bm25, item.query_text, 3)]
        assert [p["product"] for p in item.results_b] == [h.product_id for h in retrieve(dense, item.query_text, 3)]
