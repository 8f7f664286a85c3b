"""Report sections about the results: verdict, scores, confusion, training, calibration, mistakes."""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from typing import Any

import pandas as pd

import headstart.report.plots as plots
from headstart.report.widgets import dot, figure, fnum, html_table, pct, pts

N_WRONG = 12
MAX_TEXT_CHARS = 320
VERDICT_CLASS = {"helps": "good", "no-difference": "warn", "negative-transfer": "bad"}
VERDICT_TITLE = {
    "helps": "Transfer helps",
    "no-difference": "No detectable difference",
    "negative-transfer": "Negative transfer",
}


def summary_section(config: Mapping[str, Any], metrics: Mapping[str, Any]) -> str:
    v = metrics["verdict"]
    t, b = metrics["transfer"], metrics["baseline"]
    label = str(v.get("label", ""))
    shipped = metrics.get("shipped", {})
    side = shipped.get("side", "transfer")
    shipped_name = (t if side == "transfer" else b).get("name", side)
    kpis = [
        (pct(t.get("accuracy")), f"{dot(plots.TRANSFER_COLOR)}transfer: {escape(str(t.get('name', '')))}"),
        (pct(b.get("accuracy")), f"{dot(plots.BASELINE_COLOR)}baseline: {escape(str(b.get('name', '')))}"),
        (
            f"{pts(v.get('delta'))} pts",
            f"95% CI [{pts(v.get('ci_low'))}, {pts(v.get('ci_high'))}]",
        ),
        (str(v.get("n_test", "—")), f"paired test examples, {v.get('n_boot', '—')} bootstrap resamples"),
    ]
    kpi_html = "".join(
        f'<div class="kpi"><div class="v">{val}</div><div class="l">{lab}</div></div>' for val, lab in kpis
    )
    warnings = metrics.get("warnings") or []
    warn_html = (
        '<ul class="warnings">' + "".join(f"<li>{escape(str(w))}</li>" for w in warnings) + "</ul>" if warnings else ""
    )
    delta_img = figure(
        plots.delta_plot(v),
        "accuracy difference with 95% confidence interval against zero",
        "The dot is the observed accuracy difference on the test split; the bar is its 95% paired-bootstrap "
        "interval. The verdict is “helps” only if the whole bar is right of zero, “negative transfer” "
        "only if it is left of zero.",
    )
    return (
        f'<span class="badge">{escape(VERDICT_TITLE.get(label, label))}</span>'
        f'<p class="verdict-sentence" id="verdict-sentence">{escape(str(v.get("sentence", "")))}</p>'
        f'<div class="kpis">{kpi_html}</div>'
        f'<div style="max-width:640px">{delta_img}</div>'
        f"<p><strong>Shipped:</strong> {escape(str(side))} ({escape(str(shipped_name))}) — "
        f'{escape(str(shipped.get("reason", "")))}. <a href="#shipped">why</a></p>'
        f"{warn_html}"
    )


def performance_section(metrics: Mapping[str, Any]) -> str:
    t, b = metrics["transfer"], metrics["baseline"]
    rows = []
    for side, m, color in (("transfer", t, plots.TRANSFER_COLOR), ("baseline", b, plots.BASELINE_COLOR)):
        rows.append(
            [
                f"{dot(color)}{side}",
                escape(str(m.get("name", ""))),
                pct(m.get("accuracy")),
                pct(m.get("macro_f1")),
                pct(m.get("balanced_accuracy")),
                fnum(m.get("log_loss")),
                fnum(m.get("ece")),
                f"{escape(str(m.get('selection', 'val')))} {fnum(m.get('val_accuracy'))}",
            ]
        )
    overall = html_table(
        ["side", "model", "accuracy", "macro-F1", "balanced acc.", "log loss", "ECE", "selection score"],
        rows,
        numeric=range(2, 8),
    )
    classes = metrics.get("data", {}).get("classes") or list(t.get("per_class", {}))
    pt, pb = t.get("per_class", {}), b.get("per_class", {})
    f1_img = figure(
        plots.per_class_f1_plot(classes, pt, pb),
        "per-class F1, transfer vs baseline",
        "F1 per class on the test split (blue: transfer, orange: baseline).",
    )
    per_rows = [
        [
            escape(str(c)),
            str(pt.get(str(c), {}).get("support", "—")),
            fnum(pt.get(str(c), {}).get("precision"), 2),
            fnum(pt.get(str(c), {}).get("recall"), 2),
            fnum(pt.get(str(c), {}).get("f1"), 2),
            fnum(pb.get(str(c), {}).get("precision"), 2),
            fnum(pb.get(str(c), {}).get("recall"), 2),
            fnum(pb.get(str(c), {}).get("f1"), 2),
        ]
        for c in classes
    ]
    per_table = html_table(
        ["class", "support", "transfer P", "transfer R", "transfer F1", "baseline P", "baseline R", "baseline F1"],
        per_rows,
        numeric=range(1, 8),
    )
    return (
        f"{overall}<h3>Per-class F1</h3>{f1_img}"
        f'<details><summary class="muted">per-class precision / recall / F1 table</summary>{per_table}</details>'
    )


def confusion_section(metrics: Mapping[str, Any]) -> str:
    classes = metrics.get("data", {}).get("classes") or list(metrics["transfer"].get("per_class", {}))
    figs = []
    for side in ("transfer", "baseline"):
        m = metrics[side]
        if m.get("confusion_matrix"):
            title = f"{side}: {m.get('name', '')}"
            figs.append(figure(plots.confusion_plot(m["confusion_matrix"], classes, title), f"{side} confusion matrix"))
    if not figs:
        return '<p class="note">No confusion matrices in metrics.json.</p>'
    return (
        f'<div class="grid">{"".join(figs)}</div>'
        '<p class="note">Rows are true classes, columns predictions; shading is the share of each true class, '
        "numbers are counts of test examples.</p>"
    )


def training_section(metrics: Mapping[str, Any]) -> str:
    figs, notes = [], []
    for side in ("transfer", "baseline"):
        m = metrics[side]
        hist = m.get("history") or []
        if hist:
            figs.append(
                figure(
                    plots.history_plot(hist, f"{side}: {m.get('name', '')}"),
                    f"{side} training and validation loss",
                    f"{len(hist)} epochs.",
                )
            )
        else:
            notes.append(
                f"<li>{escape(side)} ({escape(str(m.get('name', '')))}): no epoch-by-epoch training "
                "(fitted in one go, e.g. a logistic-regression head), so there is no loss curve.</li>"
            )
    out = f'<div class="grid">{"".join(figs)}</div>' if figs else ""
    if notes:
        out += f'<ul class="note">{"".join(notes)}</ul>'
    if figs:
        out += (
            '<p class="note">A validation loss that turns upward while the training loss keeps falling is '
            "over-fitting; the best-validation-loss weights were kept.</p>"
        )
    return out


def calibration_section(metrics: Mapping[str, Any]) -> str:
    sides = []
    for side, color in (("transfer", plots.TRANSFER_COLOR), ("baseline", plots.BASELINE_COLOR)):
        m = metrics[side]
        if m.get("reliability"):
            sides.append((side, m["reliability"], float(m.get("ece", float("nan"))), color))
    if not sides:
        return '<p class="note">No reliability bins in metrics.json.</p>'
    fig = figure(plots.reliability_plot(sides), "reliability diagram")
    text = "".join(
        f"<li>{dot(c)}{escape(s)}: expected calibration error <strong>{fnum(e)}</strong></li>" for s, _, e, c in sides
    )
    return (
        f'<div class="grid"><div>{fig}</div><div><ul class="warnings">{text}</ul>'
        '<p class="note">Each point is a confidence bin (10 equal-width bins of the top-class probability; '
        "point size = share of test examples). On the diagonal, a model that says 80% is right 80% of the time. "
        "Below the diagonal it is over-confident. ECE is the example-weighted mean gap between confidence and "
        "accuracy over the bins (lower is better).</p></div></div>"
    )


def _item_cell(item: Any, modality: str) -> str:
    if modality == "text":
        text = str(item)
        short = text if len(text) <= MAX_TEXT_CHARS else text[: MAX_TEXT_CHARS - 1] + "…"
        return f'<div class="example-text">{escape(short)}</div>'
    from headstart.data.images import read_image

    return f'<img class="thumb" src="{plots.thumbnail_uri(read_image(item))}" alt="test image">'


def _load_items(config: Mapping[str, Any], data: Any) -> tuple[Any, str]:
    """The LabeledData for the run (given, or reloaded from config['data']); (None, reason) if unavailable."""
    if data is not None:
        return data, ""
    try:
        from headstart.data import load_data

        loaded = load_data(
            str(config["data"]),
            text_column=config.get("text_column"),
            label_column=config.get("label_column"),
            group_columns=tuple(config.get("group_columns") or ()),
            on_bad_item=str(config.get("on_bad_item") or "error"),
        )
        return loaded, ""
    except Exception as e:  # data moved, deleted or unreadable: show ids only
        return None, f"{type(e).__name__}: {e}"


def mistakes_section(
    config: Mapping[str, Any], metrics: Mapping[str, Any], predictions: pd.DataFrame | None, data: Any
) -> str:
    if predictions is None or predictions.empty:
        return '<p class="note">predictions.csv is not available for this run.</p>'
    side = metrics.get("shipped", {}).get("side", "transfer")
    other = "baseline" if side == "transfer" else "transfer"
    df = predictions
    wrong = df[df["prediction"].astype(str) != df["label"].astype(str)]
    n_wrong = len(wrong)
    if not n_wrong:
        return f'<p class="note">The shipped model ({escape(side)}) made no mistakes on {len(df)} test examples.</p>'
    top = wrong.sort_values("confidence", ascending=False, kind="stable").head(N_WRONG)
    modality = str(metrics.get("data", {}).get("modality", config.get("modality", "text")))
    loaded, reason = _load_items(config, data)
    index: dict[str, int] = {}
    if loaded is not None:
        index = {str(i): k for k, i in enumerate(loaded.ids)}
    rows = []
    missing = 0
    for r in top.itertuples(index=False):
        rid = str(r.id)
        if rid in index:
            try:
                cell = _item_cell(loaded.items[index[rid]], modality)
            except Exception as e:
                cell = f'<span class="error">unreadable: {escape(str(e))}</span>'
        else:
            missing += 1
            cell = '<span class="muted">(content unavailable)</span>'
        other_pred = getattr(r, f"{other}_prediction", "")
        other_conf = getattr(r, f"{other}_confidence", float("nan"))
        other_ok = str(other_pred) == str(r.label)
        rows.append(
            [
                cell,
                f"<code>{escape(rid)}</code>",
                escape(str(r.label)),
                f'<span class="wrong">{escape(str(r.prediction))}</span>',
                pct(r.confidence),
                f"{escape(str(other_pred))} ({pct(other_conf)})" + (" ✓" if other_ok else ""),
            ]
        )
    note = ""
    if loaded is None:
        note = f'<p class="note">Example contents could not be loaded ({escape(reason)}); showing ids only.</p>'
    elif missing:
        note = f'<p class="note">{missing} example(s) not found in the reloaded data; showing their ids only.</p>'
    return (
        f"<p>The {len(top)} test examples the shipped model (<strong>{escape(side)}</strong>) got wrong with the "
        f"highest confidence, out of {n_wrong} mistakes on {len(df)} test examples. Confident mistakes often "
        "reveal label noise or ambiguous classes.</p>"
        + note
        + html_table(
            [
                "example",
                "id",
                "true label",
                f"{escape(side)} predicted",
                "confidence",
                f"{escape(other)} said (✓ = right)",
            ],
            rows,
            numeric=(4,),
        )
    )
