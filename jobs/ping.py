"""A trivial job kind used to check that a worker is alive and reports through the Job row.

`step_seconds` makes each step take that long (at most a minute), which turns the check into a slow job for
fault-injection tests (a worker killed mid-job)."""
import time

from .registry import job_kind
from .runner import JobContext

MAX_STEP_SECONDS = 60.0


@job_kind("ping", title="Worker check", legacy_task_names=("sbsapp.tasks.ping",))
def ping_work(ctx: JobContext) -> dict:
    steps = int(ctx.config.get("steps", 3))
    step_seconds = min(float(ctx.config.get("step_seconds", 0)), MAX_STEP_SECONDS)
    ctx.stage("ping", total=steps)
    for i in range(steps):
        if step_seconds > 0:
            time.sleep(step_seconds)
        ctx.progress(i + 1)
    return {"pong": True, "steps": steps}
