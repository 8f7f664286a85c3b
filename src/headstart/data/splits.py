"""Seeded, stratified train/val/test splits with an optional K-labels-per-class budget."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from headstart.errors import HeadstartError

_TEST_STREAM, _POOL_STREAM, _VAL_STREAM = 0, 1, 2


@dataclass
class Splits:
    """Index arrays into one LabeledData, plus the parameters that made them."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    seed: int
    test_size: float
    val_size: float
    labels_per_class: int | None
    max_test: int | None
    n_items: int

    def sizes(self) -> dict[str, int]:
        """Number of items per split."""
        return {"train": len(self.train), "val": len(self.val), "test": len(self.test)}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (the content of splits.json)."""
        return {
            "seed": self.seed,
            "test_size": self.test_size,
            "val_size": self.val_size,
            "labels_per_class": self.labels_per_class,
            "max_test": self.max_test,
            "n_items": self.n_items,
            "sizes": self.sizes(),
            "train": [int(i) for i in self.train],
            "val": [int(i) for i in self.val],
            "test": [int(i) for i in self.test],
        }

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict for ``atomic_write_json(run / "splits.json", splits.to_json())``."""
        return self.to_dict()

    @classmethod
    def from_dict(cls, obj: dict[str, Any], *, source: str = "splits.json") -> Splits:
        """Rebuild from ``to_dict`` output, checking the indices are disjoint and in range."""
        try:
            n = int(obj["n_items"])
            arrays = {k: np.asarray(obj[k], dtype=np.int64).reshape(-1) for k in ("train", "val", "test")}
            lpc = obj.get("labels_per_class")
            mt = obj.get("max_test")
            splits = cls(
                train=arrays["train"],
                val=arrays["val"],
                test=arrays["test"],
                seed=int(obj["seed"]),
                test_size=float(obj["test_size"]),
                val_size=float(obj["val_size"]),
                labels_per_class=None if lpc is None else int(lpc),
                max_test=None if mt is None else int(mt),
                n_items=n,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise HeadstartError(f"{source}: malformed splits ({type(exc).__name__}: {exc}); regenerate it") from None
        allidx = np.concatenate([splits.train, splits.val, splits.test])
        if len(allidx) and (allidx.min() < 0 or allidx.max() >= n):
            raise HeadstartError(f"{source}: an index is outside 0..{n - 1}; regenerate the splits")
        if len(np.unique(allidx)) != len(allidx):
            raise HeadstartError(f"{source}: train/val/test overlap or repeat an index; regenerate the splits")
        return splits

    @classmethod
    def from_json(cls, obj: dict[str, Any] | str | bytes, *, source: str = "splits.json") -> Splits:
        """Rebuild from ``to_json`` output: the dict itself or its JSON text (e.g. a read splits.json)."""
        if isinstance(obj, (str, bytes)):
            try:
                obj = json.loads(obj)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise HeadstartError(f"{source}: not valid JSON ({exc}); regenerate the splits") from None
        if not isinstance(obj, dict):
            raise HeadstartError(f"{source}: expected a JSON object; regenerate the splits")
        return cls.from_dict(obj, source=source)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Splits:
        """Read a splits.json file."""
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise HeadstartError(f"{path}: cannot read splits ({exc.strerror}); check the run folder") from None
        return cls.from_json(text, source=str(path))


def _rng(seed: int, stream: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, stream]))


def _allocate(counts: np.ndarray, total: int, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Split ``total`` over classes proportionally to ``counts`` (largest remainder) within [lo, hi]."""
    n = counts.sum()
    if n == 0:
        return np.zeros_like(counts)
    quota = total * counts / n
    alloc = np.clip(np.floor(quota).astype(np.int64), lo, hi)
    remainder = quota - np.floor(quota)
    order_up = np.argsort(-remainder, kind="stable")
    order_down = np.argsort(remainder, kind="stable")
    while alloc.sum() < total:
        grown = False
        for k in order_up:
            if alloc.sum() >= total:
                break
            if alloc[k] < hi[k]:
                alloc[k] += 1
                grown = True
        if not grown:
            break
    while alloc.sum() > total:
        shrunk = False
        for k in order_down:
            if alloc.sum() <= total:
                break
            if alloc[k] > lo[k]:
                alloc[k] -= 1
                shrunk = True
        if not shrunk:
            break
    return alloc


def _class_name(classes: Sequence[str] | None, code: int) -> str:
    if classes is not None and 0 <= code < len(classes):
        return repr(classes[code])
    return str(code)


def make_splits(
    y: Sequence[int] | np.ndarray,
    *,
    seed: int,
    test_size: float = 0.2,
    val_size: float = 0.2,
    labels_per_class: int | None = None,
    max_test: int | None = None,
    classes: Sequence[str] | None = None,
) -> Splits:
    """Stratified splits: test first (depends only on y, seed, test_size, max_test), then the labeled pool.

    With ``labels_per_class=K`` K items per class are drawn from the pool (nested: the K=5 set is inside the
    K=10 set for one seed); the labeled set is then split into train/val stratified by ``val_size``, keeping
    at least one item per class in val and in train when the class has two or more. ``max_test`` caps the
    test set (still stratified, at least one per class). ``classes`` only names classes in error messages.
    """
    codes = np.asarray(y, dtype=np.int64).reshape(-1)
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise HeadstartError(f"seed must be a non-negative integer, got {seed!r}; pass e.g. --seed 0")
    if not 0.0 < test_size < 1.0:
        raise HeadstartError(f"test_size must be between 0 and 1 (exclusive), got {test_size}")
    if not 0.0 <= val_size < 1.0:
        raise HeadstartError(f"val_size must be in [0, 1), got {val_size}")
    if labels_per_class is not None and labels_per_class < 1:
        raise HeadstartError(f"labels_per_class must be at least 1, got {labels_per_class}")
    if max_test is not None and max_test < 1:
        raise HeadstartError(f"max_test must be at least 1, got {max_test}")
    n = len(codes)
    if n == 0:
        raise HeadstartError("cannot split an empty dataset; add labeled examples")
    if codes.min() < 0:
        raise HeadstartError("labels must be non-negative class codes")
    n_classes = int(codes.max()) + 1
    counts = np.bincount(codes, minlength=n_classes)
    present = counts > 0
    members = [np.flatnonzero(codes == k) for k in range(n_classes)]

    # 1) test set: seeded per-class permutation, proportional allocation, optional cap.
    target = round(test_size * n)
    if max_test is not None:
        target = min(target, max_test)
    lo = np.where(counts >= 2, 1, 0)
    hi = np.where(counts >= 3, counts - 2, np.maximum(counts - 1, 0))
    n_test = _allocate(counts, target, lo, hi)
    rng = _rng(int(seed), _TEST_STREAM)
    test_parts, pool = [], []
    for k in range(n_classes):
        if not present[k]:
            pool.append(members[k])
            continue
        perm = rng.permutation(members[k])
        test_parts.append(perm[: n_test[k]])
        pool.append(perm[n_test[k] :])

    # 2) labeled set: a seeded per-class order of the pool, truncated to K (so sets are nested in K).
    if labels_per_class is not None:
        pool_counts = np.array([len(p) if present[k] else np.iinfo(np.int64).max for k, p in enumerate(pool)])
        k_min = int(np.argmin(pool_counts))
        if pool_counts[k_min] < labels_per_class:
            have = int(pool_counts[k_min])
            raise HeadstartError(
                f"class {_class_name(classes, k_min)} has only {have} examples left for training after "
                f"holding out the test set ({counts[k_min]} in all); use labels_per_class <= {have} "
                "or add examples"
            )
    rng = _rng(int(seed), _POOL_STREAM)
    labeled = []
    for k in range(n_classes):
        ordered = rng.permutation(np.sort(pool[k])) if len(pool[k]) else pool[k]
        if labels_per_class is not None:
            ordered = ordered[:labels_per_class]
        labeled.append(ordered)

    # 3) train/val inside the labeled set.
    lab_counts = np.array([len(p) for p in labeled], dtype=np.int64)
    if val_size > 0:
        lo_v = np.where(lab_counts >= 2, 1, 0)
        hi_v = np.maximum(lab_counts - 1, 0)
        n_val = _allocate(lab_counts, round(val_size * lab_counts.sum()), lo_v, hi_v)
    else:
        n_val = np.zeros_like(lab_counts)
    rng = _rng(int(seed), _VAL_STREAM)
    train_parts, val_parts = [], []
    for k in range(n_classes):
        perm = rng.permutation(labeled[k]) if len(labeled[k]) else labeled[k]
        val_parts.append(perm[: n_val[k]])
        train_parts.append(perm[n_val[k] :])

    def _cat(parts: list[np.ndarray]) -> np.ndarray:
        return np.sort(np.concatenate(parts).astype(np.int64)) if parts else np.zeros(0, np.int64)

    return Splits(
        train=_cat(train_parts),
        val=_cat(val_parts),
        test=_cat(test_parts),
        seed=int(seed),
        test_size=float(test_size),
        val_size=float(val_size),
        labels_per_class=labels_per_class,
        max_test=max_test,
        n_items=n,
    )
