"""The kernel two-sample test for dataset shift: unbiased MMD² with an RBF kernel (median heuristic, Gretton et
al. 2012) and a permutation p-value, all permutations in one kernel-matrix product. One implementation for the
monitor (new items vs a run's reference, :mod:`headstart.monitor.stats`) and the advisor's graded shift
measure (source vs target, :mod:`headstart.advise.graded`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["MAX_PCA_DIM", "N_PERMUTATIONS", "mmd_test", "pca_fit"]

N_PERMUTATIONS = 500
MAX_PCA_DIM = 32


def pca_fit(X: np.ndarray, dim: int = MAX_PCA_DIM) -> tuple[np.ndarray, np.ndarray]:
    """(mean, components [d, D]) of a PCA of ``X``."""
    X = np.asarray(X, dtype=np.float64)
    mu = X.mean(0)
    _, _, vt = np.linalg.svd(X - mu, full_matrices=False)
    return mu, vt[: max(1, min(dim, len(X) - 1, X.shape[1]))]


def mmd_test(
    X: np.ndarray, Y: np.ndarray, *, n_perm: int = N_PERMUTATIONS, seed: int = 0, pca_dim: int | None = MAX_PCA_DIM
) -> dict[str, Any]:
    """Unbiased MMD² with an RBF kernel (bandwidth: median pairwise distance) and a permutation p-value.

    The PCA (``pca_dim``) is fitted on the pooled sample: a projection that is a symmetric function of X and
    Y together keeps the items exchangeable under no shift, so the permutation p-value stays exact. Fitted on
    the reference alone it keeps the reference's own sampling noise in the top components, so new items from
    the same distribution look "shifted": on 384-d MiniLM embeddings of Rotten Tomatoes, 300 reference vs
    200 new items drawn from the same pool raised the alarm in 20 of 20 draws (tests/test_monitor.py).

    All permutations are evaluated at once: with indicator matrix ``A [N, P]``, the within-X kernel sums are
    ``diag(A^T K A)``, so the cost is one ``K @ A`` product.
    """
    X, Y = np.asarray(X, dtype=np.float64), np.asarray(Y, dtype=np.float64)
    if pca_dim:
        mu, comp = pca_fit(np.vstack([X, Y]), pca_dim)
        X, Y = (X - mu) @ comp.T, (Y - mu) @ comp.T
    n, m = len(X), len(Y)
    Z = np.vstack([X, Y])
    sq = (Z * Z).sum(1)
    D2 = np.maximum(sq[:, None] + sq[None, :] - 2.0 * Z @ Z.T, 0.0)
    off = D2[np.triu_indices(len(Z), 1)]
    sigma2 = float(np.median(off[off > 0])) if (off > 0).any() else 1.0
    K = np.exp(-D2 / (2.0 * sigma2))
    rng = np.random.default_rng(seed)
    A = np.zeros((n + m, n_perm + 1))
    A[:n, 0] = 1.0
    for j in range(1, n_perm + 1):
        A[rng.permutation(n + m)[:n], j] = 1.0
    B = 1.0 - A
    KA, row = K @ A, K.sum(1)
    sxx = (A * KA).sum(0) - n  # minus the n diagonal ones
    sxy = (B * KA).sum(0)
    syy = (B * (row[:, None] - KA)).sum(0) - m
    mmd2 = sxx / (n * (n - 1)) + syy / (m * (m - 1)) - 2.0 * sxy / (n * m)
    p = (1 + int((mmd2[1:] >= mmd2[0]).sum())) / (n_perm + 1)
    return {
        "test": "MMD (RBF, median heuristic, permutation)",
        "statistic": float(mmd2[0]),
        "p_value": p,
        "n_reference": n,
        "n_new": m,
        "bandwidth": float(np.sqrt(sigma2)),
        "n_permutations": n_perm,
        "pca_dim": int(X.shape[1]) if pca_dim else None,
    }
