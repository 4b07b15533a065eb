"""With no worker consuming the queue, a queued job says why it waits: the oldest queued job's age and that no worker
answered a ping, on the job page, the jobs list and the jobs API (#15.9). Through the real broker, with no worker."""
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from jobs import queue_health as health_module
from jobs.models import Job
from jobs.queue_health import Workers, queue_health
from tests.api_builders import token_client

pytestmark = pytest.mark.django_db

NO_WORKER = "no worker answered a ping"


@pytest.fixture
def fresh_ping():
    cache.delete(health_module.CACHE_KEY)
    yield
    cache.delete(health_module.CACHE_KEY)


def queued_job(minutes: int, queue: str = "ml") -> Job:
    job = Job.objects.create(kind="ping", task_name="jobs.ping", queue=queue, status=Job.Status.QUEUED)
    Job.objects.filter(pk=job.pk).update(created_at=timezone.now() - timedelta(minutes=minutes))
    return Job.objects.get(pk=job.pk)


@pytest.mark.worker
def test_with_no_worker_running_a_queued_job_says_why_on_every_page_and_in_the_api(client, analyst, real_broker,
                                                                                    fresh_ping):
    old, new = queued_job(minutes=3), queued_job(minutes=0)
    client.force_login(analyst)

    listing = client.get(reverse("job_list")).content.decode()
    assert "2 jobs queued, the oldest for 3 min" in listing and NO_WORKER in listing
    assert "data-queue-notice" in listing and "celery -A celery_worker worker" in listing

    detail = client.get(reverse("job_detail", args=[new.pk])).content.decode()
    assert NO_WORKER in detail and "3 min" in detail
    polled = client.get(reverse("job_details", args=[old.pk])).content.decode()  # the partial the page re-polls
    assert NO_WORKER in polled

    api = token_client(analyst)
    rows = {row["id"]: row for row in api.get("/api/jobs/").json()["results"]}
    assert NO_WORKER in rows[old.pk]["queue_notice"] and rows[old.pk]["title"] == "Worker check"
    queue = api.get("/api/jobs/queue/").json()
    assert queue["queued"] == 2 and queue["oldest_queued_seconds"] >= 180 and queue["workers_answered"] == []
    assert queue["level"] == "warning" and NO_WORKER in queue["message"]
    assert api.get("/api/jobs/queue/", {"x": 1}).status_code == 400  # a stray parameter is refused, as on lists

    Job.objects.filter(pk__in=[old.pk, new.pk]).update(status=Job.Status.SUCCEEDED)
    assert NO_WORKER not in client.get(reverse("job_list")).content.decode()  # nothing queued: nothing to say
    assert client.get(reverse("job_detail", args=[old.pk])).content.decode().count("data-queue-notice") == 0


def test_the_workers_are_asked_at_most_once_in_ten_seconds(monkeypatch, settings, fresh_ping):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    queued_job(minutes=1)
    calls = []

    class Inspect:
        def active_queues(self):
            calls.append(1)
            return {"celery@a": [{"name": "default"}]}

    from celery import current_app

    monkeypatch.setattr(current_app.control, "inspect", lambda timeout: Inspect())
    first, second = queue_health(), queue_health()
    assert len(calls) == 1 and first.workers == second.workers
    # the one worker that answered takes only "default": the "ml" job waits for a worker that never comes
    assert first.level == "warning" and "none takes the ml queue" in first.message


def test_a_busy_worker_that_answers_is_no_alarm_and_nothing_queued_is_no_notice(monkeypatch, settings, fresh_ping):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    assert queue_health().message == ""  # nothing queued: the workers are not even asked
    queued_job(minutes=0)
    monkeypatch.setattr(health_module, "ask_workers", lambda: Workers(queues={"celery@a": ["default", "ml"]}))
    assert queue_health().message == ""
    queued_job(minutes=5)
    health = queue_health()
    assert health.level == "info" and "busy" in health.message


def test_a_broker_that_cannot_be_pinged_is_judged_by_the_queued_age(monkeypatch, settings, fresh_ping):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    monkeypatch.setattr(health_module, "ask_workers", lambda: Workers(answered=False))
    queued_job(minutes=0)
    assert queue_health().message == ""  # just queued: too early to tell
    queued_job(minutes=2)
    health = queue_health()
    assert health.level == "warning" and "could not be pinged and no job has started" in health.message
    Job.objects.create(kind="ping", task_name="t", status=Job.Status.RUNNING, started_at=timezone.now(),
                       heartbeat_at=timezone.now())
    assert queue_health().level == "info"  # a job reported just now: a worker is alive, the queue just waits
