"""Synthesis API: jobs (list/status/cancel) and synthetic pairs (by job, incremental polling)."""
import pytest

from retrieval.models import Product, Query
from sbsapp.models import Job
from synthesis.models import MinedQuery, SyntheticPair
from tests.api_builders import build_dataset, token_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def synthesis_run(admin_user):
    dataset = build_dataset("synth")
    queries = [Query.objects.create(dataset=dataset, query_id=f"q{i}", text=f"rare query {i}", segment="tail")
               for i in range(2)]
    products = [Product.objects.create(dataset=dataset, product_id=f"P{i}", title=f"Thing {i}") for i in range(4)]
    job = Job.objects.create(kind="synthesis", task_name="synthesis.tasks.ml_synthesize", status=Job.Status.RUNNING,
                             created_by=admin_user)
    other = Job.objects.create(kind="synthesis", task_name="synthesis.tasks.ml_synthesize",
                               status=Job.Status.SUCCEEDED)
    Job.objects.create(kind="import", task_name="t")
    for position, query in enumerate(queries):
        MinedQuery.objects.create(job=job, query=query, position=position,
                                  done_at=job.created_at if position == 0 else None)
    pairs = [
        SyntheticPair.objects.create(job=job, query=queries[0], product=products[0], judge_score=0.9,
                                     incremental=True, rewrites=["rare thing"]),
        SyntheticPair.objects.create(job=job, query=queries[0], product=products[1], judge_score=0.6,
                                     incremental=False, found_by_original=True),
        SyntheticPair.objects.create(job=other, query=queries[1], product=products[2], judge_score=0.7,
                                     incremental=True),
    ]
    return job, other, pairs


def test_analyst_lists_only_synthesis_jobs_with_their_counts(analyst, synthesis_run):
    job, other, _ = synthesis_run
    client = token_client(analyst)
    body = client.get("/api/synthesis/jobs/").json()
    assert sorted(row["id"] for row in body["results"]) == sorted([job.pk, other.pk])
    status = client.get(f"/api/synthesis/jobs/{job.pk}/").json()
    assert status["synthesis"]["kept_pairs"] == 2 and status["synthesis"]["incremental_pairs"] == 1
    assert status["synthesis"]["queries"] == 2 and status["synthesis"]["queries_done"] == 1
    assert [r["id"] for r in client.get("/api/synthesis/jobs/", {"status": "succeeded"}).json()["results"]] == [other.pk]


def test_non_synthesis_job_is_not_found_here(analyst, synthesis_run):
    imported = Job.objects.get(kind="import")
    assert token_client(analyst).get(f"/api/synthesis/jobs/{imported.pk}/").status_code == 404


def test_admin_cancels_a_running_synthesis_job_and_analyst_cannot(admin_user, analyst, synthesis_run):
    job = synthesis_run[0]
    assert token_client(analyst).post(f"/api/synthesis/jobs/{job.pk}/cancel/").status_code == 403
    body = token_client(admin_user).post(f"/api/synthesis/jobs/{job.pk}/cancel/").json()
    assert body["cancel_requested"] is True
    finished = synthesis_run[1]
    assert token_client(admin_user).post(f"/api/synthesis/jobs/{finished.pk}/cancel/").status_code == 409


def test_annotator_cannot_see_synthesis(annotator, synthesis_run):
    client = token_client(annotator)
    assert client.get("/api/synthesis/jobs/").status_code == 403
    assert client.get("/api/synthesis/pairs/").status_code == 403


def test_pairs_filter_by_job_and_incremental_flag(analyst, synthesis_run):
    job, other, pairs = synthesis_run
    client = token_client(analyst)
    rows = client.get("/api/synthesis/pairs/", {"job": job.pk}).json()["results"]
    assert [r["product_id"] for r in rows] == ["P0", "P1"]  # oldest first
    assert rows[0] == {**rows[0], "query": "rare query 0", "judge_score": 0.9, "incremental": True,
                       "rewrites": ["rare thing"], "job": job.pk}
    rows = client.get("/api/synthesis/pairs/", {"incremental": "true"}).json()["results"]
    assert [r["id"] for r in rows] == [pairs[0].pk, pairs[2].pk]


def test_since_id_returns_only_newer_pairs_for_polling(analyst, synthesis_run):
    job, _, pairs = synthesis_run
    client = token_client(analyst)
    last = client.get("/api/synthesis/pairs/", {"job": job.pk}).json()["results"][-1]["id"]
    assert client.get("/api/synthesis/pairs/", {"job": job.pk, "since_id": last}).json()["results"] == []
    newer = SyntheticPair.objects.create(job=job, query=pairs[0].query, product=Product.objects.get(product_id="P3"),
                                         judge_score=0.8, incremental=True)
    rows = client.get("/api/synthesis/pairs/", {"job": job.pk, "since_id": last}).json()["results"]
    assert [r["id"] for r in rows] == [newer.pk]


@pytest.mark.parametrize(("params", "field"), [
    ({"job": "x"}, "job"),
    ({"incremental": "maybe"}, "incremental"),
    ({"since_id": -1}, "since_id"),
    ({"min_score": 2}, "min_score"),
])
def test_bad_pair_filters_are_clear_400s(analyst, params, field):
    response = token_client(analyst).get("/api/synthesis/pairs/", params)
    assert response.status_code == 400 and field in response.json()["errors"]


def test_pair_filter_refuses_a_job_that_is_not_a_synthesis(analyst, synthesis_run):
    imported = Job.objects.get(kind="import")
    response = token_client(analyst).get("/api/synthesis/pairs/", {"job": imported.pk})
    assert response.status_code == 400
    assert "does not exist" in response.json()["message"]
