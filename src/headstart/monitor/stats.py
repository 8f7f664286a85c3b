"""Two-sample tests for dataset shift, written with numpy/scipy.

The design follows "Failing Loudly: An Empirical Study of Methods for Detecting Dataset Shift" (Rabanser,
Günnemann & Lipton, NeurIPS 2019), which found a pretrained model's representation + a kernel two-sample test
(MMD) and univariate tests on the softmax outputs (black-box shift detection, Bonferroni-corrected) to work
best. Library check: alibi-detect 0.13 (which has these detectors) pins numpy < 2 and pandas < 3 and does not
install beside this stack; evidently 0.7 and NannyML 0.13 allow numpy 2 but pull a web server, telemetry,
plotly/kaleido, cloud file systems and (NannyML) lightgbm < 4.6, and neither has a permutation MMD on
arbitrary embeddings; the tests are ~100 lines of scipy, so headstart keeps them: the MMD in
:mod:`headstart.evaluation.mmd` (shared with the advisor), the output tests below.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import stats


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
