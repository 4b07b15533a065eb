"""The staff synthesis pages and the admin start form."""
import pytest
from django.urls import reverse

from jobs.models import Job
from synthesis.models import JudgeVersion

from .test_synthesis_job import install_fakes, world  # noqa: F401  (fixture)

pytestmark = pytest.mark.django_db


def form_data(world):
    dataset, _, _, strong, baseline, judge = world
    return {"dataset": dataset.pk, "retriever_version": strong.pk, "baseline_version": baseline.pk,
            "judge_backend": "cross-encoder", "judge_version": judge.pk, "threshold": "0.5",
            "rewriter_backend": "hf-local", "candidates": "2", "retrieve_k": "50", "baseline_k": "50",
            "max_pairs_per_query": "10", "drop_logged": "on", "segments": ["tail"], "max_queries": "10",
            "chunk_size": "2"}


def test_admin_starts_a_job_from_the_page_and_sees_statistics_and_a_sample(client, admin_user, world, monkeypatch):
    install_fakes(monkeypatch, world[1])
    client.force_login(admin_user)
    page = client.get(reverse("synthesis_home"))
    assert page.status_code == 200 and b"Start a synthesis job" in page.content
    response = client.post(reverse("synthesis_home"), form_data(world))
    job = Job.objects.get(kind="synthesis")
    assert response.status_code == 302 and response.url == reverse("synthesis_job", args=[job.pk])
    detail = client.get(response.url).content.decode()
    assert 'class="job-progress"' in detail and "Statistics" in detail
    assert "gift for a dad who likes fishing product" in detail  # a rewrite in the sample
    assert "Insulated steel coffee mug" in detail  # a kept product (the fake judge likes it)
    assert "incremental" in detail and "Train treatment from this job" in detail


def test_an_empty_threshold_starts_the_job_at_the_judges_calibrated_threshold(client, admin_user, world, monkeypatch):
    from synthesis.models import JudgeVersion

    install_fakes(monkeypatch, world[1])
    JudgeVersion.objects.filter(pk=world[5].pk).update(metrics={"auc": 0.81, "threshold": 0.1426})
    client.force_login(admin_user)
    assert "0.143" in client.get(reverse("synthesis_home")).content.decode()  # shown with the judge
    client.post(reverse("synthesis_home"), {**form_data(world), "threshold": ""})
    assert Job.objects.get(kind="synthesis").config["threshold"] == 0.1426


def test_running_job_shows_counts_that_poll_for_updates(client, admin_user, world):
    job = Job.objects.create(kind="synthesis", task_name="synthesis.tasks.ml_synthesize", status="running",
                             config={})
    client.force_login(admin_user)
    partial = client.get(reverse("synthesis_job_results", args=[job.pk])).content.decode()
    assert "Counts so far" in partial and 'hx-trigger="every 2s"' in partial


def test_invalid_form_explains_and_starts_nothing(client, admin_user, world):
    client.force_login(admin_user)
    data = form_data(world)
    data.pop("judge_version")  # empty: the data set's best-measured ready judge, and here none is ready
    JudgeVersion.objects.update(status="failed")
    response = client.post(reverse("synthesis_home"), data)
    assert response.status_code == 200 and b"has no ready judge version" in response.content
    assert not Job.objects.filter(kind="synthesis").exists()


def test_annotators_cannot_see_or_start_synthesis(client, annotator, world):
    client.force_login(annotator)
    assert client.get(reverse("synthesis_home")).status_code == 403
    client.post(reverse("synthesis_home"), form_data(world))
    assert not Job.objects.filter(kind="synthesis").exists()


def test_analysts_see_the_page_but_cannot_start(client, analyst, world):
    client.force_login(analyst)
    page = client.get(reverse("synthesis_home"))
    assert page.status_code == 200 and b"Start a synthesis job" not in page.content
    assert client.post(reverse("synthesis_home"), form_data(world)).status_code == 403


def test_django_admin_add_starts_a_synthesis_job(client, admin_user, world, monkeypatch):
    install_fakes(monkeypatch, world[1])
    client.force_login(admin_user)
    add_url = reverse("admin:synthesis_synthesisjob_add")
    assert b"Start a synthesis job" in client.get(add_url).content
    response = client.post(add_url, form_data(world))
    job = Job.objects.get(kind="synthesis")
    assert response.status_code == 302 and job.status == "succeeded"
    listing = client.get(reverse("admin:synthesis_synthesisjob_changelist")).content.decode()
    assert f">{job.pk}<" in listing
