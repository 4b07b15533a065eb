"""Celery tasks of the synthesis app: thin wrappers over `services` (the `ml_` prefix routes them to the ml queue)."""
from celery import shared_task

from sbsapp.jobs import run_job

from .services import judge_training_work, synthesis_work


@shared_task(name="synthesis.tasks.ml_synthesize")
def ml_synthesize(job_id: int) -> None:
    run_job(job_id, synthesis_work)


@shared_task(name="synthesis.tasks.ml_train_judge")
def ml_train_judge(job_id: int) -> None:
    run_job(job_id, judge_training_work)


@shared_task(name="synthesis.tasks.ml_train_rewriter")
def ml_train_rewriter(job_id: int) -> None:
    """SFT then GRPO of the rewriter (resumes from the last checkpoint when re-sent)."""
    from .rewriter_training import train_rewriter_work

    run_job(job_id, train_rewriter_work)
