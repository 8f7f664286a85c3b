"""A small, careful training loop: AdamW, warmup + cosine, early stopping on validation loss with the best
weights restored, gradient clipping, mixed precision on CUDA, and atomic per-epoch checkpoints that make a
killed run resumable with identical results (model, optimizer, scheduler, RNG states, history).

Under ``torchrun`` (see ``training/ddp.py``) the same loop runs data-parallel: the model is wrapped in
``DistributedDataParallel``, each rank trains on its shard of every global batch, validation metrics are
all-reduced so every rank takes the same early-stopping decision, and only rank 0 writes checkpoints.

Models take a batch ``dict[str, Tensor]`` and return logits. Data are given as a sequence of raw items plus a
``collate(items, train: bool) -> dict[str, Tensor]`` function, so the same loop serves a scratch CNN on pixel
arrays and a transformer fine-tuned on raw texts.
"""

from __future__ import annotations

import copy
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from headstart.progress import progress_bar
from headstart.training.checkpoint import load_checkpoint, save_checkpoint
from headstart.training.ddp import DistInfo, all_reduce_sum, dist_info, shard
from headstart.training.losses import make_loss

Collate = Callable[[Sequence[Any], bool], dict[str, torch.Tensor]]


class Objective(Protocol):
    """A training objective other than one cross-entropy on ``y`` (e.g. several heads, masked labels).

    ``objective(output, target)`` is the validation loss (early stopping); ``backward(output, target)`` fills
    the ``.grad`` of the parameters (it may combine several losses or gradients) and returns the loss to log;
    ``n_correct`` counts correct predictions in the batch (may be fractional: a mean over tasks).
    """

    def __call__(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor: ...

    def backward(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor: ...

    def n_correct(self, output: torch.Tensor, target: torch.Tensor) -> float: ...


@dataclass
class TrainConfig:
    epochs: int = 30
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.01
    warmup_frac: float = 0.1
    patience: int = 5
    grad_clip: float = 1.0
    loss: str = "ce"
    focal_gamma: float = 2.0
    seed: int = 0
    device: str = "auto"
    amp: bool = True
    min_epochs: int = 1

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class TrainResult:
    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = -1
    best_val_loss: float = math.inf
    stopped_early: bool = False
    resumed_from_epoch: int | None = None


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def param_groups_no_decay(
    named: Sequence[tuple[str, nn.Parameter]], lr: float, weight_decay: float
) -> list[dict[str, Any]]:
    """Split parameters into decayed weights and non-decayed 1-D params (norms, biases), as timm does."""
    decay = [p for n, p in named if p.requires_grad and p.ndim > 1 and not n.endswith(".bias")]
    no_decay = [p for n, p in named if p.requires_grad and (p.ndim <= 1 or n.endswith(".bias"))]
    groups = []
    if decay:
        groups.append({"params": decay, "lr": lr, "weight_decay": weight_decay})
    if no_decay:
        groups.append({"params": no_decay, "lr": lr, "weight_decay": 0.0})
    return groups


def layerwise_param_groups(
    groups: Sequence[tuple[str, Sequence[tuple[str, nn.Parameter]]]],
    lrs: Sequence[float],
    weight_decay: float,
) -> list[dict[str, Any]]:
    """Optimizer groups for named parameter groups with one learning rate each (layer-wise LR decay),
    each split into decayed weights and non-decayed norms/biases. Frozen parameters are left out."""
    out: list[dict[str, Any]] = []
    for (name, named), lr in zip(groups, lrs, strict=True):
        for g in param_groups_no_decay(list(named), lr, weight_decay):
            out.append({**g, "name": name})
    return out


def warmup_cosine(total_steps: int, warmup_steps: int) -> Callable[[int], float]:
    def factor(step: int) -> float:
        if warmup_steps > 0 and step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return factor


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def _rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _batches(n: int, batch_size: int, generator: torch.Generator | None) -> list[np.ndarray]:
    order = torch.randperm(n, generator=generator).numpy() if generator is not None else np.arange(n)
    return [order[i : i + batch_size] for i in range(0, n, batch_size)]


def _to(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


def _amp_dtype(device: torch.device, enabled: bool) -> torch.dtype | None:
    if device.type == "cuda" and enabled:
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return None


def _autocast(device: torch.device, enabled: bool) -> Any:
    dtype = _amp_dtype(device, enabled)
    if dtype is not None:
        return torch.autocast("cuda", dtype=dtype)
    return torch.autocast("cpu", enabled=False)


def evaluate_loss(
    model: nn.Module,
    items: Sequence[Any],
    y: np.ndarray,
    collate: Collate,
    loss_fn: nn.Module,
    *,
    batch_size: int,
    device: torch.device,
    amp: bool,
    info: DistInfo | None = None,
    objective: Objective | None = None,
) -> tuple[float, float]:
    """Mean loss and accuracy over ``items`` (no augmentation, no grad); under DDP each rank scores its
    shard and the sums are all-reduced, so every rank gets the metrics of the whole set."""
    info = info or DistInfo()
    model.eval()
    total, correct, n = 0.0, 0, 0
    mine = shard(np.arange(len(items)), info)
    with torch.inference_mode():
        for part in _batches(len(mine), batch_size, None):
            idx = mine[part]
            batch = _to(collate([items[i] for i in idx], False), device)
            target = torch.as_tensor(y[idx], device=device)
            with _autocast(device, amp):
                logits = model(batch)
            total += float(loss_fn(logits.float(), target)) * len(idx)
            if objective is not None:
                correct += objective.n_correct(logits.float(), target)  # type: ignore[assignment]
            else:
                correct += int((logits.argmax(-1) == target).sum())
            n += len(idx)
    total, correct_f, n_f = all_reduce_sum([total, float(correct), float(n)], info)
    return total / max(1.0, n_f), correct_f / max(1.0, n_f)


def predict_proba(
    model: nn.Module,
    items: Sequence[Any],
    collate: Collate,
    *,
    batch_size: int = 64,
    device: str | torch.device = "auto",
    amp: bool = True,
    progress: bool = False,
    desc: str = "predict",
) -> np.ndarray:
    dev = resolve_device(device) if isinstance(device, str) else device
    model.to(dev).eval()
    out = []
    with torch.inference_mode():
        for idx in progress_bar(_batches(len(items), batch_size, None), desc=desc, enabled=progress):
            batch = _to(collate([items[i] for i in idx], False), dev)
            with _autocast(dev, amp):
                logits = model(batch)
            out.append(torch.softmax(logits.float(), dim=-1).cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, 0), dtype=np.float32)


def train(
    model: nn.Module,
    train_items: Sequence[Any],
    y_train: np.ndarray,
    val_items: Sequence[Any],
    y_val: np.ndarray,
    collate: Collate,
    config: TrainConfig,
    *,
    n_classes: int,
    param_groups: list[dict[str, Any]] | None = None,
    checkpoint_path: Path | None = None,
    resume: bool = False,
    progress: bool = True,
    desc: str = "train",
    on_epoch_end: Callable[[int, nn.Module], None] | None = None,
    objective: Objective | None = None,
) -> TrainResult:
    """Train ``model`` in place; on return it holds the weights of the epoch with the lowest validation loss.

    With ``checkpoint_path`` a checkpoint (model, optimizer, scheduler, RNG states, epoch, best-so-far) is
    written atomically at every epoch end; with ``resume=True`` and an existing checkpoint, training continues
    from it and ends exactly as an uninterrupted run would. A checkpoint of a finished run resumes to the end
    state at once (multi-stage strategies rely on this to skip completed stages).

    ``objective`` replaces the cross-entropy loss and its backward pass (``y_train``/``y_val`` may then be any
    per-item target array, e.g. ``[n, T]`` labels of T tasks); fp16 loss scaling is not applied with it.
    """
    info = dist_info()
    device = resolve_device(config.device)
    if info.enabled and device.type == "cuda":
        device = torch.device("cuda", torch.cuda.current_device())
    amp = config.amp and device.type == "cuda"
    amp_dtype = _amp_dtype(device, amp)
    scaler = torch.amp.GradScaler("cuda") if amp_dtype == torch.float16 and objective is None else None
    progress = progress and info.is_main
    _seed_everything(config.seed)
    model.to(device)
    if objective is None:
        loss_fn: Any = make_loss(config.loss, y_train, n_classes, config.focal_gamma).to(device)
        val_loss_fn: Any = nn.CrossEntropyLoss().to(device)
    else:
        loss_fn = val_loss_fn = objective
    if param_groups is None:
        param_groups = param_groups_no_decay(list(model.named_parameters()), config.lr, config.weight_decay)
    optimizer = torch.optim.AdamW(param_groups)
    steps_per_epoch = math.ceil(len(train_items) / config.batch_size)
    total = steps_per_epoch * config.epochs
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_cosine(total, int(config.warmup_frac * total)))
    generator = torch.Generator().manual_seed(config.seed)
    result = TrainResult()
    best_state: dict[str, torch.Tensor] | None = None
    bad_epochs = 0
    start_epoch = 0

    if resume and checkpoint_path is not None and checkpoint_path.exists():
        ckpt = load_checkpoint(checkpoint_path)  # safetensors + JSON: nothing in it can run code
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        generator.set_state(ckpt["generator"])
        _set_rng_state(ckpt["rng"])
        if scaler is not None and ckpt.get("scaler"):
            scaler.load_state_dict(ckpt["scaler"])
        best_state = ckpt["best_state"]
        bad_epochs = ckpt["bad_epochs"]
        start_epoch = ckpt["epoch"] + 1
        result = TrainResult(**ckpt["result"])
        result.resumed_from_epoch = start_epoch

    forward: nn.Module = model
    if info.enabled:
        from torch.nn.parallel import DistributedDataParallel

        forward = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    trainable = [p for g in optimizer.param_groups for p in g["params"] if p.requires_grad]

    for epoch in range(start_epoch, config.epochs):
        if result.stopped_early:
            break
        model.train()
        run_loss, seen = 0.0, 0
        batches = _batches(len(train_items), config.batch_size, generator)
        for global_idx in progress_bar(batches, desc=f"{desc} epoch {epoch + 1}/{config.epochs}", enabled=progress):
            idx = shard(global_idx, info)
            if len(idx) == 0:  # a last global batch smaller than the world: pad like DistributedSampler
                idx = global_idx[:1]
            batch = _to(collate([train_items[i] for i in idx], True), device)
            target = torch.as_tensor(y_train[idx], device=device)
            with _autocast(device, amp):
                logits = forward(batch)
            optimizer.zero_grad(set_to_none=True)
            if objective is not None:
                loss = objective.backward(logits.float(), target)
            elif scaler is not None:
                loss = loss_fn(logits.float(), target)
                scaler.scale(loss).backward()
                scaler.unscale_(optimizer)
            else:
                loss = loss_fn(logits.float(), target)
                loss.backward()
            if config.grad_clip:
                nn.utils.clip_grad_norm_(trainable, config.grad_clip)
            if scaler is not None:
                scaler.step(optimizer)
                scaler.update()
            else:
                optimizer.step()
            scheduler.step()
            run_loss += float(loss.detach()) * len(idx)
            seen += len(idx)
        run_loss, seen_f = all_reduce_sum([run_loss, float(seen)], info)
        val_loss, val_acc = evaluate_loss(
            model,
            val_items,
            y_val,
            collate,
            val_loss_fn,
            batch_size=config.batch_size * 2,
            device=device,
            amp=amp,
            info=info,
            objective=objective,
        )
        result.history.append(
            {
                "epoch": epoch + 1,
                "train_loss": run_loss / max(1.0, seen_f),
                "val_loss": val_loss,
                "val_accuracy": val_acc,
                "lr": max(scheduler.get_last_lr()),
            }
        )
        if val_loss < result.best_val_loss - 1e-6:
            result.best_val_loss, result.best_epoch = val_loss, epoch + 1
            best_state = copy.deepcopy({k: v.detach().clone() for k, v in model.state_dict().items()})
            bad_epochs = 0
        else:
            bad_epochs += 1
            if bad_epochs >= config.patience and epoch + 1 >= config.min_epochs:
                result.stopped_early = True
        if on_epoch_end is not None:
            on_epoch_end(epoch, model)
        if checkpoint_path is not None and info.is_main:
            save_checkpoint(
                checkpoint_path,
                {
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "scaler": scaler.state_dict() if scaler is not None else None,
                    "generator": generator.get_state(),
                    "rng": _rng_state(),
                    "best_state": best_state,
                    "bad_epochs": bad_epochs,
                    "epoch": epoch,
                    "result": asdict(result),
                    "config": config.to_dict(),
                },
            )
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return result
