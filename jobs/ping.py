"""A trivial job kind used to check that a worker is alive and reports through the Job row."""
from .registry import job_kind
from .runner import JobContext


@job_kind("ping", title="Worker check", legacy_task_names=("sbsapp.tasks.ping",))
def ping_work(ctx: JobContext) -> dict:
    steps = int(ctx.config.get("steps", 3))
    ctx.stage("ping", total=steps)
    for i in range(steps):
        ctx.progress(i + 1)
    return {"pong": True, "steps": steps}
