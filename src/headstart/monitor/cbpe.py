"""Confidence-based performance estimation (CBPE, as popularised by NannyML): the expected accuracy on
unlabeled data is the mean calibrated probability that the model's top prediction is right.

The calibration map (isotonic regression of "top-1 is correct" on the top-1 probability) is fitted on the
run's labeled held-out predictions (its test split); the interval is a bootstrap over BOTH the calibration
items (refitting the map) and the new items, so a small test split widens it honestly.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.isotonic import IsotonicRegression

N_BOOTSTRAP = 400


def fit_calibration(conf: np.ndarray, correct: np.ndarray) -> IsotonicRegression:
    iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip", increasing=True)
    return iso.fit(np.asarray(conf, dtype=np.float64), np.asarray(correct, dtype=np.float64))


def estimate_accuracy(
    cal_conf: np.ndarray,
    cal_correct: np.ndarray,
    new_conf: np.ndarray,
    *,
    n_boot: int = N_BOOTSTRAP,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, Any]:
    """Estimated accuracy on the new items with a bootstrap CI."""
    cal_conf, cal_correct = np.asarray(cal_conf, float), np.asarray(cal_correct, float)
    new_conf = np.asarray(new_conf, float)
    est = float(fit_calibration(cal_conf, cal_correct).predict(new_conf).mean())
    rng = np.random.default_rng(seed)
    boots = np.empty(n_boot)
    for b in range(n_boot):
        i = rng.integers(0, len(cal_conf), len(cal_conf))
        j = rng.integers(0, len(new_conf), len(new_conf))
        boots[b] = fit_calibration(cal_conf[i], cal_correct[i]).predict(new_conf[j]).mean()
    lo, hi = np.quantile(boots, [(1 - level) / 2, 1 - (1 - level) / 2])
    return {
        "estimate": est,
        "ci_low": float(lo),
        "ci_high": float(hi),
        "raw_confidence": float(new_conf.mean()),
        "method": "CBPE: isotonic-calibrated top-1 confidence, bootstrap over calibration and new items",
        "n_calibration": len(cal_conf),
    }
