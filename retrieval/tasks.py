"""Celery tasks of the retrieval app: thin wrappers that run domain functions through Job rows.

Task functions named `ml_*` are routed to the `ml` queue (model work: training, encoding, indexing).
"""
from celery import shared_task

from sbsapp.jobs import run_job


@shared_task(name="retrieval.tasks.ml_build_version")
def ml_build_version(job_id: int) -> None:
    from .versions import build_version_work

    run_job(job_id, build_version_work)


@shared_task(name="retrieval.tasks.ml_rebuild_index")
def ml_rebuild_index(job_id: int) -> None:
    from .versions import rebuild_index_work

    run_job(job_id, rebuild_index_work)


@shared_task(name="retrieval.tasks.ml_evaluate_version")
def ml_evaluate_version(job_id: int) -> None:
    from .versions import evaluate_version_work

    run_job(job_id, evaluate_version_work)


@shared_task(name="retrieval.tasks.import_bundle_task")
def import_bundle_task(job_id: int) -> None:
    from .importers.services import import_bundle_work

    run_job(job_id, import_bundle_work)
