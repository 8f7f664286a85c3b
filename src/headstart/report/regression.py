"""report.html and MODEL_CARD.md for a regression run: the MAE verdict with its CI, every arm's MAE / RMSE /
R² / Spearman and conformal interval coverage, predicted-vs-true scatter and residuals by decile of the
true target (from predictions.csv)."""

from __future__ import annotations

import html
from typing import Any

import numpy as np
import pandas as pd

from headstart.report.html import TEMPLATES
from headstart.report.plots import BASELINE_COLOR, TRANSFER_COLOR, _figure, _style, _top_legend, to_data_uri
from headstart.report.widgets import figure as _img

SIDES = (("transfer", "transfer_prediction", TRANSFER_COLOR), ("baseline", "baseline_prediction", BASELINE_COLOR))


def _g(x: Any) -> str:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return "-"
    return "-" if not np.isfinite(v) else f"{v:.4g}"


def scatter_plot(pred: pd.DataFrame) -> str:
    """Predicted vs true value for both sides, with the identity line."""
    fig = _figure(5.0, 4.2)
    ax = fig.add_subplot()
    y = pred["label"].to_numpy(float)
    for side, col, color in SIDES:
        ax.scatter(y, pred[col].to_numpy(float), s=9, alpha=0.55, color=color, label=side)
    lo, hi = float(np.min(y)), float(np.max(y))
    ax.plot([lo, hi], [lo, hi], color="#555", lw=1, ls="--", label="perfect")
    ax.set_xlabel("true value", fontsize=8)
    ax.set_ylabel("predicted value", fontsize=8)
    _style(ax)
    _top_legend(ax)
    return to_data_uri(fig)


def residual_deciles(pred: pd.DataFrame) -> list[dict[str, Any]]:
    """Mean residual (prediction - true) and MAE of each side per decile of the true target."""
    y = pred["label"].to_numpy(float)
    edges = np.unique(np.quantile(y, np.linspace(0, 1, 11)))
    bins = np.clip(np.searchsorted(edges, y, side="right") - 1, 0, max(0, len(edges) - 2))
    out = []
    for b in np.unique(bins):
        m = bins == b
        row: dict[str, Any] = {
            "decile": int(b) + 1,
            "lo": float(y[m].min()),
            "hi": float(y[m].max()),
            "n": int(m.sum()),
        }
        for side, col, _ in SIDES:
            r = pred[col].to_numpy(float)[m] - y[m]
            row[f"{side}_bias"], row[f"{side}_mae"] = float(r.mean()), float(np.abs(r).mean())
        out.append(row)
    return out


def _arms_table(metrics: dict[str, Any]) -> str:
    rows = []
    for key in ("transfer", "baseline"):
        m = metrics[key]
        iv = m.get("interval", {})
        rows.append(
            f"<tr><td>{key}</td><td>{html.escape(str(m['name']))}</td><td>{_g(m['mae'])}</td><td>{_g(m['rmse'])}</td>"
            f"<td>{_g(m['r2'])}</td><td>{_g(m['spearman'])}</td><td>{_g(m.get('val_mae'))}</td>"
            f"<td>±{_g(iv.get('halfwidth'))} ({_g(iv.get('test_coverage'))})</td></tr>"
        )
    for name, ref in metrics.get("references", {}).items():
        rows.append(f"<tr><td>{name}</td><td>{html.escape(str(ref['model']))}</td><td>{_g(ref.get('mae'))}</td>"
                    f"<td>{_g(ref.get('rmse'))}</td><td>-</td><td>-</td><td>-</td><td>-</td></tr>")  # fmt: skip
    head = ("<tr><th>arm</th><th>model</th><th>MAE</th><th>RMSE</th><th>R²</th><th>Spearman</th><th>val MAE</th>"
            "<th>90% interval (test coverage)</th></tr>")  # fmt: skip
    return f"<table>{head}{''.join(rows)}</table>"


def _decile_table(pred: pd.DataFrame) -> str:
    rows = "".join(
        f"<tr><td>{r['decile']}</td><td>{_g(r['lo'])} – {_g(r['hi'])}</td><td>{r['n']}</td>"
        f"<td>{_g(r['transfer_bias'])}</td><td>{_g(r['transfer_mae'])}</td>"
        f"<td>{_g(r['baseline_bias'])}</td><td>{_g(r['baseline_mae'])}</td></tr>"
        for r in residual_deciles(pred)
    )
    head = ("<tr><th>decile</th><th>true range</th><th>n</th><th>transfer bias</th><th>transfer MAE</th>"
            "<th>baseline bias</th><th>baseline MAE</th></tr>")  # fmt: skip
    return f"<table>{head}{rows}</table>"


def render_regression_report(
    config: dict[str, Any], metrics: dict[str, Any], pred: pd.DataFrame | None, name: str
) -> str:
    v = metrics["verdict"]
    shipped = metrics.get("shipped", {})
    figs = ""
    if pred is not None and len(pred):
        figs = (
            "<h2>Predicted vs true (test items)</h2>"
            + _img(scatter_plot(pred), "predicted vs true scatter")
            + "<h2>Residuals by decile of the true value</h2><p class='note'>bias = mean(prediction - true)</p>"
            + _decile_table(pred)
        )
    warn = "".join(f"<li>{html.escape(w)}</li>" for w in metrics.get("warnings", [])) or "<li>none</li>"
    d = metrics["data"]
    css = (TEMPLATES / "report.css").read_text(encoding="utf-8")
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>headstart {html.escape(name)}</title>
<style>{css}</style></head><body>
<h1>{html.escape(name)}: regression on {html.escape(str(d["source"]))}</h1>
<p><b>Verdict: {html.escape(v["label"])}.</b> {html.escape(v["sentence"])}</p>
<p>MAE(baseline) − MAE(transfer) = {_g(v["delta"])} (95% paired bootstrap CI {_g(v["ci_low"])} to {_g(v["ci_high"])},
{v["n_test"]} test items). Shipped: <b>{html.escape(str(shipped.get("side")))}</b> —
{html.escape(str(shipped.get("reason", "")))}</p>
<h2>Arms</h2>{_arms_table(metrics)}
<p class="note">Intervals are split-conformal: the 90% quantile of each model's held-out absolute residuals
(validation split or cross-validation), so prediction ± half-width should cover about 90% of new targets.</p>
{figs}
<h2>Data</h2><p>{html.escape(str(d["provenance"]))}. Target mean {_g(d["target"]["mean"])}, sd {_g(d["target"]["std"])},
range {_g(d["target"]["min"])} to {_g(d["target"]["max"])}. Splits: {d["split_sizes"]}. Seed {config.get("seed")}.</p>
<h2>Warnings</h2><ul>{warn}</ul></body></html>"""
