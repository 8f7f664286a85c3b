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
from numpy.typing import ArrayLike
from scipy import stats
from sklearn.covariance import ledoit_wolf_shrinkage
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from headstart.errors import HeadstartError
from headstart.ranking.checks import IntArray, as_features, as_labels
from headstart.ranking.logme import logme

__all__ = [
    "h_score",
    "knn_cv_accuracy",
    "leep",
    "linear_probe_cv_accuracy",
    "nce",
    "rank_backbones",
    "weighted_kendall_tau",
]


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
    p = as_features(source_probs, "source_probs")
    codes = as_labels(y, p.shape[0])
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
    z = as_labels(source_labels, None, "source_labels", min_classes=1)
    codes = as_labels(y, z.shape[0])
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
    f = as_features(features)
    codes = as_labels(y, f.shape[0])
    if f.shape[0] < 2:
        raise HeadstartError("h_score needs at least 2 samples")
    f = f - f.mean(axis=0, keepdims=True)
    g = np.zeros_like(f)
    for c in range(int(codes.max()) + 1):
        mask = codes == c
        g[mask] = f[mask].mean(axis=0)
    n, d = f.shape
    g = g - g.mean(axis=0, keepdims=True)
    # cov(f) = V diag(scale * sigma^2 + shift) V^T + shift (I - V V^T) from the thin SVD f = U S V^T, so the trace
    # is computed in the N-dim span of the samples: O(N^2 D) instead of two D x D pseudo-inverses (D = 1280
    # took minutes on 2 cores). Same value as tr(pinv(cov_f, rcond=1e-15) @ cov_g).
    if shrinkage:
        a = float(ledoit_wolf_shrinkage(f, assume_centered=True))  # what LedoitWolf().fit(f) uses
        scale, shift, g_scale = (1.0 - a) / n, a * float(np.sum(f * f)) / (n * d), (1.0 - a) / (n - 1)
    else:
        scale, shift, g_scale = 1.0 / (n - 1), 0.0, 1.0 / (n - 1)
    _, sv, vt = np.linalg.svd(f, full_matrices=False)
    eig = scale * sv**2 + shift
    cutoff = 1e-15 * max(float(eig.max(initial=0.0)), shift)
    w = np.divide(1.0, eig, out=np.zeros_like(eig), where=eig > cutoff)
    proj = g @ vt.T  # [N, min(N, D)]
    inside = np.sum(proj**2, axis=0)
    rest = max(float(np.sum(g * g)) - float(inside.sum()), 0.0)
    w_rest = 1.0 / shift if shift > cutoff and d > vt.shape[0] else 0.0
    return float(g_scale * (float(inside @ w) + w_rest * rest))


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
    f = as_features(features)
    codes = as_labels(y, f.shape[0])
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
    f = as_features(features)
    codes = as_labels(y, f.shape[0])
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
    as_labels(labels)
    nan = float("nan")
    rows: list[dict[str, Any]] = []
    for name, pair in feature_sets.items():
        if not isinstance(pair, tuple) or len(pair) != 2:
            raise HeadstartError(f"feature_sets[{name!r}] must be a (features, source_probs or None) pair")
        feats, probs = pair
        f = as_features(feats, f"features of {name!r}")
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
            p = as_features(probs, f"source_probs of {name!r}")
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
