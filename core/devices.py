"""The one device resolver: every model load (encoder, judge, rewriter, training) asks it where to run."""
from __future__ import annotations

import os
from contextlib import contextmanager


def resolve_device(device: str | None = "auto") -> str:
    """`auto` (or empty) is CUDA when present, else the CPU; an explicit `cuda...` without CUDA is an error."""
    import torch

    if not device or device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"Device {device!r} was asked for but CUDA is not available on this machine.")
    return device


@contextmanager
def all_cores():
    """Run a step that nothing else shares (training) on every core: a prefork worker's pool process is given
    its share of the cores (config/celery.py) for sharded steps, which run in every process at once; a training
    job runs in one process, and on one thread of a 2-core machine it took twice as long."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(os.cpu_count() or threads)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
