"""monitor.html: one self-contained page in the report's style (its CSS, PNG figures inline)."""

from __future__ import annotations

import time
from html import escape
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from headstart.report.html import TEMPLATES
from headstart.report.plots import BASELINE_COLOR, TRANSFER_COLOR, to_data_uri

CSS = (TEMPLATES / "report.css").read_text(encoding="utf-8")

BAD, GOOD = "#b91c1c", "#15803d"


def _fig(w: float, h: float) -> tuple[Figure, Any]:
    fig = Figure(figsize=(w, h), layout="constrained")
    ax = fig.add_subplot()
    ax.spines[["top", "right"]].set_visible(False)
    ax.tick_params(labelsize=8)
    ax.grid(axis="y", alpha=0.25)
    return fig, ax


def accuracy_plot(doc: dict[str, Any]) -> str:
    """Estimated accuracy (CI band) per chunk, realized accuracy when labeled, and the run's test accuracy."""
    pts = doc["chunks"] or [{"chunk": 1, **doc}]
    x = [c["chunk"] for c in pts]
    perf = [c["performance"] for c in pts]
    fig, ax = _fig(5.6, 2.6)
    ax.fill_between(
        x,
        [p["ci_low"] for p in perf],
        [p["ci_high"] for p in perf],
        color=TRANSFER_COLOR,
        alpha=0.18,
        lw=0,
        label="95% CI",
    )
    ax.plot(x, [p["estimate"] for p in perf], "-o", ms=4, color=TRANSFER_COLOR, label="estimated (CBPE)")
    if any("realized_accuracy" in p for p in perf):
        ax.plot(x, [p.get("realized_accuracy", np.nan) for p in perf], "-s", ms=4, color="#0f172a", label="realized")
    ax.axhline(perf[0]["test_accuracy"], color=BASELINE_COLOR, ls="--", lw=1.2, label="run's test accuracy")
    ax.set_xlabel("chunk", fontsize=8)
    ax.set_ylabel("accuracy", fontsize=8)
    ax.set_xticks(x)
    ax.legend(fontsize=7, frameon=False, ncols=4, loc="lower center", bbox_to_anchor=(0.5, 1.0))
    return to_data_uri(fig)


def pvalue_plot(doc: dict[str, Any]) -> str:
    pts = doc["chunks"] or [{"chunk": 1, **doc}]
    x = [c["chunk"] for c in pts]
    fig, ax = _fig(5.6, 2.4)
    for key, label, color in (
        ("embedding", "MMD on embeddings", TRANSFER_COLOR),
        ("output", "KS on probabilities", BASELINE_COLOR),
        ("class_shares", "class shares (chi²)", "#7c3aed"),
    ):
        ax.plot(x, [max(c["tests"][key]["p_value"], 1e-6) for c in pts], "-o", ms=4, color=color, label=label)
    ax.axhline(doc["level_per_test"], color=BAD, lw=1, ls=":", label=f"level {doc['level_per_test']:.3g}")
    ax.set_yscale("log")
    ax.set_xticks(x)
    ax.set_xlabel("chunk", fontsize=8)
    ax.set_ylabel("p-value", fontsize=8)
    ax.legend(fontsize=7, frameon=False, ncols=4, loc="lower center", bbox_to_anchor=(0.5, 1.0))
    return to_data_uri(fig)


def shares_plot(doc: dict[str, Any]) -> str:
    per = doc["tests"]["class_shares"]["per_class"]
    names = list(per)
    x = np.arange(len(names))
    fig, ax = _fig(max(3.6, 0.45 * len(names) + 1.5), 2.4)
    ax.bar(x - 0.2, [per[c]["reference_share"] for c in names], 0.4, color="#94a3b8", label="test split")
    ax.bar(
        x + 0.2,
        [per[c]["new_share"] for c in names],
        0.4,
        color=[BAD if c in doc["moved_classes"] else TRANSFER_COLOR for c in names],
        label="new data",
    )
    ax.set_xticks(
        x, [n[:10] for n in names], rotation=45 if len(names) > 6 else 0, ha="right" if len(names) > 6 else "center"
    )
    ax.set_ylabel("predicted share", fontsize=8)
    ax.legend(fontsize=7, frameon=False, ncols=2, loc="lower center", bbox_to_anchor=(0.5, 1.0))
    return to_data_uri(fig)


def confidence_plot(p_ref: np.ndarray, p_new: np.ndarray) -> str:
    fig, ax = _fig(4.2, 2.4)
    bins = np.linspace(0, 1, 21)
    ax.hist(p_ref.max(1), bins=bins, density=True, alpha=0.55, color="#94a3b8", label="test split")
    ax.hist(p_new.max(1), bins=bins, density=True, alpha=0.55, color=TRANSFER_COLOR, label="new data")
    ax.set_xlabel("top-1 probability", fontsize=8)
    ax.legend(fontsize=7, frameon=False, ncols=2, loc="lower center", bbox_to_anchor=(0.5, 1.0))
    return to_data_uri(fig)


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _realized(perf: dict[str, Any]) -> str:
    return _pct(perf["realized_accuracy"]) if "realized_accuracy" in perf else "-"


def _img(uri: str, caption: str) -> str:
    return f'<figure><img src="{uri}" alt="{escape(caption)}"><figcaption>{escape(caption)}</figcaption></figure>'


def render_monitor(doc: dict[str, Any], *, p_ref: np.ndarray, p_new: np.ndarray) -> str:
    perf, tests = doc["performance"], doc["tests"]
    cls = "bad" if doc["drift"] or perf["drop"] else "good"
    title = "Shift detected" if doc["drift"] else "No shift detected"
    kpis = [
        (f"{tests['embedding']['p_value']:.3g}", "MMD p-value (embeddings)"),
        (f"{tests['output']['p_value']:.3g}", "KS p-value (probabilities, Bonferroni)"),
        (f"{tests['class_shares']['p_value']:.3g}", "class-share p-value (chi²)"),
        (f"{_pct(perf['estimate'])} [{_pct(perf['ci_low'])}, {_pct(perf['ci_high'])}]", "estimated accuracy (95% CI)"),
        (_pct(perf["test_accuracy"]), "run's test accuracy"),
    ]
    if "realized_accuracy" in perf:
        kpis.append((_pct(perf["realized_accuracy"]), f"realized accuracy ({perf['n_labeled']} labeled)"))
    kpi_html = "".join(
        f'<div class="kpi"><div class="v">{escape(v)}</div><div class="l">{escape(l_)}</div></div>' for v, l_ in kpis
    )
    moved = ", ".join(doc["moved_classes"]) or "none"
    caveat = (
        " The accuracy estimate assumes the model's calibration carries over to the new data; with a shift"
        " detected it can be far too optimistic: label a sample of the new items to check it."
        if doc["drift"]
        else ""
    )
    drop = (
        "the estimated accuracy is below the test accuracy beyond its CI"
        if perf["drop"]
        else "the estimated accuracy is within its CI of the test accuracy"
    )
    rows = "".join(
        f"<tr><td>{c['chunk']}</td><td>{escape(str(c['first']))}</td><td class=num>{c['n_items']}</td>"
        f"<td class=num>{c['tests']['embedding']['p_value']:.3g}</td>"
        f"<td class=num>{c['tests']['output']['p_value']:.3g}</td>"
        f"<td class=num>{c['tests']['class_shares']['p_value']:.3g}</td>"
        f"<td class=num>{_pct(c['performance']['estimate'])}</td>"
        f"<td class=num>{_realized(c['performance'])}</td>"
        f"<td>{'yes' if c['drift'] else 'no'}</td></tr>"
        for c in doc["chunks"]
    )
    chunk_html = (
        "<h3>Per chunk</h3><div class=scroll><table><tr><th>chunk</th><th>first item</th><th class=num>n</th>"
        "<th class=num>MMD p</th><th class=num>KS p</th><th class=num>shares p</th><th class=num>est. acc</th>"
        f"<th class=num>realized</th><th>drift</th></tr>{rows}</table></div>"
        if doc["chunks"]
        else ""
    )
    stamp = time.strftime("%Y-%m-%d %H:%M")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>headstart monitor: {escape(doc["new_data"])}</title><style>{CSS}</style></head>
<body><main>
<header><h1>headstart monitor: {escape(doc["new_data"])}</h1>
<div class="sub">run {escape(doc["run"])} · {doc["n_new"]} new items · generated {stamp}</div></header>
<section class="summary {cls}"><h2><span class="badge">{title}</span></h2>
<p class="verdict-sentence">Drift is declared when a test has p &lt; {doc["level_per_test"]:.3g}
(α = {doc["alpha"]} over three tests); {escape(drop)}. Classes whose predicted share moved:
{escape(moved)}.{escape(caveat)}</p>
<div class="kpis">{kpi_html}</div></section>
<section><h2>Accuracy without labels, and shift tests</h2><div class="grid">
{_img(accuracy_plot(doc), "estimated accuracy per chunk (CBPE, isotonic calibration on the test split)")}
{_img(pvalue_plot(doc), "p-values per chunk, log scale")}</div>{chunk_html}</section>
<section><h2>Predicted classes and confidence</h2><div class="grid">
{_img(shares_plot(doc), "predicted class shares; red: share moved (adjusted residual, Bonferroni)")}
{_img(confidence_plot(p_ref, p_new), "top-1 probability on the test split vs the new data")}</div></section>
<section><h2>Method</h2><table class="kv">
<tr><td>embedding features</td><td>{escape(doc["features"])}</td></tr>
<tr><td>embedding reference</td><td>{escape(doc["reference"]["embedding"])}</td></tr>
<tr><td>output reference, calibration</td><td>{escape(doc["reference"]["output"])}</td></tr>
<tr><td>tests</td><td>{escape(tests["embedding"]["test"])}; {escape(tests["output"]["test"])};
{escape(tests["class_shares"]["test"])}</td></tr>
<tr><td>estimate</td><td>{escape(perf["method"])}</td></tr>
<tr><td>after</td><td>{escape(doc["cite"])}</td></tr></table></section>
<p class="note">Generated by headstart. This file is self-contained: it needs no network access to view.</p>
</main></body></html>
"""
