"""Fit one network with a head per task (T >= 1) through the shared trainer (``training/trainer.py``).

The same function fits the multitask arm (all tasks) and each single-task arm (one task), with the same
backbone, strategy, hyper-parameters and epoch budget, so that their paired verdict measures sharing only.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from headstart.baselines.image import _one_torch_thread
from headstart.errors import HeadstartError
from headstart.multitask.model import PROBE, MultitaskModel
from headstart.multitask.nets import PROBE_HIDDEN, MultiHeadEncoder, ProbeNet, count_params
from headstart.multitask.objective import MultiTaskObjective, task_slices
from headstart.strategies.base import TransferTask
from headstart.training import TrainConfig, train
from headstart.training.trainer import layerwise_param_groups, param_groups_no_decay

STRATEGIES = (PROBE, "partial", "finetune", "lora")
# The probe's shared projection: AdamW on standardized embeddings, early stopping on the mean task loss.
PROBE_HPARAMS: dict[str, Any] = {
    "epochs": 60,
    "batch_size": 32,
    "lr": 1e-3,
    "weight_decay": 0.01,
    "dropout": 0.2,
    "hidden": PROBE_HIDDEN,
    "patience": 8,
    "warmup_frac": 0.05,
}


@dataclass
class FitSpec:
    """What every arm of one run shares."""

    backbone: str
    strategy: str = PROBE
    modality: str = "text"
    image_size: int | None = None
    seed: int = 0
    weighting: str = "equal"
    gradients: str = "sum"
    options: dict[str, Any] = field(default_factory=dict)
    progress: bool = False


@dataclass
class Fitted:
    model: MultitaskModel
    seconds: float
    params: dict[str, int]
    timings: dict[str, float]
    weights: list[list[float]]
    n_train: int = 0  # training items (each has at least one of the model's task labels)
    n_labeled: dict[str, int] = field(default_factory=dict)  # per task: training items with its label


def check_strategy(strategy: str) -> None:
    if strategy not in STRATEGIES:
        raise HeadstartError(f"--strategy {strategy!r} has no multitask form; choose one of: {', '.join(STRATEGIES)}")


def _val_accuracies(model: MultitaskModel, val: Any, Y_val: np.ndarray, embedded: bool) -> dict[str, float]:
    probs = model.predict_tasks(val, embedded=embedded)
    out = {}
    for t, (name, p) in enumerate(probs.items()):
        mask = Y_val[:, t] >= 0
        out[name] = float(np.mean(p[mask].argmax(1) == Y_val[mask, t])) if mask.any() else float("nan")
    return out


def fit_heads(
    spec: FitSpec,
    tasks: dict[str, list[str]],
    train_items: Sequence[Any],
    Y_train: np.ndarray,
    val_items: Sequence[Any],
    Y_val: np.ndarray,
    *,
    encoder: Any,
) -> Fitted:
    """Train one shared trunk with ``len(tasks)`` heads; ``Y_*`` are ``[n, T]`` codes, -1 = missing."""
    check_strategy(spec.strategy)
    t0 = time.perf_counter()
    n_classes = [len(c) for c in tasks.values()]
    timings: dict[str, float] = {}
    fit = _fit_probe if spec.strategy == PROBE else _fit_encoder
    model, objective, val_input = fit(spec, tasks, n_classes, train_items, Y_train, val_items, Y_val, encoder, timings)
    val_acc = _val_accuracies(model, val_input, Y_val, spec.strategy == PROBE)
    model.val_accuracies = val_acc
    trainable, total = count_params(model.net)
    if spec.strategy == PROBE:
        total += sum(p.numel() for p in encoder.parameters())  # the frozen backbone is part of the model
    seconds = time.perf_counter() - t0
    n_labeled = {n: int((Y_train[:, j] >= 0).sum()) for j, n in enumerate(tasks)}
    params = {"trainable": trainable, "total": total}
    return Fitted(model, seconds, params, timings, objective.weight_history, len(Y_train), n_labeled)


# --------------------------------------------------------------------------------------------- probe
def _fit_probe(
    spec: FitSpec,
    tasks: dict[str, list[str]],
    n_classes: list[int],
    train_items: Sequence[Any],
    Y_train: np.ndarray,
    val_items: Sequence[Any],
    Y_val: np.ndarray,
    encoder: Any,
    timings: dict[str, float],
) -> tuple[MultitaskModel, MultiTaskObjective, Any]:
    """(model, objective, validation input for the model: the validation embeddings)."""
    from headstart.features import extract

    hp = {**PROBE_HPARAMS, **{k: v for k, v in spec.options.items() if k in PROBE_HPARAMS and v is not None}}
    t0 = time.perf_counter()
    emb, _ = extract(encoder, list(train_items) + list(val_items), progress=spec.progress)
    timings["embed"] = time.perf_counter() - t0
    e_tr, e_va = emb[: len(train_items)], emb[len(train_items) :]
    mean, scale = e_tr.mean(0), e_tr.std(0)
    scale = np.where(scale > 1e-6, scale, 1.0)
    torch.manual_seed(spec.seed)
    net = ProbeNet(
        emb.shape[1], n_classes, hidden=int(hp["hidden"]), dropout=float(hp["dropout"]), mean=mean, scale=scale
    )
    objective = MultiTaskObjective(net, n_classes, weighting=spec.weighting, gradients=spec.gradients)
    config = TrainConfig(
        epochs=int(hp["epochs"]),
        batch_size=int(hp["batch_size"]),
        lr=float(hp["lr"]),
        weight_decay=float(hp["weight_decay"]),
        warmup_frac=float(hp["warmup_frac"]),
        patience=int(hp["patience"]),
        seed=spec.seed,
        device="cpu",  # a few hundred kFLOPs per item: the CPU beats a GPU round trip
        amp=False,
    )
    t1 = time.perf_counter()
    with _one_torch_thread():  # measured: 0.3 s on one thread vs 12 s on two of a loaded 2-core machine
        result = _train(net, list(e_tr), Y_train, list(e_va), Y_val, _stack, config, objective, None, spec, "probe")
    timings["train"] = time.perf_counter() - t1
    model = MultitaskModel(
        net, tasks=tasks, backbone=spec.backbone, strategy=PROBE, image_size=spec.image_size,
        weights_sha256=encoder.weights_sha256, hparams=hp, encoder=encoder, history=result.history,
    )  # fmt: skip
    return model, objective, e_va


def _stack(items: Sequence[Any], training: bool) -> dict[str, torch.Tensor]:
    return {"x": torch.from_numpy(np.stack(items).astype(np.float32))}


def _train(
    net: torch.nn.Module,
    train_items: Sequence[Any],
    Y_train: np.ndarray,
    val_items: Sequence[Any],
    Y_val: np.ndarray,
    collate: Any,
    config: TrainConfig,
    objective: MultiTaskObjective,
    groups: list[dict[str, Any]] | None,
    spec: FitSpec,
    desc: str,
) -> Any:
    if groups is None:
        groups = param_groups_no_decay(list(net.named_parameters()), config.lr, config.weight_decay)
    result = train(
        net,
        train_items,
        Y_train,
        val_items,
        Y_val,
        collate,
        config,
        n_classes=objective.slices[-1].stop,
        param_groups=groups,
        progress=spec.progress,
        desc=desc,
        on_epoch_end=objective.end_epoch,
        objective=objective,
    )
    return result


# --------------------------------------------------------------------------------------------- backbone
def _fit_encoder(
    spec: FitSpec,
    tasks: dict[str, list[str]],
    n_classes: list[int],
    train_items: Sequence[Any],
    Y_train: np.ndarray,
    val_items: Sequence[Any],
    Y_val: np.ndarray,
    encoder: Any,
    timings: dict[str, float],
) -> tuple[MultitaskModel, MultiTaskObjective, Any]:
    """(model, objective, validation input for the model: the raw validation items)."""
    import copy

    from headstart.strategies import finetune as ft
    from headstart.strategies.finetune_batches import _default_flip, make_collate

    primary = Y_train[:, 0]
    helper = TransferTask(
        train_items=train_items, y_train=primary, val_items=val_items, y_val=Y_val[:, 0],
        classes=next(iter(tasks.values())), modality=spec.modality, backbone=spec.backbone, seed=spec.seed,
        image_size=spec.image_size, progress=spec.progress, options=dict(spec.options),
    )  # fmt: skip
    hp = ft._hparams(helper, spec.strategy)
    torch.manual_seed(spec.seed)
    enc = copy.deepcopy(encoder)  # every arm starts from the same pre-trained weights
    net = MultiHeadEncoder(enc, n_classes, dropout=float(hp["dropout"]), train_bn=bool(hp["train_bn"]))
    flip = bool(spec.options.get("hflip", _default_flip(train_items))) if spec.modality == "image" else False
    collate = make_collate(enc, augment=bool(hp["augment"]), flip=flip)
    t0 = time.perf_counter()
    if hp["lp_init"]:
        _init_heads(net, train_items, Y_train, n_classes, spec.seed)
    timings["head_init"] = time.perf_counter() - t0
    lora = None
    if spec.strategy == "lora":
        from peft import LoraConfig, get_peft_model

        targets = ft._lora_targets(net)
        lora = {"r": int(hp["lora_r"]), "alpha": int(hp["lora_alpha"]), "dropout": float(hp["lora_dropout"]),
                "targets": targets}  # fmt: skip
        cfg = LoraConfig(r=lora["r"], lora_alpha=lora["alpha"], lora_dropout=lora["dropout"], target_modules=targets)
        net.encoder.body = get_peft_model(net.encoder.body, cfg)
        adapters = [(n, p) for n, p in net.encoder.body.named_parameters() if p.requires_grad]
        groups = layerwise_param_groups(
            [("lora", adapters), ("head", list(net.head.named_parameters()))],
            [float(hp["lr"]), float(hp["head_lr"])],
            float(hp["weight_decay"]),
        )
    else:
        chosen = ft._top(net, hp["unfreeze"]) if spec.strategy == "partial" else None
        net.set_trainable(None if chosen is None else set(chosen))
        groups = ft._optimizer_groups(net, chosen, hp)
    groups.append({"params": [net.log_vars], "lr": float(hp["head_lr"]), "weight_decay": 0.0, "name": "log_vars"})
    objective = MultiTaskObjective(net, n_classes, weighting=spec.weighting, gradients=spec.gradients)
    t1 = time.perf_counter()
    result = _train(net, train_items, Y_train, val_items, Y_val, collate, ft._train_config(helper, hp, hp["epochs"]),
                    objective, groups, spec, f"multitask {spec.strategy}")  # fmt: skip
    timings["train"] = time.perf_counter() - t1
    hparams = {k: v for k, v in hp.items() if isinstance(v, (int, float, str, bool))}
    model = MultitaskModel(
        net.eval(), tasks=tasks, backbone=spec.backbone, strategy=spec.strategy, image_size=spec.image_size,
        weights_sha256=enc.weights_sha256, hparams=hparams, lora=lora, encoder=enc, history=result.history,
    )  # fmt: skip
    return model, objective, val_items


def _init_heads(net: MultiHeadEncoder, items: Sequence[Any], Y: np.ndarray, n_classes: list[int], seed: int) -> None:
    """LP-FT per task: each task's head rows start from a logistic regression on the frozen embeddings of the
    training items that have its label (as the single-task fine-tuning strategies do)."""
    from headstart.features import extract
    from headstart.strategies.linear_head import fit_linear_head

    emb, _ = extract(net.encoder, items, progress=False)
    for t, sl in enumerate(task_slices(n_classes)):
        mask = Y[:, t] >= 0
        if len(np.unique(Y[mask, t])) < 2:
            continue
        head = fit_linear_head(emb[mask], Y[mask, t], n_classes[t], seed=seed)
        scale = np.maximum(head.scale, np.median(head.scale))
        w = head.W / scale[None, :]
        b = np.maximum(head.b - w @ head.mean, -30.0)
        with torch.no_grad():
            net.head.weight[sl].copy_(torch.as_tensor(w, dtype=torch.float32))
            net.head.bias[sl].copy_(torch.as_tensor(b, dtype=torch.float32))


def warm_up() -> None:
    """Pay the one-time costs of a process's first training loop (lazy imports, first optimizer and autograd
    calls: ~2.5 s measured on a loaded 2-core machine) before any arm is timed, so no arm is charged them."""
    rng = np.random.default_rng(0)
    x = list(rng.normal(size=(8, 4)).astype(np.float32))
    Y = np.stack([np.arange(8) % 2, np.arange(8) % 2], axis=1).astype(np.int64)
    net = ProbeNet(4, [2, 2], hidden=4)
    objective = MultiTaskObjective(net, [2, 2])
    config = TrainConfig(epochs=1, batch_size=4, device="cpu", amp=False)
    spec = FitSpec("warm-up")
    with _one_torch_thread():
        _train(net, x, Y, x, Y, _stack, config, objective, None, spec, "warm-up")
