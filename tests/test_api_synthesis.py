"""Synthesis API: jobs (list/status/cancel) and synthetic pairs (by job, incremental polling)."""
import pytest

from jobs.models import Job
from retrieval.models import Product, Query
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
    succeeded = client.get("/api/synthesis/jobs/", {"status": "succeeded"}).json()["results"]
    assert [r["id"] for r in succeeded] == [other.pk]


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


@pytest.fixture
def ready_setup():
    from synthesis.models import JudgeVersion
    from tests.api_builders import build_version

    dataset = build_dataset("synth-start")
    strong = build_version("strong-hybrid", kind="hybrid", dataset=dataset)
    baseline = build_version("baseline-dense", kind="dense", dataset=dataset)
    judge = JudgeVersion.objects.create(dataset=dataset, name="judge-1", base_model="x", status="ready")
    return {"dataset_id": dataset.pk, "retriever_version_id": strong.pk, "baseline_version_id": baseline.pk,
            "judge_version_id": judge.pk}


@pytest.fixture
def sent_jobs(monkeypatch):
    """Record jobs sent to the queue instead of running the (model-loading) synthesis in the test."""
    from jobs import services as jobs

    sent = []
    monkeypatch.setattr(jobs, "send_job", lambda job: sent.append(job.pk))
    return sent


def test_admin_starts_a_synthesis_job_with_a_config(admin_user, ready_setup, sent_jobs):
    body = {**ready_setup, "segments": ["tail"], "candidates": 3, "threshold": 0.7, "max_queries": 50}
    response = token_client(admin_user).post("/api/synthesis/jobs/", body, format="json")
    assert response.status_code == 201, response.json()
    job = response.json()
    assert job["kind"] == "synthesis" and job["status"] == "queued" and job["queue"] == "ml"
    assert job["config"]["candidates"] == 3 and job["config"]["threshold"] == 0.7
    assert job["config"]["rewriter_backend"] == "hf-local"  # defaults filled in by the service
    assert sent_jobs == [job["id"]]


def test_analyst_cannot_start_synthesis(analyst, ready_setup, sent_jobs):
    response = token_client(analyst).post("/api/synthesis/jobs/", ready_setup, format="json")
    assert response.status_code == 403
    assert sent_jobs == [] and not Job.objects.filter(kind="synthesis").exists()


@pytest.mark.parametrize(("change", "message"), [
    ({"candidates": 40}, "candidates: Input should be less than or equal to 16"),
    ({"segments": ["feet"]}, "segments: Input should be 'head', 'torso' or 'tail'"),
    ({"temperature": 2}, "temperature: Unknown field."),
    ({"judge_version_id": 999999}, "Judge version #999999 does not exist."),
    ({"dataset_id": 999999}, "Dataset #999999 does not exist."),
    ({"judge_backend": "llm"}, "need OPENAI_BASE_URL"),
])
def test_bad_synthesis_configs_are_clear_400s(admin_user, ready_setup, sent_jobs, settings, change, message):
    settings.OPENAI_BASE_URL = ""
    response = token_client(admin_user).post("/api/synthesis/jobs/", {**ready_setup, **change}, format="json")
    assert response.status_code == 400
    assert message in response.json()["message"]
    assert sent_jobs == []


def test_without_a_judge_the_best_measured_ready_one_is_used_and_without_any_the_start_is_refused(
        admin_user, ready_setup, sent_jobs):
    from synthesis.models import JudgeVersion

    response = token_client(admin_user).post("/api/synthesis/jobs/", {**ready_setup, "judge_version_id": None},
                                             format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["config"]["judge_version_id"] == ready_setup["judge_version_id"]
    JudgeVersion.objects.update(status="failed")
    response = token_client(admin_user).post("/api/synthesis/jobs/", {**ready_setup, "judge_version_id": None},
                                             format="json")
    assert response.status_code == 400 and "has no ready judge version" in response.json()["message"]


def test_unready_versions_refuse_to_start(admin_user, ready_setup, sent_jobs):
    from retrieval.models import RetrieverVersion

    RetrieverVersion.objects.filter(pk=ready_setup["baseline_version_id"]).update(status="training")
    response = token_client(admin_user).post("/api/synthesis/jobs/", ready_setup, format="json")
    assert response.status_code == 400
    assert response.json()["message"] == "The baseline version 'baseline-dense' is training, not ready."


def test_down_broker_is_a_503_and_leaves_no_job(admin_user, ready_setup, monkeypatch):
    from jobs import services as jobs

    def refuse(job):
        raise ConnectionRefusedError("connection refused")

    monkeypatch.setattr(jobs, "send_job", refuse)
    response = token_client(admin_user).post("/api/synthesis/jobs/", ready_setup, format="json")
    assert response.status_code == 503
    assert "not reachable" in response.json()["message"]
    assert not Job.objects.filter(kind="synthesis").exists()


def test_an_out_of_range_value_gets_the_same_message_from_the_form_and_the_api(admin_user, ready_setup, sent_jobs):
    from synthesis.forms import SynthesisJobForm

    response = token_client(admin_user).post("/api/synthesis/jobs/", {**ready_setup, "max_pairs_per_query": 5000},
                                             format="json")
    assert response.status_code == 400
    form = SynthesisJobForm({"dataset": ready_setup["dataset_id"], "retriever_version": ready_setup["retriever_version_id"],
                             "baseline_version": ready_setup["baseline_version_id"],
                             "judge_version": ready_setup["judge_version_id"], "judge_backend": "cross-encoder",
                             "rewriter_backend": "hf-local", "candidates": 4, "retrieve_k": 100, "baseline_k": 100,
                             "max_pairs_per_query": 5000, "segments": ["tail"], "chunk_size": 16})
    assert not form.is_valid()
    assert form.errors["max_pairs_per_query"] == response.json()["errors"]["max_pairs_per_query"] \
        == ["Input should be less than or equal to 1000"]
    assert sent_jobs == []


def test_the_job_list_reads_its_counts_in_a_constant_number_of_queries(analyst, django_assert_max_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    dataset = build_dataset("counts")
    client = token_client(analyst)

    def add_job(n: int):
        job = Job.objects.create(kind="synthesis", task_name="t", status=Job.Status.SUCCEEDED)
        for i in range(n):
            query = Query.objects.create(dataset=dataset, query_id=f"q{job.pk}-{i}", text=f"query {i}", segment="tail")
            product = Product.objects.create(dataset=dataset, product_id=f"p{job.pk}-{i}", title=f"Thing {i}")
            MinedQuery.objects.create(job=job, query=query, position=i, candidates=3, done_at=job.created_at)
            SyntheticPair.objects.create(job=job, query=query, product=product, judge_score=0.9, incremental=i % 2 == 0)
        return job

    add_job(2)
    with CaptureQueriesContext(connection) as one_job:
        assert client.get("/api/synthesis/jobs/").status_code == 200
    for n in (1, 3, 4, 5):
        add_job(n)
    with django_assert_max_num_queries(len(one_job.captured_queries)):
        body = client.get("/api/synthesis/jobs/").json()
    assert [row["synthesis"]["queries"] for row in body["results"]] == [5, 4, 3, 1, 2]
    assert body["results"][0]["synthesis"] == {"queries": 5, "queries_done": 5, "candidates": 15, "rewrites": 0,
                                               "kept_pairs": 5, "incremental_pairs": 3, "incremental_share": 0.6}
