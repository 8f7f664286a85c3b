"""The ``metrics.json`` of a standard run: per-side metrics, arms, verdicts, studies and warnings.

:func:`assemble_metrics` builds the document from the scored arms and their verdicts;
:func:`run_studies_into` adds the audit / learning curve / variance studies that were asked for (the
variance rule may downgrade the verdict); :func:`transfer_warnings` adds the representation-drift warnings.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from headstart.config import FitConfig
from headstart.data import LabeledData, Splits
from headstart.evaluation.compare import Arm, arm_summary
from headstart.evaluation.metrics import classification_summary
from headstart.outputs import data_summary
from headstart.stage_timer import Echo, Timer
from headstart.strategies import TransferTask


def _side_metrics(arm: Arm, y_test: np.ndarray, classes: list[str], extra: dict[str, Any]) -> dict[str, Any]:
    if arm.is_regression:
        from headstart.regression_run import side_metrics

        return side_metrics(arm, y_test, extra)
    return {
        "name": arm.model_name,
        **extra,
        **classification_summary(y_test, arm.output, classes),
        "val_accuracy": arm.val_score,
        "selection": arm.info.get("selection", "val"),
        "history": getattr(arm.model, "history", []),
    }


def assemble_metrics(
    cfg: FitConfig,
    data: LabeledData,
    splits: Splits,
    arms: list[Arm],
    verdicts: list[dict[str, Any]],
    task: TransferTask,
    base_report: dict[str, Any],
    strategy: str,
    backbone: str,
) -> dict[str, Any]:
    by = {a.name: a for a in arms}
    y_test = data.y[splits.test]
    verdict = {
        **verdicts[0],
        "transfer_accuracy": verdicts[0]["a_score"],
        "baseline_accuracy": verdicts[0]["b_score"],
        "transfer_name": verdicts[0]["a_model"],
        "baseline_name": verdicts[0]["b_model"],
    }
    extract_notes = task.notes.get("extract", [])
    base = {k: v for k, v in base_report.items() if k != "warnings"}
    return {
        "transfer": _side_metrics(by["transfer"], y_test, data.classes, {"strategy": strategy, "backbone": backbone}),
        "baseline": _side_metrics(by["scratch"], y_test, data.classes, base),
        "references": {a.name: arm_summary(a, y_test) for a in arms if a.role == "reference"},
        "arms": [arm_summary(a, y_test) for a in arms],
        "comparisons": verdicts,
        "verdict": verdict,
        "data": data_summary(data, splits),
        "cache": {
            "extractions": extract_notes,
            "hits": int(sum(e.get("cache_hits", 0) for e in extract_notes)),
            "computed": int(sum(e.get("computed", 0) for e in extract_notes)),
        },
        "notes": {k: v for k, v in task.notes.items() if k != "extract"},
    }


def run_studies_into(
    metrics: dict[str, Any],
    cfg: FitConfig,
    data: LabeledData,
    splits: Splits,
    strategy: str,
    backbone: str,
    image_size: int | None,
    task: TransferTask,
    arms: list[Arm],
    timer: Timer,
    say: Echo,
) -> None:
    """Audit, curve and variance (as asked for); the variance rule may downgrade the verdict."""
    from headstart.evaluation.verdict import apply_variance
    from headstart.studies import run_studies

    by = {a.name: a for a in arms}
    extras = run_studies(
        cfg,
        data=data,
        splits=splits,
        strategy=strategy,
        backbone=backbone,
        image_size=image_size,
        options=task.options,
        transfer=by["transfer"].model,
        p_transfer=by["transfer"].output,
        p_baseline=by["scratch"].output,
        timings=timer,
        echo=say,
    )
    metrics.update(extras)
    if "variance" in extras:
        metrics["verdict"] = apply_variance(metrics["verdict"], extras["variance"])
        metrics["comparisons"][0] = {
            **metrics["comparisons"][0],
            "label": metrics["verdict"]["label"],
            "sentence": metrics["verdict"]["sentence"],
        }


def transfer_warnings(task: TransferTask, metrics: dict[str, Any]) -> list[str]:
    from headstart.strategies.finetune_model import cka_warnings

    return cka_warnings(task.notes.get("cka"), metrics["verdict"]["label"])
