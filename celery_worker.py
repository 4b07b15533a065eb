"""The worker's entry point: `celery -A celery_worker worker -Q default,ml`.

It only builds the Celery app from config/ (every job kind's task comes from `jobs.registry.job_kind`) and,
when a worker starts, re-sends jobs left running by a worker that died.
"""
import django
from celery.signals import worker_ready

from config.celery import app, ensure_broker_folders

django.setup()
ensure_broker_folders()

__all__ = ["app"]


@worker_ready.connect
def resume_interrupted_jobs(sender=None, **kwargs):
    from jobs.services import resume_stale_jobs

    resume_stale_jobs()
