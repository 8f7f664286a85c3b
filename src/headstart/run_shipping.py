"""Which side of a standard run ships (``--ship``) and why, from validation scores only, never the test split.

:func:`ship_rule` applies a forced side or the validation winner (ties go to the simpler baseline);
:func:`choose_shipped` adds the decisiveness note, fits the ``--ship stack`` combiner if asked, and warns when
neither side beats the majority class; it records the choice in ``metrics["shipped"]``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from headstart.artifacts import FittedModel
from headstart.config import FitConfig
from headstart.data import LabeledData
from headstart.evaluation.compare import Arm
from headstart.stage_timer import Timer
from headstart.strategies import TransferTask


def choose_shipped(
    metrics: dict[str, Any],
    cfg: FitConfig,
    arms: list[Arm],
    task: TransferTask,
    y_test: np.ndarray,
    data: LabeledData,
) -> FittedModel | None:
    """Which side ships and why (validation data only, never the test split); returns the stack model, if any."""
    from headstart.stacking import choose_stack, stack_for_run, validation_is_decisive

    by = {a.name: a for a in arms}
    t, b = by["transfer"], by["scratch"]
    side, reason = ship_rule(cfg.ship, t.val_score, b.val_score, regression=task.target == "regression")
    doc: dict[str, Any] = {}
    if cfg.ship in ("best", "stack") and task.target != "regression":
        doc["decisive"], note = validation_is_decisive(t.val_score, b.val_score, len(task.y_train) + len(task.y_val))
        if note and cfg.ship == "best":
            reason = f"{reason}; {note}"
    stack = None
    if cfg.ship == "stack":
        with Timer()("stack"):
            try:
                stack, metrics["stack"], _ = stack_for_run(
                    t.model, b.model, task, y_test, t.output, b.output, data.classes
                )
                side, reason = choose_stack(t.val_score, b.val_score, metrics["stack"]["val_accuracy"])
            except ValueError as exc:
                reason = f"--ship stack: no combiner could be fitted ({exc}); {reason}"
    beaten = metrics["verdict"].get("reference", {}).get("beaten_by", {})
    if beaten and not any(beaten.values()):
        doc["beats_majority"] = False
        reason = (
            f"{reason}. But neither model beats guessing the majority class on the test items, so neither is "
            f"worth deploying yet: collect more labels; the {side} model is saved so that `predict` works"
        )
    metrics["shipped"] = {"side": side, "reason": reason, **doc}
    return stack


def ship_rule(ship: str, tv: float, bv: float, *, regression: bool = False) -> tuple[str, str]:
    """``--ship``: forced side, or the side that won on validation (ties go to the simpler baseline).

    Scores are higher-is-better: accuracy, or minus the MAE for ``regression`` (shown as the MAE)."""
    if ship in ("transfer", "baseline"):
        return ship, f"--ship {ship} was requested"
    if np.isnan(tv) or np.isnan(bv):
        return "transfer", "validation scores unavailable; shipping the transfer model"
    shown = (lambda v: f"MAE {-v:.3f}") if regression else (lambda v: f"{v:.3f}")
    if tv > bv:
        return "transfer", f"transfer was better on validation ({shown(tv)} vs {shown(bv)})"
    return "baseline", (
        f"the from-scratch baseline was at least as good on validation ({shown(bv)} vs {shown(tv)}); "
        "shipping the simpler model"
    )
