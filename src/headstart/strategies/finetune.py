"""Strategies that update the backbone: ``partial``, ``finetune``, ``progressive``, ``lora``, and ``auto``.

All share one recipe (``training/trainer.py``): AdamW without weight decay on norms and biases, warmup then
cosine decay, dropout on a new linear head, early stopping on validation loss with the best weights restored,
gradient clipping, mixed precision on CUDA, atomic per-epoch checkpoints (``--resume``). Block groups come
from the backbone registry entry (``BackboneSpec.layer_groups``, stem -> top), never from special cases.

Unless training from scratch, the head is initialised from a linear probe on the frozen embeddings (LP-FT,
Kumar et al. 2022), which both speeds up few-epoch runs and limits how far the features drift.

- ``partial``: new head + the top ``--unfreeze N`` block groups (default 2); the rest frozen, including the
  BatchNorm statistics of frozen blocks.
- ``finetune``: every parameter, with layer-wise LR decay: the top group trains at ``--lr``, each group below
  at ``--layer-decay`` (default 0.8) times the one above; the new head at 1e-3, or 10x ``--lr`` when ``--lr``
  is given. Base rates are 10-100x below from-scratch
  training (text 5e-5, images 1e-4, versus 1e-3). BatchNorm layers keep their pre-trained running statistics
  (batch statistics of a few dozen small images are too noisy; measured on digits: 72% vs 18% test accuracy);
  the random-init control (``options["from_scratch"]``) trains them, at 1e-3 without layer decay.
- ``progressive``: head alone first, then one more block group per stage (top first, ``--unfreeze`` stages,
  default 2), the warmup + cosine schedule restarting at each stage (fastai-style gradual unfreezing).
- ``lora``: low-rank adapters through ``peft`` (text: attention query/value projections; images: every
  non-depthwise convolution) + the new head; the saved artifact is the adapter and head only, plus the
  name and pinned sha256 of the base weights they apply to.

``auto`` picks one of these (or ``linear-probe``) with :func:`choose_auto`, a documented rule.

The fitted artifact is :class:`~headstart.strategies.finetune_model.FineTunedModel`; batches and image
augmentation come from :mod:`headstart.strategies.finetune_batches`.

Determinism: the head is initialised from the seed, batches come from a seeded generator and augmentation
draws from torch's global RNG, which the checkpoints save and restore, so a resumed run ends exactly as an
uninterrupted one (on the CPU, same thread count).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from headstart.backbones import load_backbone
from headstart.backbones.classifier import EncoderClassifier
from headstart.errors import HeadstartError
from headstart.strategies.base import TransferTask, register_strategy
from headstart.strategies.finetune_batches import _default_flip, make_collate
from headstart.strategies.finetune_model import FineTunedModel
from headstart.strategies.lora_adapters import lora_targets as _lora_targets  # noqa: F401 (ft._lora_targets)
from headstart.strategies.lora_adapters import wrap_lora
from headstart.training import TrainConfig, TrainResult, train
from headstart.training.trainer import layerwise_param_groups

__all__ = ["default_hparams", "fit_finetune", "fit_lora", "fit_partial", "fit_progressive"]

FROM_SCRATCH_LR = 1e-3
HEAD_LR_MULT = 10.0


# --------------------------------------------------------------------------------------------- hyper-parameters
def default_hparams(strategy: str, modality: str, *, from_scratch: bool = False) -> dict[str, Any]:
    """Documented defaults per strategy and modality; user options (``--epochs`` ...) override them."""
    text = modality == "text"
    hp: dict[str, Any] = {
        "epochs": 5 if text else 10,
        "batch_size": 16 if text else 32,
        "lr": 5e-5 if text else 1e-4,
        "layer_decay": 0.8,
        "unfreeze": 2,
        "weight_decay": 0.01,
        "dropout": 0.1 if text else 0.2,
        "patience": 3,
        "warmup_frac": 0.1,
        "head_epochs": 3,  # progressive: epochs of the head-only stage
        "stage_epochs": 2 if text else 3,  # progressive: epochs of each unfreezing stage
        "lora_r": 8,
        "lora_alpha": 16,
        "lora_dropout": 0.1,
        "augment": not text,
        "head_lr": 1e-3,  # the new head: 10-20x the backbone rate
        "train_bn": False,  # BatchNorm keeps its pre-trained statistics (small data, small batches)
        "lp_init": True,  # LP-FT: the head starts from the linear probe on frozen features
    }
    if strategy == "lora":
        hp.update(lr=1e-3 if text else 2e-3, epochs=8 if text else 10)
    if from_scratch:
        hp.update(
            lr=FROM_SCRATCH_LR,
            head_lr=FROM_SCRATCH_LR,
            layer_decay=1.0,
            epochs=10 if text else 20,
            weight_decay=0.05,
            patience=5,
            train_bn=True,
            lp_init=False,
        )
    return hp


def _hparams(task: TransferTask, strategy: str) -> dict[str, Any]:
    from_scratch = bool(task.options.get("from_scratch"))
    hp = default_hparams(strategy, task.modality, from_scratch=from_scratch)
    for k, v in task.options.items():
        if v is not None and k in hp:
            hp[k] = v
    if not 0.0 < float(hp["layer_decay"]) <= 1.0:
        raise HeadstartError(f"--layer-decay must be in (0, 1], got {hp['layer_decay']}")
    if int(hp["epochs"]) < 1 or int(hp["batch_size"]) < 1 or float(hp["lr"]) <= 0:
        raise HeadstartError("--epochs and --batch-size must be at least 1 and --lr positive")
    if task.options.get("lr") is not None and task.options.get("head_lr") is None and not from_scratch:
        hp["head_lr"] = float(hp["lr"]) * HEAD_LR_MULT
    hp["from_scratch"] = from_scratch
    return hp


FINETUNE_OPTIONS = (*default_hparams("finetune", "text"), "hflip", "from_scratch")


# --------------------------------------------------------------------------------------------- fitting
def _named_groups(model: EncoderClassifier) -> list[tuple[str, list[tuple[str, nn.Parameter]]]]:
    """Encoder block groups (stem -> top) as (name, [(param name, param)]) from the registry's regexes."""
    by_id = {id(p): n for n, p in model.encoder.body.named_parameters()}
    return [(g, [(by_id[id(p)], p) for p in params]) for g, params in model.encoder.block_groups()]


def _optimizer_groups(
    model: EncoderClassifier, trainable_groups: list[str] | None, hp: dict[str, Any]
) -> list[dict[str, Any]]:
    """Head at ``head_lr``; trainable encoder groups at ``lr * layer_decay**k`` (k = 0 for the top group)."""
    groups = _named_groups(model)
    chosen = [(n, ps) for n, ps in groups if trainable_groups is None or n in trainable_groups]
    lrs = [float(hp["lr"]) * float(hp["layer_decay"]) ** (len(chosen) - 1 - i) for i in range(len(chosen))]
    head = ("head", list(model.head.named_parameters()))
    return layerwise_param_groups([*chosen, head], [*lrs, float(hp["head_lr"])], float(hp["weight_decay"]))


def _train_config(task: TransferTask, hp: dict[str, Any], epochs: int) -> TrainConfig:
    return TrainConfig(
        epochs=int(epochs),
        batch_size=int(hp["batch_size"]),
        lr=float(hp["lr"]),
        weight_decay=float(hp["weight_decay"]),
        warmup_frac=float(hp["warmup_frac"]),
        patience=int(hp["patience"]),
        loss=str(task.options.get("loss", "ce")),
        focal_gamma=float(task.options.get("focal_gamma", 2.0)),
        seed=task.seed,
        device=str(task.options.get("device", "auto")),
        amp=bool(task.options.get("amp", True)),
    )


def _ckpt(task: TransferTask, stage: int | None = None) -> Path | None:
    if task.work_dir is None:
        return None
    return Path(task.work_dir) / ("checkpoint.safetensors" if stage is None else f"checkpoint-stage{stage}.safetensors")


def _build(task: TransferTask, hp: dict[str, Any]) -> tuple[EncoderClassifier, Any]:
    t0 = time.perf_counter()
    torch.manual_seed(task.seed)  # random-init weights (":random") and the head depend on the seed only
    encoder = load_backbone(task.backbone, image_size=task.image_size)
    task.timings["load_backbone"] = time.perf_counter() - t0
    model = EncoderClassifier(encoder, task.n_classes, dropout=float(hp["dropout"]), train_bn=bool(hp["train_bn"]))
    flip = bool(task.options.get("hflip", _default_flip(task.train_items))) if task.modality == "image" else False
    collate = make_collate(encoder, augment=bool(hp["augment"]), flip=flip)
    if hp["lp_init"]:
        _linear_probe_init(task, model)
    return model, collate


def _linear_probe_init(task: TransferTask, model: EncoderClassifier) -> None:
    """LP-FT (Kumar et al., ICLR 2022): initialise the head with a logistic regression on the frozen
    embeddings of the training split (cached, shared with ``linear-probe``), so that the first fine-tuning
    steps follow a sensible head instead of distorting the pre-trained features to fit a random one."""
    from headstart.features import extract
    from headstart.strategies.linear_head import fit_linear_head

    t0 = time.perf_counter()
    emb, stats = extract(model.encoder, task.train_items, progress=False)
    task.notes.setdefault("extract", []).append({"split": "train (head init)", **stats.to_dict()})
    head = fit_linear_head(
        emb,
        task.y_train,
        task.n_classes,
        seed=task.seed,
        class_weight="balanced" if task.options.get("loss") == "weighted" else None,
    )
    # Standardised-feature weights mapped back to raw features; scales are floored at their median so that
    # near-constant features do not get huge weights that make the head brittle once the backbone moves.
    scale = np.maximum(head.scale, np.median(head.scale))
    w = head.W / scale[None, :]
    b = np.maximum(head.b - w @ head.mean, -30.0)
    with torch.no_grad():
        model.head.weight.copy_(torch.as_tensor(w, dtype=torch.float32))
        model.head.bias.copy_(torch.as_tensor(b, dtype=torch.float32))
    task.timings["head_init"] = time.perf_counter() - t0


def _group_names(model: EncoderClassifier) -> list[str]:
    return [name for name, _ in model.encoder.block_groups()]


def _top(model: EncoderClassifier, n: int) -> list[str]:
    names = _group_names(model)
    n = max(0, min(int(n), len(names)))
    return names[len(names) - n :] if n else []


def _run(
    task: TransferTask,
    model: nn.Module,
    collate: Any,
    config: TrainConfig,
    groups: list[dict[str, Any]] | None,
    *,
    stage: int | None = None,
    desc: str,
) -> TrainResult:
    t0 = time.perf_counter()
    result = train(
        model,
        task.train_items,
        task.y_train,
        task.val_items,
        task.y_val,
        collate,
        config,
        n_classes=task.n_classes,
        param_groups=groups,
        checkpoint_path=_ckpt(task, stage),
        resume=task.resume,
        progress=task.progress,
        desc=desc,
    )
    key = "train" if stage is None else f"train_stage{stage}"
    task.timings[key] = time.perf_counter() - t0
    ran = [h for h in result.history if result.resumed_from_epoch is None or h["epoch"] > result.resumed_from_epoch]
    if ran:
        task.timings[f"{key}_per_epoch"] = task.timings[key] / len(ran)
    return result


def _best_val_accuracy(result: TrainResult) -> float:
    best = [h for h in result.history if h["epoch"] == result.best_epoch]
    return float(best[0]["val_accuracy"]) if best else float("nan")


def _finish(
    task: TransferTask,
    model: EncoderClassifier,
    strategy: str,
    hp: dict[str, Any],
    history: list[dict[str, Any]],
    val_accuracy: float,
    lora: dict[str, Any] | None = None,
) -> FineTunedModel:
    trainable = model.trainable_share()
    fitted = FineTunedModel(
        model.eval(),
        backbone=task.backbone,
        strategy=strategy,
        n_classes=task.n_classes,
        image_size=task.image_size,
        base_sha256=model.encoder.weights_sha256,
        hparams={k: v for k, v in hp.items() if isinstance(v, (int, float, str, bool))},
        val_accuracy=val_accuracy,
        history=history,
        trainable=trainable,
        lora=lora,
        from_scratch=bool(hp["from_scratch"]),
    )
    if not hp["from_scratch"]:
        task.notes["trainable_params"] = {
            "trainable": trainable[0],
            "total": trainable[1],
            "share": fitted.trainable_share,
        }
    return fitted


@register_strategy(
    "partial", "new head + the top --unfreeze N block groups trained; the rest (and its BN) frozen", FINETUNE_OPTIONS
)
def fit_partial(task: TransferTask) -> FineTunedModel:
    hp = _hparams(task, "partial")
    model, collate = _build(task, hp)
    groups = _top(model, hp["unfreeze"])
    model.set_trainable(set(groups))
    result = _run(
        task,
        model,
        collate,
        _train_config(task, hp, hp["epochs"]),
        _optimizer_groups(model, groups, hp),
        desc="partial",
    )
    return _finish(task, model, "partial", hp, result.history, _best_val_accuracy(result))


@register_strategy(
    "finetune", "whole network, layer-wise LR decay from head to stem (--layer-decay), low base LR", FINETUNE_OPTIONS
)
def fit_finetune(task: TransferTask) -> FineTunedModel:
    hp = _hparams(task, "finetune")
    model, collate = _build(task, hp)
    model.set_trainable(None)
    result = _run(
        task,
        model,
        collate,
        _train_config(task, hp, hp["epochs"]),
        _optimizer_groups(model, None, hp),
        desc="random-init" if hp["from_scratch"] else "finetune",
    )
    return _finish(task, model, "finetune", hp, result.history, _best_val_accuracy(result))


@register_strategy(
    "progressive", "head first, then one more block group per stage; schedule restarts per stage", FINETUNE_OPTIONS
)
def fit_progressive(task: TransferTask) -> FineTunedModel:
    hp = _hparams(task, "progressive")
    model, collate = _build(task, hp)
    names = _group_names(model)
    n_stages = max(1, min(int(hp["unfreeze"]), len(names)))
    history: list[dict[str, Any]] = []
    result = TrainResult()
    for stage in range(n_stages + 1):
        groups = _top(model, stage)
        model.set_trainable(set(groups))
        if stage == 0:
            opt = layerwise_param_groups(
                [("head", list(model.head.named_parameters()))], [float(hp["head_lr"])], float(hp["weight_decay"])
            )
            epochs = int(hp["head_epochs"])
        else:
            opt = _optimizer_groups(model, groups, hp)
            epochs = int(hp["stage_epochs"])
        result = _run(
            task, model, collate, _train_config(task, hp, epochs), opt, stage=stage, desc=f"progressive stage {stage}"
        )
        history += [{**h, "stage": stage, "unfrozen": ",".join(groups) or "head"} for h in result.history]
    return _finish(task, model, "progressive", hp, history, _best_val_accuracy(result))


@register_strategy(
    "lora", "low-rank adapters (peft) + new head; saves the adapter only, pinned to the base weights", FINETUNE_OPTIONS
)
def fit_lora(task: TransferTask) -> FineTunedModel:
    hp = _hparams(task, "lora")
    model, collate = _build(task, hp)
    opt, lora = wrap_lora(task, model, hp)
    result = _run(task, model, collate, _train_config(task, hp, hp["epochs"]), opt, desc="lora")
    return _finish(task, model, "lora", hp, result.history, _best_val_accuracy(result), lora=lora)
