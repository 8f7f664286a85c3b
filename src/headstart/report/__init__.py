"""``report.html``: one self-contained page that shows why a run's verdict holds (verdict and its interval,
per-class scores, confusion matrices, training curves, calibration, confident mistakes, data, lineage, and the
optional audit / learning-curve / variance / drift sections when metrics.json has them)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pandas as pd

from headstart.io import atomic_write_text
from headstart.report.html import render_report

REPORT_NAME = "report.html"
log = logging.getLogger(__name__)

__all__ = ["REPORT_NAME", "render_report", "write_report"]


def _read_json(path: Path) -> dict[str, Any]:
    from headstart.errors import HeadstartError

    if not path.exists():
        raise HeadstartError(f"{path} not found: cannot write the report without it")
    return json.loads(path.read_text())  # type: ignore[no-any-return]


def _read_predictions(path: Path) -> pd.DataFrame | None:
    """predictions.csv, or None when it is missing or unreadable (the report then says so in that section)."""
    if not path.exists():
        return None
    try:
        return pd.read_csv(path, dtype={"id": str, "label": str, "prediction": str})
    except (OSError, ValueError) as e:
        log.warning("report: cannot read %s: %s", path, e)
        return None


def write_report(
    run_dir: str | Path,
    metrics: dict[str, Any] | None = None,
    config: dict[str, Any] | None = None,
    *,
    data: Any = None,
) -> Path:
    """Write ``run_dir/report.html`` and return its path.

    ``metrics`` and ``config`` are read from ``metrics.json`` / ``config.json`` only when not given (the pipeline
    passes them, since it writes metrics.json last, after the report). ``data`` (the run's LabeledData) is used to
    show the confidently wrong examples; when None it is reloaded from ``config["data"]``, and the report falls
    back to example ids if that fails.
    """
    run = Path(run_dir)
    if metrics is None:
        metrics = _read_json(run / "metrics.json")
    if config is None:
        config = _read_json(run / "config.json")
    predictions = _read_predictions(run / "predictions.csv")
    name = run.name.removesuffix(".partial")
    if metrics.get("data", {}).get("task") == "regression":
        from headstart.report.regression import render_regression_report

        atomic_write_text(run / REPORT_NAME, render_regression_report(config, metrics, predictions, name))
        return run / REPORT_NAME
    page = render_report(config, metrics, predictions, data, run_name=name)
    out = run / REPORT_NAME
    atomic_write_text(out, page)
    return out
