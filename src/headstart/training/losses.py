"""Classification losses for imbalanced data: inverse-frequency weighting and focal loss."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F


class FocalLoss(nn.Module):
    """Focal loss (Lin et al., ICCV 2017): ``-(1 - p_t)^gamma * log p_t``, optionally class-weighted.

    logits ``[B, K]``, target ``[B]`` int64 -> scalar mean loss.
    """

    def __init__(self, gamma: float = 2.0, weight: torch.Tensor | None = None) -> None:
        super().__init__()
        self.gamma = gamma
        self.register_buffer("weight", weight if weight is not None else None)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        logp = F.log_softmax(logits.float(), dim=-1)
        logp_t = logp.gather(1, target[:, None]).squeeze(1)
        loss = -((1.0 - logp_t.exp()) ** self.gamma) * logp_t
        if self.weight is not None:
            loss = loss * self.weight[target]
        return loss.mean()


def class_weights(y: np.ndarray, n_classes: int) -> torch.Tensor:
    """Inverse-frequency weights normalised to mean 1 over the present classes (sklearn's 'balanced')."""
    counts = np.bincount(y, minlength=n_classes).astype(np.float64)
    w = np.where(counts > 0, len(y) / (n_classes * np.maximum(counts, 1)), 0.0)
    return torch.tensor(w, dtype=torch.float32)


def make_loss(kind: str, y_train: np.ndarray, n_classes: int, focal_gamma: float = 2.0) -> nn.Module:
    """``ce`` (plain cross-entropy), ``weighted`` (inverse-frequency) or ``focal``."""
    if kind == "ce":
        return nn.CrossEntropyLoss()
    if kind == "weighted":
        return nn.CrossEntropyLoss(weight=class_weights(y_train, n_classes))
    if kind == "focal":
        return FocalLoss(gamma=focal_gamma)
    raise ValueError(f"unknown loss {kind!r}; use ce, weighted or focal")
