"""Subgroup audit: per-group metrics of the transfer model and the baseline on the same test examples.

Built on fairlearn's ``MetricFrame`` (Weerts et al., JMLR 2023): per-group accuracy with a bootstrap 95% percentile
interval (each group's test examples resampled with replacement, ``N_BOOT`` times; vectorised numpy, since
``MetricFrame(n_boot=...)`` re-runs pandas group-bys per resample and took ~45 s for 600 examples), and for binary
tasks the recall (true-positive rate), false-positive rate, false-negative rate and selection rate with respect to the
positive class (the second class unless the user names one). Multiclass tasks get accuracy and macro-recall.

Gaps: ``max_gap`` is the largest difference in accuracy between two groups with at least ``MIN_GROUP_N`` test
examples (every group when fewer than two are that large); ``gaps`` holds the same max-minus-min for each
metric. ``change`` compares the two sides' accuracy gaps: ``widened`` when transfer's gap exceeds the baseline's
by more than ``GAP_TOLERANCE``, ``narrowed`` when it is smaller by more than that, ``unchanged`` otherwise.
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
    change = (
        "widened" if t_gap > b_gap + GAP_TOLERANCE else "narrowed" if t_gap < b_gap - GAP_TOLERANCE else "unchanged"
    )
    return {
        "groups": [
            {"group": g, "n": int(counts[g]), "transfer": t_by[g], "baseline": b_by[g], "in_gap": g in eligible}
            for g in order
        ],
        "transfer": {"max_gap": float(t_gap), "gaps": t_gaps},
        "baseline": {"max_gap": float(b_gap), "gaps": b_gaps},
        "change": change,
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
    """One plain sentence per column (largest selection-rate or accuracy gap, and the direction of change)."""
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
        lines.append(
            f"{col}: accuracy gap transfer {a['transfer']['max_gap']:.3f}, baseline {a['baseline']['max_gap']:.3f} "
            f"({a['change']}); " + "; ".join(parts)
        )
    return lines
