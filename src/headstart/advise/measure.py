"""Measurements for the data-aware advisor: domain distance between feature sets, and local compute.

Pure functions of arrays (plus :func:`compute_profile`, which reads the machine):

* :func:`proxy_a_distance` - Ben-David et al.'s proxy A-distance from a domain classifier's error.
* :func:`mmd_rbf` - unbiased squared maximum mean discrepancy with a Gaussian kernel.
* :func:`similarity_band` - PAD -> ``"high" | "medium" | "low"`` for :func:`headstart.advise.advise`.
* :func:`compute_profile` / :func:`compute_band` - what hardware is here -> ``"cpu" | "single-gpu" |
  "multi-gpu"``.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.spatial.distance import cdist, pdist
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from headstart.errors import HeadstartError

__all__ = [
    "PAD_HIGH_BELOW",
    "PAD_LOW_FROM",
    "compute_band",
    "compute_profile",
    "domain_classifier_oof",
    "mmd_rbf",
    "proxy_a_distance",
    "similarity_band",
]

FloatArray = NDArray[np.float64]

#: PAD below this -> "high" similarity: the domain classifier errs on more than 37.5% of examples.
PAD_HIGH_BELOW = 0.5
#: PAD at or above this -> "low" similarity: the domain classifier errs on fewer than 12.5% of examples.
PAD_LOW_FROM = 1.5


def _pair(a: ArrayLike, b: ArrayLike, names: tuple[str, str], min_rows: int) -> tuple[FloatArray, FloatArray]:
    out: list[FloatArray] = []
    for arr, name in zip((a, b), names, strict=True):
        x = np.asarray(arr)
        if x.ndim != 2:
            raise HeadstartError(f"{name} must be a 2-D array [N, D]; got shape {x.shape}")
        if not np.issubdtype(x.dtype, np.number):
            raise HeadstartError(f"{name} must be numeric; got dtype {x.dtype}")
        x = x.astype(np.float64, copy=False)
        if not np.all(np.isfinite(x)):
            raise HeadstartError(f"{name} contains NaN or infinite values; fix or drop those rows first")
        if x.shape[0] < min_rows:
            raise HeadstartError(f"{name} has {x.shape[0]} rows; need at least {min_rows}")
        out.append(x)
    if out[0].shape[1] != out[1].shape[1]:
        raise HeadstartError(
            f"{names[0]} has {out[0].shape[1]} columns but {names[1]} has {out[1].shape[1]}; "
            "extract both with the same backbone"
        )
    return out[0], out[1]


def _subsample(x: FloatArray, n: int, rng: np.random.Generator) -> FloatArray:
    return x if x.shape[0] == n else x[rng.choice(x.shape[0], size=n, replace=False)]


def domain_classifier_oof(
    target_feats: ArrayLike,
    source_feats: ArrayLike,
    seed: int = 0,
    *,
    folds: int = 5,
    max_per_domain: int = 2000,
    C: float = 1.0,
    n_components: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Out-of-fold predictions ``(pred, domain)`` of a classifier telling target (0) from source (1).

    Both domains are subsampled (without replacement, ``seed``) to ``n = min(N_t, N_s, max_per_domain)``
    so chance accuracy is 0.5. The classifier is standardisation (+ PCA to ``n_components`` when given, fitted
    inside each fold) + L2 logistic regression (``C``): a lower ``C`` and fewer components give a lower-capacity
    classifier whose error stays graded instead of saturating at 0 for any two real data sets.
    """
    if folds < 2:
        raise HeadstartError(f"folds must be at least 2; got {folds}")
    t, s = _pair(target_feats, source_feats, ("target_feats", "source_feats"), folds)
    rng = np.random.default_rng(seed)
    n = min(t.shape[0], s.shape[0], max_per_domain)
    x = np.vstack([_subsample(t, n, rng), _subsample(s, n, rng)])
    d = np.r_[np.zeros(n, dtype=np.int64), np.ones(n, dtype=np.int64)]
    steps: list[Any] = [StandardScaler()]
    if n_components is not None:
        from sklearn.decomposition import PCA

        steps.append(
            PCA(n_components=min(n_components, x.shape[1], x.shape[0] // 2), svd_solver="randomized", random_state=seed)
        )
    clf = make_pipeline(*steps, LogisticRegression(C=C, max_iter=2000))
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        pred = cross_val_predict(clf, x, d, cv=cv)
    return np.asarray(pred), d


def proxy_a_distance(
    target_feats: ArrayLike,
    source_feats: ArrayLike,
    seed: int = 0,
    *,
    folds: int = 5,
    max_per_domain: int = 2000,
    C: float = 1.0,
    n_components: int | None = None,
) -> float:
    r"""Proxy A-distance between two samples of features.

    Ben-David, Blitzer, Crammer, Pereira. "Analysis of Representations for Domain Adaptation", NeurIPS 2006;
    Ben-David et al. "A theory of learning from different domains", Machine Learning 2010::

        PAD = 2 (1 - 2 err)

    where ``err`` is the cross-validated error of a classifier telling target from source examples
    (:func:`domain_classifier_oof`: balanced subsamples, standardisation, optional PCA to ``n_components``,
    L2 logistic regression with ``C``, ``folds``-fold out-of-fold error). The result is clipped to ``[0, 2]``:
    0 = indistinguishable domains, 2 = perfectly separable. With the defaults (full dimension, ``C = 1``) any
    two different real data sets reach 1.9-2.0; :mod:`headstart.adapt.shift` uses ``n_components=8,
    C=0.01`` for a graded value.

    Shapes: target_feats [N_t, D], source_feats [N_s, D] -> float in [0, 2].
    """
    pred, d = domain_classifier_oof(
        target_feats, source_feats, seed, folds=folds, max_per_domain=max_per_domain, C=C, n_components=n_components
    )
    err = float(np.mean(pred != d))
    return float(np.clip(2.0 * (1.0 - 2.0 * err), 0.0, 2.0))


def mmd_rbf(X: ArrayLike, Y: ArrayLike, *, max_samples: int = 1000, seed: int = 0) -> float:
    r"""Unbiased squared maximum mean discrepancy with a Gaussian (RBF) kernel.

    Gretton, Borgwardt, Rasch, Schoelkopf, Smola. "A Kernel Two-Sample Test", JMLR 2012, Eq. (3)::

        MMD_u^2 = 1/(m(m-1)) sum_{i!=j} k(x_i, x_j) + 1/(n(n-1)) sum_{i!=j} k(y_i, y_j)
                  - 2/(mn) sum_{i,j} k(x_i, y_j)
        k(a, b) = exp(-||a - b||^2 / (2 s^2)),  s = median pairwise distance of the pooled sample

    (median heuristic; ``s = 1`` if the median is 0). Each sample is subsampled to ``max_samples`` rows
    (``seed``) to bound the O((m+n)^2) cost. Unbiased, so it can be slightly negative for equal
    distributions; larger means more different.

    Shapes: X [m, D], Y [n, D] -> float.
    """
    x, y = _pair(X, Y, ("X", "Y"), 2)
    rng = np.random.default_rng(seed)
    x = _subsample(x, min(x.shape[0], max_samples), rng)
    y = _subsample(y, min(y.shape[0], max_samples), rng)
    m, n = x.shape[0], y.shape[0]
    med = float(np.median(pdist(np.vstack([x, y]))))
    gamma = 1.0 / (2.0 * (med**2 if med > 0 else 1.0))
    kxx = np.exp(-gamma * cdist(x, x, "sqeuclidean"))
    kyy = np.exp(-gamma * cdist(y, y, "sqeuclidean"))
    kxy = np.exp(-gamma * cdist(x, y, "sqeuclidean"))
    term_x = (kxx.sum() - np.trace(kxx)) / (m * (m - 1))
    term_y = (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
    return float(term_x + term_y - 2.0 * kxy.mean())


def similarity_band(pad: float) -> str:
    """Map a proxy A-distance to the advisor's similarity: ``"high" | "medium" | "low"``.

    Thresholds (in domain-classifier error terms, ``err = (1 - PAD/2) / 2``)::

        PAD <  0.5          -> "high"    err > 37.5%: the domains are hard to tell apart
        0.5 <= PAD < 1.5    -> "medium"  12.5% < err <= 37.5%
        PAD >= 1.5          -> "low"     err <= 12.5%: a linear classifier separates them easily

    The PAD is relative to the features used (a linear domain classifier on a backbone's embeddings), so
    compare values measured with the same backbone and sample sizes. Measured on sklearn digits: two random
    halves of the same data set give about 0; digits vs. MNIST resized to 8x8 about 1.9.
    """
    try:
        value = float(pad)
    except (TypeError, ValueError) as exc:
        raise HeadstartError(f"pad must be a number in [0, 2]; got {pad!r}") from exc
    if not np.isfinite(value) or value < 0.0 or value > 2.0:
        raise HeadstartError(f"pad must be a number in [0, 2]; got {pad!r}")
    if value < PAD_HIGH_BELOW:
        return "high"
    if value < PAD_LOW_FROM:
        return "medium"
    return "low"


def _ram_gb() -> float | None:
    try:
        return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (AttributeError, ValueError, OSError):
        return None


def _cpu_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def compute_profile() -> dict[str, Any]:
    """Describe this machine's compute.

    Returns ``{"cpu_cores": int, "ram_gb": float | None, "cuda_available": bool, "gpu_count": int,
    "gpus": [{"index", "name", "memory_gb"}], "mps_available": bool, "torch_version": str | None}``.
    CUDA and Apple MPS are queried through torch when it is importable; without torch both are reported
    absent.
    """
    profile: dict[str, Any] = {
        "cpu_cores": _cpu_cores(),
        "ram_gb": _ram_gb(),
        "cuda_available": False,
        "gpu_count": 0,
        "gpus": [],
        "mps_available": False,
        "torch_version": None,
    }
    try:
        import torch
    except ImportError:
        return profile
    profile["torch_version"] = str(torch.__version__)
    if torch.cuda.is_available():
        gpus = []
        for i in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(i)
            gpus.append({"index": i, "name": str(props.name), "memory_gb": round(props.total_memory / 2**30, 1)})
        profile.update(cuda_available=True, gpu_count=len(gpus), gpus=gpus)
    mps = getattr(torch.backends, "mps", None)
    profile["mps_available"] = bool(mps is not None and mps.is_available())
    return profile


def compute_band(profile: Mapping[str, Any]) -> str:
    """Map :func:`compute_profile` output to ``"cpu" | "single-gpu" | "multi-gpu"``.

    Two or more CUDA devices -> ``"multi-gpu"``; one CUDA device, or Apple MPS -> ``"single-gpu"``;
    otherwise ``"cpu"``.
    """
    if not isinstance(profile, Mapping):
        raise HeadstartError("compute_band expects the dict returned by compute_profile()")
    count = int(profile.get("gpu_count", 0) or 0)
    if count >= 2:
        return "multi-gpu"
    if count == 1 or bool(profile.get("mps_available", False)):
        return "single-gpu"
    return "cpu"
