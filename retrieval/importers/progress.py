"""Progress reporting for imports: a tqdm bar per stage on a terminal, or a Job row for a background import.

Both are callables `(stage, done, total)`; the pipeline calls them with stage "validate" and then "write".
"""
from __future__ import annotations

import sys
import threading
import time
from typing import Callable, TextIO

STAGE_LABELS = {"validate": "validating", "write": "writing"}


class TerminalProgress:
    """One tqdm bar per stage; tqdm hides itself when the stream is not a terminal (unless `force`)."""

    def __init__(self, *, stream: TextIO | None = None, disable: bool | None = None):
        self.stream = stream or sys.stderr
        self.disable = disable
        self.stage: str | None = None
        self.bar = None

    def __call__(self, stage: str, done: int, total: int) -> None:
        from tqdm import tqdm

        if stage != self.stage:
            self.close()
            self.stage = stage
            self.bar = tqdm(total=total, desc=STAGE_LABELS.get(stage, stage), unit="rows",
                            file=self.stream, disable=self.disable, dynamic_ncols=True)
        self.bar.total = total
        self.bar.update(max(0, done - self.bar.n))

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class JobProgress:
    """Reports to a Job (jobs.services.JobContext), at most once per `min_interval` seconds per stage.

    The write stage runs inside the import's transaction. On a server database the Job row is then updated
    through a connection of its own (a short-lived thread), so that the progress is visible at once and the
    Job row is not locked until the import commits (which would block a cancel request). SQLite allows one
    writer at a time, so there the updates go through the import's own connection and show at commit.
    A cancel request raises `JobCancelled` here, which rolls the whole import back.
    """

    def __init__(self, ctx, *, min_interval: float = 1.0):
        self.ctx = ctx
        self.min_interval = min_interval
        self.stage: str | None = None
        self.last_report = 0.0

    def __call__(self, stage: str, done: int, total: int) -> None:
        now = time.monotonic()
        if stage != self.stage:
            self.stage = stage
            self._report(stage, lambda: self.ctx.stage(STAGE_LABELS.get(stage, stage), total=total))
        elif done < total and now - self.last_report < self.min_interval:
            return
        self.last_report = now
        self._report(stage, lambda: self.ctx.progress(done, total))

    def _report(self, stage: str, call: Callable[[], None]) -> None:
        from django.db import connection

        if stage != "write" or connection.vendor == "sqlite":
            call()
            return
        errors: list[BaseException] = []

        def run() -> None:
            from django.db import connections

            try:
                call()
            except BaseException as exc:  # re-raised in the importing thread (JobCancelled included)
                errors.append(exc)
            finally:
                connections.close_all()

        thread = threading.Thread(target=run, name="import-progress")
        thread.start()
        thread.join()
        if errors:
            raise errors[0]
