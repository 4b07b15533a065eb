"""Blinding: the length of a list must not tell which system it comes from.

BM25 returns fewer than K products for a rare query (none at all when no word matches), a dense retriever always
K; a short or empty side would give the lexical system away. Generation excludes every query where either system
returned fewer than K, keeps it as an inactive item marked `short_lists`, and reports how many.
"""
import pytest

from core.roles import ANNOTATOR
from retrieval.models import Product, Query
from sbsapp import assignment
from sbsapp.campaigns import campaign_create
from sbsapp.generation import campaign_start_generation
from sbsapp.models import Campaign, Item
from sbsapp.selectors import campaign_progress
from tests.conftest import make_user
from tests.sbs_factories import install_fake_retrieval, make_dataset, make_version

pytestmark = pytest.mark.django_db

K = 3


def lexical_and_dense(dataset, monkeypatch, *, short: dict[str, int]):
    """Fake lists: the lexical system returns K products except for the queries in `short` (text -> how many),
    the dense one always K others."""
    lexical, dense = make_version(dataset=dataset, name="lexical"), make_version(dataset=dataset, name="dense")
    pks = list(Product.objects.filter(dataset=dataset).order_by("pk").values_list("pk", flat=True))
    lists = {}
    for query in Query.objects.filter(dataset=dataset):
        lists[("lexical", query.text)] = pks[:short.get(query.text, K)]
        lists[("dense", query.text)] = pks[K:2 * K]
    install_fake_retrieval(monkeypatch, lists)
    return lexical, dense


def test_queries_with_a_short_list_are_excluded_and_counted(admin_user, monkeypatch, client):
    dataset = make_dataset(queries=8)
    lexical, dense = lexical_and_dense(dataset, monkeypatch, short={"query number 0": 1, "query number 1": 0})
    campaign = campaign_create(name="length", system_a=lexical, system_b=dense, sample_size=8, k=K,
                               control_share=0.5, user=admin_user)
    job = campaign_start_generation(campaign=campaign, user=admin_user)
    job.refresh_from_db()
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.ACTIVE, job.error

    # Every item an annotator can be served (A-vs-A controls included) shows K products on each side.
    shown = list(Item.objects.filter(campaign=campaign, is_active=True))
    assert len(shown) == 6
    assert all(len(item.results_a) == len(item.results_b) == K for item in shown)
    excluded = Item.objects.filter(campaign=campaign, short_lists=True)
    assert sorted(excluded.values_list("query_text", flat=True)) == ["query number 0", "query number 1"]
    assert not excluded.filter(is_active=True).exists() and not excluded.exclude(kind="regular").exists()

    # Reported: in the generation job's result and counts, the campaign's progress and its dashboard.
    assert job.result["excluded_short_lists"] == 2 and job.counts["excluded_short_lists"] == 2
    assert campaign_progress(campaign=campaign)["excluded_short_lists"] == 2
    client.force_login(admin_user)
    page = client.get(f"/sbs/campaigns/{campaign.pk}/").content.decode()
    assert "2 queries excluded: a system returned fewer than K = 3 results" in page

    # And never served.
    served = set()
    for i in range(8):
        item = assignment.next_item(campaign=campaign, annotator=make_user(f"a{i}", ANNOTATOR))
        served.add(item.query_text)
    assert served.isdisjoint({"query number 0", "query number 1"})


def test_short_lists_on_either_side_and_identical_short_lists_are_excluded(monkeypatch):
    dataset = make_dataset(queries=4)
    lexical, dense = lexical_and_dense(dataset, monkeypatch, short={})
    pks = list(Product.objects.filter(dataset=dataset).order_by("pk").values_list("pk", flat=True))
    lists = {("lexical", f"query number {i}"): pks[:K] for i in range(4)}
    lists.update({("dense", "query number 0"): pks[K:2 * K - 1],  # B short
                  ("dense", "query number 1"): pks[:K], ("dense", "query number 2"): pks[K:2 * K],
                  ("dense", "query number 3"): pks[K:2 * K]})
    lists[("lexical", "query number 1")] = lists[("dense", "query number 1")] = pks[:K - 1]  # identical, short
    install_fake_retrieval(monkeypatch, lists)
    campaign = campaign_create(name="sides", system_a=lexical, system_b=dense, sample_size=4, k=K, control_share=0,
                               identical_lists=Campaign.IdenticalLists.CONTROL)
    job = campaign_start_generation(campaign=campaign)
    job.refresh_from_db()
    assert job.result["excluded_short_lists"] == 2 and job.result["identical_hidden"] == 0
    assert sorted(Item.objects.filter(campaign=campaign, is_active=True).values_list("query_text", flat=True)) == [
        "query number 2", "query number 3"]


def test_real_bm25_against_a_dense_retriever_never_shows_a_short_list(tmp_path):
    """Against the retrieval engine itself: BM25 finds fewer than K products for the catalogue's rarer queries."""
    from retrieval.search import retrieve
    from retrieval.versions import version_build
    from tests.retrieval_factories import all_texts, make_dataset as make_shop, tiny_encoder_folder

    shop = make_shop()
    bm25 = version_build(dataset=shop, name="bm25-length", kind="bm25")
    dense = version_build(dataset=shop, name="dense-length", kind="dense", config={"train": False},
                          base_model=str(tiny_encoder_folder(tmp_path / "enc", all_texts())))
    k = 2  # BM25 finds a single product for three of its eight queries
    queries = list(Query.objects.filter(dataset=shop))
    short = {q.text for q in queries if min(len(retrieve(bm25, q.text, k)), len(retrieve(dense, q.text, k))) < k}
    assert 0 < len(short) < len(queries)  # the catalogue has rare queries, and others
    campaign = campaign_create(name="real-length", system_a=bm25, system_b=dense, sample_size=100, k=k,
                               control_share=0.2)
    job = campaign_start_generation(campaign=campaign)
    job.refresh_from_db()
    assert job.status == "succeeded", job.error
    assert job.result["excluded_short_lists"] == len(short)
    for item in Item.objects.filter(campaign=campaign):
        assert item.is_active == (item.query_text not in short)
        if item.is_active:
            assert len(item.results_a) == len(item.results_b) == k
