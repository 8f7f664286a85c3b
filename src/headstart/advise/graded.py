"""Graded measures of the shift between two feature sets, and the advisor's shift call from them.

* :func:`mmd_permutation` - unbiased squared MMD with an RBF kernel (median heuristic, Gretton et al. 2012)
  and a permutation p-value (the domain labels shuffled ``n_perm`` times on one pooled kernel matrix).
* :func:`domain_accuracy` - cross-validated accuracy of a LOW-capacity domain classifier (standardise, PCA to
  8 components, logistic regression with C = 0.01) with a Wilson 95% CI, and the proxy A-distance
  ``2 (1 - 2 err)`` computed from it. The full-capacity PAD (:func:`headstart.advise.measure.proxy_a_distance`
  with its defaults) saturates at 1.9-2.0 for any two real data sets; this one stays graded.
* :func:`shift_call` - both, and the call the advisor makes from them (table :data:`SHIFT_CALLS`):
  ``none`` when the shift is not significant (MMD permutation p >= 0.05 or the domain classifier's CI reaches
  chance), else ``small`` / ``moderate`` / ``large`` by the graded PAD against the similarity bands'
  edges (:data:`headstart.advise.measure.PAD_HIGH_BELOW`, :data:`~headstart.advise.measure.PAD_LOW_FROM`).
  Adaptation is recommended for ``moderate`` and ``large``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import stats

from headstart.advise.measure import PAD_HIGH_BELOW, PAD_LOW_FROM, domain_classifier_oof
from headstart.evaluation.mmd import mmd_test

__all__ = ["ADAPT_CALLS", "SHIFT_CALLS", "domain_accuracy", "mmd_permutation", "shift_call", "wilson_ci"]

MMD_ALPHA = 0.05
#: (call, graded PAD below which it applies), first match wins; ``none`` is decided by significance first
SHIFT_CALLS: tuple[tuple[str, float], ...] = (("small", PAD_HIGH_BELOW), ("moderate", PAD_LOW_FROM), ("large", 2.01))
#: the calls for which the advisor recommends domain adaptation
ADAPT_CALLS = frozenset({"moderate", "large"})

PAD_COMPONENTS = 8
PAD_C = 0.01


def wilson_ci(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion."""
    if n == 0:
        return 0.0, 1.0
    z = float(stats.norm.ppf(0.5 + confidence / 2))
    p = successes / n
    den = 1 + z**2 / n
    mid = (p + z**2 / (2 * n)) / den
    half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / den
    return float(mid - half), float(mid + half)


def mmd_permutation(
    source: np.ndarray, target: np.ndarray, *, n_perm: int = 200, max_samples: int = 400, seed: int = 0
) -> tuple[float, float]:
    r"""(MMD^2, permutation p-value) between two samples.

    ``MMD_u^2 = mean_{i!=j} k(x_i,x_j) + mean_{i!=j} k(y_i,y_j) - 2 mean k(x_i,y_j)`` with
    ``k(a,b) = exp(-||a-b||^2 / (2 s^2))``, ``s`` the median pairwise distance of the pooled sample, computed by
    :func:`headstart.evaluation.mmd.mmd_test` (no PCA). Each sample is subsampled to ``max_samples`` rows.
    ``p = (1 + #{perm: MMD_perm >= MMD}) / (1 + n_perm)``.
    """
    rng = np.random.default_rng(seed)
    xs = np.asarray(source, dtype=np.float64)
    xt = np.asarray(target, dtype=np.float64)
    xs = xs[rng.choice(len(xs), size=min(len(xs), max_samples), replace=False)]
    xt = xt[rng.choice(len(xt), size=min(len(xt), max_samples), replace=False)]
    res = mmd_test(xs, xt, n_perm=n_perm, seed=seed, pca_dim=None)
    return float(res["statistic"]), float(res["p_value"])


def domain_accuracy(
    source: np.ndarray,
    target: np.ndarray,
    *,
    seed: int = 0,
    n_components: int = PAD_COMPONENTS,
    C: float = PAD_C,
    max_per_domain: int = 1000,
) -> dict[str, float]:
    """Out-of-fold accuracy of a low-capacity domain classifier with its Wilson CI, and the PAD from it.

    ``accuracy`` 0.5 = indistinguishable domains; ``pad = clip(2 (1 - 2 (1 - accuracy)), 0, 2)``.
    """
    pred, d = domain_classifier_oof(target, source, seed, max_per_domain=max_per_domain, C=C, n_components=n_components)
    hits = int(np.sum(pred == d))
    acc = hits / len(d)
    lo, hi = wilson_ci(hits, len(d))
    pad = lambda a: float(np.clip(2.0 * (2.0 * a - 1.0), 0.0, 2.0))  # noqa: E731
    return {
        "domain_accuracy": acc,
        "domain_accuracy_ci": [lo, hi],
        "pad": pad(acc),
        "pad_ci": [pad(lo), pad(hi)],
        "n_per_domain": len(d) // 2,
        "n_components": n_components,
        "C": C,
    }


def shift_call(
    target: np.ndarray, source: np.ndarray, *, seed: int = 0, n_perm: int = 200, max_samples: int = 400
) -> dict[str, Any]:
    """Graded shift between target and source features: MMD + p, domain accuracy + CI, graded PAD, the call."""
    mmd, p = mmd_permutation(source, target, n_perm=n_perm, max_samples=max_samples, seed=seed)
    dom = domain_accuracy(source, target, seed=seed, max_per_domain=max_samples)
    significant = p < MMD_ALPHA and dom["domain_accuracy_ci"][0] > 0.5
    call = next(c for c, below in SHIFT_CALLS if dom["pad"] < below) if significant else "none"
    return {"mmd": mmd, "mmd_p": p, **dom, "significant": bool(significant), "call": call}
