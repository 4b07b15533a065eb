"""The worker's entry point: `celery -A celery_worker worker -Q default,ml` (add `-B` to run beat inside a single
worker; with several workers run one `celery -A celery_worker beat` instead).

It only builds the Celery app from config/ (every job kind's task comes from `jobs.registry.job_kind`; beat's
stale-job sweep is scheduled in `config.celery`) and, when a worker starts, sweeps once at once: jobs left running
by a worker that died are resumed, or ended if their cancellation was asked.
"""
import django
from celery.signals import worker_ready

from config.celery import app, ensure_broker_folders

django.setup()
ensure_broker_folders()

__all__ = ["app"]


@worker_ready.connect
def resume_interrupted_jobs(sender=None, **kwargs):
    from jobs.services import sweep_stale_jobs

    sweep_stale_jobs()
