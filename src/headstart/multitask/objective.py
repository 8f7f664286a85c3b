"""The multitask training objective: masked per-task losses, task weighting, and gradient combination.

Task weighting (``--task-weighting``), applied to each task's mean cross-entropy ``L_t``:

- ``equal``: ``sum_t L_t`` (the default; recent studies find it matches the specialised methods more often
  than not, so every other choice is compared against it);
- ``uncertainty``: Kendall, Gal & Cipolla (CVPR 2018): ``sum_t exp(-s_t) L_t + s_t`` with a learned
  log-variance ``s_t`` per task;
- ``dwa``: dynamic weight average (Liu, Johns & Davison, CVPR 2019): ``w_t = T softmax_t(r_t / 2)`` with
  ``r_t`` the ratio of the task's last two epoch-mean losses (equal weights for the first two epochs).

Gradient combination (``--gradients``) of the weighted task losses on the *shared* parameters:

- ``sum``: plain backward of the sum;
- ``pcgrad``: PCGrad (Yu et al., NeurIPS 2020): conflicting task gradients are projected onto each other's
  normal plane before summing;
- ``upgrad``: UPGrad (Quinton & Rey, 2024): the Jacobian is projected onto the dual cone of its rows so the
  update conflicts with no task.

Both surgical options come from ``torchjd`` (``mtl_backward`` + ``jac_to_grad``): head parameters get their
task's plain gradient, shared parameters the aggregated one. A task without a label in a batch is left out
of that batch's combination (missing labels are masked, never imputed).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from headstart.errors import HeadstartError

WEIGHTINGS = ("equal", "uncertainty", "dwa")
GRADIENTS = ("sum", "pcgrad", "upgrad")
DWA_TEMPERATURE = 2.0


def check_options(weighting: str, gradients: str) -> None:
    if weighting not in WEIGHTINGS:
        raise HeadstartError(f"unknown --task-weighting {weighting!r}; choose one of: {', '.join(WEIGHTINGS)}")
    if gradients not in GRADIENTS:
        raise HeadstartError(f"unknown --gradients {gradients!r}; choose one of: {', '.join(GRADIENTS)}")


def task_slices(n_classes: Sequence[int]) -> list[slice]:
    """Column ranges of each task's logits in the concatenated output."""
    offsets = np.concatenate([[0], np.cumsum(n_classes)]).astype(int)
    return [slice(int(a), int(b)) for a, b in itertools.pairwise(offsets)]


def masked_losses(logits: Tensor, target: Tensor, slices: Sequence[slice]) -> list[Tensor | None]:
    """Mean cross-entropy of each task over the batch items that have its label (None: no such item)."""
    out: list[Tensor | None] = []
    for t, sl in enumerate(slices):
        mask = target[:, t] >= 0
        if not bool(mask.any()):
            out.append(None)
            continue
        out.append(F.cross_entropy(logits[mask, sl], target[mask, t]))
    return out


def _aggregator(name: str) -> Any:
    from torchjd.aggregation import PCGrad, UPGrad

    return {"pcgrad": PCGrad, "upgrad": UPGrad}[name]()


class MultiTaskObjective:
    """:class:`headstart.training.trainer.Objective` for a network with ``features`` (the last shared
    representation, set by its forward), a ``head`` whose output columns are the tasks' logits, and
    ``log_vars`` (one per task, used by uncertainty weighting)."""

    def __init__(
        self,
        net: nn.Module,
        n_classes: Sequence[int],
        *,
        weighting: str = "equal",
        gradients: str = "sum",
        shared: Sequence[nn.Parameter] | None = None,
    ) -> None:
        check_options(weighting, gradients)
        self.net = net
        self.slices = task_slices(n_classes)
        self.n_tasks = len(self.slices)
        self.weighting = weighting
        self.gradients = gradients
        self.aggregator = None if gradients == "sum" else _aggregator(gradients)
        head_ids = {id(p) for p in net.head.parameters()} | {id(net.log_vars)}
        self.shared = (
            list(shared)
            if shared is not None
            else [p for p in net.parameters() if p.requires_grad and id(p) not in head_ids]
        )
        self.task_params = [*net.head.parameters(), net.log_vars]
        self.dwa_weights = np.ones(self.n_tasks)
        self._epoch_sum = np.zeros(self.n_tasks)
        self._epoch_n = np.zeros(self.n_tasks)
        self._epoch_means: list[np.ndarray] = []
        self.weight_history: list[list[float]] = []

    # -- Objective protocol
    def __call__(self, output: Tensor, target: Tensor) -> Tensor:
        losses = [x for x in masked_losses(output, target, self.slices) if x is not None]
        return torch.stack(losses).mean() if losses else output.sum() * 0.0

    def n_correct(self, output: Tensor, target: Tensor) -> float:
        accs = []
        for t, sl in enumerate(self.slices):
            mask = target[:, t] >= 0
            if bool(mask.any()):
                accs.append(float((output[mask, sl].argmax(-1) == target[mask, t]).float().mean()))
        return float(np.mean(accs)) * len(target) if accs else 0.0

    def backward(self, output: Tensor, target: Tensor) -> Tensor:
        losses = masked_losses(output, target, self.slices)
        present = [t for t, x in enumerate(losses) if x is not None]
        for t in present:
            self._epoch_sum[t] += float(losses[t].detach()) * int((target[:, t] >= 0).sum())  # type: ignore[union-attr]
            self._epoch_n[t] += int((target[:, t] >= 0).sum())
        weighted = [self._weigh(t, losses[t]) for t in present]  # type: ignore[arg-type]
        total = torch.stack(weighted).sum()
        if self.aggregator is None or len(weighted) < 2 or not self.shared:
            total.backward()
        else:
            from torchjd.autojac import jac_to_grad, mtl_backward

            tp = [[p for p in self.task_params if p.requires_grad] for _ in weighted]
            mtl_backward(
                weighted, features=self.net.features, tasks_params=tp, shared_params=self.shared, retain_graph=True
            )
            jac_to_grad(self.shared, self.aggregator)
        return total.detach()

    # -- weighting
    def _weigh(self, t: int, loss: Tensor) -> Tensor:
        if self.weighting == "uncertainty":
            s = self.net.log_vars[t]
            return torch.exp(-s) * loss + s
        if self.weighting == "dwa":
            return loss * float(self.dwa_weights[t])
        return loss

    def end_epoch(self, *_: Any) -> None:
        """Record the epoch's mean task losses; DWA sets the next epoch's weights from the last two."""
        means = np.where(self._epoch_n > 0, self._epoch_sum / np.maximum(self._epoch_n, 1), np.nan)
        self._epoch_means.append(means)
        self._epoch_sum[:] = 0.0
        self._epoch_n[:] = 0.0
        if self.weighting == "dwa" and len(self._epoch_means) >= 2:
            prev, last = self._epoch_means[-2], self._epoch_means[-1]
            ratio = np.nan_to_num(last / np.maximum(prev, 1e-12), nan=1.0)
            e = np.exp((ratio - ratio.max()) / DWA_TEMPERATURE)
            self.dwa_weights = self.n_tasks * e / e.sum()
        self.weight_history.append([float(w) for w in self.current_weights()])

    def current_weights(self) -> np.ndarray:
        if self.weighting == "uncertainty":
            return np.exp(-self.net.log_vars.detach().cpu().numpy())
        if self.weighting == "dwa":
            return self.dwa_weights.copy()
        return np.ones(self.n_tasks)
