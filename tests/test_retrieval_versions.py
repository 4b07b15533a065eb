"""Retriever versions end to end: build through jobs, retrieve, immutability, broken indexes and their repair,
the admin actions, the management commands and the side-by-side search page."""
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from retrieval.models import RetrieverVersion
from retrieval.search import Hit, IndexUnavailable, clear_searcher_cache, loaded_searcher, retrieve, version_folder
from retrieval.versions import (
    VersionImmutable,
    version_build,
    version_create,
    version_evaluate,
    version_rebuild_index,
    version_start_build,
    version_update,
)
from jobs.models import Job
from tests.retrieval_factories import all_texts, make_dataset, tiny_encoder_folder

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def tiny_encoder(tmp_path_factory):
    return tiny_encoder_folder(tmp_path_factory.mktemp("enc") / "tiny", all_texts())


@pytest.fixture
def dataset():
    return make_dataset()


@pytest.fixture
def bm25(dataset):
    return version_build(dataset=dataset, name="bm25-v1", kind="bm25")


@pytest.fixture
def zero_shot(dataset, tiny_encoder):
    return version_build(dataset=dataset, name="dense-zs", kind="dense", config={"train": False},
                         base_model=str(tiny_encoder))


def product_ids(version, hits):
    ids = dict(version.dataset.products.values_list("pk", "product_id"))
    return [ids[h.product_id] for h in hits]


def test_bm25_version_builds_through_a_job_and_ranks_matching_products_first(bm25):
    assert bm25.status == "ready" and bm25.build_job.status == "succeeded"
    assert bm25.build_job.task_name == "jobs.retriever_build" and bm25.build_job.queue == "ml"
    hits = retrieve(bm25, "frying pan", k=5)
    assert all(isinstance(h, Hit) for h in hits)
    assert set(product_ids(bm25, hits[:2])) == {"p1", "p2"}
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert retrieve(bm25, "zzzz qqqq", k=5) == []


def test_dense_zero_shot_and_hybrid_versions_return_k_hits_best_first(dataset, bm25, zero_shot):
    assert zero_shot.status == "ready", zero_shot.error
    assert zero_shot.manifest["index"] == {"type": "flat", "count": 12, "dim": 32}
    dense_hits = retrieve(zero_shot, "frying pan", k=5)
    assert len(dense_hits) == 5 and dense_hits[0].score >= dense_hits[-1].score
    hybrid = version_build(dataset=dataset, name="hybrid-v1", kind="hybrid",
                           config={"components": ["bm25-v1", "dense-zs"]})
    assert hybrid.status == "ready"
    hits = retrieve(hybrid, "frying pan", k=3)
    assert len(hits) == 3
    # reciprocal rank fusion: BM25 puts p1/p2 first, so they lead the fused list too
    assert set(product_ids(hybrid, hits[:2])) & {"p1", "p2"}
    assert hits[0].score == pytest.approx(sum(1 / (60 + r) for r in _ranks(hits[0].product_id, bm25, zero_shot)))


def _ranks(product_pk, *versions):
    ranks = []
    for version in versions:
        ids = [h.product_id for h in retrieve(version, "frying pan", k=100)]
        if product_pk in ids:
            ranks.append(ids.index(product_pk) + 1)
    return ranks


def test_built_versions_are_immutable(bm25):
    with pytest.raises(VersionImmutable):
        version_update(version=bm25, config={"bm25": {"k1": 0.9}})
    with pytest.raises(VersionImmutable):
        version_start_build(version=bm25)
    bm25.refresh_from_db()
    assert bm25.hyperparams["bm25"]["k1"] == 1.5 and bm25.status == "ready"
    with pytest.raises(ValueError, match="already exists"):
        version_build(dataset=bm25.dataset, name="bm25-v1", kind="bm25")


def test_a_draft_can_change_until_it_is_built(dataset):
    draft = version_create(dataset=dataset, name="bm25-draft", kind="bm25")
    version_update(version=draft, config={"bm25": {"k1": 1.2}})
    assert draft.hyperparams["bm25"]["k1"] == 1.2
    version_start_build(version=draft)
    draft.refresh_from_db()
    assert draft.status == "ready"
    with pytest.raises(VersionImmutable):
        version_update(version=draft, config={"bm25": {"k1": 2.0}})


@pytest.mark.parametrize("damage", ["delete", "truncate", "flip"])
def test_missing_or_corrupt_index_gives_a_clear_error_and_rebuild_repairs_it(zero_shot, damage):
    assert retrieve(zero_shot, "coffee", k=3)
    index_file = version_folder(zero_shot) / "index.faiss"
    if damage == "delete":
        index_file.unlink()
    elif damage == "truncate":
        index_file.write_bytes(index_file.read_bytes()[:100])
    else:
        data = bytearray(index_file.read_bytes())
        data[len(data) // 2] ^= 0xFF
        index_file.write_bytes(bytes(data))
    clear_searcher_cache()
    with pytest.raises(IndexUnavailable) as excinfo:
        retrieve(zero_shot, "coffee", k=3)
    message = str(excinfo.value)
    assert "dense-zs" in message and "index.faiss" in message
    assert "train_retriever --rebuild-index dense-zs" in message
    job = version_rebuild_index(version=zero_shot)
    assert job.status == "succeeded", job.error
    assert len(retrieve(zero_shot, "coffee", k=3)) == 3


def test_corrupt_bm25_files_are_caught_and_the_command_rebuilds_them(bm25):
    (version_folder(bm25) / "vocab.index.json").write_text("{}")
    clear_searcher_cache()
    with pytest.raises(IndexUnavailable, match="vocab.index.json"):
        retrieve(bm25, "pan")
    call_command("train_retriever", "--rebuild-index", "bm25-v1")
    assert retrieve(bm25, "pan")


def test_rebuild_refuses_when_the_catalogue_changed(bm25):
    bm25.dataset.products.create(product_id="p99", title="New pan")
    job = version_rebuild_index(version=bm25)
    assert job.status == "failed" and "catalogue" in job.error and "new version" in job.error


def test_unready_version_cannot_be_searched(dataset):
    draft = version_create(dataset=dataset, name="bm25-later", kind="bm25")
    with pytest.raises(IndexUnavailable, match="draft"):
        retrieve(draft, "pan")


def test_bad_configs_are_refused_with_the_reason(dataset):
    with pytest.raises(ValueError, match="Unknown option"):
        version_create(dataset=dataset, name="x1", kind="dense", config={"epoch": 2})
    with pytest.raises(ValueError, match="temperature"):
        version_create(dataset=dataset, name="x2", kind="dense", config={"temperature": 0})
    with pytest.raises(ValueError, match="at least two"):
        version_create(dataset=dataset, name="x3", kind="hybrid", config={"components": ["a"]})
    with pytest.raises(ValueError, match="slug"):
        version_create(dataset=dataset, name="Not A Slug", kind="bm25")
    assert not RetrieverVersion.objects.exists()


def test_failed_build_records_the_error_and_can_be_resumed(dataset, tiny_encoder, settings):
    version = version_build(dataset=dataset, name="dense-broken", kind="dense", config={"train": False},
                            base_model="/missing/encoder")
    assert version.status == "failed" and "does not exist" in version.error
    assert version.build_job.status == "failed"
    version_update(version=version, base_model=str(tiny_encoder))
    job = version_start_build(version=version)
    version.refresh_from_db()
    assert job.status == "succeeded" and version.status == "ready"


def test_evaluation_job_stores_metrics_by_segment_and_type(zero_shot):
    job = version_evaluate(version=zero_shot)
    zero_shot.refresh_from_db()
    assert job.status == "succeeded" and zero_shot.eval_job == job
    metrics = zero_shot.metrics
    assert metrics["all"]["queries"] == 8 and metrics["qrels"] == "test"
    assert set(metrics["segment"]) == {"head", "torso", "tail"}
    assert set(metrics["query_type"]) == {"plain", "knowledge"}
    assert 0 <= metrics["all"]["nDCG@10"] <= 1 and metrics["all"]["Recall@100"] == 1.0  # 12 products, all found


def test_commands_build_and_evaluate_and_print_a_table(dataset, tiny_encoder, capsys):
    call_command("train_retriever", "--dataset", "shop", "--name", "cmd-bm25", "--kind", "bm25")
    call_command("train_retriever", "--dataset", "shop", "--name", "cmd-dense", "--kind", "dense",
                 "--base-model", str(tiny_encoder), "--set", "epochs=1", "--set", "batch_size=4")
    out = capsys.readouterr().out
    assert "cmd-dense: ready" in out and '"logs"' in out
    call_command("evaluate_retriever", "cmd-bm25", "cmd-dense")
    table = capsys.readouterr().out
    assert "| cmd-bm25 |" in table and "| cmd-dense |" in table and "head nDCG@10" in table
    with pytest.raises(CommandError, match="No data set"):
        call_command("train_retriever", "--dataset", "nope", "--name", "x", "--kind", "bm25")
    with pytest.raises(CommandError, match="Unknown option"):
        call_command("train_retriever", "--dataset", "shop", "--name", "x", "--set", "bogus=1")


def test_admin_actions_start_jobs_and_show_the_progress_page(client, admin_user, dataset):
    client.force_login(admin_user)
    response = client.post(reverse("admin:retrieval_retrieverversion_add"), {
        "dataset": dataset.pk, "name": "admin-bm25", "kind": "bm25", "base_model": "", "seed": 13,
        "hyperparams": json.dumps({"bm25": {"k1": 1.2}}),
    })
    assert response.status_code == 302, response.content[:2000]
    version = RetrieverVersion.objects.get(name="admin-bm25")
    assert version.status == "draft" and version.hyperparams["bm25"]["k1"] == 1.2
    changelist = reverse("admin:retrieval_retrieverversion_changelist")
    response = client.post(changelist, {"action": "start_build", "_selected_action": [version.pk]})
    job = Job.objects.get(kind="retriever_build")
    assert response.status_code == 302 and response.url == reverse("job_detail", args=[job.pk])
    version.refresh_from_db()
    assert version.status == "ready" and version.build_job == job
    page = client.get(response.url)
    assert b"<progress" in page.content
    client.post(changelist, {"action": "start_evaluation", "_selected_action": [version.pk]})
    version.refresh_from_db()
    assert version.metrics["all"]["queries"] == 8
    # built: the change form is read-only and the version cannot be deleted
    form = client.get(reverse("admin:retrieval_retrieverversion_change", args=[version.pk]))
    assert b'name="hyperparams"' not in form.content
    assert client.post(reverse("admin:retrieval_retrieverversion_delete", args=[version.pk]), {"post": "yes"}).status_code == 403


def test_admin_add_form_reports_a_bad_config(client, admin_user, dataset):
    client.force_login(admin_user)
    response = client.post(reverse("admin:retrieval_retrieverversion_add"), {
        "dataset": dataset.pk, "name": "bad", "kind": "dense", "base_model": "", "seed": 13,
        "hyperparams": json.dumps({"temperature": 5}),
    })
    # The message is the typed config's (retrieval.versions.config), the same as the command's and the service's.
    assert response.status_code == 200 and b"temperature: Input should be less than or equal to 1" in response.content
    assert not RetrieverVersion.objects.exists()


def test_search_page_shows_two_versions_side_by_side_with_diff_markers(client, analyst, bm25, zero_shot):
    loaded_searcher(zero_shot)  # in memory, as a warm server has it (loading first: tests/test_search_warmup.py)
    client.force_login(analyst)
    url = reverse("retrieval_search")
    page = client.get(url)
    assert page.status_code == 200 and b"bm25-v1" in page.content
    params = {"q": "frying pan", "a": "bm25-v1", "b": "dense-zs", "k": 5}
    partial = client.get(url, params, HTTP_HX_REQUEST="true")
    html = partial.content.decode()
    assert "<html" not in html  # the htmx partial only
    assert html.count('<li class="hit') == len(retrieve(bm25, "frying pan", 5)) + 5
    assert "Cast iron frying pan 28 cm" in html
    bm25_ids = {h.product_id for h in retrieve(bm25, "frying pan", 5)}
    dense_ids = {h.product_id for h in retrieve(zero_shot, "frying pan", 5)}
    assert html.count("hit hit-only-here") == len(bm25_ids ^ dense_ids) > 0
    full = client.get(url, params)
    assert b"<html" in full.content and b"Cast iron frying pan 28 cm" in full.content


def test_retrieval_root_leads_to_the_versions_page(client, analyst, annotator):
    assert client.get("/retrieval/")["Location"].startswith(reverse("login"))
    client.force_login(analyst)
    response = client.get("/retrieval/")
    assert response.status_code == 302 and response["Location"] == reverse("retrieval_versions")
    assert reverse("retrieval_search") in client.get(response["Location"]).content.decode()
    client.force_login(annotator)
    assert client.get("/retrieval/").status_code == 403


def test_search_page_is_for_staff_only(client, annotator):
    client.force_login(annotator)
    assert client.get(reverse("retrieval_search")).status_code == 403


def test_versions_page_lists_status_and_metrics(client, analyst, zero_shot):
    version_evaluate(version=zero_shot)
    client.force_login(analyst)
    page = client.get(reverse("retrieval_versions")).content.decode()
    assert "dense-zs" in page and "ready" in page
    assert f"{zero_shot.__class__.objects.get(pk=zero_shot.pk).metrics['all']['nDCG@10']:.3f}" in page
