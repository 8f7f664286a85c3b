"""Exporters for the table baselines: the gradient-boosted trees and the one-hot linear model as ONNX graphs.

The trees are saved as node arrays (:mod:`headstart.baselines.trees`), and the graph is the same traversal
written in torch ops that ONNX has (Gather, GatherElements, Where, IsNaN): scikit-learn's categorical
re-coding, then ``max_depth + 1`` unrolled steps down every tree at once, then the sigmoid or softmax (a regressor: the
sum of its leaves, ``[N, 1]`` in the target's units). Category
bitsets become a ``[n_bitsets * 256]`` membership table, so a categorical split is one Gather. All of it runs
in float64, as the numpy traversal does, so a row never takes another branch at a threshold.

Why not skl2onnx: it is not installed here, and it does not convert HistGradientBoosting's native categorical
splits. The row encoding (column kinds, category lists, medians) stays outside the graph, like tokenization:
``preprocessing.json`` carries it as data (``table.encoder``), and :func:`headstart.export.contract.prepare_inputs`
applies it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from headstart.export.plans import ExportPlan, register_exporter

__all__ = ["TreeGraph"]


def _membership(bitsets: np.ndarray) -> np.ndarray:
    """``[n_bitsets * 256]`` bool: whether raw category code ``c`` goes left at bitset ``b`` (index b*256+c)."""
    codes = np.arange(256)
    words = bitsets[:, codes // 32].astype(np.uint64)  # [n_bitsets, 256]
    return (((words >> (codes % 32).astype(np.uint64)) & 1) == 1).reshape(-1)


class TreeGraph(nn.Module):
    """``features [N, F] float64`` (the TableEncoder's tree matrix) -> class probabilities ``[N, K]`` float32,
    or for a regressor the predicted values ``[N, 1]`` float64."""

    def __init__(self, model: Any) -> None:
        super().__init__()
        t = model.trees
        self.depth = int(t.max_depth)
        self.n_categorical = len(t.categories)
        self.regression = int(model.n_classes) == 0
        self.binary = t.baseline.shape[0] == 1
        f64 = torch.float64
        self.register_buffer("order", torch.from_numpy(t.order.astype(np.int64)))
        self.register_buffer("known", torch.from_numpy(np.asarray(t.categories, dtype=np.float64)))
        self.register_buffer("feature", torch.from_numpy(t.feature_idx.astype(np.int64)))
        self.register_buffer("threshold", torch.from_numpy(t.num_threshold.astype(np.float64)))
        self.register_buffer("missing_left", torch.from_numpy(t.missing_go_to_left.astype(bool)))
        self.register_buffer("left", torch.from_numpy(t.left.astype(np.int64)))
        self.register_buffer("right", torch.from_numpy(t.right.astype(np.int64)))
        self.register_buffer("leaf", torch.from_numpy(t.is_leaf.astype(bool)))
        self.register_buffer("categorical", torch.from_numpy(t.is_categorical.astype(bool)))
        bitset = np.where(t.is_categorical, t.bitset_idx, 0).astype(np.int64)  # numeric nodes: a valid index
        self.register_buffer("bitset_row", torch.from_numpy(bitset * 256))
        self.register_buffer("member", torch.from_numpy(_membership(t.bitsets)))
        self.register_buffer("value", torch.from_numpy(t.value.astype(np.float64)))
        self.register_buffer("roots", torch.from_numpy(t.roots.astype(np.int64)))
        outputs = np.zeros((len(t.roots), t.baseline.shape[0]))
        outputs[np.arange(len(t.roots)), t.output] = 1.0
        self.register_buffer("outputs", torch.from_numpy(outputs))  # [T, K_raw]: which logit each tree adds to
        self.register_buffer("baseline", torch.from_numpy(t.baseline.astype(np.float64)))
        expand = np.zeros((len(model.present), model.n_classes))
        expand[np.arange(len(model.present)), model.present] = 1.0
        self.register_buffer("expand", torch.from_numpy(expand).to(f64))  # classes the trees saw -> all classes

    def _recoded(self, features: Tensor) -> Tensor:
        """scikit-learn's preprocessing: categorical columns first, raw codes -> ordinal positions (else NaN)."""
        x = features.index_select(1, self.order)
        if not self.n_categorical:
            return x
        cats = x[:, : self.n_categorical]
        eq = cats.unsqueeze(2) == self.known.unsqueeze(0)  # NaN padding never matches
        pos = eq.to(torch.float64).argmax(dim=2).to(torch.float64)
        nan = torch.full_like(pos, float("nan"))
        return torch.cat([torch.where(eq.any(dim=2), pos, nan), x[:, self.n_categorical :]], dim=1)

    def forward(self, features: Tensor) -> Tensor:
        x_all = self._recoded(features)
        node = self.roots.unsqueeze(0).expand(x_all.shape[0], -1)  # [N, T]
        for _ in range(self.depth + 1):  # unrolled: every tree is at a leaf after max_depth steps
            x = torch.gather(x_all, 1, self.feature[node])
            nan = torch.isnan(x)
            # and/or rather than Where on booleans, which ONNX Runtime's CPU Where does not implement
            go_left = (nan & self.missing_left[node]) | (~nan & (x <= self.threshold[node]))
            code = torch.where(nan, torch.zeros_like(x), x).clamp(0, 255).to(torch.int64)
            split_on_set = self.categorical[node] & ~nan
            go_left = (split_on_set & self.member[self.bitset_row[node] + code]) | (~split_on_set & go_left)
            node = torch.where(self.leaf[node], node, torch.where(go_left, self.left[node], self.right[node]))
        raw = self.value[node] @ self.outputs + self.baseline
        if self.regression:
            return raw
        if self.binary:
            p1 = torch.sigmoid(raw[:, :1])
            proba = torch.cat([1.0 - p1, p1], dim=1)
        else:
            proba = torch.softmax(raw, dim=1)
        return (proba @ self.expand).to(torch.float32)


class LinearGraph(nn.Module):
    """``features [N, F] float64`` (the TableEncoder's linear matrix) -> standardize, affine, softmax (a ridge
    head: the value ``[N, 1]`` float64)."""

    def __init__(self, head: Any) -> None:
        super().__init__()
        self.regression = hasattr(head, "w")  # RidgeHead: w [F], b scalar; LinearHead: W [K, F], b [K]
        W = np.atleast_2d(np.asarray(head.w if self.regression else head.W, dtype=np.float64))
        W = W / np.asarray(head.scale, dtype=np.float64)[None, :]
        b = np.atleast_1d(np.asarray(head.b, dtype=np.float64)) - W @ np.asarray(head.mean, dtype=np.float64)
        self.register_buffer("weight", torch.from_numpy(W.T.copy()))
        self.register_buffer("bias", torch.from_numpy(b))

    def forward(self, features: Tensor) -> Tensor:
        raw = features @ self.weight + self.bias
        return raw if self.regression else torch.softmax(raw, dim=1).to(torch.float32)


def _table_contract(model: Any, matrix: str) -> dict[str, Any]:
    enc = model.encoder
    n = len(enc.tree_matrix([{}])[0]) if matrix == "tree" else len(enc.linear_matrix([{}])[0])
    return {
        "modality": "tabular",
        "inputs": {"features": {"shape": ["N", n], "dtype": "float64"}},
        "table": {
            "matrix": matrix,
            "encoder": enc.to_dict(),
            "rule": (
                "categorical codes (index in encoder.categories, unknown or missing -> NaN) first, then numbers "
                "(missing -> NaN), then free-text word counts"
                if matrix == "tree"
                else "median-imputed numbers, a 0/1 missing indicator per encoder.indicators column, one-hot "
                "categories (encoder.categories order), free-text word counts"
            ),
            "rows": "typed by the run's schema (metrics.json data.table), as `headstart predict` reads a table",
        },
    }


def _reference(model: Any) -> Any:
    """The numpy model on typed rows: probabilities ``[N, K]``, or a regressor's values ``[N, 1]``."""
    if int(model.n_classes) == 0:
        return lambda items: np.asarray(model.predict(list(items)), dtype=np.float64)[:, None]
    return lambda items: model.predict_proba(list(items))


def _task(model: Any) -> dict[str, Any]:
    if int(model.n_classes) != 0:
        return {}
    return {"task": "regression", "output_dtype": "float64", "halfwidth": float(model.halfwidth)}


@register_exporter("tabular-trees")
def _plan_trees(model: Any) -> ExportPlan:
    return ExportPlan(
        module=TreeGraph(model).eval(),
        input_names=["features"],
        contract=_table_contract(model, "tree"),
        torch_proba=_reference(model),
        notes=[
            "trees exported from their node arrays; the reference is headstart's numpy traversal (float64)",
            f"{len(model.trees.roots)} trees, {int(model.trees.max_depth) + 1} unrolled steps",
        ],
        **_task(model),
    )


@register_exporter("tabular-linear")
def _plan_linear(model: Any) -> ExportPlan:
    return ExportPlan(
        module=LinearGraph(model.head).eval(),
        input_names=["features"],
        contract=_table_contract(model, "linear"),
        torch_proba=_reference(model),
        notes=["standardization folded into the linear head (float64)"],
        **_task(model),
    )
