"""Seeded index sampling for the studies: stratified subsamples, train/val cuts and per-class label budgets.

Every function takes the dataset's labels, an index set and an explicit ``np.random.Generator`` (from
:func:`_rng`, keyed by the run seed and the repetition), so each curve point and each fold or seed of the
variance study draws the same items on every machine.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def _rng(*key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(list(key)))


def _take(items: Any, idx: np.ndarray) -> Any:
    if isinstance(items, np.ndarray):
        return items[idx]
    return [items[i] for i in idx]


def stratified_subsample(y: np.ndarray, idx: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """``round(fraction * n_k)`` (at least 1) of each class's indices in ``idx``; nested across fractions for
    one ``rng`` state, since each class is permuted once and truncated."""
    idx = np.asarray(idx, dtype=np.int64)
    parts = []
    for k in np.unique(y[idx]):
        members = np.sort(idx[y[idx] == k])
        m = min(len(members), max(1, round(fraction * len(members))))
        parts.append(rng.permutation(members)[:m])
    return np.sort(np.concatenate(parts)) if parts else idx[:0]


def split_train_val(
    y: np.ndarray, idx: np.ndarray, val_size: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Stratified train/val inside ``idx`` (one val example per class with two or more, one train always)."""
    train, val = [], []
    for k in np.unique(y[idx]):
        members = rng.permutation(np.sort(idx[y[idx] == k]))
        n = len(members)
        n_val = 0 if n < 2 or val_size <= 0 else min(n - 1, max(1, round(val_size * n)))
        val.append(members[:n_val])
        train.append(members[n_val:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(val))


def per_class_budget(y: np.ndarray, idx: np.ndarray, k: int | None, rng: np.random.Generator) -> np.ndarray:
    """At most ``k`` examples of each class from ``idx`` (all of ``idx`` when ``k`` is None)."""
    if k is None:
        return np.sort(np.asarray(idx, dtype=np.int64))
    parts = [rng.permutation(np.sort(idx[y[idx] == c]))[:k] for c in np.unique(y[idx])]
    return np.sort(np.concatenate(parts))


def _cap_test(y: np.ndarray, idx: np.ndarray, max_test: int | None, rng: np.random.Generator) -> np.ndarray:
    if max_test is None or len(idx) <= max_test:
        return np.sort(idx)
    return stratified_subsample(y, idx, max_test / len(idx), rng)
