"""Deep domain adaptation in the shared trainer: DANN, CDAN and confidence-thresholded self-training on top
of the ``partial`` / ``finetune`` / ``lora`` strategies (same hyper-parameters, LP-FT head initialisation,
optimizer groups and checkpoints as :mod:`headstart.strategies.finetune`).

* :class:`DomainAdaptiveNet` wraps the strategy's ``EncoderClassifier``: in train mode ``forward`` returns
  ``[class logits | features]`` (what the domain losses need), in eval mode the class logits only, so the
  trainer's validation and ``predict_proba`` work unchanged. It owns the loss modules of
  :mod:`headstart.training.da_losses` (the discriminator trains with the network and sits in every
  checkpoint, as does the gradient-reversal step counter: ``--resume`` continues the schedule exactly).
* :class:`DomainAdaptationObjective` (the trainer's ``Objective``): training rows are the labeled source
  (``y >= 0``) and the unlabeled target (``y = -1``), the smaller domain oversampled so that batches mix
  both; ``loss = CE(source rows) + trade_off * domain loss`` (DANN, CDAN) or ``+ weight * pseudo-label loss``
  (self-training). Validation (early stopping) is the cross-entropy on the labeled source validation split.

The shipped artifact is the inner classifier as a :class:`~headstart.strategies.finetune_model.FineTunedModel`, so
it saves, loads and predicts like any fine-tuned model.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from headstart.backbones.classifier import EncoderClassifier
from headstart.errors import HeadstartError
from headstart.strategies import finetune as ft
from headstart.strategies.base import TransferTask
from headstart.strategies.finetune_model import FineTunedModel
from headstart.strategies.lora_adapters import wrap_lora
from headstart.training import train
from headstart.training.da_losses import (
    ConditionalDomainAdversarialLoss,
    ConfidencePseudoLabelLoss,
    DomainAdversarialLoss,
)
from headstart.training.ddp import dist_info
from headstart.training.trainer import layerwise_param_groups

__all__ = [
    "DEEP_METHODS",
    "DEEP_STRATEGIES",
    "DaSettings",
    "DomainAdaptationObjective",
    "DomainAdaptiveNet",
    "fit_deep",
    "mix_domains",
]

DEEP_STRATEGIES = ("partial", "finetune", "lora")
DEEP_METHODS = {
    "dann": "DANN (gradient reversal + domain discriminator)",
    "cdan": "CDAN+E (discriminator on features x predictions, entropy-weighted)",
    "self-training": "self-training on confident target pseudo-labels",
}


@dataclass(frozen=True)
class DaSettings:
    """The adaptation loss weights (tllib's defaults: trade-off 1, pseudo-label threshold 0.9)."""

    trade_off: float = 1.0
    threshold: float = 0.9
    pseudo_weight: float = 1.0
    hidden: int = 256


class DomainAdaptiveNet(nn.Module):
    """``classifier`` + the adaptation loss module of ``method`` (see the module docstring)."""

    def __init__(
        self, classifier: EncoderClassifier, method: str, *, max_steps: int, settings: DaSettings, seed: int
    ) -> None:
        super().__init__()
        self.classifier = classifier
        self.method = method
        self.n_classes = int(classifier.head.out_features)
        dim = int(classifier.head.in_features)
        self.adversary: nn.Module | None = None
        self.pseudo: ConfidencePseudoLabelLoss | None = None
        if method == "dann":
            self.adversary = DomainAdversarialLoss(dim, hidden=settings.hidden, max_steps=max_steps)
        elif method == "cdan":
            self.adversary = ConditionalDomainAdversarialLoss(
                dim, self.n_classes, hidden=settings.hidden, max_steps=max_steps, seed=seed
            )
        elif method == "self-training":
            self.pseudo = ConfidencePseudoLabelLoss(settings.threshold)
        else:
            raise HeadstartError(f"--adapt: unknown deep method {method!r}; choose {', '.join(DEEP_METHODS)}")

    def forward(self, batch: dict[str, Tensor]) -> Tensor:
        c = self.classifier
        f = c.encoder(batch)
        g = c.head(c.dropout(f))
        return torch.cat([g, f.to(g.dtype)], dim=1) if self.training else g


class DomainAdaptationObjective:
    """The trainer ``Objective`` of a :class:`DomainAdaptiveNet` (target rows carry ``y = -1``)."""

    def __init__(self, net: DomainAdaptiveNet, settings: DaSettings) -> None:
        self.net = net
        self.settings = settings

    def __call__(self, output: Tensor, target: Tensor) -> Tensor:
        return F.cross_entropy(output[:, : self.net.n_classes], target)

    def n_correct(self, output: Tensor, target: Tensor) -> float:
        return float((output[:, : self.net.n_classes].argmax(-1) == target).sum())

    def backward(self, output: Tensor, target: Tensor) -> Tensor:
        k = self.net.n_classes
        g, f = output[:, :k], output[:, k:]
        src = target >= 0
        tgt = ~src
        loss = F.cross_entropy(g[src], target[src]) if bool(src.any()) else output.sum() * 0.0
        net = self.net
        if net.adversary is not None:
            if bool(src.any()) and bool(tgt.any()):
                if isinstance(net.adversary, ConditionalDomainAdversarialLoss):
                    da = net.adversary(g[src], f[src], g[tgt], f[tgt])
                else:
                    da = net.adversary(f[src], f[tgt])
                loss = loss + self.settings.trade_off * da
            net.adversary.grl.advance()  # type: ignore[operator, union-attr]
        if net.pseudo is not None and bool(tgt.any()):
            loss = loss + self.settings.pseudo_weight * net.pseudo(g[tgt])
        loss.backward()
        return loss.detach()


def mix_domains(
    source_items: Sequence[Any], y_source: np.ndarray, target_items: Sequence[Any], seed: int
) -> tuple[list[Any], np.ndarray]:
    """Source rows (their labels) + target rows (``y = -1``), the smaller domain oversampled (whole copies,
    then a seeded sample for the remainder) to the size of the larger, so random batches hold both."""
    if len(target_items) == 0:
        raise HeadstartError("deep adaptation needs unlabeled target items: give TARGET or --unlabeled")
    rng = np.random.default_rng(seed)
    n = max(len(source_items), len(target_items))

    def _grow(m: int) -> np.ndarray:
        reps = np.tile(np.arange(m), n // m)
        return np.concatenate([reps, np.sort(rng.choice(m, size=n - len(reps), replace=False))])

    si, ti = _grow(len(source_items)), _grow(len(target_items))
    items = [source_items[i] for i in si] + [target_items[i] for i in ti]
    y = np.concatenate([np.asarray(y_source, dtype=np.int64)[si], -np.ones(len(ti), dtype=np.int64)])
    return items, y


def _prepare_partial(task: TransferTask, model: EncoderClassifier, hp: dict[str, Any]) -> tuple[list[Any], None]:
    groups = ft._top(model, hp["unfreeze"])
    model.set_trainable(set(groups))
    return ft._optimizer_groups(model, groups, hp), None


def _prepare_finetune(task: TransferTask, model: EncoderClassifier, hp: dict[str, Any]) -> tuple[list[Any], None]:
    model.set_trainable(None)
    return ft._optimizer_groups(model, None, hp), None


PREPARE: dict[str, Callable[[TransferTask, EncoderClassifier, dict[str, Any]], tuple[list[Any], Any]]] = {
    "partial": _prepare_partial,
    "finetune": _prepare_finetune,
    "lora": wrap_lora,
}


def fit_deep(
    task: TransferTask,
    method: str,
    target_items: Sequence[Any],
    *,
    strategy: str,
    settings: DaSettings | None = None,
) -> FineTunedModel:
    """Train ``strategy`` on ``task`` (labeled source train/val) + ``target_items`` (unlabeled) with ``method``;
    checkpoints in ``task.work_dir`` (``task.resume`` continues them)."""
    if strategy not in PREPARE:
        raise HeadstartError(
            f"--strategy {strategy}: deep adaptation runs with {', '.join(DEEP_STRATEGIES)}; pick one of them"
        )
    if dist_info().enabled:  # the domain losses run outside the DDP forward: their gradients would not sync
        raise HeadstartError("deep adaptation runs in one process; start it without torchrun")
    settings = settings or DaSettings()
    hp = ft._hparams(task, strategy)
    model, collate = ft._build(task, hp)
    opt, lora = PREPARE[strategy](task, model, hp)
    items, y = mix_domains(task.train_items, task.y_train, target_items, task.seed)
    config = ft._train_config(task, hp, hp["epochs"])
    max_steps = math.ceil(len(items) / config.batch_size) * config.epochs
    net = DomainAdaptiveNet(model, method, max_steps=max_steps, settings=settings, seed=task.seed)
    if net.adversary is not None:
        opt += layerwise_param_groups(
            [("discriminator", list(net.adversary.named_parameters()))], [float(hp["head_lr"])], hp["weight_decay"]
        )
    result = train(
        net,
        items,
        y,
        task.val_items,
        task.y_val,
        collate,
        config,
        n_classes=task.n_classes,
        param_groups=opt,
        checkpoint_path=ft._ckpt(task),
        resume=task.resume,
        progress=task.progress,
        desc=f"{strategy}+{method}",
        objective=DomainAdaptationObjective(net, settings),
    )
    hp = {**hp, "da_method": method, "da_trade_off": settings.trade_off, "da_threshold": settings.threshold}
    return ft._finish(task, model, strategy, hp, result.history, ft._best_val_accuracy(result), lora=lora)
