"""Report section: every arm of the run and every paired comparison between them (any kind of run)."""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from typing import Any


def _pct(x: Any) -> str:
    return "—" if x is None or x != x else f"{100 * float(x):.1f}%"


def _pts(x: Any) -> str:
    return "—" if x is None or x != x else f"{100 * float(x):+.1f}"


def _cells(cells: list[str], numeric: range) -> str:
    return "".join(f'<td class="num">{c}</td>' if i in numeric else f"<td>{c}</td>" for i, c in enumerate(cells))


def _table(header: list[str], rows: list[list[str]], numeric: range) -> str:
    th = "".join(f'<th class="num">{h}</th>' if i in numeric else f"<th>{h}</th>" for i, h in enumerate(header))
    body = "".join(f"<tr>{_cells(r, numeric)}</tr>" for r in rows)
    return f'<div class="scroll"><table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table></div>'


def arms_section(metrics: Mapping[str, Any]) -> str | None:
    arms = metrics.get("arms")
    if not arms:
        return None
    regression = any("mae" in a for a in arms)
    rows = []
    for a in arms:
        score = f"{a['mae']:.4g}" if regression and "mae" in a else _pct(a.get("accuracy"))
        rows.append(
            [
                escape(str(a["name"])),
                escape(str(a.get("role", ""))),
                escape(str(a.get("model", ""))),
                escape(str(a.get("task", "main"))),
                escape(str(a.get("trained_on", ""))),
                score,
                "—" if regression else _pct(a.get("balanced_accuracy")),
            ]
        )
    arms_html = _table(
        ["arm", "role", "model", "task", "trained on", "test MAE" if regression else "test acc.", "balanced acc."],
        rows,
        range(5, 7),
    )
    comp_rows = []
    for c in metrics.get("comparisons", []):
        p = c.get("mcnemar_p")
        comp_rows.append(
            [
                escape(str(c["comparison"])),
                escape(str(c["label"])),
                _pts(c["delta"]) if c.get("metric") == "accuracy" else f"{c['delta']:+.4g}",
                f"[{_pts(c['ci_low'])}, {_pts(c['ci_high'])}]"
                if c.get("metric") == "accuracy"
                else f"[{c['ci_low']:+.4g}, {c['ci_high']:+.4g}]",
                "—" if p is None else f"{p:.3g}",
                "yes" if c.get("underpowered") else "no",
            ]
        )
    comp_html = _table(
        ["comparison", "verdict", "delta", "95% CI", "McNemar p", "underpowered"], comp_rows, range(2, 5)
    )
    return (
        '<p class="note">Every model of the run, scored on the same test items. The references (majority class, '
        "stratified guess) are what any model must beat to be worth shipping.</p>"
        f"{arms_html}<h3>Paired comparisons</h3>{comp_html}"
        '<p class="note">Delta: accuracy points (or MAE units) of the first arm minus the second; the verdict '
        "takes a side only when the paired-bootstrap interval excludes zero. McNemar: exact test on the items "
        "where exactly one of the two is right.</p>"
    )
