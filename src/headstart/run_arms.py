"""The arms of a standard run: fit the transfer model and the from-scratch baseline, score them on the test.

:func:`fit_transfer` runs the strategy (tables through the row-to-text wrapper), :func:`fit_scratch` the
strongest baseline on validation (falling back to the majority class, with the reason, if it cannot be
fitted); :func:`score_arms` turns both plus the reference arms into :class:`headstart.evaluation.compare.Arm`
objects on the same test items, and :func:`measure_drift` records how far a fine-tuned backbone moved (CKA).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from headstart.artifacts import FittedModel
from headstart.baseline_cache import cached_fit_baseline, predict_cached
from headstart.baselines.prior import MajorityClass
from headstart.config import FitConfig
from headstart.errors import HeadstartError
from headstart.evaluation.compare import Arm, reference_arms
from headstart.stage_timer import Echo, Timer
from headstart.strategies import TransferTask, get_strategy

# How each model kind's selection score was measured (shown instead of a bare "val acc.").
SELECTION_METHOD = {
    "linear-probe": "cv",
    "tfidf-logreg": "cv",
    "pixel-logreg": "cv",
    "contrastive": "cv",
    "majority": "prior",
    "tabular-linear": "cv",
    "tfidf-ridge": "cv",
    "pixel-ridge": "cv",
    "ridge-probe": "cv",
}


def fit_transfer(task: TransferTask, strategy: str, backbone: str, timer: Timer, say: Echo) -> FittedModel:
    say(f"[1/3] transfer: {strategy} on {backbone} ({len(task.y_train)} train, {len(task.y_val)} val)")
    with timer("transfer_fit"):
        if task.modality == "tabular":
            from headstart.strategies.row_text import fit_row_text

            return fit_row_text(task, strategy)
        return get_strategy(strategy)(task)


def fit_scratch(cfg: FitConfig, task: TransferTask, timer: Timer, say: Echo) -> tuple[FittedModel, dict[str, Any]]:
    """The from-scratch baseline. If it cannot be fitted, the run keeps the transfer result and falls back to
    the majority class, recording why."""
    say(f"[2/3] baseline: {cfg.baseline} from scratch on the same split")
    with timer("baseline_fit"):
        try:
            return cached_fit_baseline(cfg.baseline, task)  # a second fit on the same split reuses it
        except (HeadstartError, ValueError) as e:
            y = np.concatenate([task.y_train, task.y_val])
            reason = str(e).splitlines()[0]
            say(f"baseline failed ({reason}); judging transfer against the majority class instead")
            return MajorityClass.fit(y, task.n_classes), {
                "failed": reason,
                "candidates": {},
                "warnings": [
                    f"the from-scratch baseline failed ({reason}); transfer is compared with the majority class instead"
                ],
            }


def score_arms(
    transfer: FittedModel,
    baseline: FittedModel,
    task: TransferTask,
    test_items: Any,
    y_test: np.ndarray,
    timer: Timer,
) -> list[Arm]:
    n_lab = len(task.y_train) + len(task.y_val)
    if task.target == "regression":
        from headstart.regression_run import regression_arms

        models = [("transfer", "transfer", transfer), ("scratch", "baseline", baseline)]
        y_lab = np.concatenate([task.y_train, task.y_val])
        with timer("predict_test"):
            return regression_arms(models, y_lab, test_items, len(y_test), f"{n_lab} labeled items (train + val)")
    arms = []
    for name, role, model in (("transfer", "transfer", transfer), ("scratch", "baseline", baseline)):
        with timer(f"{'transfer' if role == 'transfer' else 'baseline'}_predict_test"):
            proba = predict_cached(model, test_items, task.modality)  # plain predict_proba unless a cached baseline
        arms.append(
            Arm(
                name,
                role,
                model.name,
                proba,
                val_score=float(getattr(model, "val_accuracy", np.nan)),
                trained_on=f"{n_lab} labeled items (train + val)",
                model=model,
                info={"selection": SELECTION_METHOD.get(getattr(getattr(model, "inner", model), "kind", ""), "val")},
            )
        )
    y_lab = np.concatenate([task.y_train, task.y_val])
    return [*arms, *reference_arms(y_lab, len(y_test), task.n_classes, seed=task.seed)]


def measure_drift(transfer: FittedModel, task: TransferTask, test_items: Any, timer: Timer) -> None:
    """Linear CKA between original and updated embeddings, for strategies that move the backbone."""
    drift = getattr(transfer, "representation_drift", None)
    if callable(drift):
        with timer("transfer_cka"):
            cka = drift(test_items)
        if cka is not None:
            task.notes["cka"] = float(cka)
