"""`@job_kind`: declare a job kind once, on the function that does its work.

    @job_kind("retriever_build", queue="ml", title="Build a retriever version")
    def build_version_work(ctx: JobContext) -> dict: ...

The decorator registers the kind (its queue routes the Celery task; `Job.kind` takes its choices from the
registry) and makes the Celery task `jobs.<kind>` that runs the work through `run_job`. Task names of earlier
releases are registered as aliases so that messages already queued under them still run. `@job_release` declares
what frees the things a kind's job held when the job is ended from outside (stale and cancelled, marked failed).
"""
from __future__ import annotations

from typing import Callable

from celery import shared_task
from django.core.exceptions import ImproperlyConfigured

from .kinds import KINDS, RELEASES, JobKind
from .runner import run_job

QUEUES = ("default", "ml")


def job_kind(name: str, *, queue: str = "default", title: str = "", legacy_task_names: tuple[str, ...] = ()):
    if queue not in QUEUES:
        raise ImproperlyConfigured(f"Job kind {name!r}: queue must be one of {QUEUES}, not {queue!r}.")

    def register(work: Callable) -> Callable:
        existing = KINDS.get(name)
        if existing is not None and existing.work is not work:
            raise ImproperlyConfigured(f"Job kind {name!r} is declared twice ({existing.work.__module__} and "
                                       f"{work.__module__}).")
        kind = JobKind(name=name, work=work, queue=queue, title=title or name.replace("_", " ").capitalize(),
                       legacy_task_names=tuple(legacy_task_names))
        KINDS[name] = kind
        for task_name in (kind.task_name, *kind.legacy_task_names):
            shared_task(name=task_name)(_task_body(name, task_name))
        return work

    return register


def job_release(*kinds: str):
    """Declare what frees the things a job of these kinds held, when the job is ended from outside its work: a
    stale job cancelled by the sweep, a stuck job marked failed by an admin. The function takes the Job (its
    status already final) and must be idempotent; the work's own failure and cancel paths are separate.

        @job_release("retriever_build")
        def release_version(job: Job) -> None: ...
    """
    def register(release: Callable) -> Callable:
        for kind in kinds:
            if release not in RELEASES.setdefault(kind, []):
                RELEASES[kind].append(release)
        return release

    return register


def _task_body(kind_name: str, task_name: str) -> Callable[[int], None]:
    def run(job_id: int) -> None:
        run_job(job_id, KINDS[kind_name].work, in_worker=True)

    run.__name__ = run.__qualname__ = task_name.replace(".", "_")
    run.__module__ = __name__
    return run
