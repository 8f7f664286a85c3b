"""Audit gaps come with bootstrap intervals: "widened"/"narrowed" only when the interval of the change excludes
zero, and the largest false-positive / false-negative rate disparity is recorded (UCI Adult, real predictions)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from headstart.evaluation.audit import GAP_TOLERANCE, NOISE, audit_column, audit_summary


@pytest.fixture(scope="module")
def adult() -> dict[str, Any]:
    from headstart.baselines.text import TfidfLogReg
    from headstart.data import load_data, make_splits

    d = load_data("builtin:adult", group_columns=("sex",))
    s = make_splits(d.y, seed=0, labels_per_class=100, max_test=1500)
    lab = np.concatenate([s.train, s.val])
    model = TfidfLogReg.fit([d.items[i] for i in lab], d.y[lab], 2, seed=0)
    p = model.predict_proba([d.items[i] for i in s.test]).argmax(1)
    return {"y": d.y[s.test], "p": p, "sex": d.groups["sex"][s.test], "classes": d.classes}


def _audit(adult: dict[str, Any], n: int) -> dict[str, Any]:
    majority = np.zeros(n, dtype=np.int64)  # always "<=50K"
    return audit_column(adult["y"][:n], adult["p"][:n], majority, adult["sex"][:n], adult["classes"], n_boot=1000)


def test_a_small_change_in_gap_is_called_noise(adult: dict[str, Any]) -> None:
    a = _audit(adult, 300)
    # the old rule called this "widened" (the point estimates differ by more than the tolerance) ...
    assert a["change_delta"] > GAP_TOLERANCE
    lo, hi = a["change_ci"]
    assert lo < 0 < hi  # ... but its interval includes zero
    assert a["change"] == NOISE
    t_lo, t_hi = a["transfer"]["gap_ci"]["accuracy"]
    assert t_lo <= a["transfer"]["max_gap"] <= t_hi


def test_a_clear_change_is_still_called(adult: dict[str, Any]) -> None:
    a = _audit(adult, 1500)
    assert a["change"] == "narrowed" and a["change_ci"][1] < 0


def test_the_largest_error_rate_gap_is_recorded(adult: dict[str, Any]) -> None:
    a = _audit(adult, 1500)
    rate = a["largest_error_rate_gap"]
    rows = {r["group"]: r["transfer"] for r in a["groups"]}
    assert rate["metric"] in ("fpr", "fnr") and rate is max(
        (a["transfer"]["fpr_gap"], a["transfer"]["fnr_gap"]), key=lambda r: r["gap"]
    )
    key = rate["metric"]
    assert rate["gap"] == pytest.approx(abs(rows["Male"][key] - rows["Female"][key]))
    assert rate["gap"] > 0.05 and rate["ci"][0] > 0  # men get far more false positives (0.32 vs 0.17)
    assert rate["high"] == rows[rate["high_group"]][key]
    assert a["baseline"]["fpr_gap"]["gap"] == 0.0  # never predicts ">50K": no false positives anywhere
    line = audit_summary({"sex": a})[0]
    assert f"transfer {key.upper()} gap" in line and "change 95% CI" in line
