"""Classification or regression: which task a label column asks for, and its numeric targets.

Rule (``task="auto"``): a label column whose every value is a number is a regression target when it has
more than ``MANY_VALUES`` distinct values, or at least ``SOME_VALUES`` distinct values of which some are not
whole numbers; it is a classification target with at most ``FEW_VALUES`` distinct values or when some value
is not a number. Anything in between (e.g. 15 distinct whole numbers: star ratings or 15 classes?) is
ambiguous and raises a one-line error asking for ``--task``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from headstart.errors import HeadstartError

TASKS = ("auto", "classification", "regression")
FEW_VALUES = 10
SOME_VALUES = 20
MANY_VALUES = 50


def to_number(value: Any) -> float | None:
    """A label as a float; None when missing; NaN when present but not a number."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, (bool, np.bool_)):
        return float(value)
    if isinstance(value, (int, float, np.integer, np.floating)):
        return float(value)
    text = str(value).strip()
    if not text:
        return None
    try:
        out = float(text)
    except ValueError:
        return float("nan")
    return out if math.isfinite(out) else float("nan")


def resolve_task(values: Sequence[Any], requested: str, *, where: str) -> str:
    """``classification`` or ``regression`` for the raw label ``values`` (missing ones ignored)."""
    if requested not in TASKS:
        raise HeadstartError(f"unknown --task {requested!r}; choose one of: {', '.join(TASKS)}")
    numbers = [to_number(v) for v in values]
    present = [x for x in numbers if x is not None]
    not_numeric = next((i for i, x in enumerate(numbers) if x is not None and math.isnan(x)), None)
    if requested == "classification":
        return requested
    if requested == "regression":
        if not_numeric is not None:
            raise HeadstartError(
                f"{where}: --task regression needs numbers, but row {not_numeric + 1} has "
                f"{str(values[not_numeric])[:40]!r}; fix that value or use --task classification"
            )
        return requested
    if not_numeric is not None or not present:
        return "classification"
    distinct = np.unique(np.asarray(present))
    k = len(distinct)
    whole = bool(np.all(distinct == np.round(distinct)))
    if k <= FEW_VALUES:
        return "classification"
    if k > MANY_VALUES or (k >= SOME_VALUES and not whole):
        return "regression"
    kind = "whole-number" if whole else "numeric"
    raise HeadstartError(
        f"{where}: {k} distinct {kind} labels could be classes or a quantity; "
        "pass --task classification or --task regression"
    )


def regression_strata(y: np.ndarray, n_bins: int = 5) -> np.ndarray:
    """Quantile-bin codes of a continuous target, so stratified splits spread every range over the splits."""
    y = np.asarray(y, dtype=np.float64)
    bins = max(1, min(n_bins, len(y) // 4))
    edges = np.unique(np.quantile(y, np.linspace(0, 1, bins + 1)[1:-1]))
    codes = np.searchsorted(edges, y, side="right")
    return np.unique(codes, return_inverse=True)[1].astype(np.int64)
