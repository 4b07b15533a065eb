"""The `onnx` and `onnx-int8` encoder backends (`ENCODER_BACKEND`): the same sentence encoder run by onnxruntime.

sentence-transformers' own ONNX backend needs `optimum`, whose releases pin transformers < 4.58 (this project runs
5.x), so the model is exported here with `torch.onnx.export` (eager attention, whose graph onnxruntime's transformer
optimizer recognises), its graph fused by that optimizer (`onnxruntime.transformers.optimizer`: attention,
embedding + LayerNorm, skip-LayerNorm, bias-GELU; the same vectors) and, for `onnx-int8`, quantised with
onnxruntime's `quantize_dynamic` (int8 weights with one scale per output channel, activations quantised on the fly;
per-channel scales keep the vectors at a mean cosine of about 0.99 to fp32, against 0.95 with one scale per
tensor). An int8 file is checked against the fp32 model on a few probe texts when it is made: a model that
quantises badly (all-mpnet-base-v2 measured a mean cosine of 0.03 to fp32 per channel, 0.73 per tensor) is
refused for int8 (the refusal is kept beside the files) and runs through the fp32 ONNX graph instead, with a
warning in the log. Both files are made once per model and kept in the artifact store (`ARTIFACT_ROOT/onnx/<model
fingerprint>/`), so every worker and web process reuses them.
`OnnxEncoder` answers what the app asks of an encoder (`encode`, `max_seq_length`, `get_embedding_dimension`,
`tokenizer`, `device`) with mean pooling and L2 normalisation, as the torch model does; only models made of a
transformer and mean pooling (MiniLM, mpnet) are accepted. It runs length-sorted batches of at most `BATCH_SIZE`
texts whatever batch the caller asks for: under onnxruntime smaller batches pad less and ran faster (measured on
2026-12-01). Training always uses the torch model.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from django.conf import settings

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    from sentence_transformers import SentenceTransformer

BACKENDS = ("torch", "onnx", "onnx-int8")
OPSET = 17
EXPORT_FORMAT = "fused-per-channel"  # part of the cache key: files of an earlier export recipe are not reused
BATCH_SIZE = 16  # int8 MiniLM, 512 demo texts: 445-469 texts/s at 8-16 per batch, 401 at 64, 341 at 128
INT8_MIN_COSINE = 0.98  # mean cosine of int8 to fp32 vectors on PROBE_TEXTS below which int8 is refused
PROBE_TEXTS = (
    "cordless drill driver 18v with two batteries and charger",
    "what do I need to re-grout a shower",
    "gift for a 5 year old who loves dinosaurs",
    "stainless steel kitchen sink, undermount, 32 inch double bowl",
    "waterproof hiking boots for women, wide fit",
    "usb-c hub with hdmi 4k output and ethernet",
    "organic cotton crib sheet, fitted, grey stars",
    "replacement filter for a front-loading washing machine pump",
)

logger = logging.getLogger(__name__)


class OnnxUnsupported(ValueError):
    """The model cannot run through the ONNX backend; the message says why."""


def onnx_folder(resolved: str) -> Path:
    """Where a model's ONNX files live: keyed by its path and the size and time of its weight files."""
    stamp = [resolved, EXPORT_FORMAT]
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
    """The model's ONNX file (int8 or fp32), exported (and quantised) once; written atomically. Asked for int8 of a
    model whose int8 vectors are too far from fp32's (`int8_fidelity`), it returns the fp32 file."""
    fp32 = folder / "model.onnx"
    if not fp32.exists():
        export_fp32(model[0].auto_model, model.tokenizer(["an example product", "a second, longer example"],
                                                         padding=True, return_tensors="pt"),
                    output="last_hidden_state", output_axes={0: "batch", 1: "tokens"}, path=fp32)
    if not int8:
        return fp32
    return quantised_or_fp32(fp32, fidelity=lambda candidate: int8_fidelity(model, fp32=fp32, int8=candidate),
                             minimum=INT8_MIN_COSINE, measure="mean_cosine_to_fp32")


def export_fp32(transformer, sample, *, output: str, output_axes: dict, path: Path) -> None:
    """Export `transformer` (a Hugging Face model; `output` names the attribute of its output to keep, `output_axes`
    its dynamic axes) to `path` with eager attention, fuse the graph (`fused`) and write it atomically; `sample` is
    a tokenizer batch."""
    import torch

    names = [name for name in ("input_ids", "attention_mask", "token_type_ids") if name in sample]

    class Output(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, *inputs):
            return getattr(self.inner(**dict(zip(names, inputs))), output)

    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.stem}.{os.getpid()}.partial.onnx")
    transformer = transformer.eval()
    attention = transformer.config._attn_implementation
    transformer.set_attn_implementation("eager")  # the graph the optimizer fuses (SDPA's is left unfused)
    try:
        torch.onnx.export(Output(transformer), tuple(sample[name] for name in names), str(partial),
                          input_names=names, output_names=[output], opset_version=OPSET, dynamo=False,
                          dynamic_axes={**{name: {0: "batch", 1: "tokens"} for name in names}, output: output_axes})
    finally:
        transformer.set_attn_implementation(attention)
    fused(partial, transformer.config)
    os.replace(partial, path)


def quantised_or_fp32(fp32: Path, *, fidelity, minimum: float, measure: str) -> Path:
    """The int8 file beside `fp32`, quantised once (int8 weights per output channel) and kept only if
    `fidelity(int8_path)` reaches `minimum`; otherwise the refusal is kept beside it and `fp32` is returned."""
    from onnx import TensorProto
    from onnxruntime.quantization import QuantType, quantize_dynamic

    folder = fp32.parent
    quantised, refusal = folder / f"{fp32.stem}-int8.onnx", folder / f"{fp32.stem}-int8.refused.json"
    if not quantised.exists() and not refusal.exists():
        partial = folder / f"{fp32.stem}-int8.{os.getpid()}.partial.onnx"
        quantize_dynamic(str(fp32), str(partial), weight_type=QuantType.QInt8, per_channel=True,
                         extra_options={"DefaultTensorType": TensorProto.FLOAT})  # for the fused ops' outputs
        value = fidelity(partial)
        if value < minimum:
            os.remove(partial)
            note = folder / f"{fp32.stem}-int8.{os.getpid()}.partial.json"
            note.write_text(json.dumps({measure: round(value, 4), "needed": minimum}))
            os.replace(note, refusal)
        else:
            os.replace(partial, quantised)
    if refusal.exists():
        logger.warning("int8 is refused for %s (%s: its int8 outputs are too far from fp32's); running the fp32 "
                       "ONNX graph instead.", folder.name, refusal.read_text())
        return fp32
    return quantised


def int8_fidelity(model: "SentenceTransformer", *, fp32: Path, int8: Path) -> float:
    """Mean cosine between the int8 and the fp32 graph's vectors of `PROBE_TEXTS`."""
    import numpy as np

    reference = OnnxEncoder(model, fp32, backend="onnx").encode(PROBE_TEXTS)
    quantised = OnnxEncoder(model, int8, backend="onnx-int8").encode(PROBE_TEXTS)
    return float(np.mean(np.sum(reference * quantised, axis=1)))


def fused(path: Path, config) -> None:
    """Rewrite the exported graph at `path` with onnxruntime's transformer optimizer (BERT-family fusions; a graph
    it does not recognise is left as it is). The ONNX file keeps its inputs, outputs and numbers."""
    from onnxruntime.transformers.optimizer import optimize_model

    optimized = optimize_model(str(path), model_type="bert", num_heads=getattr(config, "num_attention_heads", 0),
                               hidden_size=getattr(config, "hidden_size", 0), opt_level=1)
    optimized.save_model_to_file(str(path))


def cpu_session(path: Path):
    """An onnxruntime session of the ONNX file at `path` on the CPU, with torch's thread count, and its inputs."""
    import onnxruntime
    import torch

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return session, [node.name for node in session.get_inputs()]


class OnnxEncoder:
    """A sentence encoder run by onnxruntime on the CPU (see the module docstring)."""

    def __init__(self, model: "SentenceTransformer", path: Path, *, backend: str):
        import torch

        self.session, self.inputs = cpu_session(path)
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
        batch_size = min(batch_size, BATCH_SIZE)
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
    return OnnxEncoder(model, path, backend="onnx" if path.name == "model.onnx" else backend)  # int8 refused: fp32
