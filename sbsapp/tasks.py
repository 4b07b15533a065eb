"""Celery tasks of the SBS app (thin wrappers over plain-Python logic)."""
from celery import shared_task

from .jobs import JobContext, run_job


def ping_work(ctx: JobContext) -> dict:
    """A trivial job used to check that a worker is alive and reports through the Job row."""
    steps = int(ctx.config.get("steps", 3))
    ctx.stage("ping", total=steps)
    for i in range(steps):
        ctx.progress(i + 1)
    return {"pong": True, "steps": steps}


@shared_task(name="sbsapp.tasks.ping")
def ping(job_id: int) -> None:
    run_job(job_id, ping_work)


@shared_task(name="sbsapp.tasks.ml_generate_campaign")
def ml_generate_campaign(job_id: int) -> None:
    """Freeze both result lists of an SBS campaign (resumable: queries already frozen are skipped).

    On the `ml` queue because retrieving with a dense version loads its encoder and index.
    """
    from .campaigns import generate_campaign_work

    run_job(job_id, generate_campaign_work)


@shared_task(name="sbsapp.tasks.ml_auto_sbs")
def ml_auto_sbs(job_id: int) -> None:
    """Automatic SBS: a judge model's blind verdict on every item of a campaign (resumable per item)."""
    from .auto_sbs import auto_sbs_work

    run_job(job_id, auto_sbs_work)


@shared_task(name="sbsapp.tasks.ml_retrain_judge_from_sbs")
def ml_retrain_judge_from_sbs(job_id: int) -> None:
    """Closed loop: retrain the relevance judge with the per-product marks of SBS campaigns."""
    from .closed_loop import closed_loop_work

    run_job(job_id, closed_loop_work)
