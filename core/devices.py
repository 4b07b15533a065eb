"""The one device resolver: every model load (encoder, judge, rewriter, training) asks it where to run."""
from __future__ import annotations


def resolve_device(device: str | None = "auto") -> str:
    """`auto` (or empty) is CUDA when present, else the CPU; an explicit `cuda...` without CUDA is an error."""
    import torch

    if not device or device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"Device {device!r} was asked for but CUDA is not available on this machine.")
    return device
