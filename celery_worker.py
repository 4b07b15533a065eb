"""The Celery app: `celery -A celery_worker worker -Q default,ml`.

Tasks live in each app's tasks.py and are thin wrappers around plain-Python logic; every long task runs
through a Job row (sbsapp.jobs) that records progress, logs, errors and cancellation.
"""
import os

from celery import Celery
from celery.signals import worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sbsapp.settings")

app = Celery("sbs")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def ensure_broker_folders() -> None:
    """The filesystem transport needs its folders to exist before a producer or a worker touches them."""
    opts = app.conf.broker_transport_options or {}
    for key in ("data_folder_in", "data_folder_out", "control_folder"):
        if opts.get(key):
            os.makedirs(opts[key], exist_ok=True)


ensure_broker_folders()


@worker_ready.connect
def resume_interrupted_jobs(sender=None, **kwargs):
    """A worker that starts re-sends jobs left running by a worker that died, so they resume."""
    from sbsapp.jobs import resume_stale_jobs

    resume_stale_jobs()
