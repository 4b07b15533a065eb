"""Where a version's artifacts live (under ARTIFACT_ROOT, through `core.artifacts.artifact_path`) and the
fingerprint of the catalogue they were built over."""
from __future__ import annotations

import hashlib
from pathlib import Path

from core.artifacts import artifact_path

from ..models import RetrieverVersion

ARTIFACT_SUBDIR = "retrievers"


def artifact_relpath(name: str) -> str:
    """The `artifact_dir` a new version records: relative to ARTIFACT_ROOT."""
    return f"{ARTIFACT_SUBDIR}/{name}"


def version_path(version: RetrieverVersion) -> Path:
    return artifact_path(version.artifact_dir)


def catalogue_fingerprint(pks: list[int]) -> dict:
    digest = hashlib.sha256(",".join(map(str, pks)).encode()).hexdigest()
    return {"products": len(pks), "sha256": digest}
