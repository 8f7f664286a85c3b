"""Spread of the transfer-vs-baseline comparison over repeated splits (stratified K-fold or several seeds).

One split's paired bootstrap only covers the sampling noise of that test set; which examples happened to be
labeled (decisive with 8 labels per class) and training randomness are not in it. ``summarize_runs`` turns the
per-run accuracies into ``metrics["variance"]``; ``sign_consistency`` is what the verdict uses (see
:func:`headstart.evaluation.verdict.apply_variance`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def mean_std(values: Sequence[float]) -> dict[str, float]:
    """Mean and sample standard deviation (ddof=1; 0.0 for a single value)."""
    a = np.asarray(values, dtype=np.float64)
    if a.size == 0:
        return {"mean": float("nan"), "std": float("nan")}
    return {"mean": float(a.mean()), "std": float(a.std(ddof=1)) if a.size > 1 else 0.0}


def summarize_runs(mode: str, k: int, runs: Sequence[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    """``metrics["variance"]`` from runs ``{"fold_or_seed", "transfer_accuracy", "baseline_accuracy", ...}``.

    Returns ``{"mode", "k", "transfer": {"mean","std"}, "baseline": {...}, "delta": {"mean","std","min","max"},
    "runs": [...], "sign": {...}}`` plus ``extra`` keys.
    """
    if mode not in ("folds", "seeds"):
        raise ValueError(f"mode must be 'folds' or 'seeds', got {mode!r}")
    rows = []
    for r in runs:
        t, b = float(r["transfer_accuracy"]), float(r["baseline_accuracy"])
        rows.append({**r, "transfer_accuracy": t, "baseline_accuracy": b, "delta": t - b})
    deltas = [r["delta"] for r in rows]
    d = mean_std(deltas)
    return {
        "mode": mode,
        "k": int(k),
        **extra,
        "transfer": mean_std([r["transfer_accuracy"] for r in rows]),
        "baseline": mean_std([r["baseline_accuracy"] for r in rows]),
        "delta": {**d, "min": float(min(deltas)), "max": float(max(deltas))},
        "runs": rows,
        "sign": sign_consistency(deltas),
    }


def sign_consistency(deltas: Sequence[float], tol: float = 1e-12) -> dict[str, Any]:
    """How many runs favoured transfer (delta > 0), the baseline (< 0), or tied; and whether all agree."""
    a = np.asarray(deltas, dtype=np.float64)
    pos, neg = int((a > tol).sum()), int((a < -tol).sum())
    return {
        "n_runs": int(a.size),
        "n_positive": pos,
        "n_negative": neg,
        "n_tied": int(a.size - pos - neg),
        "all_positive": bool(a.size and pos == a.size),
        "all_negative": bool(a.size and neg == a.size),
    }
