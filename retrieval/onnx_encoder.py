"""The `onnx` and `onnx-int8` encoder backends (`ENCODER_BACKEND`): the same sentence encoder run by onnxruntime.

sentence-transformers' own ONNX backend needs `optimum`, whose releases pin transformers < 4.58 (this project runs
5.x), so the model is exported here with `torch.onnx.export` and, for `onnx-int8`, quantised with onnxruntime's
`quantize_dynamic` (int8 weights, activations quantised on the fly). Both files are made once per model and kept
in the artifact store (`ARTIFACT_ROOT/onnx/<model fingerprint>/`), so every worker and web process reuses them.
`OnnxEncoder` answers what the app asks of an encoder (`encode`, `max_seq_length`, `get_embedding_dimension`,
`tokenizer`, `device`) with mean pooling and L2 normalisation, as the torch model does; only models made of a
transformer and mean pooling (MiniLM, mpnet) are accepted. Training always uses the torch model.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from django.conf import settings

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    from sentence_transformers import SentenceTransformer

BACKENDS = ("torch", "onnx", "onnx-int8")
OPSET = 17


class OnnxUnsupported(ValueError):
    """The model cannot run through the ONNX backend; the message says why."""


def onnx_folder(resolved: str) -> Path:
    """Where a model's ONNX files live: keyed by its path and the size and time of its weight files."""
    stamp = [resolved]
    for name in sorted(os.listdir(resolved)):
        if name.endswith((".safetensors", ".bin")):
            info = os.stat(os.path.join(resolved, name))
            stamp.append(f"{name}:{info.st_size}:{int(info.st_mtime)}")
    digest = hashlib.sha256("|".join(stamp).encode()).hexdigest()[:16]
    return Path(settings.ARTIFACT_ROOT) / "onnx" / f"{Path(resolved).name}-{digest}"


def check_mean_pooling(model: "SentenceTransformer") -> None:
    kinds = [type(module).__name__ for module in model]
    pooling = getattr(model[1], "pooling_mode", None) if len(kinds) > 1 else None
    if kinds[:2] != ["Transformer", "Pooling"] or any(kind != "Normalize" for kind in kinds[2:]) \
            or pooling != "mean":
        raise OnnxUnsupported(f"The ONNX backend runs transformer + mean pooling encoders; this one is {kinds} "
                              f"(pooling: {pooling or 'none'}). Use ENCODER_BACKEND=torch for it.")


def export(model: "SentenceTransformer", folder: Path, *, int8: bool) -> Path:
    """The model's ONNX file (int8 or fp32), exported (and quantised) once; written atomically."""
    import torch

    folder.mkdir(parents=True, exist_ok=True)
    fp32, quantised = folder / "model.onnx", folder / "model-int8.onnx"
    if not fp32.exists():
        transformer = model[0].auto_model.eval()
        sample = model.tokenizer(["an example product", "a second, longer example"], padding=True,
                                 return_tensors="pt")
        names = [name for name in ("input_ids", "attention_mask", "token_type_ids") if name in sample]

        class LastHiddenState(torch.nn.Module):
            def __init__(self, inner):
                super().__init__()
                self.inner = inner

            def forward(self, *inputs):
                return self.inner(**dict(zip(names, inputs))).last_hidden_state

        partial = folder / f"model.{os.getpid()}.partial.onnx"
        torch.onnx.export(LastHiddenState(transformer), tuple(sample[name] for name in names), str(partial),
                          input_names=names, output_names=["last_hidden_state"], opset_version=OPSET, dynamo=False,
                          dynamic_axes={name: {0: "batch", 1: "tokens"} for name in [*names, "last_hidden_state"]})
        os.replace(partial, fp32)
    if not int8:
        return fp32
    if not quantised.exists():
        from onnxruntime.quantization import QuantType, quantize_dynamic

        partial = folder / f"model-int8.{os.getpid()}.partial.onnx"
        quantize_dynamic(str(fp32), str(partial), weight_type=QuantType.QInt8)
        os.replace(partial, quantised)
    return quantised


class OnnxEncoder:
    """A sentence encoder run by onnxruntime on the CPU (see the module docstring)."""

    def __init__(self, model: "SentenceTransformer", path: Path, *, backend: str):
        import onnxruntime
        import torch

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        self.session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.inputs = [node.name for node in self.session.get_inputs()]
        self.tokenizer = model.tokenizer
        self.max_seq_length = model.max_seq_length
        self.dimension = model.get_embedding_dimension()
        self.device = torch.device("cpu")
        self.backend, self.path = backend, path

    def get_embedding_dimension(self) -> int:
        return self.dimension

    def encode(self, texts: Sequence[str], batch_size: int = 32, convert_to_numpy: bool = True,
               normalize_embeddings: bool = True, show_progress_bar: bool = False, **_) -> "np.ndarray":
        import numpy as np

        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        order = np.argsort([-len(text) for text in texts], kind="stable")  # similar lengths pad less
        for start in range(0, len(texts), batch_size):
            rows = order[start:start + batch_size]
            batch = self.tokenizer([texts[i] for i in rows], padding=True, truncation=True,
                                   max_length=self.max_seq_length, return_tensors="np")
            hidden = self.session.run(None, {name: batch[name].astype(np.int64) for name in self.inputs})[0]
            mask = batch["attention_mask"][..., None].astype(np.float32)
            pooled = (hidden * mask).sum(axis=1) / np.clip(mask.sum(axis=1), 1e-9, None)
            if normalize_embeddings:
                pooled /= np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
            out[rows] = pooled
        return out


def onnx_encoder(model: "SentenceTransformer", resolved: str, *, backend: str) -> OnnxEncoder:
    """`model` (loaded by torch) as an `OnnxEncoder`, exporting it on first use."""
    check_mean_pooling(model)
    path = export(model, onnx_folder(resolved), int8=backend == "onnx-int8")
    return OnnxEncoder(model, path, backend=backend)
