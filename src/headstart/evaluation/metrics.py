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


def regression_summary(y_true: np.ndarray, pred: np.ndarray) -> dict[str, Any]:
    """MAE, RMSE, R², Spearman rank correlation and the error quantiles of a regression on the test items."""
    from scipy.stats import spearmanr

    y = np.asarray(y_true, dtype=np.float64)
    p = np.asarray(pred, dtype=np.float64)
    err = p - y
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    rho = spearmanr(y, p).statistic if len(y) > 1 and np.ptp(p) > 0 and np.ptp(y) > 0 else float("nan")
    return {
        "mae": float(np.mean(np.abs(err))),
        "rmse": float(np.sqrt(np.mean(err**2))),
        "r2": float(1.0 - np.sum(err**2) / ss_tot) if ss_tot > 0 else float("nan"),
        "spearman": float(rho),
        "median_abs_error": float(np.median(np.abs(err))),
        "n": len(y),
    }


def conformal_halfwidth(abs_residuals: np.ndarray, coverage: float = 0.9) -> float:
    """Split-conformal half-width: the ceil((n+1)·coverage)-th smallest held-out absolute residual, so
    ``prediction ± halfwidth`` covers a new target with probability >= ``coverage`` (exchangeable data).
    Infinite when there are too few residuals for that coverage."""
    r = np.sort(np.abs(np.asarray(abs_residuals, dtype=np.float64)))
    k = int(np.ceil((len(r) + 1) * coverage))
    return float(r[k - 1]) if 1 <= k <= len(r) else float("inf")


def interval_coverage(y_true: np.ndarray, pred: np.ndarray, halfwidth: float) -> float:
    """Share of targets inside ``pred ± halfwidth``."""
    return float(np.mean(np.abs(np.asarray(y_true, float) - np.asarray(pred, float)) <= halfwidth))
