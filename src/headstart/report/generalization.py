"""The domain-generalization section of a report: the leave-one-domain-out accuracy table (rows: held-out
domains, columns: arms), the headline domain's verdicts, and every domain's verdicts."""

from __future__ import annotations

import html
from typing import Any

__all__ = ["generalization_section"]


def _pct(x: Any) -> str:
    return "—" if x is None or x != x else f"{100 * float(x):.1f}%"


def _verdict_rows(comparisons: list[dict[str, Any]]) -> str:
    e = html.escape
    return "".join(
        f"<tr><td>{e(str(c['comparison']))}</td><td>{e(str(c['label']))}</td>"
        f"<td class='num'>{100 * c['delta']:+.1f}</td>"
        f"<td class='num'>[{100 * c['ci_low']:+.1f}, {100 * c['ci_high']:+.1f}]</td></tr>"
        for c in comparisons
    )


def generalization_section(g: dict[str, Any]) -> str:
    """HTML for the ``generalization`` block of metrics.json (``GeneralizeResult.metrics()``)."""
    e = html.escape
    table = g["table"]
    cols = table["columns"]
    head = "".join(f"<th class='num'>{e(c)}</th>" for c in cols)
    body = []
    for r in table["rows"]:
        mark = " class='headline'" if r["domain"] == g["headline"] else ""
        cells = "".join(f"<td class='num'>{_pct(r.get(c))}</td>" for c in cols)
        body.append(f"<tr{mark}><td>{e(str(r['domain']))}</td><td class='num'>{r['n_test']}</td>{cells}</tr>")
    parts = [
        "<section id='generalization'><h2>Domain generalization (leave-one-domain-out)</h2>",
        f"<p>Domain column <code>{e(g['domain_column'])}</code>. Each row: that domain held out, every arm trained "
        "on the other domains and scored on its items (accuracy). Choices use the training domains only.</p>",
        f"<div class='scroll'><table><thead><tr><th>held-out domain</th><th class='num'>n</th>{head}</tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table></div>",
        f"<p><b>Headline domain: {e(g['headline'])}</b> ({e(g['headline_reason'])}). "
        f"Recommended for a new domain: <b>{e(g['recommended'])}</b> ({e(g['recommend_reason'])}).</p>",
        "<h3>Verdicts per held-out domain</h3>",
    ]
    for d in g["domains"]:
        parts.append(f"<h4>{e(str(d['domain']))} ({d['n_test']} items; validation: {e(d['validation'])})</h4>")
        parts.append(
            "<table><thead><tr><th>comparison</th><th>verdict</th><th class='num'>delta (pts)</th>"
            f"<th class='num'>95% CI</th></tr></thead><tbody>{_verdict_rows(d['comparisons'])}</tbody></table>"
        )
    parts.append("</section>")
    return "".join(parts)
