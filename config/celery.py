"""The Celery app, configured from Django's settings (`CELERY_*`). Job kinds register their tasks when their
apps are ready (`jobs.registry.job_kind`), so nothing here lists tasks.

A prefork worker gives each pool process its share of the machine's cores for torch, onnxruntime and FAISS threads
(`OMP_NUM_THREADS`, unless set): two processes that each spin two threads on two cores run many times slower than
one (measured: a synthesis chunk's rewriting went from about 16 s to 135 s), and sharded jobs do run in every
process at once.

Beat (`celery -A celery_worker beat`, or `worker -B` for a single worker) runs one periodic task: the stale-job
sweep (`jobs.sweep`), every `JOBS_SWEEP_SECONDS`, so that a job whose worker died is resumed or ended even when
no worker restarts and nobody opens a page.
"""
import os
import sys

from celery import Celery
from celery.signals import celeryd_init, worker_process_init

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


def threads_per_process(options: dict, *, cores: int | None = None) -> int | None:
    """Threads each pool process of a worker started with `options` should use; None for a single-process pool."""
    pool = str(options.get("pool_cls") or app.conf.worker_pool or "prefork").lower()
    if any(single in pool for single in ("solo", "thread", "eventlet", "gevent")):
        return None
    cores = cores or os.cpu_count() or 1
    try:
        processes = int(options.get("concurrency") or app.conf.worker_concurrency or cores)
    except (TypeError, ValueError):  # "auto"
        processes = cores
    return max(1, cores // max(1, processes))


@celeryd_init.connect
def share_the_cores(sender=None, instance=None, conf=None, options=None, **kwargs) -> None:
    threads = threads_per_process(options or {})
    if threads is not None:
        os.environ.setdefault("OMP_NUM_THREADS", str(threads))


@worker_process_init.connect
def apply_thread_share(**kwargs) -> None:
    """A pool process forked after torch was imported keeps the parent's thread count: set it from the share."""
    if "torch" in sys.modules and os.environ.get("OMP_NUM_THREADS", "").isdigit():
        sys.modules["torch"].set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
