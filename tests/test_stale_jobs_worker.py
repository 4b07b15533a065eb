"""Fault injection with a real worker: kill -9 the whole worker (main process, pool and embedded beat) in the
middle of a job, start a new one at once, and the job ends succeeded within the sweep interval; a job left
running by some other dead worker is picked up by beat's sweep alone, with no worker restarting."""
import os
import signal
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from jobs.models import Job
from jobs.services import job_start

from .worker import celery_worker, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

# Short intervals so that the test is quick; production: 20 s, 120 s, 30 s (config/settings.py).
HEARTBEAT, STALE_AFTER, SWEEP = 1, 4, 1
ENV = {"JOBS_HEARTBEAT_SECONDS": str(HEARTBEAT), "JOBS_STALE_AFTER_SECONDS": str(STALE_AFTER),
       "JOBS_SWEEP_SECONDS": str(SWEEP)}
SLOW_PING = {"steps": 12, "step_seconds": 0.5}


def beat_args(tmp_path, name: str) -> tuple[str, ...]:
    return ("-B", "--schedule", str(tmp_path / f"{name}-beat-schedule"))


def test_a_job_whose_worker_was_killed_resumes_under_the_next_worker_within_the_sweep_interval(
        real_broker, admin_user, tmp_path):
    log1, log2 = tmp_path / "worker1.log", tmp_path / "worker2.log"
    with celery_worker(log_path=log1, args=beat_args(tmp_path, "w1"), **ENV) as worker:
        wait_for(lambda: log1.exists() and "ready." in log1.read_text(), timeout=60)
        job = job_start(kind="ping", config=SLOW_PING, user=admin_user)
        wait_for(lambda: Job.objects.get(pk=job.pk).done >= 2, timeout=30)
        os.killpg(worker.pid, signal.SIGKILL)  # no clean shutdown: worker, pool and beat die mid-job
        worker.wait(timeout=30)
    killed_at = time.monotonic()
    job.refresh_from_db()
    assert job.status == Job.Status.RUNNING and 2 <= job.done < SLOW_PING["steps"] and job.attempts == 1

    with celery_worker(log_path=log2, args=beat_args(tmp_path, "w2"), **ENV):
        wait_for(lambda: Job.objects.get(pk=job.pk).attempts == 2, timeout=45)
        resumed_after = time.monotonic() - killed_at
        wait_for(lambda: not Job.objects.get(pk=job.pk).is_active, timeout=30)
        job.refresh_from_db()
        assert job.status == Job.Status.SUCCEEDED, job.error
        assert job.result == {"pong": True, "steps": SLOW_PING["steps"]} and "resuming (attempt 2)" in job.log_tail
        # worker start-up time plus one stale threshold and one sweep (with slack for a loaded machine)
        assert resumed_after < 45, resumed_after

        # A job left running by another worker that died: only beat's sweep can pick it up now.
        orphan = Job.objects.create(kind="ping", task_name="jobs.ping", config={"steps": 2}, attempts=1,
                                    status=Job.Status.RUNNING, started_at=timezone.now(),
                                    heartbeat_at=timezone.now() - timedelta(seconds=STALE_AFTER + 1))
        wait_for(lambda: Job.objects.get(pk=orphan.pk).status == Job.Status.SUCCEEDED,
                 timeout=STALE_AFTER + SWEEP + 15)
    assert Job.objects.get(pk=orphan.pk).attempts == 2
    worker_log = log2.read_text()
    assert "Task jobs.sweep_stale_jobs[" in worker_log and "beat: Starting" in worker_log, worker_log[-3000:]
    assert worker_log.count(f"Task jobs.ping[") >= 2  # the resumed job and the orphan, each sent once
