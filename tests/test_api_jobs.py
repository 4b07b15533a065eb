"""Jobs API: analysts read, admins cancel, annotators are refused, bad filters are 400s."""
import pytest

from jobs.models import Job
from tests.api_builders import token_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def jobs(admin_user):
    return {
        "running": Job.objects.create(kind="synthesis", task_name="t", status=Job.Status.RUNNING, done=3, total=10,
                                      created_by=admin_user),
        "done": Job.objects.create(kind="import", task_name="t", status=Job.Status.SUCCEEDED),
        "queued": Job.objects.create(kind="synthesis", task_name="t", status=Job.Status.QUEUED),
    }


def test_analyst_lists_jobs_filtered_by_kind_and_status(analyst, jobs):
    client = token_client(analyst)
    body = client.get("/api/jobs/", {"kind": "synthesis", "status": "running"}).json()
    assert body["count"] == 1
    row = body["results"][0]
    assert (row["id"], row["percent"], row["is_active"], row["created_by"]) == (jobs["running"].pk, 30, True, "boss")
    assert client.get("/api/jobs/").json()["count"] == 3


def test_analyst_reads_one_job(analyst, jobs):
    body = token_client(analyst).get(f"/api/jobs/{jobs['done'].pk}/").json()
    assert body["status"] == "succeeded" and body["percent"] == 100


def test_annotator_cannot_read_jobs(annotator, jobs):
    response = token_client(annotator).get("/api/jobs/")
    assert response.status_code == 403
    assert "analyst" in response.json()["message"]


def test_bad_status_filter_is_a_clear_400(analyst):
    response = token_client(analyst).get("/api/jobs/", {"status": "sleeping"})
    assert response.status_code == 400
    assert response.json()["message"].startswith('status: "sleeping" is not a valid choice')


def test_misspelt_filter_is_refused_not_ignored(analyst):
    response = token_client(analyst).get("/api/jobs/", {"knd": "synthesis"})
    assert response.status_code == 400
    assert "knd: Unknown query parameter" in response.json()["message"]


def test_admin_cancels_a_queued_job(admin_user, jobs):
    response = token_client(admin_user).post(f"/api/jobs/{jobs['queued'].pk}/cancel/")
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    jobs["queued"].refresh_from_db()
    assert jobs["queued"].status == Job.Status.CANCELLED


def test_running_job_gets_a_cancel_request(admin_user, jobs):
    body = token_client(admin_user).post(f"/api/jobs/{jobs['running'].pk}/cancel/").json()
    assert body["status"] == "running" and body["cancel_requested"] is True


def test_cancelling_a_finished_job_is_a_409(admin_user, jobs):
    response = token_client(admin_user).post(f"/api/jobs/{jobs['done'].pk}/cancel/")
    assert response.status_code == 409
    assert "already succeeded" in response.json()["message"]


def test_analyst_cannot_cancel_jobs(analyst, jobs):
    response = token_client(analyst).post(f"/api/jobs/{jobs['queued'].pk}/cancel/")
    assert response.status_code == 403
    jobs["queued"].refresh_from_db()
    assert not jobs["queued"].cancel_requested


def test_unknown_job_is_a_json_404(analyst):
    response = token_client(analyst).get("/api/jobs/999999/")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
