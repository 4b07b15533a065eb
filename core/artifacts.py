"""The one artifact-path helper: models, indexes and checkpoints live under `settings.ARTIFACT_ROOT`.

Rows store paths relative to the root (so a shared store can be mounted elsewhere on another worker); an
absolute path is used as it is.
"""
from __future__ import annotations

from pathlib import Path

from django.conf import settings


def artifact_path(*parts: str | Path) -> Path:
    """A path under ARTIFACT_ROOT, or `parts[0]` itself when it is absolute."""
    first = Path(parts[0]) if parts else Path()
    if first.is_absolute():
        return first.joinpath(*parts[1:])
    return Path(settings.ARTIFACT_ROOT).joinpath(*parts)
