"""Networks with one shared trunk and one head per task.

Every net exposes ``features`` (the last shared representation of its latest forward, which gradient surgery
differentiates through), ``head`` (one ``nn.Linear`` whose output columns are the tasks' logits side by side:
the same function as T separate linear heads, rows ``slices[t]`` belong to task t) and ``log_vars`` (one
learned log-variance per task, trained only under uncertainty weighting).

- :class:`ProbeNet` (``linear-probe``): frozen cached embeddings -> standardize -> a shared trainable
  projection ``Linear(D, hidden) + GELU`` -> heads. Its single-task counterpart is the same net with one head,
  so a multitask-vs-single-task verdict isolates the effect of sharing the projection.
- :class:`MultiHeadEncoder` (``partial`` / ``finetune`` / ``lora``): the backbone itself is the shared trunk
  (an :class:`EncoderClassifier` whose head has sum(K_t) outputs).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor, nn

from headstart.backbones.classifier import EncoderClassifier
from headstart.backbones.encoder import Encoder
from headstart.multitask.objective import task_slices

PROBE_HIDDEN = 256


class ProbeNet(nn.Module):
    """``x -> (x - mean) / scale -> dropout -> Linear(D, hidden) -> GELU -> [features] -> dropout -> head``."""

    def __init__(
        self,
        dim: int,
        n_classes: Sequence[int],
        *,
        hidden: int = PROBE_HIDDEN,
        dropout: float = 0.2,
        mean: np.ndarray | None = None,
        scale: np.ndarray | None = None,
    ) -> None:
        super().__init__()
        self.register_buffer("mean", torch.as_tensor(np.zeros(dim) if mean is None else mean, dtype=torch.float32))
        self.register_buffer("scale", torch.as_tensor(np.ones(dim) if scale is None else scale, dtype=torch.float32))
        self.drop_in = nn.Dropout(dropout)
        self.shared = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden, int(sum(n_classes)))
        self.log_vars = nn.Parameter(torch.zeros(len(n_classes)))
        self.n_classes = [int(k) for k in n_classes]
        self.features: Tensor | None = None

    def forward(self, batch: dict[str, Tensor]) -> Tensor:
        x = (batch["x"] - self.mean) / self.scale
        f = self.act(self.shared(self.drop_in(x)))
        self.features = f
        return self.head(self.dropout(f))  # type: ignore[no-any-return]


class MultiHeadEncoder(EncoderClassifier):
    """An :class:`EncoderClassifier` with sum(K_t) head outputs, the pooled embedding as ``features``."""

    def __init__(
        self, encoder: Encoder, n_classes: Sequence[int], *, dropout: float = 0.1, train_bn: bool = True
    ) -> None:
        super().__init__(encoder, int(sum(n_classes)), dropout=dropout, train_bn=train_bn)
        self.log_vars = nn.Parameter(torch.zeros(len(n_classes)))
        self.n_classes = [int(k) for k in n_classes]
        self.features: Tensor | None = None

    def forward(self, batch: dict[str, Tensor]) -> Tensor:
        f = self.encoder(batch)
        self.features = f
        return self.head(self.dropout(f))  # type: ignore[no-any-return]

    def set_trainable(self, group_names: set[str] | None) -> None:
        super().set_trainable(group_names)
        self.log_vars.requires_grad_(True)


def split_softmax(logits: Tensor, n_classes: Sequence[int]) -> list[Tensor]:
    """Per-task probabilities from concatenated logits."""
    return [torch.softmax(logits[:, sl].float(), dim=-1) for sl in task_slices(n_classes)]


def count_params(net: nn.Module) -> tuple[int, int]:
    """(trainable, total) parameters."""
    params = list(net.parameters())
    return sum(p.numel() for p in params if p.requires_grad), sum(p.numel() for p in params)
