"""Progress lines of the long benchmarks on stderr, and timed stages."""
from __future__ import annotations

import sys
import time


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def timed(stages: dict, stage: str, fn):
    started = time.perf_counter()
    result = fn()
    stages[stage] = round(time.perf_counter() - started, 1)
    say(f"  {stage}: {stages[stage]} s")
    return result
