"""LogME (You et al., ICML 2021): the log marginal evidence of a Bayesian linear model on frozen features,
maximized over its prior and noise precisions; matches thuml/LogME's reference implementation.

Plain NumPy functions of arrays; nothing loads models.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

from headstart.errors import HeadstartError
from headstart.ranking.checks import FloatArray, as_features, as_labels

# Reference constants of thuml/LogME: at most 11 fixed-point steps, stop when alpha/beta moves < tol
# (relative), and 1e-5 added to the denominators of the alpha and beta updates.
_LOGME_MAX_ITER = 11
_LOGME_TOL = 1e-3
_LOGME_EPS = 1e-5


# ----------------------------------------------------------------------------------------------------------
# input checks
# ----------------------------------------------------------------------------------------------------------
class _Spectrum:
    """Eigen-decomposition of the Gram matrix shared by all targets of one feature matrix.

    With ``F = U S V^T`` (thin SVD, ``r = min(N, D)`` singular values, zeros kept) we store
    ``sigma = s**2`` [r] and a projector giving ``z2 = (S U^T t)**2 = (V^T F^T t)**2`` [r] for a target
    ``t`` [N]. Every term of the evidence is a function of ``(sigma, z2, ||t||^2)`` only, so no division by a
    (possibly zero) singular value is needed and rank-deficient features are handled exactly.
    """

    def __init__(self, f: FloatArray) -> None:
        n, d = f.shape
        self.n, self.d = n, d
        self._via_small_gram = n < d
        if n >= d:  # D x D Gram: F^T F = V diag(sigma) V^T, z = V^T F^T t = (F V)^T t
            sigma, v = np.linalg.eigh(f.T @ f)
            self._proj: FloatArray = f @ v
        else:  # N x N Gram: F F^T = U diag(sigma) U^T, z = S U^T t, so z2 = sigma * (U^T t)^2
            sigma, self._proj = np.linalg.eigh(f @ f.T)
        self.sigma: FloatArray = np.clip(sigma, 0.0, None)

    def z2(self, t: FloatArray) -> FloatArray:
        z = self._proj.T @ t
        return self.sigma * z * z if self._via_small_gram else z * z


def _evidence_terms(alpha: float, beta: float, sigma: FloatArray, z2: FloatArray, t2: float) -> tuple[float, float]:
    """Return ``(||m||^2, ||F m - t||^2)`` for the posterior mean ``m`` at ``(alpha, beta)``."""
    lam = alpha / beta
    denom = (lam + sigma) ** 2
    m2 = float(np.sum(z2 / denom))
    res2 = t2 - float(np.sum(z2 * (sigma + 2.0 * lam) / denom))
    return m2, max(res2, 0.0)


def _log_evidence_from_spectrum(
    alpha: float, beta: float, sigma: FloatArray, z2: FloatArray, t2: float, n: int, d: int
) -> float:
    if math.isinf(alpha):  # limit alpha -> inf: m = 0, and D/2 log(alpha) - 1/2 log|A| -> 0 when F = 0
        return n / 2.0 * math.log(beta) - n / 2.0 * math.log(2.0 * math.pi) - beta / 2.0 * t2
    m2, res2 = _evidence_terms(alpha, beta, sigma, z2, t2)
    # log|A| with A = alpha I_D + beta F^T F: r eigenvalues alpha + beta*sigma and D - r eigenvalues alpha.
    logdet_a = float(np.sum(np.log(alpha + beta * sigma))) + (d - sigma.shape[0]) * math.log(alpha)
    return float(
        n / 2.0 * math.log(beta)
        + d / 2.0 * math.log(alpha)
        - n / 2.0 * math.log(2.0 * math.pi)
        - beta / 2.0 * res2
        - alpha / 2.0 * m2
        - 0.5 * logdet_a
    )


def _fixed_point(
    sigma: FloatArray, z2: FloatArray, t2: float, n: int, max_iter: int, tol: float
) -> tuple[float, float]:
    if not np.any(sigma > 0):
        # All-zero features carry no signal: the evidence is maximal as alpha -> inf (w pinned at 0).
        return math.inf, n / (t2 + _LOGME_EPS)
    alpha, beta = 1.0, 1.0
    for _ in range(max_iter):
        lam = alpha / beta
        gamma = float(np.sum(sigma / (sigma + lam)))
        m2, res2 = _evidence_terms(alpha, beta, sigma, z2, t2)
        alpha = gamma / (m2 + _LOGME_EPS)
        beta = (n - gamma) / (res2 + _LOGME_EPS)
        if abs(alpha / beta - lam) / lam <= tol:
            break
    return alpha, beta


def log_evidence(features: ArrayLike, target: ArrayLike, alpha: float, beta: float) -> float:
    r"""Total log evidence ``log p(t | F, alpha, beta)`` of Bayesian linear regression (no 1/N).

    Model: ``w ~ N(0, alpha^-1 I_D)``, ``t | F, w ~ N(F w, beta^-1 I_N)``. Closed form (Bishop, PRML 3.86)::

        log p = N/2 log beta + D/2 log alpha - N/2 log 2pi - beta/2 ||F m - t||^2 - alpha/2 m^T m - 1/2 log|A|
        A = alpha I + beta F^T F,   m = beta A^-1 F^T t

    evaluated through the eigen-decomposition of the Gram matrix (no D x D inverse).

    Shapes: features [N, D], target [N] (real-valued), alpha > 0, beta > 0 -> float.
    """
    f = as_features(features)
    t = np.asarray(target, dtype=np.float64).reshape(-1)
    if t.shape[0] != f.shape[0]:
        raise HeadstartError(f"target has {t.shape[0]} values but features have {f.shape[0]} rows")
    if not (alpha > 0 and beta > 0):
        raise HeadstartError(f"alpha and beta must be positive; got alpha={alpha}, beta={beta}")
    spec = _Spectrum(f)
    return _log_evidence_from_spectrum(
        float(alpha), float(beta), spec.sigma, spec.z2(t), float(t @ t), f.shape[0], f.shape[1]
    )


def maximize_evidence(
    features: ArrayLike, target: ArrayLike, *, max_iter: int = _LOGME_MAX_ITER, tol: float = _LOGME_TOL
) -> tuple[float, float, float]:
    """MacKay fixed-point evidence maximisation for one real-valued target.

    Iterates (``lam = alpha/beta``, ``sigma_i`` eigenvalues of ``F^T F``)::

        gamma = sum_i sigma_i / (sigma_i + lam)
        alpha = gamma / m^T m,   beta = (N - gamma) / ||F m - t||^2

    from ``alpha = beta = 1`` (You et al. 2021, Alg. 1 / 2110.10545 Alg. 2).

    Shapes: features [N, D], target [N] -> ``(alpha, beta, log_evidence / N)``.
    """
    f = as_features(features)
    t = np.asarray(target, dtype=np.float64).reshape(-1)
    if t.shape[0] != f.shape[0]:
        raise HeadstartError(f"target has {t.shape[0]} values but features have {f.shape[0]} rows")
    spec = _Spectrum(f)
    z2, t2 = spec.z2(t), float(t @ t)
    alpha, beta = _fixed_point(spec.sigma, z2, t2, spec.n, max_iter, tol)
    ev = _log_evidence_from_spectrum(alpha, beta, spec.sigma, z2, t2, spec.n, spec.d)
    return alpha, beta, ev / spec.n


def logme(features: ArrayLike, y: ArrayLike, *, max_iter: int = _LOGME_MAX_ITER, tol: float = _LOGME_TOL) -> float:
    r"""LogME: log of maximum evidence, averaged per sample and over classes.

    You, Liu, Wang, Long. "LogME: Practical Assessment of Pre-trained Models for Transfer Learning",
    ICML 2021 (http://proceedings.mlr.press/v139/you21b.html); fixed-point form from You et al.,
    "Ranking and Tuning Pre-trained Models: A New Paradigm of Exploiting Model Hubs", JMLR 2022
    (arXiv:2110.10545).

    For each class ``c`` the one-hot column ``t_c = [y == c]`` [N] is regressed on the features with a
    Bayesian linear model ``w ~ N(0, alpha^-1 I)``, ``t ~ N(F w, beta^-1 I)``; ``(alpha, beta)`` maximise the
    evidence (see :func:`maximize_evidence`), and::

        LogME = 1/C sum_c  max_{alpha,beta} log p(t_c | F, alpha, beta) / N

    with the closed form of :func:`log_evidence`. The spectrum of the Gram matrix is computed once and reused
    for every class, so the cost is ``O(N D min(N, D))`` plus ``O(C * min(N, D))``.

    Matches the reference implementation (thuml/LogME ``LogME.fit``, whose default is the fixed-point path;
    tllib ``log_maximum_evidence`` runs the ICML path): same start ``alpha = beta = 1``, at most
    ``max_iter = 11`` steps, relative tolerance ``1e-3`` on ``alpha/beta``, ``1e-5`` added to the update
    denominators. One deliberate difference: ``log|A|`` always counts all ``D`` eigenvalues of ``A``. thuml's
    fixed-point path keeps only ``min(N, D)`` singular values, so for ``D > N`` it omits
    ``(D - N)/2 * log(alpha)`` and overstates the evidence; here the value is the exact evidence, as in the
    ICML path. For ``N > D`` the numbers agree to about 1e-5.

    Shapes: features [N, D] (any real dtype; cast to float64), y [N] labels -> float (higher is better;
    typical range about -2 .. 2).
    """
    f = as_features(features)
    codes = as_labels(y, f.shape[0])
    spec = _Spectrum(f)
    evidences = []
    for c in range(int(codes.max()) + 1):
        t = (codes == c).astype(np.float64)
        z2, t2 = spec.z2(t), float(t @ t)
        alpha, beta = _fixed_point(spec.sigma, z2, t2, spec.n, max_iter, tol)
        evidences.append(_log_evidence_from_spectrum(alpha, beta, spec.sigma, z2, t2, spec.n, spec.d) / spec.n)
    return float(np.mean(evidences))


# ----------------------------------------------------------------------------------------------------------
# LEEP, NCE
# ----------------------------------------------------------------------------------------------------------
