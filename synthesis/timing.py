"""Where a synthesis job's time goes: seconds per stage (rewrite, retrieve, judge, write), per chunk and in total.

The job logs each chunk's split and keeps the totals in its result, so that a slow run says which stage to speed
up (the job page and `bench/synthesis_speed.py` show them)."""
from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import contextmanager

STAGES = ("rewrite", "retrieve", "judge", "write")


class StageClock:
    def __init__(self) -> None:
        self.chunk = dict.fromkeys(STAGES, 0.0)
        self.total = dict.fromkeys(STAGES, 0.0)

    @contextmanager
    def stage(self, name: str):
        started = time.perf_counter()
        try:
            yield
        finally:
            spent = time.perf_counter() - started
            self.chunk[name] += spent
            self.total[name] += spent

    def timed(self, name: str, fn: Callable) -> Callable:
        """`fn` with every call counted under stage `name`."""
        def run(*args, **kwargs):
            with self.stage(name):
                return fn(*args, **kwargs)

        return run

    def end_chunk(self) -> dict[str, float]:
        """This chunk's seconds per stage (rounded); the next chunk starts from zero."""
        spent = {name: round(seconds, 2) for name, seconds in self.chunk.items()}
        self.chunk = dict.fromkeys(STAGES, 0.0)
        return spent

    @staticmethod
    def describe(spent: dict[str, float]) -> str:
        return ", ".join(f"{name} {spent[name]:.1f} s" for name in STAGES)
