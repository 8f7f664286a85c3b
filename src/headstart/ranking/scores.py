"""Transferability estimators: score a frozen backbone on a labeled target set without fine-tuning.

Every function here is a plain NumPy/scikit-learn function of arrays (tllib style); nothing loads models.
Shapes: ``N`` target samples, ``D`` feature dimension, ``C`` target classes, ``Z`` source classes.

================================  ==================================  =========================  ==========
function                          paper                               inputs                     higher is
================================  ==================================  =========================  ==========
:func:`logme`                     You et al., ICML 2021               features [N,D], y [N]      better
:func:`leep`                      Nguyen et al., ICML 2020            source_probs [N,Z], y [N]  better (<= 0)
:func:`nce`                       Tran et al., ICCV 2019              source_labels [N], y [N]   better (<= 0)
:func:`h_score`                   Bao et al., ICIP 2019 (+ Ibrahim    features [N,D], y [N]      better
                                  et al., 2022 shrinkage)
:func:`knn_cv_accuracy`           cheap proxy                         features [N,D], y [N]      better
:func:`linear_probe_cv_accuracy`  cheap proxy (Kornblith et al. 2019) features [N,D], y [N]      better
================================  ==================================  =========================  ==========

Labels ``y`` may be any hashable values (ints, strings); they are re-coded to ``0..C-1`` with ``np.unique``.
Bad input raises :class:`headstart.errors.HeadstartError` with a one-line message.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats
from sklearn.covariance import LedoitWolf
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from headstart.errors import HeadstartError

__all__ = [
    "h_score",
    "knn_cv_accuracy",
    "leep",
    "linear_probe_cv_accuracy",
    "log_evidence",
    "logme",
    "maximize_evidence",
    "nce",
    "rank_backbones",
    "weighted_kendall_tau",
]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

# Reference constants of thuml/LogME: at most 11 fixed-point steps, stop when alpha/beta moves < tol
# (relative), and 1e-5 added to the denominators of the alpha and beta updates.
_LOGME_MAX_ITER = 11
_LOGME_TOL = 1e-3
_LOGME_EPS = 1e-5


# ----------------------------------------------------------------------------------------------------------
# input checks
# ----------------------------------------------------------------------------------------------------------
def _as_features(features: ArrayLike, name: str = "features") -> FloatArray:
    f = np.asarray(features)
    if f.ndim != 2:
        raise HeadstartError(f"{name} must be a 2-D array [N, D]; got shape {f.shape}")
    if f.shape[0] == 0 or f.shape[1] == 0:
        raise HeadstartError(f"{name} is empty (shape {f.shape}); pass at least one sample and one dimension")
    if not np.issubdtype(f.dtype, np.number) or np.issubdtype(f.dtype, np.complexfloating):
        raise HeadstartError(f"{name} must be real numbers; got dtype {f.dtype}")
    f = f.astype(np.float64, copy=False)
    if not np.all(np.isfinite(f)):
        raise HeadstartError(f"{name} contains NaN or infinite values; fix or drop those rows first")
    return f


def _as_labels(y: ArrayLike, n: int | None = None, name: str = "y", min_classes: int = 2) -> IntArray:
    arr = np.asarray(y)
    if arr.ndim != 1:
        raise HeadstartError(f"{name} must be a 1-D array of labels [N]; got shape {arr.shape}")
    if n is not None and arr.shape[0] != n:
        raise HeadstartError(f"{name} has {arr.shape[0]} labels but the features have {n} rows; they must match")
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        raise HeadstartError(f"{name} contains NaN labels; drop unlabeled rows first")
    _, codes = np.unique(arr, return_inverse=True)
    codes = codes.reshape(-1).astype(np.int64)
    n_classes = int(codes.max()) + 1 if codes.size else 0
    if n_classes < min_classes:
        raise HeadstartError(f"{name} has {n_classes} distinct class(es); need at least {min_classes}")
    return codes


# ----------------------------------------------------------------------------------------------------------
# LogME
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
    f = _as_features(features)
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
    f = _as_features(features)
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
    f = _as_features(features)
    codes = _as_labels(y, f.shape[0])
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
def leep(source_probs: ArrayLike, y: ArrayLike) -> float:
    r"""LEEP: log expected empirical prediction.

    Nguyen, Hassner, Seeger, Archambeau. "LEEP: A New Measure to Evaluate Transferability of Learned
    Representations", ICML 2020 (http://proceedings.mlr.press/v119/nguyen20b.html).

    With ``theta(x_i)`` the source head's softmax over ``Z`` source classes::

        P(y, z) = 1/N sum_{i: y_i = y} theta(x_i)_z,      P(y | z) = P(y, z) / sum_y' P(y', z)
        LEEP    = 1/N sum_i log( sum_z P(y_i | z) theta(x_i)_z )

    Shapes: source_probs [N, Z] (rows are probabilities: non-negative, sum to 1), y [N] -> float <= 0;
    0 is the maximum (the source head determines the target label).
    """
    p = _as_features(source_probs, "source_probs")
    codes = _as_labels(y, p.shape[0])
    if np.any(p < 0) or not np.allclose(p.sum(axis=1), 1.0, atol=1e-3):
        raise HeadstartError(
            "source_probs rows must be probabilities (non-negative, summing to 1); apply softmax to the logits"
        )
    n_classes = int(codes.max()) + 1
    joint = np.zeros((n_classes, p.shape[1]))
    np.add.at(joint, codes, p / p.shape[0])
    p_z = joint.sum(axis=0, keepdims=True)
    p_y_given_z = np.divide(joint, p_z, out=np.zeros_like(joint), where=p_z > 0)  # [C, Z]
    eep = p @ p_y_given_z.T  # [N, C]
    picked = eep[np.arange(p.shape[0]), codes]
    return float(np.mean(np.log(np.maximum(picked, np.finfo(np.float64).tiny))))


def nce(source_labels: ArrayLike, y: ArrayLike) -> float:
    r"""NCE: negative conditional entropy ``-H(Y | Z)`` of target labels given source labels.

    Tran, Nguyen, Hassner. "Transferability and Hardness of Supervised Classification Tasks", ICCV 2019
    (arXiv:1908.08142). With empirical joint ``P(y, z)`` of target label ``y`` and source label ``z``
    (e.g. the arg-max of a source classifier)::

        NCE = -H(Y | Z) = sum_{y,z} P(y, z) log( P(y, z) / P(z) )

    Shapes: source_labels [N], y [N] (any hashable labels) -> float <= 0; 0 when ``z`` determines ``y``.
    """
    z = _as_labels(source_labels, None, "source_labels", min_classes=1)
    codes = _as_labels(y, z.shape[0])
    joint = np.zeros((int(codes.max()) + 1, int(z.max()) + 1))
    np.add.at(joint, (codes, z), 1.0 / z.shape[0])
    p_z = joint.sum(axis=0, keepdims=True)
    nz = joint > 0
    ratio = np.divide(joint, p_z, out=np.ones_like(joint), where=nz)
    return float(np.sum(joint[nz] * np.log(ratio[nz])))


# ----------------------------------------------------------------------------------------------------------
# H-score
# ----------------------------------------------------------------------------------------------------------
def h_score(features: ArrayLike, y: ArrayLike, *, shrinkage: bool = False) -> float:
    r"""H-score: how much of the feature covariance is explained by the class-conditional means.

    Bao, Li, Huang, Zheng, Li, Zhang, Zhang. "An Information-theoretic Approach to Transferability in Task
    Transfer Learning", ICIP 2019::

        H(f) = tr( cov(f)^+  cov(E[f | y]) )

    ``shrinkage=True`` gives the regularised H-score of Ibrahim, Ponomareva, Mazumder. "Newer is not always
    better: Rethinking transferability metrics, their peculiarities, stability and performance", ECML-PKDD
    2022 (arXiv:2110.06893): ``cov(f)`` is replaced by the Ledoit-Wolf estimate
    ``cov_a(f) = (1 - a) cov(f) + a mu I`` with its shrinkage ``a``, and::

        H_a(f) = tr( cov_a(f)^+ (1 - a) cov(E[f | y]) )

    which stays stable when ``D`` approaches or exceeds ``N``. ``^+`` is the pseudo-inverse (rcond 1e-15), as
    in the reference code.

    Shapes: features [N, D], y [N] -> float (higher is better; at most ``C - 1`` without shrinkage).
    """
    f = _as_features(features)
    codes = _as_labels(y, f.shape[0])
    if f.shape[0] < 2:
        raise HeadstartError("h_score needs at least 2 samples")
    f = f - f.mean(axis=0, keepdims=True)
    g = np.zeros_like(f)
    for c in range(int(codes.max()) + 1):
        mask = codes == c
        g[mask] = f[mask].mean(axis=0)
    cov_g = np.atleast_2d(np.cov(g, rowvar=False))
    if shrinkage:
        lw = LedoitWolf(assume_centered=False).fit(f)
        a = float(lw.shrinkage_)
        cov_f = np.atleast_2d(lw.covariance_)
        cov_g = (1.0 - a) * cov_g
    else:
        cov_f = np.atleast_2d(np.cov(f, rowvar=False))
    return float(np.trace(np.linalg.pinv(cov_f, rcond=1e-15) @ cov_g))


# ----------------------------------------------------------------------------------------------------------
# cheap cross-validated proxies
# ----------------------------------------------------------------------------------------------------------
def _cv(codes: IntArray, folds: int, seed: int) -> StratifiedKFold:
    smallest = int(np.bincount(codes).min())
    if smallest < 2:
        raise HeadstartError(
            "cross-validation needs at least 2 examples of every class; "
            f"the rarest class has {smallest}: add examples or drop that class"
        )
    if folds < 2:
        raise HeadstartError(f"folds must be at least 2; got {folds}")
    return StratifiedKFold(n_splits=min(folds, smallest), shuffle=True, random_state=seed)


def knn_cv_accuracy(features: ArrayLike, y: ArrayLike, k: int = 5, folds: int = 5, seed: int = 0) -> float:
    """Stratified k-fold accuracy of a cosine k-nearest-neighbour classifier on frozen features.

    A training-free proxy: high when same-class examples are neighbours in feature space. ``folds`` is
    reduced to the size of the rarest class; ``k`` is capped by the smallest training fold.

    Shapes: features [N, D], y [N] -> float in [0, 1].
    """
    f = _as_features(features)
    codes = _as_labels(y, f.shape[0])
    if k < 1:
        raise HeadstartError(f"k must be at least 1; got {k}")
    cv = _cv(codes, folds, seed)
    k_eff = min(k, f.shape[0] - math.ceil(f.shape[0] / cv.get_n_splits()))
    clf = KNeighborsClassifier(n_neighbors=max(k_eff, 1), metric="cosine", algorithm="brute")
    return float(np.mean(cross_val_score(clf, f, codes, cv=cv, scoring="accuracy")))


def linear_probe_cv_accuracy(
    features: ArrayLike, y: ArrayLike, folds: int = 5, *, C: float = 1.0, seed: int = 0, max_iter: int = 1000
) -> float:
    """Stratified k-fold accuracy of a standardised L2 logistic regression on frozen features.

    The linear-evaluation protocol of Kornblith, Shlens, Le, "Do Better ImageNet Models Transfer Better?",
    CVPR 2019, without their per-dataset tuning of ``C``. ``folds`` is reduced to the rarest class size.

    Shapes: features [N, D], y [N] -> float in [0, 1].
    """
    f = _as_features(features)
    codes = _as_labels(y, f.shape[0])
    cv = _cv(codes, folds, seed)
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=max_iter))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return float(np.mean(cross_val_score(clf, f, codes, cv=cv, scoring="accuracy")))


# ----------------------------------------------------------------------------------------------------------
# ranking several backbones
# ----------------------------------------------------------------------------------------------------------
def rank_backbones(
    feature_sets: Mapping[str, tuple[ArrayLike, ArrayLike | None]],
    y: ArrayLike,
    *,
    proxies: bool = True,
    k: int = 5,
    folds: int = 5,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """Score every backbone on the same labeled target set and sort by LogME (best first).

    ``feature_sets`` maps a backbone name to ``(features [N, D_b], source_probs [N, Z_b] or None)``.
    Each result row::

        {"rank", "name", "n_samples", "dim", "logme", "h_score" (shrinkage), "leep", "nce",
         "knn_accuracy", "linear_probe_accuracy"}

    Scores that do not apply are ``float("nan")``: LEEP/NCE without a source head (NCE uses the arg-max of
    ``source_probs``), the two cross-validated proxies when ``proxies=False``. Rows with a NaN LogME sort
    last.
    """
    if not feature_sets:
        raise HeadstartError("rank_backbones needs at least one backbone's features")
    labels = np.asarray(y)
    _as_labels(labels)
    nan = float("nan")
    rows: list[dict[str, Any]] = []
    for name, pair in feature_sets.items():
        if not isinstance(pair, tuple) or len(pair) != 2:
            raise HeadstartError(f"feature_sets[{name!r}] must be a (features, source_probs or None) pair")
        feats, probs = pair
        f = _as_features(feats, f"features of {name!r}")
        if f.shape[0] != labels.shape[0]:
            raise HeadstartError(f"features of {name!r} have {f.shape[0]} rows but there are {labels.shape[0]} labels")
        row: dict[str, Any] = {
            "name": name,
            "n_samples": int(f.shape[0]),
            "dim": int(f.shape[1]),
            "logme": logme(f, labels),
            "h_score": h_score(f, labels, shrinkage=True),
            "leep": nan,
            "nce": nan,
            "knn_accuracy": nan,
            "linear_probe_accuracy": nan,
        }
        if probs is not None:
            p = _as_features(probs, f"source_probs of {name!r}")
            if p.shape[0] != labels.shape[0]:
                raise HeadstartError(
                    f"source_probs of {name!r} have {p.shape[0]} rows but there are {labels.shape[0]} labels"
                )
            row["leep"] = leep(p, labels)
            row["nce"] = nce(np.argmax(p, axis=1), labels)
        if proxies:
            row["knn_accuracy"] = knn_cv_accuracy(f, labels, k=k, folds=folds, seed=seed)
            row["linear_probe_accuracy"] = linear_probe_cv_accuracy(f, labels, folds=folds, seed=seed)
        rows.append(row)
    rows.sort(key=lambda r: (math.isnan(r["logme"]), -r["logme"] if not math.isnan(r["logme"]) else 0.0))
    for i, row in enumerate(rows, start=1):
        row["rank"] = i
    return rows


def weighted_kendall_tau(
    scores: Sequence[float] | Mapping[str, float] | ArrayLike,
    accuracies: Sequence[float] | Mapping[str, float] | ArrayLike,
) -> float:
    """Weighted Kendall's tau between transferability scores and measured accuracies.

    The ranking-quality measure of the LogME paper (You et al. 2021, Sec. 5): ``scipy.stats.weightedtau``
    with hyperbolic weights, so swaps among the top-ranked models cost more (Vigna, WWW 2015). If both
    arguments are mappings they are aligned by key (keys missing from either side are ignored). Pairs with a
    NaN on either side are dropped.

    Shapes: scores [M], accuracies [M] -> float in [-1, 1]; NaN if fewer than 2 usable models.
    """
    if isinstance(scores, Mapping) and isinstance(accuracies, Mapping):
        keys = [k for k in scores if k in accuracies]
        s = np.array([scores[k] for k in keys], dtype=np.float64)
        a = np.array([accuracies[k] for k in keys], dtype=np.float64)
    elif isinstance(scores, Mapping) or isinstance(accuracies, Mapping):
        raise HeadstartError("pass scores and accuracies both as mappings (by name) or both as sequences")
    else:
        s = np.asarray(scores, dtype=np.float64).reshape(-1)
        a = np.asarray(accuracies, dtype=np.float64).reshape(-1)
        if s.shape != a.shape:
            raise HeadstartError(f"scores has {s.size} values but accuracies has {a.size}; they must match")
    keep = np.isfinite(s) & np.isfinite(a)
    if int(keep.sum()) < 2:
        return float("nan")
    return float(stats.weightedtau(s[keep], a[keep]).statistic)
