"""SetFit-style contrastive fine-tuning of a text encoder's top layers, then a linear head.

SetFit (Tunstall et al. 2022) fine-tunes the whole sentence encoder on many independently sampled
sentence pairs (CosineSimilarityLoss), then fits a logistic regression on the new embeddings. This strategy
keeps the idea and removes most of the cost:

- only the top ``train_layers`` transformer layers are trained (mean pooling has no weights); the frozen
  lower layers' token states are computed ONCE per text and reused by every step and by validation;
- each step scores every pair of a class-balanced mini-batch at once (batch-all cosine-similarity loss,
  positives and negatives weighted equally, or supervised contrastive, Khosla et al. 2020), instead of one
  forward pass per sampled pair;
- the number of epochs is chosen by k-fold cross-validation over ALL labeled items (train + val; option
  ``select="cv"``, ``cv_folds=4``): each fold trains its own copy of the top layers on the cached lower states,
  the folds advance in lockstep and stop ``patience`` epochs after the pooled held-out nearest-centroid accuracy
  (tie-break: held-out pair loss) last improved. With few labels the val slice alone is tiny (6 items at 16 per
  class), so a stopping point chosen on it is close to random; pooled over the folds every labeled item is
  held out once. ``select="val"`` chooses on the val slice instead. A class with a single labeled item leaves
  nothing to hold out: then a fixed short schedule (``FALLBACK_EPOCHS``) is used;
- the encoder's own top layers are then trained on every labeled item (as SetFit does) for that many epochs,
  and the :class:`LinearHead` (C by cross-validation) is fit on their embeddings.

At prediction the lower layers run once per text (and are kept in a bounded in-memory cache shared by every
model built on the same pinned weights, so several fitted models, seeds or budgets re-score a test set by
running only their top layers). Saving writes the changed layers only, as safetensors, plus the base
backbone name and its pinned sha256 to rebuild the rest.

Works with BERT-like text encoders (``body.embeddings`` + ``body.encoder.layer``), e.g. ``minilm-l6``.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from headstart.backbones import load_backbone
from headstart.errors import HeadstartError
from headstart.strategies.base import TransferTask, register_strategy
from headstart.strategies.contrastive_model import ContrastiveModel
from headstart.strategies.contrastive_states import _layers, embed_from_states, lower_states
from headstart.strategies.contrastive_training import PAIR_LOSSES, _folds, _optimizer, _train_epoch, choose_epochs
from headstart.strategies.linear_head import fit_linear_head

DEFAULTS: dict[str, Any] = {
    "epochs": 30,  # maximum; early stopping usually ends sooner
    "patience": 6,
    "lr": 3e-4,
    "batch_size": 32,
    "train_layers": 2,
    "pair_loss": "cosine",
    "temperature": 0.1,  # supcon only
    "weight_decay": 0.01,
    "select": "cv",  # how the epoch count is chosen: "cv" (k-fold on all labeled items) or "val" (the val slice)
    "cv_folds": 4,
}
SELECT_MODES = ("cv", "val")
FALLBACK_EPOCHS = 10  # when no item can be held out (a class with a single labeled item)


def _options(task: TransferTask) -> dict[str, Any]:
    opts = {k: task.options.get(k, v) for k, v in DEFAULTS.items()}
    opts["epochs"], opts["patience"] = int(opts["epochs"]), int(opts["patience"])
    opts["batch_size"], opts["train_layers"] = int(opts["batch_size"]), int(opts["train_layers"])
    opts["cv_folds"] = int(opts["cv_folds"])
    opts["lr"], opts["temperature"] = float(opts["lr"]), float(opts["temperature"])
    if opts["pair_loss"] not in PAIR_LOSSES:
        raise HeadstartError(f"option pair_loss must be one of {', '.join(PAIR_LOSSES)}, got {opts['pair_loss']!r}")
    if opts["select"] not in SELECT_MODES:
        raise HeadstartError(f"option select must be one of {', '.join(SELECT_MODES)}, got {opts['select']!r}")
    if opts["epochs"] < 0 or opts["batch_size"] < 2 or opts["train_layers"] < 1 or opts["cv_folds"] < 2:
        raise HeadstartError(
            "contrastive options: epochs >= 0, batch_size >= 2, train_layers >= 1 and cv_folds >= 2 are required"
        )
    return opts


@register_strategy(
    "contrastive",
    "text: SetFit-style contrastive fine-tuning of the top encoder layers (frozen lower layers cached), then a "
    "linear head",
    tuple(DEFAULTS),
)
def fit_contrastive(task: TransferTask) -> ContrastiveModel:
    if task.modality != "text":
        raise HeadstartError("strategy contrastive is for text data; use linear-probe or finetune for images")
    opts = _options(task)
    t0 = time.perf_counter()
    encoder = load_backbone(task.backbone)
    n_layers = len(_layers(encoder))
    split = max(0, n_layers - opts["train_layers"])
    task.timings["load_backbone"] = time.perf_counter() - t0

    texts = [str(t) for t in task.train_items] + [str(t) for t in task.val_items]
    n_train = len(task.train_items)
    y = np.concatenate([np.asarray(task.y_train, dtype=np.int64), np.asarray(task.y_val, dtype=np.int64)])
    t1 = time.perf_counter()
    states, computed = lower_states(encoder, texts, split, progress=task.progress)
    task.timings["lower_states"] = time.perf_counter() - t1
    task.notes.setdefault("extract", []).append(
        {
            "split": "train+val lower layers",
            "n_items": len(states),
            "computed": computed,
            "cache_hits": len(states) - computed,
        }
    )

    torch.manual_seed(task.seed)
    rng = np.random.default_rng(np.random.SeedSequence([task.seed, 7]))
    for p in encoder.parameters():
        p.requires_grad_(False)
    top = _layers(encoder)[split:]
    for p in top.parameters():
        p.requires_grad_(True)

    t2 = time.perf_counter()
    folds = _folds(y, n_train, opts, task.seed) if len(np.unique(y)) > 1 else []
    if folds:
        epochs, sel_acc, history = choose_epochs(encoder, states, y, split, folds, opts, rng, progress=task.progress)
    else:  # too few items per class to hold any out: a short fixed schedule
        epochs, sel_acc, history = min(opts["epochs"], FALLBACK_EPOCHS), float("nan"), []
    task.timings["choose_epochs"] = time.perf_counter() - t2
    # refit the encoder's own top layers on every labeled item for the chosen number of epochs
    t3 = time.perf_counter()
    optim = _optimizer(top, opts)
    for _ in range(epochs):
        _train_epoch(encoder, top, optim, states, y, split, opts, rng)
    for p in encoder.parameters():
        p.requires_grad_(False)
    encoder.eval()
    task.timings["contrastive_train"] = time.perf_counter() - t3
    task.notes["contrastive"] = {
        **opts,
        "split_layer": split,
        "n_folds": len(folds),
        "best_epoch": epochs,
        "epochs_run": len(history) - 1 if history else epochs,
        "selection_accuracy": sel_acc,
    }

    t4 = time.perf_counter()
    emb = embed_from_states(encoder, states, split)
    head = fit_linear_head(
        emb,
        y,
        task.n_classes,
        seed=task.seed,
        class_weight="balanced" if task.options.get("loss") == "weighted" else None,
    )
    task.timings["fit_head"] = time.perf_counter() - t4
    val_acc = sel_acc if folds else head.cv_accuracy
    return ContrastiveModel(
        task.backbone, encoder, split, head, val_accuracy=val_acc, history=history, progress=task.progress
    )
