"""Losses for training the cross-encoder relevance judge beyond what sentence-transformers ships.

`WeightedBinaryCrossEntropyLoss` is sentence-transformers' `BinaryCrossEntropyLoss` (one logit, BCE with logits
against a soft label in [0, 1]) with a weight per example, so that labels we trust less (for example per-product
marks from SBS annotators with a poor record on control items) pull the model less. The loss of a batch is the
weighted mean sum(w_i * bce_i) / sum(w_i); with all weights equal it is exactly the unweighted loss.

Inputs: a dataset with two text columns (query, product) and a `label` column holding `[label, weight]` per row
(the trainer's collator turns a list-valued label column into one tensor per row).
"""
from __future__ import annotations

import torch
from sentence_transformers.cross_encoder.losses import BinaryCrossEntropyLoss
from sentence_transformers.util import batch_to_device
from torch import Tensor, nn


class WeightedBinaryCrossEntropyLoss(BinaryCrossEntropyLoss):
    def __init__(self, model, **kwargs) -> None:
        super().__init__(model, **kwargs)
        self.per_example = nn.BCEWithLogitsLoss(pos_weight=self.pos_weight, reduction="none")

    def forward(self, inputs: list[list[str]], labels, prompt: str | None = None, task: str | None = None) -> Tensor:
        if len(inputs) != 2:
            raise ValueError(f"{type(self).__name__} expects two text columns (query, product), got {len(inputs)}.")
        pairs = list(zip(inputs[0], inputs[1]))
        features = batch_to_device(self.model.preprocess(pairs, prompt=prompt, task=task), self.model.device)
        logits = self.activation_fn(self.model(features)["scores"].view(-1))
        label_weight = torch.stack([torch.as_tensor(row, dtype=torch.float32) for row in labels]).to(logits.device)
        if label_weight.shape != (logits.shape[0], 2):
            raise ValueError(f"{type(self).__name__} expects a [label, weight] pair per example, "
                             f"got labels of shape {tuple(label_weight.shape)}.")
        targets, weights = label_weight[:, 0], label_weight[:, 1]
        losses = self.per_example(logits, targets)
        return (losses * weights).sum() / weights.sum().clamp_min(1e-12)
