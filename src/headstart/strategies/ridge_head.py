"""The regression counterpart of :mod:`headstart.strategies.linear_head`: ridge on standardized features with
the L2 strength chosen by k-fold cross-validated MAE, target standardized. Shared by the linear probe on
embeddings and the TF-IDF / pixel / one-hot baselines, so both sides of a regression verdict get the same
model-selection care. Saved as plain arrays (npz)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import Ridge
from sklearn.model_selection import KFold
from threadpoolctl import threadpool_limits

from headstart.evaluation.metrics import conformal_halfwidth

DEFAULT_ALPHAS = (0.01, 0.1, 1.0, 10.0, 100.0, 1000.0)


@dataclass
class RidgeHead:
    """``((x - mean) / scale) @ w + b``, in the target's original units."""

    w: np.ndarray
    b: float
    mean: np.ndarray
    scale: np.ndarray
    alpha: float
    cv_mae: float
    halfwidth: float = float("inf")  # 90% conformal half-width from the cross-validated absolute residuals

    def predict(self, X: np.ndarray) -> np.ndarray:
        return ((np.asarray(X, dtype=np.float64) - self.mean) / self.scale) @ self.w + self.b

    def arrays(self) -> dict[str, np.ndarray]:
        return {
            "w": self.w,
            "b": np.array(self.b),
            "mean": self.mean,
            "scale": self.scale,
            "alpha": np.array(self.alpha),
            "cv_mae": np.array(self.cv_mae),
            "halfwidth": np.array(self.halfwidth),
        }

    @classmethod
    def from_arrays(cls, a: dict[str, np.ndarray]) -> RidgeHead:
        hw = float(a["halfwidth"]) if "halfwidth" in a else float("inf")
        return cls(a["w"], float(a["b"]), a["mean"], a["scale"], float(a["alpha"]), float(a["cv_mae"]), hw)


def _fit(Xs: np.ndarray, y: np.ndarray, alpha: float) -> tuple[np.ndarray, float]:
    y_mean, y_scale = float(y.mean()), float(y.std()) or 1.0
    model = Ridge(alpha=alpha).fit(Xs, (y - y_mean) / y_scale)
    return model.coef_ * y_scale, float(model.intercept_) * y_scale + y_mean


def fit_ridge_head(
    X: np.ndarray, y: np.ndarray, *, seed: int = 0, alphas: tuple[float, ...] = DEFAULT_ALPHAS, max_folds: int = 5
) -> RidgeHead:
    """Fit on all of ``X, y`` after choosing alpha by k-fold CV MAE (k <= 5); ``cv_mae`` is NaN below 4 rows."""
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    mean = X.mean(axis=0)
    scale = X.std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    k = min(max_folds, len(y) // 2)
    with threadpool_limits(limits=1, user_api="blas"):
        scores: dict[float, float] = {}
        residuals: dict[float, np.ndarray] = {}
        if k >= 2:
            folds = KFold(n_splits=k, shuffle=True, random_state=seed)
            for a in alphas:
                errs = []
                for tr, va in folds.split(X):
                    m, s = X[tr].mean(axis=0), X[tr].std(axis=0)
                    s = np.where(s > 0, s, 1.0)
                    w, b = _fit((X[tr] - m) / s, y[tr], a)
                    errs.append(np.abs((X[va] - m) / s @ w + b - y[va]))
                residuals[a] = np.concatenate(errs)
                scores[a] = float(np.mean(residuals[a]))
            best = min(alphas, key=lambda a: (scores[a], abs(np.log10(a))))
            cv_mae, halfwidth = scores[best], conformal_halfwidth(residuals[best])
        else:
            best, cv_mae, halfwidth = 1.0, float("nan"), float("inf")
        w, b = _fit((X - mean) / scale, y, best)
    return RidgeHead(w, b, mean, scale, float(best), cv_mae, halfwidth)


def oof_ridge(X: np.ndarray, y: np.ndarray, alpha: float, *, seed: int = 0, max_folds: int = 5) -> np.ndarray | None:
    """Out-of-fold ridge predictions at a fixed alpha (None below 4 rows): honest inputs for a stack."""
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    k = min(max_folds, len(y) // 2)
    if k < 2:
        return None
    out = np.zeros(len(y))
    with threadpool_limits(limits=1, user_api="blas"):
        for tr, va in KFold(n_splits=k, shuffle=True, random_state=seed).split(X):
            m, s = X[tr].mean(axis=0), X[tr].std(axis=0)
            s = np.where(s > 0, s, 1.0)
            w, b = _fit((X[tr] - m) / s, y[tr], alpha)
            out[va] = (X[va] - m) / s @ w + b
    return out
