"""The contrastive training loop: the pair losses, class-balanced batches and the choice of the epoch count.

:func:`pair_loss` scores every pair of a mini-batch at once (SetFit's cosine-similarity loss or supervised
contrastive); :func:`choose_epochs` trains one copy of the top layers per cross-validation fold in lockstep and
stops ``patience`` epochs after the pooled held-out nearest-centroid accuracy last improved. The strategy in
:mod:`headstart.strategies.contrastive` uses these to train the encoder's own top layers.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from headstart.errors import HeadstartError
from headstart.progress import progress_bar
from headstart.strategies.contrastive_states import _layers, embed_from_states, upper_embed
from headstart.strategies.linear_head import cv_folds

PAIR_LOSSES = ("cosine", "supcon")


# ------------------------------------------------------------------------------------------------- losses


def pair_loss(z: Tensor, y: Tensor, kind: str, temperature: float) -> Tensor:
    """Loss over every pair of a batch of embeddings ``z`` with labels ``y``.

    ``cosine``: SetFit's CosineSimilarityLoss (MSE between cosine similarity and 1 for same-class, 0 for
    different-class pairs) on all pairs, positives and negatives weighted equally. ``supcon``: supervised
    contrastive loss (Khosla et al. 2020) at ``temperature``.
    """
    zn = F.normalize(z, dim=-1)
    sim = zn @ zn.T
    same = y[:, None] == y[None, :]
    off = ~torch.eye(len(y), dtype=torch.bool)
    pos, neg = same & off, ~same
    if kind == "cosine":
        err = (sim - same.to(sim.dtype)) ** 2
        terms = [err[m].mean() for m in (pos, neg) if m.any()]
        return torch.stack(terms).mean() if terms else sim.sum() * 0.0
    if kind == "supcon":
        logits = (sim / temperature).masked_fill(~off, float("-inf"))
        logp = logits - torch.logsumexp(logits, dim=1, keepdim=True)
        has = pos.any(1)
        if not has.any():
            return sim.sum() * 0.0
        per = (logp.masked_fill(~pos, 0.0).sum(1) / pos.sum(1).clamp(min=1))[has]
        return -per.mean()
    raise HeadstartError(f"contrastive pair_loss must be one of {', '.join(PAIR_LOSSES)}, got {kind!r}")


def _balanced_batches(y: np.ndarray, batch_size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """One epoch of batches: items of each class shuffled and interleaved, so each batch mixes classes."""
    per = [rng.permutation(np.flatnonzero(y == c)) for c in np.unique(y)]
    order: list[int] = []
    longest = max(len(p) for p in per)
    for i in range(longest):
        order.extend(int(p[i]) for p in per if i < len(p))
    n_batches = max(1, round(len(order) / batch_size))
    return [b for b in np.array_split(np.array(order), n_batches) if len(b) > 1]


def _centroid_accuracy(train: np.ndarray, y_train: np.ndarray, val: np.ndarray, y_val: np.ndarray) -> float:
    classes = np.unique(y_train)
    cent = np.stack([train[y_train == c].mean(0) for c in classes])
    cent /= np.linalg.norm(cent, axis=1, keepdims=True).clip(1e-12)
    vn = val / np.linalg.norm(val, axis=1, keepdims=True).clip(1e-12)
    pred = classes[(vn @ cent.T).argmax(1)]
    return float((pred == y_val).mean())


def _optimizer(top: nn.ModuleList, opts: dict[str, Any]) -> torch.optim.Optimizer:
    named = [(n, p) for n, p in top.named_parameters() if p.requires_grad]
    return torch.optim.AdamW(
        [
            {"params": [p for _, p in named if p.ndim > 1], "weight_decay": opts["weight_decay"]},
            {"params": [p for _, p in named if p.ndim <= 1], "weight_decay": 0.0},
        ],
        lr=opts["lr"],
    )


def _train_epoch(
    encoder: Any,
    top: nn.ModuleList,
    optim: torch.optim.Optimizer,
    states: Sequence[Tensor],
    y: np.ndarray,
    split: int,
    opts: dict[str, Any],
    rng: np.random.Generator,
) -> tuple[float, np.ndarray]:
    """One epoch of batch-all pair-loss steps on ``top``; returns (mean loss, the items' train-pass embeddings)."""
    top.train()
    y_t = torch.from_numpy(y)
    params = [p for p in top.parameters() if p.requires_grad]
    emb = np.zeros((len(states), encoder.embed_dim), dtype=np.float32)
    losses = []
    for b in _balanced_batches(y, opts["batch_size"], rng):
        z = upper_embed(encoder, [states[i] for i in b], split, top)
        emb[b] = z.detach().float().numpy()
        loss = pair_loss(z, y_t[b], opts["pair_loss"], opts["temperature"])
        optim.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optim.step()
        losses.append(float(loss.detach()))
    top.eval()
    return float(np.mean(losses)) if losses else float("nan"), emb


def _folds(y: np.ndarray, n_train: int, opts: dict[str, Any], seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(fit, held-out) index pairs over the labeled items (train then val) used to choose the epoch count."""
    from sklearn.model_selection import StratifiedKFold

    if opts["select"] == "val":
        return [(np.arange(n_train), np.arange(n_train, len(y)))] if len(y) > n_train else []
    k = min(opts["cv_folds"], cv_folds(y, max_folds=opts["cv_folds"]))
    if k < 2:
        return []
    cv = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    return [(tr, ho) for tr, ho in cv.split(np.zeros(len(y)), y)]


def choose_epochs(
    encoder: Any,
    states: Sequence[Tensor],
    y: np.ndarray,
    split: int,
    folds: list[tuple[np.ndarray, np.ndarray]],
    opts: dict[str, Any],
    rng: np.random.Generator,
    *,
    progress: bool = False,
) -> tuple[int, float, list[dict[str, float]]]:
    """Epoch count with the best held-out nearest-centroid accuracy (tie-break: held-out pair loss).

    Every fold trains its own copy of the top layers; the folds advance in lockstep, so the accuracy of an
    epoch is pooled over all held-out items (every labeled item once with k-fold CV) and training stops
    ``patience`` epochs after the last improvement. Returns (epochs, pooled accuracy, history).
    """
    base = _layers(encoder)[split:]
    runs = []
    for tr, ho in folds:
        top = copy.deepcopy(base)
        for p in top.parameters():
            p.requires_grad_(True)
        runs.append((tr, ho, top, _optimizer(top, opts)))

    def score(embs: list[np.ndarray]) -> tuple[float, float]:
        correct, n, vloss = 0.0, 0, []
        for (tr, ho, top, _), e_tr in zip(runs, embs, strict=True):
            e_ho = embed_from_states(encoder, [states[i] for i in ho], split, top=top)
            correct += _centroid_accuracy(e_tr, y[tr], e_ho, y[ho]) * len(ho)
            n += len(ho)
            z = torch.from_numpy(np.concatenate([e_tr, e_ho]))
            yy = torch.from_numpy(np.concatenate([y[tr], y[ho]]))
            vloss.append(float(pair_loss(z, yy, opts["pair_loss"], opts["temperature"])))
        return correct / max(n, 1), float(np.mean(vloss))

    acc, vloss = score([embed_from_states(encoder, [states[i] for i in tr], split, top=top) for tr, _, top, _ in runs])
    history = [{"epoch": 0, "train_loss": float("nan"), "val_acc": acc, "val_loss": vloss}]
    best, best_epoch, stale = (acc, -vloss), 0, 0
    for epoch in progress_bar(range(1, opts["epochs"] + 1), desc="contrastive epochs (CV)", enabled=progress):
        losses, embs = [], []
        for tr, _, top, optim in runs:
            loss, e_tr = _train_epoch(encoder, top, optim, [states[i] for i in tr], y[tr], split, opts, rng)
            losses.append(loss)
            embs.append(e_tr)
        acc, vloss = score(embs)
        history.append({"epoch": epoch, "train_loss": float(np.mean(losses)), "val_acc": acc, "val_loss": vloss})
        if (acc, -vloss) > best:
            best, best_epoch, stale = (acc, -vloss), epoch, 0
        else:
            stale += 1
            if stale >= opts["patience"]:
                break
    return best_epoch, float(best[0]), history
