"""A softmax linear head on standardized features, with L2 strength chosen by stratified cross-validation.

Shared by the linear probe (frozen embeddings) and the pixel / table baselines so that both sides of a
verdict get the same model-selection care.

C is chosen by the mean held-out **log-loss** of the folds, not their accuracy: with a few hundred labels a
fold's accuracy moves in steps of one item, so two C values often tie or swap on noise, and a tiny change of the
embeddings (bf16 instead of fp32) flipped C in 12 of 120 draws on Rotten Tomatoes and spam (100-400 labels,
items outside the benchmark test sets), changing up to 12% of the probe's labels. Log-loss is continuous: 0 of
120 flips, the least agreement 99.6%, and held-out accuracy equal or higher in all six cells (+0.0 to +0.8
points); see ``benchmarks/results/c_rule.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.model_selection import StratifiedKFold
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from headstart.artifacts import read_npz
from headstart.errors import HeadstartError

DEFAULT_CS = (1e-3, 1e-2, 1e-1, 1.0, 10.0)
SELECTION = "cv-log-loss"  # how C is chosen; part of the head cache's key


def softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise softmax of scores ``[N, K]``, as float32 probabilities."""
    z = np.array(z, dtype=np.float64)
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


@dataclass
class LinearHead:
    """``softmax(((x - mean) / scale) @ W.T + b)``; W ``[K, D]``, b ``[K]``, mean/scale ``[D]``."""

    W: np.ndarray
    b: np.ndarray
    mean: np.ndarray
    scale: np.ndarray
    C: float
    cv_accuracy: float

    def logits(self, X: np.ndarray) -> np.ndarray:
        return ((X - self.mean) / self.scale) @ self.W.T + self.b

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return softmax(self.logits(np.asarray(X, dtype=np.float64)))

    def arrays(self) -> dict[str, np.ndarray]:
        return {
            "W": self.W,
            "b": self.b,
            "mean": self.mean,
            "scale": self.scale,
            "C": np.array(self.C),
            "cv_accuracy": np.array(self.cv_accuracy),
        }

    @classmethod
    def from_arrays(cls, a: dict[str, np.ndarray]) -> LinearHead:
        return cls(a["W"], a["b"], a["mean"], a["scale"], float(a["C"]), float(a["cv_accuracy"]))

    @classmethod
    def read(cls, path: Path) -> LinearHead:
        """The head saved with ``atomic_write_npz(path, **head.arrays())``; one line naming the file when it is
        truncated, incomplete or of inconsistent shapes."""
        a = read_npz(path, ("W", "b", "mean", "scale", "C", "cv_accuracy"))
        W, b, mean, scale = a["W"], a["b"], a["mean"], a["scale"]
        if W.ndim != 2 or b.shape != (W.shape[0],) or mean.shape != (W.shape[1],) or scale.shape != mean.shape:
            raise HeadstartError(
                f"{path}: inconsistent head shapes (W {W.shape}, b {b.shape}, mean {mean.shape}); "
                "the file is damaged, re-run `headstart fit`"
            )
        return cls.from_arrays(a)


def cv_folds(y: np.ndarray, max_folds: int = 5) -> int:
    counts = np.bincount(y)
    counts = counts[counts > 0]
    return int(min(max_folds, counts.min())) if len(counts) else 0


def fit_linear_head(
    X: np.ndarray,
    y: np.ndarray,
    n_classes: int,
    *,
    seed: int = 0,
    Cs: tuple[float, ...] = DEFAULT_CS,
    class_weight: str | None = None,
    max_iter: int = 2000,
) -> LinearHead:
    """Fit on all of ``X, y`` after choosing C by stratified k-fold CV log-loss (k <= 5); ``cv_accuracy`` is the
    chosen C's mean fold accuracy.

    BLAS runs single-threaded here: these problems are small, and multi-threaded OpenBLAS next to torch's
    spinning OpenMP workers was measured 10-60x slower on 2 cores.
    """
    with threadpool_limits(limits=1, user_api="blas"):
        return _fit_linear_head(X, y, n_classes, seed=seed, Cs=Cs, class_weight=class_weight, max_iter=max_iter)


def _cv_path(
    X: np.ndarray,
    y: np.ndarray,
    k: int,
    *,
    seed: int,
    Cs: tuple[float, ...],
    class_weight: str | None,
    max_iter: int,
) -> tuple[dict[float, float], dict[float, float]]:
    """Mean held-out log-loss and accuracy per C over stratified k folds, the scaler fitted on each training fold.

    Within a fold the C values run from the strongest regularisation up, each fit warm-started from the last
    one's weights (as :class:`~sklearn.linear_model.LogisticRegressionCV` walks its path): the problem is convex,
    so it reaches the same optimum as a cold start, in far fewer L-BFGS iterations for the weakly regularised C.
    """
    losses: dict[float, list[float]] = {C: [] for C in Cs}
    accs: dict[float, list[float]] = {C: [] for C in Cs}
    for tr, va in StratifiedKFold(n_splits=k, shuffle=True, random_state=seed).split(X, y):
        scaler = StandardScaler().fit(X[tr])
        Xtr, Xva = scaler.transform(X[tr]), scaler.transform(X[va])
        lr = LogisticRegression(max_iter=max_iter, class_weight=class_weight, warm_start=True)
        for C in sorted(Cs):
            lr.set_params(C=C).fit(Xtr, y[tr])
            p = lr.predict_proba(Xva)
            losses[C].append(float(log_loss(y[va], p, labels=lr.classes_)))
            accs[C].append(float(np.mean(lr.classes_[p.argmax(1)] == y[va])))
    return {C: float(np.mean(v)) for C, v in losses.items()}, {C: float(np.mean(v)) for C, v in accs.items()}


def _fit_linear_head(
    X: np.ndarray,
    y: np.ndarray,
    n_classes: int,
    *,
    seed: int,
    Cs: tuple[float, ...],
    class_weight: str | None,
    max_iter: int,
) -> LinearHead:
    X = np.asarray(X, dtype=np.float64)
    k = cv_folds(y)
    if k >= 2 and len(Cs) > 1:
        loss, accuracy = _cv_path(X, y, k, seed=seed, Cs=Cs, class_weight=class_weight, max_iter=max_iter)
        best_C = min(Cs, key=lambda c: (loss[c], abs(np.log10(c))))
        cv_acc = accuracy[best_C]
    else:
        best_C, cv_acc = 1.0, float("nan")
    scaler = StandardScaler().fit(X)
    Xs = scaler.transform(X)
    lr = LogisticRegression(C=best_C, max_iter=max_iter, class_weight=class_weight).fit(Xs, y)
    W = np.zeros((n_classes, X.shape[1]))
    b = np.zeros(n_classes)
    if lr.coef_.shape[0] == 1:  # binary: sklearn stores one row for classes_[1]
        W[lr.classes_[1]], b[lr.classes_[1]] = lr.coef_[0], lr.intercept_[0]
    else:
        W[lr.classes_], b[lr.classes_] = lr.coef_, lr.intercept_
        missing = np.setdiff1d(np.arange(n_classes), lr.classes_)
        b[missing] = -1e9  # a class absent from training is never predicted
    scale = np.where(scaler.scale_ > 0, scaler.scale_, 1.0)
    return LinearHead(W, b, scaler.mean_.copy(), scale, float(best_C), cv_acc)
