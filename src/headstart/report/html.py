"""Render one run as a single self-contained HTML page (jinja2 template ``templates/report.html.j2``, inline
CSS from ``templates/report.css``, figures as base64 PNG data URIs, no scripts, no network resources).

Every section is rendered independently (:func:`headstart.report.widgets.safe`): a section that fails (odd or
missing metrics, unreadable data) shows a short note instead of taking the whole report down. Sections live in
:mod:`headstart.report.results` (the scores) and :mod:`headstart.report.context` (what surrounds them); run
kinds add their own modules (arms, multitask, ...), listed here in page order.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd

from headstart.report.arms import arms_section
from headstart.report.context import (
    audit_section,
    cka_section,
    curve_section,
    data_section,
    lineage_section,
    shipped_section,
    variance_section,
)
from headstart.report.multitask import multitask_section
from headstart.report.results import (
    VERDICT_CLASS,
    calibration_section,
    confusion_section,
    mistakes_section,
    performance_section,
    summary_section,
    training_section,
)
from headstart.report.widgets import safe

TEMPLATES = Path(__file__).with_name("templates")
_ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=jinja2.select_autoescape(["html", "j2"])
)


def render_report(
    config: Mapping[str, Any],
    metrics: Mapping[str, Any],
    predictions: pd.DataFrame | None = None,
    data: Any = None,
    *,
    run_name: str = "",
) -> str:
    """The full HTML page for one run (a string)."""
    label = str(metrics.get("verdict", {}).get("label", ""))
    summary = safe("summary", "Verdict", lambda: summary_section(config, metrics))
    sections = [
        safe("performance", "Transfer vs baseline on the test split", lambda: performance_section(metrics)),
        safe("multitask", "Per-task verdicts: one shared model vs one per task", lambda: multitask_section(metrics)),
        safe("arms", "Every arm and comparison", lambda: arms_section(metrics)),
        safe("confusion", "Confusion matrices", lambda: confusion_section(metrics)),
        safe("training", "Training curves", lambda: training_section(metrics)),
        safe("calibration", "Calibration", lambda: calibration_section(metrics)),
        safe(
            "mistakes",
            "Most confidently wrong test examples",
            lambda: mistakes_section(config, metrics, predictions, data),
        ),
        safe("audit", "Subgroup audit", lambda: audit_section(metrics)),
        safe("curve", "Learning curve", lambda: curve_section(metrics)),
        safe("variance", "Variance across splits", lambda: variance_section(metrics)),
        safe("drift", "Representation drift", lambda: cka_section(metrics)),
        safe("data", "Data", lambda: data_section(config, metrics)),
        safe("lineage", "Lineage and reproducibility", lambda: lineage_section(config, metrics)),
        safe("shipped", "Which model was shipped, and why", lambda: shipped_section(metrics)),
    ]
    shown = [s for s in sections if s is not None]
    source = str(metrics.get("data", {}).get("source", config.get("data", "")))
    t = metrics.get("transfer", {})
    subtitle = [
        x
        for x in (
            run_name,
            f"{t.get('strategy', config.get('strategy', ''))} on {config.get('backbone', '')}",
            f"vs {metrics.get('baseline', {}).get('name', '')}",
            f"report generated {time.strftime('%Y-%m-%d %H:%M')}",
        )
        if x
    ]
    return _ENV.get_template("report.html.j2").render(
        source=source,
        subtitle=subtitle,
        css=(TEMPLATES / "report.css").read_text(encoding="utf-8"),
        summary=summary,
        verdict_class=VERDICT_CLASS.get(label, "warn"),
        sections=shown,
    )
