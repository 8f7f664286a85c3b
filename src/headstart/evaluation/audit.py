"""Subgroup audit: per-group metrics of the transfer model and the baseline on the same test examples.

Built on fairlearn's ``MetricFrame`` (Weerts et al., JMLR 2023): per-group accuracy with a bootstrap 95% percentile
interval (each group's test examples resampled with replacement, ``N_BOOT`` times; vectorised numpy, since
``MetricFrame(n_boot=...)`` re-runs pandas group-bys per resample and took ~45 s for 600 examples), and for binary
tasks the recall (true-positive rate), false-positive rate, false-negative rate and selection rate with respect to the
positive class (the second class unless the user names one). Multiclass tasks get accuracy and macro-recall.

Gaps: ``max_gap`` is the largest difference in accuracy between two groups with at least ``MIN_GROUP_N`` test
examples (every group when fewer than two are that large); ``gaps`` holds the same max-minus-min for each
metric and ``gap_ci`` its 95% bootstrap interval. The bootstrap resamples each group's test examples with
replacement and uses the same resamples for both sides (paired), so ``change_ci`` (transfer's accuracy gap
minus the baseline's) is an interval of the change itself. ``change`` is ``widened`` / ``narrowed`` only when
that interval excludes zero and the change exceeds ``GAP_TOLERANCE``; ``unchanged`` when the two gaps are
within the tolerance, ``unchanged (within noise)`` when they differ but the interval includes zero.

Binary tasks also get the largest error-rate disparity: ``{side}["fpr_gap"]`` and ``["fnr_gap"]`` (gap, CI,
and the groups with the highest and lowest rate), and ``largest_error_rate_gap``, the larger of transfer's
two (what the command line prints).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from fairlearn.metrics import (
    MetricFrame,
    false_negative_rate,
    false_positive_rate,
    selection_rate,
    true_positive_rate,
)
from sklearn.metrics import accuracy_score, recall_score

from headstart.errors import HeadstartError

MIN_GROUP_N = 20
GAP_TOLERANCE = 0.01
N_BOOT = 2000
MISSING = "(missing)"


def group_labels(values: Sequence[Any] | np.ndarray) -> np.ndarray:
    """Raw group values as strings; empty / NaN / None become ``(missing)``."""
    out = []
    for v in values:
        if v is None or (isinstance(v, float) and math.isnan(v)) or (isinstance(v, str) and not v.strip()):
            out.append(MISSING)
        else:
            out.append(str(v).strip())
    return np.asarray(out, dtype=object)


def positive_class_index(classes: Sequence[str], positive_class: str | None) -> int | None:
    """Index of the positive class for binary tasks (default: the second class); None for multiclass."""
    if positive_class is not None:
        if positive_class not in classes:
            raise HeadstartError(
                f"--positive-class {positive_class!r} is not a class of this data; classes: "
                + ", ".join(repr(c) for c in classes)
            )
        if len(classes) != 2:
            raise HeadstartError(f"--positive-class only applies to binary tasks; this data has {len(classes)} classes")
        return list(classes).index(positive_class)
    return 1 if len(classes) == 2 else None


def _metrics(pos: int | None, labels: np.ndarray) -> dict[str, Any]:
    if pos is None:
        return {
            "accuracy": accuracy_score,
            "recall": lambda t, p: recall_score(t, p, labels=labels, average="macro", zero_division=0),
        }
    return {
        "accuracy": accuracy_score,
        "recall": lambda t, p: true_positive_rate(t, p, pos_label=pos),
        "fpr": lambda t, p: false_positive_rate(t, p, pos_label=pos),
        "fnr": lambda t, p: false_negative_rate(t, p, pos_label=pos),
        "selection_rate": lambda t, p: selection_rate(t, p, pos_label=pos),
    }


def _num(x: Any) -> float | None:
    x = float(x)
    return None if math.isnan(x) else x


def _accuracy_ci(correct: np.ndarray, n_boot: int, seed: int) -> list[float | None]:
    """Percentile 95% bootstrap interval of the mean of ``correct`` (one group's hits)."""
    n = len(correct)
    if n == 0:
        return [None, None]
    rng = np.random.default_rng(seed)
    means = correct.astype(np.float64)[rng.integers(0, n, size=(n_boot, n))].mean(axis=1)
    lo, hi = np.quantile(means, [0.025, 0.975])
    return [float(lo), float(hi)]


def _side(
    y_true: np.ndarray, y_pred: np.ndarray, groups: np.ndarray, pos: int | None, n_classes: int, seed: int, n_boot: int
) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """Per-group metrics of one model, and the overall row."""
    metrics = _metrics(pos, np.arange(n_classes))
    mf = MetricFrame(metrics=metrics, y_true=y_true, y_pred=y_pred, sensitive_features=pd.Series(groups, name="g"))
    by_group: dict[str, dict[str, Any]] = {}
    for g, row in mf.by_group.iterrows():
        entry: dict[str, Any] = {
            "accuracy": _num(row["accuracy"]),
            "accuracy_ci": _accuracy_ci(y_true[groups == g] == y_pred[groups == g], n_boot, seed),
            "recall": _num(row["recall"]),
            "fpr": None,
            "fnr": None,
            "selection_rate": None,
        }
        if pos is not None:
            entry.update({k: _num(row[k]) for k in ("fpr", "fnr", "selection_rate")})
        by_group[str(g)] = entry
    overall = {k: _num(v) for k, v in mf.overall.items()}
    return by_group, overall


RATES = ("accuracy", "fpr", "fnr")
NOISE = "unchanged (within noise)"


def _boot_gaps(
    y: np.ndarray, preds: dict[str, np.ndarray], labels: np.ndarray, eligible: list[str], pos: int | None, **kw: int
) -> dict[str, dict[str, np.ndarray]]:
    """Per side and metric, the max-minus-min gap over ``eligible`` groups in each of ``n_boot`` paired
    resamples (each group resampled within itself; NaN where fewer than two groups have the metric)."""
    n_boot, rng = kw["n_boot"], np.random.default_rng(kw["seed"])
    metrics = RATES if pos is not None else ("accuracy",)
    per = {side: {m: np.full((n_boot, len(eligible)), np.nan) for m in metrics} for side in preds}
    for j, g in enumerate(eligible):
        idx = np.flatnonzero(labels == g)
        draws = idx[rng.integers(0, len(idx), size=(n_boot, len(idx)))]
        yt = y[draws]
        for side, p in preds.items():
            pp = p[draws]
            per[side]["accuracy"][:, j] = (pp == yt).mean(axis=1)
            if pos is not None:
                neg = yt != pos
                with np.errstate(invalid="ignore", divide="ignore"):
                    per[side]["fpr"][:, j] = ((pp == pos) & neg).sum(1) / neg.sum(1)
                    per[side]["fnr"][:, j] = ((pp != pos) & ~neg).sum(1) / (~neg).sum(1)
    out: dict[str, dict[str, np.ndarray]] = {}
    for side, by_metric in per.items():
        out[side] = {}
        for m, vals in by_metric.items():
            ok = np.isfinite(vals).sum(axis=1) >= 2
            gap = np.full(n_boot, np.nan)
            if ok.any():
                gap[ok] = np.nanmax(vals[ok], axis=1) - np.nanmin(vals[ok], axis=1)
            out[side][m] = gap
    return out


def _ci(samples: np.ndarray) -> list[float | None]:
    finite = samples[np.isfinite(samples)]
    if not len(finite):
        return [None, None]
    lo, hi = np.quantile(finite, [0.025, 0.975])
    return [float(lo), float(hi)]


def _change(delta: float, ci: list[float | None]) -> str:
    lo, hi = ci
    if abs(delta) <= GAP_TOLERANCE:
        return "unchanged"
    if delta > 0 and lo is not None and lo > 0:
        return "widened"
    if delta < 0 and hi is not None and hi < 0:
        return "narrowed"
    return NOISE


def _rate_gap(
    by_group: dict[str, dict[str, Any]], eligible: list[str], key: str, ci: list[float | None]
) -> dict[str, Any] | None:
    vals = [(by_group[g][key], g) for g in eligible if by_group[g][key] is not None]
    if len(vals) < 2:
        return None
    (lo, glo), (hi, ghi) = min(vals), max(vals)
    return {"metric": key, "gap": float(hi - lo), "ci": ci, "high_group": ghi, "high": hi, "low_group": glo, "low": lo}


def _gaps(by_group: dict[str, dict[str, Any]], eligible: list[str]) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for key in ("accuracy", "recall", "fpr", "fnr", "selection_rate"):
        vals = [by_group[g][key] for g in eligible if by_group[g][key] is not None]
        out[key] = float(max(vals) - min(vals)) if len(vals) >= 2 else None
    return out


def audit_column(
    y_true: np.ndarray,
    pred_transfer: np.ndarray,
    pred_baseline: np.ndarray,
    groups: Sequence[Any] | np.ndarray,
    classes: Sequence[str],
    *,
    positive_class: str | None = None,
    seed: int = 0,
    n_boot: int = N_BOOT,
    min_group_n: int = MIN_GROUP_N,
) -> dict[str, Any]:
    """Audit one group column on the test split (predictions are class codes).

    Returns ``{"groups": [{"group", "n", "transfer": {...}, "baseline": {...}}], "transfer": {"max_gap", "gaps"},
    "baseline": {...}, "change", "positive_class", "min_group_n", "overall": {side: {...}}}``.
    """
    y_true = np.asarray(y_true, dtype=np.int64)
    labels = group_labels(groups)
    if len(labels) != len(y_true):
        raise ValueError("groups and labels differ in length")
    pos = positive_class_index(classes, positive_class)
    counts = pd.Series(labels).value_counts()
    t_by, t_all = _side(y_true, np.asarray(pred_transfer), labels, pos, len(classes), seed, n_boot)
    b_by, b_all = _side(y_true, np.asarray(pred_baseline), labels, pos, len(classes), seed, n_boot)
    order = sorted(t_by, key=lambda g: (-int(counts[g]), g))
    eligible = [g for g in order if counts[g] >= min_group_n]
    if len(eligible) < 2:
        eligible = order
    t_gaps, b_gaps = _gaps(t_by, eligible), _gaps(b_by, eligible)
    t_gap, b_gap = t_gaps["accuracy"] or 0.0, b_gaps["accuracy"] or 0.0
    preds = {"transfer": np.asarray(pred_transfer), "baseline": np.asarray(pred_baseline)}
    boot = _boot_gaps(y_true, preds, labels, eligible, pos, n_boot=n_boot, seed=seed)
    change_ci = _ci(boot["transfer"]["accuracy"] - boot["baseline"]["accuracy"])
    sides: dict[str, dict[str, Any]] = {}
    for side, by, gaps, gap in (("transfer", t_by, t_gaps, t_gap), ("baseline", b_by, b_gaps, b_gap)):
        gap_ci = {m: _ci(v) for m, v in boot[side].items()}
        sides[side] = {"max_gap": float(gap), "gaps": gaps, "gap_ci": gap_ci}
        if pos is not None:
            for m in ("fpr", "fnr"):
                sides[side][f"{m}_gap"] = _rate_gap(by, eligible, m, gap_ci[m])
    rate_gaps = [sides["transfer"].get(f"{m}_gap") for m in ("fpr", "fnr")]
    largest = max((r for r in rate_gaps if r is not None), key=lambda r: r["gap"], default=None)
    return {
        "groups": [
            {"group": g, "n": int(counts[g]), "transfer": t_by[g], "baseline": b_by[g], "in_gap": g in eligible}
            for g in order
        ],
        "transfer": sides["transfer"],
        "baseline": sides["baseline"],
        "change": _change(t_gap - b_gap, change_ci),
        "change_delta": float(t_gap - b_gap),
        "change_ci": change_ci,
        "largest_error_rate_gap": largest,
        "positive_class": None if pos is None else str(classes[pos]),
        "min_group_n": int(min_group_n),
        "n_boot": int(n_boot),
        "overall": {"transfer": t_all, "baseline": b_all},
    }


def audit_groups(
    y_true: np.ndarray,
    pred_transfer: np.ndarray,
    pred_baseline: np.ndarray,
    group_values: dict[str, Sequence[Any] | np.ndarray],
    classes: Sequence[str],
    *,
    positive_class: str | None = None,
    seed: int = 0,
    n_boot: int = N_BOOT,
) -> dict[str, dict[str, Any]]:
    """``metrics["audit"]``: one :func:`audit_column` result per group column."""
    return {
        col: audit_column(
            y_true, pred_transfer, pred_baseline, vals, classes, positive_class=positive_class, seed=seed, n_boot=n_boot
        )
        for col, vals in group_values.items()
    }


def audit_summary(audit: dict[str, dict[str, Any]]) -> list[str]:
    """One plain sentence per column (accuracy gaps with the CI of their change, the largest error-rate gap,
    and the largest selection-rate or accuracy gap)."""
    lines = []
    for col, a in audit.items():
        eligible = [g for g in a["groups"] if g.get("in_gap", True)]
        key = "selection_rate" if a["transfer"]["gaps"].get("selection_rate") is not None else "accuracy"
        parts = []
        for side in ("transfer", "baseline"):
            vals = [(g[side][key], g["group"]) for g in eligible if g[side][key] is not None]
            if len(vals) >= 2:
                (lo, glo), (hi, ghi) = min(vals), max(vals)
                parts.append(f"{side} {key.replace('_', ' ')} {ghi} {hi:.3f} vs {glo} {lo:.3f}")
        ci = a.get("change_ci") or [None, None]
        interval = f", change 95% CI [{ci[0]:+.3f}, {ci[1]:+.3f}]" if None not in ci else ""
        rate = a.get("largest_error_rate_gap")
        if rate:
            parts.insert(0, error_rate_sentence(rate))
        lines.append(
            f"{col}: accuracy gap transfer {a['transfer']['max_gap']:.3f}, baseline {a['baseline']['max_gap']:.3f} "
            f"({a['change']}{interval}); " + "; ".join(parts)
        )
    return lines


def error_rate_sentence(rate: dict[str, Any]) -> str:
    """``largest_error_rate_gap`` as words: "transfer FPR gap 0.370 [0.21, 0.52] (Black 0.52 vs White 0.15)"."""
    lo, hi = rate.get("ci") or [None, None]
    ci = f" [{lo:.2f}, {hi:.2f}]" if lo is not None and hi is not None else ""
    return (
        f"transfer {rate['metric'].upper()} gap {rate['gap']:.3f}{ci} "
        f"({rate['high_group']} {rate['high']:.3f} vs {rate['low_group']} {rate['low']:.3f})"
    )
