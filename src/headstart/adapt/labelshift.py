"""Label-shift adaptation: re-estimate the target's class priors by EM and correct the source classifier.

Saerens, Latinne, Decaestecker. "Adjusting the outputs of a classifier to new a priori probabilities: a simple
procedure", Neural Computation 2002. With source priors ``pi_s`` and a calibrated source classifier
``p_s(y|x)``, iterate on the unlabeled target rows until the priors stop moving::

    w_i(y) = p_s(y|x_i) pi_t(y) / pi_s(y)  (normalised over y)        pi_t(y) <- mean_i w_i(y)

and predict target rows with ``w(y)``. ``shrink`` pulls the estimate back towards the source priors,
``pi = (1 - shrink) pi_t + shrink pi_s`` (EM over-shoots when the classifier is over-confident). Source rows
(``sample_domain > 0``) are predicted without the correction, so scorers that read the source see the
source classifier. :func:`em_priors` is also the label-free check in :mod:`headstart.adapt.select`: an
adapted model whose predicted target class shares stray far from the EM estimate does not ship.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from skada.base import DAEstimator
from skada.utils import check_X_y_domain, extract_source_indices
from sklearn.base import clone

__all__ = ["PriorShiftClassifier", "em_priors"]


def em_priors(proba: np.ndarray, source_priors: np.ndarray, *, n_iter: int = 200, tol: float = 1e-6) -> np.ndarray:
    """Target class priors by EM (Saerens et al. 2002) from source-classifier probabilities [n, K] on the target."""
    ps = np.clip(np.asarray(source_priors, dtype=np.float64), 1e-12, None)
    pt = ps.copy()
    for _ in range(n_iter):
        w = proba * (pt / ps)
        w /= np.clip(w.sum(1, keepdims=True), 1e-12, None)
        new = w.mean(0)
        done = float(np.abs(new - pt).max()) < tol
        pt = new
        if done:
            break
    return np.asarray(pt)


class PriorShiftClassifier(DAEstimator):
    """Source classifier whose target-row probabilities are re-weighted to the EM estimate of the target priors."""

    __metadata_request__fit = {"sample_domain": True}  # noqa: RUF012
    __metadata_request__predict = {"sample_domain": True}  # noqa: RUF012
    __metadata_request__predict_proba = {"sample_domain": True}  # noqa: RUF012
    __metadata_request__score = {"sample_domain": True, "sample_weight": True}  # noqa: RUF012

    def __init__(self, base_estimator: Any = None, shrink: float = 0.0) -> None:
        self.base_estimator = base_estimator
        self.shrink = shrink

    def fit(self, X: Any, y: Any = None, sample_domain: Any = None, *, sample_weight: Any = None) -> Any:
        from sklearn.linear_model import LogisticRegression

        X, y, sample_domain = check_X_y_domain(X, y, sample_domain)
        src = extract_source_indices(sample_domain)
        base = self.base_estimator if self.base_estimator is not None else LogisticRegression(max_iter=300)
        self.estimator_ = clone(base).fit(X[src], y[src])
        self.classes_ = self.estimator_.classes_
        counts = np.array([np.sum(y[src] == c) for c in self.classes_], dtype=np.float64)
        self.source_priors_ = counts / counts.sum()
        pt = self.source_priors_
        if np.any(~src):
            pt = em_priors(self.estimator_.predict_proba(X[~src]), self.source_priors_)
        s = float(self.shrink)
        self.target_priors_ = (1 - s) * pt + s * self.source_priors_
        return self

    def predict_proba(self, X: Any, sample_domain: Any = None, *, sample_weight: Any = None, **_: Any) -> np.ndarray:
        p = np.asarray(self.estimator_.predict_proba(X), dtype=np.float64)
        target = np.ones(len(p), dtype=bool) if sample_domain is None else np.asarray(sample_domain) < 0
        w = p[target] * (self.target_priors_ / np.clip(self.source_priors_, 1e-12, None))
        p[target] = w / np.clip(w.sum(1, keepdims=True), 1e-12, None)
        return p

    def predict(self, X: Any, sample_domain: Any = None, *, sample_weight: Any = None, **_: Any) -> np.ndarray:
        return np.asarray(self.classes_[self.predict_proba(X, sample_domain).argmax(1)])

    def predict_log_proba(self, X: Any, sample_domain: Any = None, **_: Any) -> np.ndarray:
        return np.log(np.clip(self.predict_proba(X, sample_domain), 1e-12, None))

    def score(self, X: Any, y: Any, sample_domain: Any = None, *, sample_weight: Any = None, **_: Any) -> float:
        pred = self.predict(X, sample_domain)
        return float(np.average(pred == y, weights=sample_weight))
