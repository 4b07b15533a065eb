"""The ops pages read like a product: a styled 403 that names the role, synthesis reachable from the navigation,
the home page and the jobs pages, jobs with a title, a duration, a readable configuration and links to what they
made, and a synthesis form that shows every error at once in a summary at its top."""
import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from jobs.models import Job, JobShard
from retrieval.models import RetrieverVersion
from synthesis.models import SyntheticPair

from .test_synthesis_job import world  # noqa: F401  (fixture)
from .test_synthesis_views import form_data

pytestmark = pytest.mark.django_db


# ----------------------------------------------------------------------------------------------------------- 403


@pytest.mark.parametrize("url_name", ["job_list", "synthesis_home", "retrieval_versions"])
def test_an_annotator_on_an_analyst_page_gets_the_styled_403_naming_the_role(client, annotator, url_name):
    client.force_login(annotator)
    response = client.get(reverse(url_name))
    assert response.status_code == 403  # not a login form
    assert "403.html" in [t.name for t in response.templates]
    page = response.content.decode()
    assert 'class="topbar"' in page and "app.css" in page  # the site's page, not bare text
    assert re.search(r'<strong class="badge role" data-role="analyst">analyst</strong> role', page)
    assert "signed in as <strong>ann1</strong>, with the annotator role" in page


def test_an_anonymous_visitor_still_goes_to_the_login_page(client):
    response = client.get(reverse("job_list"))
    assert response.status_code == 302 and response.url.startswith(reverse("login"))


def test_an_analyst_starting_synthesis_gets_the_403_naming_the_admin_role(client, analyst):
    client.force_login(analyst)
    response = client.post(reverse("synthesis_home"), {})
    assert response.status_code == 403
    page = response.content.decode()
    assert "Only admins can start synthesis jobs." in page and 'data-role="admin"' in page


# -------------------------------------------------------------------------------------------- synthesis in reach


def test_synthesis_is_in_the_navigation_and_on_the_home_page_for_analysts_only(client, analyst, annotator):
    client.force_login(analyst)
    home = client.get(reverse("home")).content.decode()
    nav = home[home.index('<nav aria-label="Main">'):home.index("</nav>")]
    assert f'href="{reverse("synthesis_home")}">Synthesis</a>' in nav
    assert "<h2>Synthesis</h2>" in home
    jobs = client.get(reverse("job_list")).content.decode()
    assert f'href="{reverse("synthesis_home")}"' in jobs and f'href="?kind=synthesis"' in jobs
    client.force_login(annotator)
    assert reverse("synthesis_home") not in client.get(reverse("home")).content.decode()


# --------------------------------------------------------------------------------------------------- jobs pages


def finished_build(dataset, admin_user):
    version = RetrieverVersion.objects.create(dataset=dataset, name="dense-v2", kind="dense", status="ready")
    start = timezone.now() - timedelta(minutes=10)
    job = Job.objects.create(
        kind="retriever_build", task_name="jobs.retriever_build", status=Job.Status.SUCCEEDED, created_by=admin_user,
        config={"version_id": version.pk, "version": "dense-v2", "loss_steps": 120, "normalize": True,
                "index": {"type": "flat", "nprobe": None}},
        counts={"loss_steps": 120}, result={"products": 12000, "index": "flat"},
        started_at=start, finished_at=start + timedelta(minutes=2, seconds=5))
    RetrieverVersion.objects.filter(pk=version.pk).update(build_job=job)
    return job, version


def test_a_job_page_has_a_title_a_duration_a_readable_config_and_links_what_it_made(client, analyst, admin_user,
                                                                                      world):
    job, version = finished_build(world[0], admin_user)
    client.force_login(analyst)
    page = client.get(reverse("job_detail", args=[job.pk])).content.decode()
    assert f"<h1>Build a retriever version #{job.pk}</h1>" in page
    assert "Took 2 min 5 s" in page
    assert "{'" not in page and "&#x27;" not in page  # no Python dict anywhere
    assert "<dt>Version</dt>\n  <dd>dense-v2</dd>" in page and f"<dt>Version ID</dt>\n  <dd>{version.pk}</dd>" in page
    assert "<dt>Loss steps</dt>" in page and "<dt>Normalize</dt>\n  <dd>Yes</dd>" in page
    assert "<dt>Nprobe</dt>\n  <dd>—</dd>" in page  # a nested mapping nests its rows
    assert "<dt>Products</dt>\n  <dd>12,000</dd>" in page
    assert f'href="{reverse("retrieval_versions")}#version-dense-v2"' in page
    versions = client.get(reverse("retrieval_versions")).content.decode()
    assert 'id="version-dense-v2"' in versions  # the link lands on the version's row

    listing = client.get(reverse("job_list")).content.decode()
    assert f"Build a retriever version #{job.pk}" in listing and "took 2 min 5 s" in listing
    assert "retriever_build #" not in listing and "<dt>loss_steps</dt>" not in listing
    assert "<dt>Loss steps</dt>" in listing


def test_a_synthesis_job_page_links_its_pairs_and_its_statistics_page(client, analyst, world):
    dataset, products, queries, *_ = world
    job = Job.objects.create(kind="synthesis", task_name="jobs.synthesis", status=Job.Status.SUCCEEDED,
                             config={"dataset_id": dataset.pk, "segments": ["tail"], "threshold": 0.14263},
                             started_at=timezone.now() - timedelta(seconds=50), finished_at=timezone.now())
    query = next(iter(queries.values()))
    SyntheticPair.objects.bulk_create(SyntheticPair(job=job, query=query, product=product, judge_score=0.9,
                                                    incremental=False) for product in products[:3])
    JobShard.objects.create(job=job, step="synthesis_chunks", index=0, status="done")
    client.force_login(analyst)
    page = client.get(reverse("job_detail", args=[job.pk])).content.decode()
    assert f'<a href="{reverse("synthesis_job", args=[job.pk])}">3 synthetic pairs</a>' in page
    assert "shard 0 of job" not in page  # its chunks are bookkeeping, not what it made
    assert f"{dataset.name} (#{dataset.pk})" in page and "<dd>tail</dd>" in page and "<dd>0.1426</dd>" in page
    synthesis_page = client.get(reverse("synthesis_job", args=[job.pk])).content.decode()
    assert "{'" not in synthesis_page and "<dt>Threshold</dt>" in synthesis_page


# --------------------------------------------------------------------------------------------- synthesis form


def test_the_synthesis_form_starts_with_the_only_data_set_its_versions_and_its_judge(client, admin_user, world):
    dataset, _, _, strong, baseline, judge = world
    client.force_login(admin_user)
    page = client.get(reverse("synthesis_home")).content.decode()
    for name, pk in (("dataset", dataset.pk), ("retriever_version", strong.pk), ("baseline_version", baseline.pk),
                     ("judge_version", judge.pk)):
        select = re.search(rf'<select name="{name}".*?</select>', page, re.S).group(0)
        assert f'<option value="{pk}" selected>' in select, name
    # grouped and explained; the judge-name help keeps its placeholder (it was eaten as an HTML tag)
    assert page.count('<fieldset class="group">') >= 4 and "<legend>Judging and keeping</legend>" in page
    assert "Empty: judge-&lt;dataset&gt;-&lt;timestamp&gt;." in page


def test_a_refused_synthesis_form_sums_up_every_error_at_its_top_and_marks_each_field(client, admin_user, world):
    client.force_login(admin_user)
    data = {**form_data(world), "threshold": "5", "candidates": "0"}
    data.pop("dataset")
    response = client.post(reverse("synthesis_home"), data)
    assert response.status_code == 200 and not Job.objects.filter(kind="synthesis").exists()
    page = response.content.decode()
    summary = page[page.index("data-error-summary"):page.index("</div>", page.index("data-error-summary"))]
    assert "The synthesis job was not started: 3 things need fixing" in summary
    # all at once: the missing data set (a form error) and the config's own limits, each linked to its field
    assert '<a href="#id_dataset" data-focus-field="id_dataset">Data set</a>: This field is required.' in summary
    assert 'href="#id_threshold"' in summary and "less than or equal to 1" in summary
    assert 'href="#id_candidates"' in summary and "greater than or equal to 1" in summary
    assert page.count('class="field has-error"') == 3 and page.count('class="error field-error"') == 3
    assert 'aria-invalid="true"' in page
    assert page.index("data-error-summary") < page.index('name="dataset"')  # the summary comes first
    assert "js/forms.js" in page  # which focuses it (and scrolls to it) when the page opens


def test_a_refused_judge_training_form_shows_its_errors_on_the_page(client, admin_user, world):
    client.force_login(admin_user)
    response = client.post(reverse("synthesis_judge_train"), {"dataset": "", "epochs": "99", "kind": "cross-encoder"})
    assert response.status_code == 200
    page = response.content.decode()
    assert "The judge was not started: 2 things need fixing" in page
    assert 'href="#id_judge_dataset"' in page and 'href="#id_judge_epochs"' in page


def test_durations_labels_and_values_read_as_words():
    from jobs.presentation import format_seconds, job_duration, label, readable

    assert [format_seconds(s) for s in (7, 125, 3600, 7260, 90000)] == ["7 s", "2 min 5 s", "1 h", "2 h 1 min",
                                                                        "1 d 1 h"]
    assert [label(k) for k in ("retrieve_k", "llm_tagger", "loss_steps", "version_id")] == [
        "Retrieve K", "LLM tagger", "Loss steps", "Version ID"]
    assert label("campaign_ids", reference=True) == "Campaigns"
    assert [readable(v) for v in (True, None, [], ["tail", "torso"], 0.123456, 25000)] == [
        "Yes", "—", "none", "tail, torso", "0.1235", "25,000"]
    now = timezone.now()
    queued = Job(kind="ping", status=Job.Status.CANCELLED, created_at=now - timedelta(seconds=40), finished_at=now)
    assert job_duration(queued) == "cancelled after 40 s in the queue"
