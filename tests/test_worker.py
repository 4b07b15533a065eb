"""A real Celery worker process takes a job from the real broker and the Job row shows success."""
import os

import pytest
from django.conf import settings

from jobs.models import Job
from jobs.services import job_start

from .worker import celery_worker, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_worker_runs_a_job_sent_through_the_broker(real_broker, admin_user, tmp_path):
    log = tmp_path / "worker.log"
    with celery_worker(log_path=log):
        wait_for(lambda: log.exists() and "ready." in log.read_text(), timeout=60)
        job = job_start(kind="ping", config={"steps": 5}, user=admin_user)
        wait_for(lambda: Job.objects.get(pk=job.pk).status == Job.Status.SUCCEEDED, timeout=90)
    job.refresh_from_db()
    assert job.result == {"pong": True, "steps": 5}
    assert job.attempts == 1
    # it went through the broker the suite runs against (Redis in CI), not inline in this process:
    assert not settings.CELERY_TASK_ALWAYS_EAGER
    if os.environ.get("CELERY_BROKER_URL"):
        assert settings.CELERY_BROKER_URL == os.environ["CELERY_BROKER_URL"]
    worker_log = log.read_text()
    received = [line for line in worker_log.splitlines() if "Task jobs.ping[" in line and "received" in line]
    assert len(received) == 1, worker_log[-2000:]  # the worker process took exactly this one message
