"""Plain metric functions of arrays (scikit-learn style)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    confusion_matrix,
    f1_score,
    log_loss,
    precision_recall_fscore_support,
)


def expected_calibration_error(y_true: np.ndarray, proba: np.ndarray, n_bins: int = 10) -> dict[str, Any]:
    """Expected calibration error of the top-label confidence (Guo et al., 2017), with the reliability bins.

    Returns ``{"ece": float, "bins": [{"lo", "hi", "count", "confidence", "accuracy"}]}``.
    """
    conf = proba.max(axis=1)
    correct = proba.argmax(axis=1) == y_true
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    bins = []
    ece = 0.0
    for lo, hi in itertools.pairwise(edges):
        mask = (conf > lo) & (conf <= hi) if lo > 0 else (conf >= lo) & (conf <= hi)
        count = int(mask.sum())
        if count:
            c, a = float(conf[mask].mean()), float(correct[mask].mean())
            ece += count / len(conf) * abs(c - a)
        else:
            c, a = float("nan"), float("nan")
        bins.append({"lo": float(lo), "hi": float(hi), "count": count, "confidence": c, "accuracy": a})
    return {"ece": float(ece), "bins": bins}


def classification_summary(y_true: np.ndarray, proba: np.ndarray, classes: Sequence[str]) -> dict[str, Any]:
    """Accuracy, macro-F1, balanced accuracy, log-loss, per-class P/R/F1/support, confusion matrix, ECE."""
    y_true = np.asarray(y_true)
    labels = np.arange(len(classes))
    y_pred = proba.argmax(axis=1)
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    clipped = np.clip(proba, 1e-12, 1.0)
    calib = expected_calibration_error(y_true, proba)
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)),
        "balanced_accuracy": float(balanced_accuracy_score(y_true, y_pred)),
        "log_loss": float(log_loss(y_true, clipped / clipped.sum(1, keepdims=True), labels=labels)),
        "ece": calib["ece"],
        "reliability": calib["bins"],
        "per_class": {
            str(c): {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])}
            for i, c in enumerate(classes)
        },
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
    }
