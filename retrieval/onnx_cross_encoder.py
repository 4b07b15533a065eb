"""The `onnx` and `onnx-int8` backends (`ENCODER_BACKEND`) for cross-encoder judges: a trained sentence-transformers
`CrossEncoder` run by onnxruntime on the CPU, with the same scores (fp32) or close ones (int8).

The export is `onnx_encoder`'s (eager attention, graph fused by onnxruntime's transformer optimizer, int8 weights
per output channel), keeping the classifier's logits instead of the token states. An int8 file is checked against
the fp32 graph on probe pairs when it is made: a mean score difference above `INT8_MAX_SCORE_GAP` refuses int8 once
(the refusal is kept beside the files) and the judge runs its fp32 graph. Files live in the artifact store beside
the encoder exports (`ARTIFACT_ROOT/onnx/<model fingerprint>/cross-encoder/`), made once per trained judge.
`OnnxCrossEncoder.predict` answers what a `CrossEncoderJudge` asks (pairs in, one activated score per pair out).
Training always uses the torch model.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from .onnx_encoder import (BATCH_SIZE, PROBE_TEXTS, OnnxUnsupported, cpu_session, export_fp32, onnx_folder,
                           quantised_or_fp32)

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    from sentence_transformers.cross_encoder import CrossEncoder

INT8_MAX_SCORE_GAP = 0.02  # mean |int8 - fp32| judge score on PROBE_PAIRS above which int8 is refused
PROBE_PAIRS = [(query, product) for query in PROBE_TEXTS[:4] for product in PROBE_TEXTS[4:]]
ACTIVATIONS = ("Sigmoid", "Identity")


class OnnxCrossEncoder:
    """A cross-encoder's scores from onnxruntime (see the module docstring)."""

    def __init__(self, model: "CrossEncoder", path: Path, *, backend: str):
        import torch

        self.session, self.inputs = cpu_session(path)
        self.tokenizer, self.max_length = model.tokenizer, model.max_seq_length
        self.sigmoid = type(model.activation_fn).__name__ == "Sigmoid"
        self.device = torch.device("cpu")
        self.backend, self.path = backend, path

    def predict(self, pairs: Sequence[tuple[str, str]], batch_size: int = 32, show_progress_bar: bool = False,
                **_) -> "np.ndarray":
        import numpy as np

        scores = np.empty(len(pairs), dtype=np.float32)
        order = np.argsort([-(len(query) + len(text)) for query, text in pairs], kind="stable")
        batch_size = min(batch_size, BATCH_SIZE)
        for start in range(0, len(pairs), batch_size):
            rows = order[start:start + batch_size]
            batch = self.tokenizer([pairs[i][0] for i in rows], [pairs[i][1] for i in rows], padding=True,
                                   truncation=True, max_length=self.max_length, return_tensors="np")
            logits = self.session.run(None, {name: batch[name].astype(np.int64) for name in self.inputs})[0]
            scores[rows] = logits[:, 0]
        return 1 / (1 + np.exp(-scores)) if self.sigmoid else scores


def onnx_cross_encoder(model: "CrossEncoder", resolved: str, *, backend: str) -> OnnxCrossEncoder:
    """`model` (a trained one-label cross-encoder loaded by torch) as an `OnnxCrossEncoder`, exported on first use."""
    activation = type(model.activation_fn).__name__
    if model.num_labels != 1 or activation not in ACTIVATIONS:
        raise OnnxUnsupported(f"The ONNX backend runs one-label cross-encoders with a {' or '.join(ACTIVATIONS)} "
                              f"activation; this one has {model.num_labels} labels and {activation}. Use "
                              "ENCODER_BACKEND=torch for it.")
    fp32 = onnx_folder(resolved) / "cross-encoder" / "model.onnx"
    if not fp32.exists():
        sample = model.tokenizer(["a query"], ["an example product, a little longer"], padding=True,
                                 return_tensors="pt")
        export_fp32(model.model, sample, output="logits", output_axes={0: "batch"}, path=fp32)
    path = fp32
    if backend == "onnx-int8":
        path = quantised_or_fp32(fp32, fidelity=lambda candidate: score_agreement(model, fp32=fp32, int8=candidate),
                                 minimum=1 - INT8_MAX_SCORE_GAP, measure="score_agreement")
    return OnnxCrossEncoder(model, path, backend="onnx" if path == fp32 else backend)


def score_agreement(model: "CrossEncoder", *, fp32: Path, int8: Path) -> float:
    """1 - the mean absolute difference between the int8 and the fp32 graph's scores of `PROBE_PAIRS`."""
    import numpy as np

    reference = OnnxCrossEncoder(model, fp32, backend="onnx").predict(PROBE_PAIRS)
    quantised = OnnxCrossEncoder(model, int8, backend="onnx-int8").predict(PROBE_PAIRS)
    return float(1 - np.mean(np.abs(reference - quantised)))
