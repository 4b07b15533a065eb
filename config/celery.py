"""The Celery app, configured from Django's settings (`CELERY_*`). Job kinds register their tasks when their
apps are ready (`jobs.registry.job_kind`), so nothing here lists tasks.

Beat (`celery -A celery_worker beat`, or `worker -B` for a single worker) runs one periodic task: the stale-job
sweep (`jobs.sweep`), every `JOBS_SWEEP_SECONDS`, so that a job whose worker died is resumed or ended even when
no worker restarts and nobody opens a page.
"""
import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("sbs")
app.config_from_object("django.conf:settings", namespace="CELERY")

SWEEP_TASK = "jobs.sweep_stale_jobs"


@app.on_after_configure.connect
def schedule_stale_job_sweep(sender, **kwargs) -> None:
    from django.conf import settings

    every = settings.JOBS_SWEEP_SECONDS
    # `expires`: a sweep nobody took in time is dropped; the next one is due anyway.
    sender.add_periodic_task(every, sender.signature(SWEEP_TASK, queue="default", expires=every),
                             name="sweep stale jobs")


def ensure_broker_folders() -> None:
    """The filesystem transport needs its folders to exist before a producer or a worker touches them (and beat
    the folder of its schedule file)."""
    opts = app.conf.broker_transport_options or {}
    for key in ("data_folder_in", "data_folder_out", "control_folder"):
        if opts.get(key):
            os.makedirs(opts[key], exist_ok=True)
    if os.path.dirname(app.conf.beat_schedule_filename):
        os.makedirs(os.path.dirname(app.conf.beat_schedule_filename), exist_ok=True)
