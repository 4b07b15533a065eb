"""The Celery app, configured from Django's settings (`CELERY_*`). Job kinds register their tasks when their
apps are ready (`jobs.registry.job_kind`), so nothing here lists tasks."""
import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("sbs")
app.config_from_object("django.conf:settings", namespace="CELERY")


def ensure_broker_folders() -> None:
    """The filesystem transport needs its folders to exist before a producer or a worker touches them."""
    opts = app.conf.broker_transport_options or {}
    for key in ("data_folder_in", "data_folder_out", "control_folder"):
        if opts.get(key):
            os.makedirs(opts[key], exist_ok=True)
