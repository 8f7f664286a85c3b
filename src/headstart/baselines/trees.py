"""Gradient-boosted trees saved without pickle: the fitted HistGradientBoosting trees exported as plain node
arrays (npz) and evaluated by a vectorized numpy traversal that reproduces scikit-learn's raw predictions.

Why this and not the alternatives: joblib/pickle would execute code from the run folder; skl2onnx is not
installed here (and does not convert native categorical splits); refitting from saved training data on
load would copy the user's labeled rows into every run folder and depend on bit-identical refits across
scikit-learn versions. The node arrays are what the trees are: thresholds, children, leaf values and
category bitsets. :func:`export_trees` checks the traversal against scikit-learn on the training matrix.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

FIELDS = ("value", "feature_idx", "num_threshold", "missing_go_to_left", "left", "right", "is_leaf",
          "is_categorical", "bitset_idx")  # fmt: skip


@dataclass
class TreeEnsemble:
    """All trees of one boosted model; ``raw(X)`` is ``[n, n_outputs]`` (logits, or values for regression)."""

    value: np.ndarray
    feature_idx: np.ndarray
    num_threshold: np.ndarray
    missing_go_to_left: np.ndarray
    left: np.ndarray  # global node indices
    right: np.ndarray
    is_leaf: np.ndarray
    is_categorical: np.ndarray
    bitset_idx: np.ndarray
    bitsets: np.ndarray  # [n_bitsets, 8] uint32: raw category codes that go left
    roots: np.ndarray  # global index of each tree's root
    output: np.ndarray  # which output column each tree adds to
    baseline: np.ndarray  # [n_outputs]
    max_depth: int
    order: np.ndarray  # scikit-learn moves categorical columns first: input column of each tree feature
    categories: np.ndarray  # [n_categorical, max_k] known raw values per categorical feature (NaN padded)

    def _prepare(self, X: np.ndarray) -> np.ndarray:
        """scikit-learn's own preprocessing: categorical columns first, raw values -> ordinal codes."""
        Xp = np.asarray(X, dtype=np.float64)[:, self.order].copy()
        for j, cats in enumerate(self.categories):
            known = cats[~np.isnan(cats)]
            col = Xp[:, j]
            pos = np.clip(np.searchsorted(known, col), 0, max(0, len(known) - 1))
            hit = (len(known) > 0) & ~np.isnan(col) & (known[pos] == col) if len(known) else np.zeros(len(col), bool)
            Xp[:, j] = np.where(hit, pos, np.nan)  # unknown categories are treated as missing
        return Xp

    def raw(self, X: np.ndarray) -> np.ndarray:
        X = self._prepare(X)
        n = len(X)
        out = np.tile(self.baseline, (n, 1))
        if not len(self.roots) or n == 0:
            return out
        node = np.tile(self.roots, (n, 1))  # [n, T]
        rows = np.arange(n)[:, None]
        for _ in range(self.max_depth + 1):
            leaf = self.is_leaf[node]
            if leaf.all():
                break
            x = X[rows, self.feature_idx[node]]
            nan = np.isnan(x)
            go_left = np.where(nan, self.missing_go_to_left[node], x <= self.num_threshold[node])
            cat = self.is_categorical[node] & ~nan
            if cat.any():
                code = np.where(cat, x, 0).astype(np.int64)
                which = np.where(cat, self.bitset_idx[node], 0)  # numeric nodes carry no valid bitset index
                word = self.bitsets[which, np.clip(code // 32, 0, 7)]
                in_set = ((word >> (code % 32).astype(np.uint32)) & 1).astype(bool)
                go_left = np.where(cat, in_set & (code >= 0) & (code < 256), go_left)
            node = np.where(leaf, node, np.where(go_left, self.left[node], self.right[node]))
        values = self.value[node]  # [n, T]
        for k in range(out.shape[1]):
            out[:, k] += values[:, self.output == k].sum(axis=1)
        return out

    def arrays(self) -> dict[str, np.ndarray]:
        out = {f: getattr(self, f) for f in FIELDS}
        out.update(
            bitsets=self.bitsets,
            roots=self.roots,
            output=self.output,
            baseline=self.baseline,
            max_depth=np.array(self.max_depth),
            order=self.order,
            categories=self.categories,
        )
        return out

    @classmethod
    def from_arrays(cls, a: dict[str, np.ndarray]) -> TreeEnsemble:
        fields = {f: a[f] for f in FIELDS}
        for f in ("missing_go_to_left", "is_leaf", "is_categorical"):
            fields[f] = fields[f].astype(bool)
        return cls(
            **fields,
            bitsets=a["bitsets"].astype(np.uint32),
            roots=a["roots"].astype(np.int64),
            output=a["output"].astype(np.int64),
            baseline=a["baseline"].astype(np.float64),
            max_depth=int(a["max_depth"]),
            order=a["order"].astype(np.int64),
            categories=a["categories"].astype(np.float64),
        )


def export_trees(model: Any, X_check: np.ndarray | None = None) -> TreeEnsemble:
    """Node arrays of a fitted HistGradientBoosting{Classifier,Regressor}; verified on ``X_check``."""
    parts: dict[str, list[np.ndarray]] = {f: [] for f in FIELDS}
    bitsets: list[np.ndarray] = []
    roots, outputs = [], []
    offset, n_bitsets, depth = 0, 0, 0
    for iteration in model._predictors:
        for k, predictor in enumerate(iteration):
            nodes = predictor.nodes
            roots.append(offset)
            outputs.append(k)
            for f in FIELDS:
                col = np.asarray(nodes[f])
                if f in ("left", "right"):
                    col = col.astype(np.int64) + offset
                elif f == "bitset_idx":
                    col = col.astype(np.int64) + n_bitsets
                parts[f].append(col)
            raw_bits = np.asarray(predictor.raw_left_cat_bitsets, dtype=np.uint32).reshape(-1, 8)
            bitsets.append(raw_bits)
            n_bitsets += len(raw_bits)
            offset += len(nodes)
            depth = max(depth, int(np.max(nodes["depth"])))
    cat = {f: np.concatenate(v) if v else np.zeros(0) for f, v in parts.items()}
    n_features = int(model.n_features_in_)
    order, categories = np.arange(n_features), np.zeros((0, 1))
    if getattr(model, "_preprocessor", None) is not None:
        is_cat = np.asarray(model.is_categorical_, dtype=bool)
        order = np.r_[np.flatnonzero(is_cat), np.flatnonzero(~is_cat)]
        known = [
            np.asarray(c, dtype=np.float64) for c in model._preprocessor.named_transformers_["encoder"].categories_
        ]
        width = max([1, *(len(c) for c in known)])
        categories = np.full((len(known), width), np.nan)
        for j, c in enumerate(known):
            categories[j, : len(c)] = c
    ensemble = TreeEnsemble(
        value=cat["value"].astype(np.float64),
        feature_idx=cat["feature_idx"].astype(np.int64),
        num_threshold=cat["num_threshold"].astype(np.float64),
        missing_go_to_left=cat["missing_go_to_left"].astype(bool),
        left=cat["left"].astype(np.int64),
        right=cat["right"].astype(np.int64),
        is_leaf=cat["is_leaf"].astype(bool),
        is_categorical=cat["is_categorical"].astype(bool),
        bitset_idx=cat["bitset_idx"].astype(np.int64),
        bitsets=np.concatenate(bitsets) if n_bitsets else np.zeros((1, 8), np.uint32),
        roots=np.asarray(roots, dtype=np.int64),
        output=np.asarray(outputs, dtype=np.int64),
        baseline=np.asarray(model._baseline_prediction, dtype=np.float64).reshape(-1),
        max_depth=depth,
        order=order.astype(np.int64),
        categories=categories,
    )
    if X_check is not None and len(X_check):
        ours = ensemble.raw(X_check)
        theirs = np.asarray(model._raw_predict(np.asarray(X_check, dtype=np.float64)), dtype=np.float64)
        if not np.allclose(ours, theirs.reshape(ours.shape), atol=1e-6):
            raise RuntimeError("exported trees disagree with scikit-learn's predictions; please report this")
    return ensemble


def raw_to_proba(raw: np.ndarray) -> np.ndarray:
    """Binary (one logit column) -> sigmoid; multiclass -> softmax. Returns ``[n, K]`` float32."""
    if raw.shape[1] == 1:
        p1 = 1.0 / (1.0 + np.exp(-raw[:, 0]))
        return np.stack([1.0 - p1, p1], axis=1).astype(np.float32)
    z = raw - raw.max(axis=1, keepdims=True)
    e = np.exp(z)
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)
