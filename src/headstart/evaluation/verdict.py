"""The verdict: does transfer beat the from-scratch baseline on the same test examples?

A paired bootstrap (Efron & Tibshirani, 1993; for classifier comparison see Dror et al., ACL 2018) resamples
test examples with replacement and recomputes the accuracy difference on each resample, so the two models are
always compared on the same examples. The 95% percentile interval of that difference decides the label.

Variance rule (``--folds K`` / ``--seeds S``, see :func:`apply_variance`): the bootstrap only covers the noise of
one test set, not which examples were labeled or training randomness. When repeated runs exist, a ``helps``
label stands only if transfer beat the baseline in EVERY run (delta > 0), and a ``negative-transfer`` label only
if it lost in every run (delta < 0); otherwise the label is downgraded to ``no-difference``. The check never
upgrades a label. ``verdict["variance_check"]`` records the counts and whether the rule changed the label.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from headstart.evaluation.compare import paired_bootstrap_ci

LABELS = ("helps", "no-difference", "negative-transfer")
SMALL_TEST_SET = 1000


@dataclass(frozen=True)
class Verdict:
    label: str
    delta: float
    ci_low: float
    ci_high: float
    n_test: int
    n_boot: int
    transfer_accuracy: float
    baseline_accuracy: float
    transfer_name: str
    baseline_name: str

    @property
    def sentence(self) -> str:
        pts = f"{100 * self.delta:+.1f} points (95% CI {100 * self.ci_low:+.1f} to {100 * self.ci_high:+.1f})"
        t, b = f"{100 * self.transfer_accuracy:.1f}%", f"{100 * self.baseline_accuracy:.1f}%"
        if self.label == "helps":
            return (
                f"Transfer helps: {self.transfer_name} reached {t} vs {b} for the from-scratch "
                f"{self.baseline_name}, {pts} on {self.n_test} test examples."
            )
        if self.label == "negative-transfer":
            return (
                f"Negative transfer: {self.transfer_name} reached {t}, WORSE than the from-scratch "
                f"{self.baseline_name} at {b}, {pts} on {self.n_test} test examples. Do not ship the transfer "
                "model; use the baseline or a different backbone/strategy."
            )
        return (
            f"No detectable difference: {self.transfer_name} {t} vs from-scratch {self.baseline_name} {b}, "
            f"{pts} on {self.n_test} test examples; the interval includes zero."
        )

    @property
    def warnings(self) -> list[str]:
        if self.n_test < SMALL_TEST_SET:
            return [
                f"The test set has only {self.n_test} examples (< {SMALL_TEST_SET}): the confidence interval is "
                "wide; collect more labeled test data for a sharper verdict."
            ]
        return []

    def to_dict(self) -> dict[str, object]:
        return {**asdict(self), "sentence": self.sentence, "warnings": self.warnings}


def paired_bootstrap_verdict(
    y_true: np.ndarray,
    pred_transfer: np.ndarray,
    pred_baseline: np.ndarray,
    *,
    transfer_name: str = "transfer",
    baseline_name: str = "baseline",
    n_boot: int = 5000,
    confidence: float = 0.95,
    seed: int = 0,
) -> Verdict:
    """Paired bootstrap CI of accuracy(transfer) - accuracy(baseline) on the same test examples.

    ``helps`` when the whole interval is above zero, ``negative-transfer`` when it is below zero,
    ``no-difference`` otherwise.
    """
    y_true = np.asarray(y_true)
    ct = (np.asarray(pred_transfer) == y_true).astype(np.float64)
    cb = (np.asarray(pred_baseline) == y_true).astype(np.float64)
    n = len(y_true)
    diff = ct - cb
    lo, hi = paired_bootstrap_ci(diff, n_boot=n_boot, confidence=confidence, seed=seed)
    label = "helps" if lo > 0 else "negative-transfer" if hi < 0 else "no-difference"
    return Verdict(
        label=label,
        delta=float(diff.mean()),
        ci_low=float(lo),
        ci_high=float(hi),
        n_test=n,
        n_boot=n_boot,
        transfer_accuracy=float(ct.mean()),
        baseline_accuracy=float(cb.mean()),
        transfer_name=transfer_name,
        baseline_name=baseline_name,
    )


def apply_variance(verdict: dict[str, Any], variance: dict[str, Any]) -> dict[str, Any]:
    """The verdict dict with the variance rule of the module docstring applied; adds ``variance_check``.

    ``variance`` is ``metrics["variance"]`` (:func:`headstart.evaluation.variance.summarize_runs`).
    """
    from headstart.evaluation.variance import sign_consistency

    deltas = [float(r["delta"]) for r in variance["runs"]]
    sign = sign_consistency(deltas)
    before = str(verdict["label"])
    inconsistent = (before == "helps" and not sign["all_positive"]) or (
        before == "negative-transfer" and not sign["all_negative"]
    )
    label = "no-difference" if inconsistent else before
    unit = "folds" if variance["mode"] == "folds" else "seeds"
    d = variance["delta"]
    spread = (
        f"across {sign['n_runs']} {unit} the delta was {100 * d['mean']:+.1f} ± {100 * d['std']:.1f} points "
        f"(min {100 * d['min']:+.1f}, max {100 * d['max']:+.1f}; transfer ahead in {sign['n_positive']}, "
        f"behind in {sign['n_negative']}, tied in {sign['n_tied']})"
    )
    out = dict(verdict)
    if label != before:
        out["sentence"] = (
            f"No consistent difference: this split alone said {before!r} ({verdict['sentence']}), but {spread}; "
            f"the sign of the delta is not consistent, so the verdict is downgraded to no-difference."
        )
    else:
        consistent = sign["all_positive"] or sign["all_negative"]
        out["sentence"] = f"{verdict['sentence']} Variance check: {spread}" + (
            "; the sign is consistent." if consistent else "; the sign is not consistent."
        )
    out["label"] = label
    out["variance_check"] = {
        "mode": variance["mode"],
        **sign,
        "delta_mean": float(d["mean"]),
        "delta_std": float(d["std"]),
        "label_before": before,
        "downgraded": label != before,
        "rule": "helps / negative-transfer stand only if every run's delta has that sign; else no-difference",
    }
    return out
