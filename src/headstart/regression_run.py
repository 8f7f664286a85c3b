"""The regression steps of a run (``data.task == "regression"``), used by :mod:`headstart.pipeline`.

Arms output ``[n_test]`` values, so :func:`headstart.evaluation.compare.judge` scores minus the absolute
error per item and the verdict is on MAE (``delta = MAE(scratch) - MAE(transfer)`` with a paired bootstrap
CI). The reference arm predicts the labeled median. Every model's ``halfwidth`` is a 90% split-conformal
half-width from its held-out (validation or cross-validated) residuals; ``predict`` writes
``prediction ± halfwidth``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from headstart.data import LabeledData
from headstart.errors import HeadstartError
from headstart.evaluation.compare import Arm, regression_reference_arms
from headstart.evaluation.metrics import interval_coverage, regression_summary
from headstart.io import atomic_write_text

COVERAGE = 0.9


def check_regression_config(cfg: Any) -> None:
    """Options that only make sense for classes."""
    for flag, on in (
        ("--curve", cfg.curve),
        ("--folds/--seeds", cfg.folds or cfg.seeds),
        ("--ship stack", cfg.ship == "stack"),
    ):
        if on:
            raise HeadstartError(
                f"{flag} is not available for regression targets yet; drop it (or use --task classification)"
            )
    if cfg.strategy not in ("linear-probe", "auto"):
        raise HeadstartError(
            f"--strategy {cfg.strategy} trains a classification head; regression targets use --strategy linear-probe "
            "(ridge on the embeddings) for now"
        )
    if cfg.group_columns:
        raise HeadstartError("--group-column audits are classification-only for now; drop it for a regression target")
    if cfg.loss != "ce":
        raise HeadstartError("--loss weighted/focal are classification losses; drop --loss for a regression target")


def regression_arms(
    models: Sequence[tuple[str, str, Any]], y_labeled: np.ndarray, test_items: Any, n_test: int, trained_on: str
) -> list[Arm]:
    """``(name, role, model)`` -> scored arms (``model.predict``), plus the median reference."""
    arms = []
    for name, role, model in models:
        pred = np.asarray(model.predict(test_items), dtype=np.float64).reshape(-1)
        arms.append(
            Arm(
                name,
                role,
                model.name,
                pred,
                val_score=float(getattr(model, "val_accuracy", np.nan)),
                trained_on=trained_on,
                model=model,
                info={"selection": _selection(model), "halfwidth": _halfwidth(model)},
            )
        )
    return [*arms, *regression_reference_arms(y_labeled, n_test)]


CV_KINDS = ("ridge-probe", "tfidf-ridge", "pixel-ridge", "tabular-linear")


def _selection(model: Any) -> str:
    kind = getattr(getattr(model, "inner", model), "kind", "")
    return "cv MAE" if kind in CV_KINDS else "val MAE"


def _halfwidth(model: Any) -> float:
    hw = float(getattr(model, "halfwidth", float("inf")))
    return hw if np.isfinite(hw) else float("nan")


def side_metrics(arm: Arm, y_test: np.ndarray, extra: dict[str, Any]) -> dict[str, Any]:
    """metrics.json ``transfer`` / ``baseline`` for a regression arm."""
    hw = float(arm.info.get("halfwidth", float("nan")))
    return {
        "name": arm.model_name,
        **extra,
        **regression_summary(y_test, arm.output),
        "val_mae": -arm.val_score,
        "val_accuracy": arm.val_score,
        "selection": arm.info.get("selection", "val"),
        "interval": {
            "coverage_target": COVERAGE,
            "halfwidth": hw,
            "test_coverage": interval_coverage(y_test, arm.output, hw) if np.isfinite(hw) else float("nan"),
        },
        "history": getattr(arm.model, "history", []),
    }


def write_predictions(path: Path, data: LabeledData, idx: np.ndarray, arms: Sequence[Arm], shipped: str) -> None:
    """One row per test item: target, shipped value with its interval, each side's value."""
    by = {a.name: a for a in arms}
    ship = by.get({"transfer": "transfer", "baseline": "scratch"}.get(shipped, shipped), by["transfer"])
    hw = float(ship.info.get("halfwidth", float("nan")))
    cols: dict[str, Any] = {
        "id": [data.ids[i] for i in idx],
        "label": data.y[idx],
        "prediction": ship.output,
        "lower": ship.output - hw,
        "upper": ship.output + hw,
        "transfer_prediction": by["transfer"].output,
        "baseline_prediction": by["scratch"].output,
        "median_prediction": by["median"].output,
    }
    atomic_write_text(path, pd.DataFrame(cols).to_csv(index=False))


def predict_frame(model: Any, ids: list[str], items: Any) -> pd.DataFrame:
    """``predict`` output for a regression run: value and its 90% conformal interval."""
    pred = np.asarray(model.predict(items), dtype=np.float64)
    hw = _halfwidth(model)
    return pd.DataFrame({"id": ids, "prediction": pred, "lower": pred - hw, "upper": pred + hw})


def _g(x: Any) -> str:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return "-"
    return "-" if not np.isfinite(v) else f"{v:.4g}"


def render_regression_card(config: dict[str, Any], metrics: dict[str, Any], provenance: str) -> str:
    t, b, v = metrics["transfer"], metrics["baseline"], metrics["verdict"]
    shipped = metrics.get("shipped", {"side": "transfer", "reason": ""})
    sm = b if shipped["side"] == "baseline" else t
    rows = "\n".join(
        f"| {k}: {m['name']} | {_g(m['mae'])} | {_g(m['rmse'])} | {_g(m['r2'])} | {_g(m['spearman'])} "
        f"| ±{_g(m.get('interval', {}).get('halfwidth'))} |"
        for k, m in (("transfer", t), ("baseline", b))
    )
    return f"""---
library_name: headstart
tags: [headstart, {metrics["data"]["modality"]}-regression]
datasets: [{metrics["data"]["source"]}]
metrics: [mae, rmse, r2]
---

# {sm["name"]} (regression)

Trained with headstart. **Verdict: {v["label"]}.** {v["sentence"]}

Shipped model: **{shipped["side"]}** ({sm["name"]}) — {shipped["reason"]}.

## Training data

Source: `{metrics["data"]["source"]}` — {provenance}. Splits (stratified by target quintile, seed
{config["seed"]}): {metrics["data"]["split_sizes"]}.

## Evaluation (held-out test split)

| model | MAE | RMSE | R² | Spearman | 90% interval |
|---|---|---|---|---|---|
{rows}

Paired bootstrap (n={v["n_boot"]}) of MAE(baseline) − MAE(transfer): {_g(v["delta"])}, 95% CI
[{_g(v["ci_low"])}, {_g(v["ci_high"])}] on {v["n_test"]} test examples.

## Limitations and warnings

{chr(10).join(f"- {w}" for w in metrics.get("warnings", [])) or "- none"}
"""
