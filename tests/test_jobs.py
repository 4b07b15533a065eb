"""Jobs: progress, failure, cancellation, resumption, and a broker that is down."""
import pytest
from django.urls import reverse

from jobs import services as jobs
from jobs.services import BrokerUnavailable, JobContext, job_start, run_job
from jobs.models import Job

pytestmark = pytest.mark.django_db


def test_eager_job_reports_progress_and_succeeds(admin_user):
    job = job_start(kind="ping", config={"steps": 4}, user=admin_user)
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED
    assert (job.done, job.total, job.percent) == (4, 4, 100)
    assert job.result == {"pong": True, "steps": 4}
    assert "done" in job.log_tail


def test_failing_work_records_the_error():
    job = Job.objects.create(kind="x", task_name="t")

    def boom(ctx: JobContext):
        raise ValueError("the bundle folder does not exist")

    run_job(job.pk, boom)
    job.refresh_from_db()
    assert job.status == Job.Status.FAILED
    assert "the bundle folder does not exist" in job.error


def test_cancel_flag_stops_work_at_next_checkpoint():
    job = Job.objects.create(kind="x", task_name="t")
    seen = []

    def work(ctx: JobContext):
        for i in range(10):
            if i == 3:
                Job.objects.filter(pk=ctx.job.pk).update(cancel_requested=True)
            ctx.progress(i, 10)
            seen.append(i)

    run_job(job.pk, work)
    job.refresh_from_db()
    assert job.status == Job.Status.CANCELLED
    assert seen == [0, 1, 2]


def test_finished_job_is_not_run_twice_on_redelivery():
    job = Job.objects.create(kind="x", task_name="t", status=Job.Status.SUCCEEDED)
    calls = []
    run_job(job.pk, lambda ctx: calls.append(1))
    assert calls == []


def test_stale_running_job_is_resent(monkeypatch):
    from datetime import timedelta

    from django.utils import timezone

    old = timezone.now() - timedelta(hours=1)
    job = Job.objects.create(kind="ping", task_name="sbsapp.tasks.ping", status=Job.Status.RUNNING, heartbeat_at=old)
    fresh = Job.objects.create(kind="ping", task_name="sbsapp.tasks.ping", status=Job.Status.RUNNING,
                               heartbeat_at=timezone.now())
    sent = []
    monkeypatch.setattr(jobs, "send_job", lambda j: sent.append(j.pk))
    assert jobs.resume_stale_jobs() == [job.pk]
    assert sent == [job.pk]
    fresh.refresh_from_db()
    assert fresh.status == Job.Status.RUNNING


def test_dead_broker_leaves_no_half_created_job(settings, admin_user, monkeypatch):
    from kombu import Connection

    from celery_worker import app

    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CELERY_BROKER_CONNECTION_TIMEOUT = 0.5
    # Nothing listens on port 1: the same failure as a Redis server that is down.
    monkeypatch.setattr(app, "connection_for_write", lambda: Connection("redis://127.0.0.1:1/0", connect_timeout=0.5))
    with pytest.raises(BrokerUnavailable, match="not reachable"):
        job_start(kind="ping", user=admin_user)
    assert Job.objects.count() == 0


def test_progress_partial_polls_while_active_and_stops_when_done(client, analyst):
    job = Job.objects.create(kind="ping", task_name="t", status=Job.Status.RUNNING, done=3, total=10)
    client.force_login(analyst)
    html = client.get(reverse("job_progress", args=[job.pk])).content.decode()
    assert 'hx-trigger="every 1s"' in html and 'value="30"' in html
    Job.objects.filter(pk=job.pk).update(status=Job.Status.SUCCEEDED)
    html = client.get(reverse("job_progress", args=[job.pk])).content.decode()
    assert "hx-trigger" not in html and 'value="100"' in html


def test_details_partial_shows_the_log_as_it_grows_and_stops_polling_when_done(client, analyst):
    job = Job.objects.create(kind="ping", task_name="t", status=Job.Status.RUNNING, log_tail="loading models")
    client.force_login(analyst)
    page = client.get(reverse("job_detail", args=[job.pk])).content.decode()
    assert f'hx-get="{reverse("job_details", args=[job.pk])}"' in page
    Job.objects.filter(pk=job.pk).update(log_tail="loading models\nstep 1/4")
    html = client.get(reverse("job_details", args=[job.pk])).content.decode()
    assert 'hx-trigger="every 2s"' in html and "step 1/4" in html
    Job.objects.filter(pk=job.pk).update(status=Job.Status.SUCCEEDED, result={"kept_pairs": 7})
    html = client.get(reverse("job_details", args=[job.pk])).content.decode()
    assert "hx-trigger" not in html and "<dt>Kept pairs</dt>" in html  # the result in words, not a dict


def test_annotator_cannot_see_or_cancel_jobs(client, annotator):
    job = Job.objects.create(kind="ping", task_name="t")
    client.force_login(annotator)
    assert client.get(reverse("job_list")).status_code == 403  # core.roles.role_required: a 403 naming the role
    assert client.get(reverse("job_details", args=[job.pk])).status_code == 403
    assert client.post(reverse("job_cancel", args=[job.pk])).status_code == 403
    client.logout()
    assert client.get(reverse("job_list")).status_code == 302  # anonymous: to the login page


@pytest.mark.parametrize("status", [Job.Status.SUCCEEDED, Job.Status.RUNNING, Job.Status.QUEUED])
def test_retry_sends_only_failed_or_cancelled_jobs(monkeypatch, status):
    job = Job.objects.create(kind="ping", task_name="t", status=status, result={"pong": True})
    sent = []
    monkeypatch.setattr(jobs, "send_job", lambda j: sent.append(j.pk))
    with pytest.raises(jobs.NotRetryable, match="only failed or cancelled jobs can be retried"):
        jobs.job_retry(job=job)
    job.refresh_from_db()
    assert sent == [] and job.status == status and job.result == {"pong": True}
    failed = Job.objects.create(kind="ping", task_name="t", status=Job.Status.FAILED, error="boom")
    jobs.job_retry(job=failed)
    failed.refresh_from_db()
    assert sent == [failed.pk] and failed.status == Job.Status.QUEUED and failed.error == ""


def test_retry_page_says_a_running_job_was_not_sent_again(client, admin_user, monkeypatch):
    job = Job.objects.create(kind="ping", task_name="t", status=Job.Status.RUNNING)
    monkeypatch.setattr(jobs, "send_job", lambda j: pytest.fail("a running job must not be sent again"))
    client.force_login(admin_user)
    page = client.post(reverse("job_retry", args=[job.pk]), follow=True).content.decode()
    assert "was sent again" not in page and "only failed or cancelled jobs can be retried" in page


def test_admin_retry_action_sends_failed_jobs_and_reports_the_skipped_ones(client, admin_user, monkeypatch):
    done = Job.objects.create(kind="ping", task_name="t", status=Job.Status.SUCCEEDED)
    failed = Job.objects.create(kind="ping", task_name="t", status=Job.Status.FAILED)
    sent = []
    monkeypatch.setattr(jobs, "send_job", lambda j: sent.append(j.pk))
    client.force_login(admin_user)
    page = client.post(reverse("admin:jobs_job_changelist"),
                       {"action": "retry_jobs", "_selected_action": [done.pk, failed.pk]}, follow=True)
    html = page.content.decode()
    assert sent == [failed.pk]
    assert "1 job(s) sent again" in html and f"Skipped 1 job(s) that are not failed or cancelled: ping #{done.pk}" in html
    done.refresh_from_db()
    assert done.status == Job.Status.SUCCEEDED


def test_admin_cancel_action_on_jobs_and_on_synthesis_jobs(client, admin_user):
    queued = Job.objects.create(kind="ping", task_name="t", status=Job.Status.QUEUED)
    synthesis = Job.objects.create(kind="synthesis", task_name="t", status=Job.Status.RUNNING)
    client.force_login(admin_user)
    for changelist, job in (("admin:jobs_job_changelist", queued), ("admin:synthesis_synthesisjob_changelist", synthesis)):
        page = client.post(reverse(changelist), {"action": "cancel_jobs", "_selected_action": [job.pk]}, follow=True)
        assert "Cancellation requested for 1 job(s)." in page.content.decode()
    queued.refresh_from_db()
    synthesis.refresh_from_db()
    assert queued.status == Job.Status.CANCELLED and queued.cancel_requested
    assert synthesis.status == Job.Status.RUNNING and synthesis.cancel_requested  # stops at its next checkpoint
