"""The periodic stale-job sweep, a plain Celery task that Celery beat sends every `JOBS_SWEEP_SECONDS`
(`config.celery`): a job whose worker died is resumed, or ended if its cancellation was asked, without waiting for
a worker to restart or anyone to open a page."""
from celery import shared_task

from .services import sweep_stale_jobs

TASK_NAME = "jobs.sweep_stale_jobs"  # config.celery.SWEEP_TASK


@shared_task(name=TASK_NAME, ignore_result=True)
def sweep_stale_jobs_task() -> dict[str, list[int]]:
    return sweep_stale_jobs()
