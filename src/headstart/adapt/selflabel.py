"""Self-training for unsupervised domain adaptation, as a skada-compatible DA estimator.

Round 0 fits the base classifier on the labeled source rows; each of ``n_rounds`` rounds then predicts the
target rows, keeps those whose top probability is at least ``threshold`` as pseudo-labeled examples, and refits
on source + pseudo-labeled target (the pseudo-labels are recomputed each round, never accumulated).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from skada.base import DAEstimator
from skada.utils import check_X_y_domain, extract_source_indices
from sklearn.base import clone

__all__ = ["SelfTrainingClassifier"]


class SelfTrainingClassifier(DAEstimator):
    """Confidence-thresholded pseudo-labeling on the target domain (``sample_domain < 0``)."""

    __metadata_request__fit = {"sample_domain": True}  # noqa: RUF012
    __metadata_request__predict = {"sample_domain": True}  # noqa: RUF012
    __metadata_request__predict_proba = {"sample_domain": True}  # noqa: RUF012
    __metadata_request__score = {"sample_domain": True, "sample_weight": True}  # noqa: RUF012

    def __init__(self, base_estimator: Any = None, threshold: float = 0.9, n_rounds: int = 3) -> None:
        self.base_estimator = base_estimator
        self.threshold = threshold
        self.n_rounds = n_rounds

    def fit(self, X: Any, y: Any = None, sample_domain: Any = None, *, sample_weight: Any = None) -> Any:
        from sklearn.linear_model import LogisticRegression

        X, y, sample_domain = check_X_y_domain(X, y, sample_domain)
        src = extract_source_indices(sample_domain)
        base = self.base_estimator if self.base_estimator is not None else LogisticRegression(max_iter=300)
        clf = clone(base).fit(X[src], y[src])
        Xt = X[~src]
        self.n_pseudo_ = 0
        for _ in range(int(self.n_rounds)):
            if len(Xt) == 0:
                break
            p = clf.predict_proba(Xt)
            keep = p.max(1) >= self.threshold
            self.n_pseudo_ = int(keep.sum())
            if not keep.any():
                break
            pseudo = clf.classes_[p.argmax(1)[keep]]
            clf = clone(base).fit(np.vstack([X[src], Xt[keep]]), np.r_[y[src], pseudo])
        self.estimator_ = clf
        self.classes_ = clf.classes_
        return self

    def predict(self, X: Any, sample_domain: Any = None, *, sample_weight: Any = None, **_: Any) -> np.ndarray:
        return np.asarray(self.estimator_.predict(X))

    def predict_proba(self, X: Any, sample_domain: Any = None, *, sample_weight: Any = None, **_: Any) -> np.ndarray:
        return np.asarray(self.estimator_.predict_proba(X))

    def predict_log_proba(self, X: Any, sample_domain: Any = None, **_: Any) -> np.ndarray:
        return np.asarray(self.estimator_.predict_log_proba(X))

    def score(self, X: Any, y: Any, sample_domain: Any = None, *, sample_weight: Any = None, **_: Any) -> float:
        pred = self.estimator_.predict(X)
        return float(np.average(pred == y, weights=sample_weight))
