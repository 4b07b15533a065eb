"""Retriever versions API: list/detail/metrics for analysts, refused for annotators, validated filters."""
import pytest

from tests.api_builders import build_version, token_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def versions():
    baseline = build_version("bm25-v1", kind="bm25", metrics={"test": {"ndcg@10": 0.31}})
    treatment = build_version("dense-v2", kind="dense", status="training")
    treatment.components.add(baseline)
    return baseline, treatment


def test_analyst_lists_versions_and_filters_by_kind(analyst, versions):
    client = token_client(analyst)
    names = [row["name"] for row in client.get("/api/retrievers/").json()["results"]]
    assert sorted(names) == ["bm25-v1", "dense-v2"]
    body = client.get("/api/retrievers/", {"kind": "dense", "dataset": "shop"}).json()
    assert [(r["name"], r["components"], r["dataset"]) for r in body["results"]] == [("dense-v2", ["bm25-v1"], "shop")]


def test_analyst_reads_a_version_and_its_metrics(analyst, versions):
    client = token_client(analyst)
    baseline = versions[0]
    assert client.get(f"/api/retrievers/{baseline.pk}/").json()["kind"] == "bm25"
    metrics = client.get(f"/api/retrievers/{baseline.pk}/metrics/").json()
    assert metrics == {"version": "bm25-v1", "status": "ready", "metrics": {"test": {"ndcg@10": 0.31}}}


def test_annotator_cannot_read_versions(annotator, versions):
    assert token_client(annotator).get("/api/retrievers/").status_code == 403
    assert token_client(annotator).get(f"/api/retrievers/{versions[0].pk}/metrics/").status_code == 403


def test_bad_kind_filter_is_a_clear_400(analyst):
    response = token_client(analyst).get("/api/retrievers/", {"kind": "neural"})
    assert response.status_code == 400
    assert "kind" in response.json()["errors"]


def test_versions_are_read_only(admin_user, versions):
    response = token_client(admin_user).delete(f"/api/retrievers/{versions[0].pk}/")
    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"
