"""Two-sample tests for dataset shift, written with numpy/scipy.

The design follows "Failing Loudly: An Empirical Study of Methods for Detecting Dataset Shift" (Rabanser,
Günnemann & Lipton, NeurIPS 2019), which found a pretrained model's representation + a kernel two-sample test
(MMD) and univariate tests on the softmax outputs (black-box shift detection, Bonferroni-corrected) to work
best. Library check: alibi-detect 0.13 (which has these detectors) pins numpy < 2 and pandas < 3 and does not
install beside this stack; evidently 0.7 and NannyML 0.13 allow numpy 2 but pull a web server, telemetry,
plotly/kaleido, cloud file systems and (NannyML) lightgbm < 4.6, and neither has a permutation MMD on
arbitrary embeddings; the tests below are ~100 lines of scipy, so headstart keeps them here.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import stats

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


def bbsd_ks(p_ref: np.ndarray, p_new: np.ndarray, classes: list[str]) -> dict[str, Any]:
    """Black-box shift detection: a KS test per predicted-class probability, Bonferroni over the classes.

    A binary task has one free probability, so it is tested once."""
    cols = [1] if p_ref.shape[1] == 2 else list(range(p_ref.shape[1]))
    per = {}
    for j in cols:
        r = stats.ks_2samp(p_ref[:, j], p_new[:, j])
        per[classes[j]] = {"statistic": float(r.statistic), "p_value": float(r.pvalue)}
    p_min = min(v["p_value"] for v in per.values())
    return {
        "test": "KS on predicted-class probabilities, Bonferroni",
        "p_value": float(min(1.0, p_min * len(cols))),
        "per_class": per,
        "n_tests": len(cols),
    }


def class_share_test(pred_ref: np.ndarray, pred_new: np.ndarray, classes: list[str]) -> dict[str, Any]:
    """Chi-square test of predicted class shares (reference vs new), with adjusted residuals per class;
    a class "moved" when its residual is beyond the Bonferroni-corrected 5% normal quantile."""
    k = len(classes)
    table = np.vstack([np.bincount(pred_ref, minlength=k), np.bincount(pred_new, minlength=k)]).astype(float)
    keep = table.sum(0) > 0
    ref_share, new_share = table[0] / table[0].sum(), table[1] / table[1].sum()
    if keep.sum() < 2:
        return {"test": "chi-square on predicted class shares", "p_value": 1.0, "per_class": {}, "moved": []}
    chi2, p, _, expected = stats.chi2_contingency(table[:, keep])
    N = table.sum()
    rows, cols = table[:, keep].sum(1, keepdims=True) / N, table[:, keep].sum(0, keepdims=True) / N
    resid = (table[:, keep] - expected) / np.sqrt(expected * (1 - rows) * (1 - cols))
    z_crit = float(stats.norm.ppf(1 - 0.025 / keep.sum()))
    per, moved = {}, []
    for j, r in zip(np.flatnonzero(keep), resid[1], strict=True):
        per[classes[j]] = {
            "reference_share": float(ref_share[j]),
            "new_share": float(new_share[j]),
            "change": float(new_share[j] - ref_share[j]),
            "adjusted_residual": float(r),
        }
        if abs(r) > z_crit:
            moved.append(classes[j])
    moved.sort(key=lambda c: -abs(per[c]["change"]))
    return {
        "test": "chi-square on predicted class shares",
        "statistic": float(chi2),
        "p_value": float(p),
        "per_class": per,
        "moved": moved,
    }
