"""Render one run as a single self-contained HTML page: inline CSS, figures as base64 PNG data URIs, no
scripts, no network resources. Every section is rendered independently: a section that fails (odd or missing
metrics, unreadable data) shows a short note instead of taking the whole report down."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from html import escape
from typing import Any

import pandas as pd

import headstart.report.plots as plots
from headstart.report.arms import arms_section

log = logging.getLogger(__name__)

N_WRONG = 12
MAX_TEXT_CHARS = 320
MAX_SKIPPED_LISTED = 20
VERDICT_CLASS = {"helps": "good", "no-difference": "warn", "negative-transfer": "bad"}
VERDICT_TITLE = {
    "helps": "Transfer helps",
    "no-difference": "No detectable difference",
    "negative-transfer": "Negative transfer",
}

CSS = """
:root { --good:#15803d; --good-bg:#f0fdf4; --warn:#b45309; --warn-bg:#fffbeb; --bad:#b91c1c; --bad-bg:#fef2f2;
        --line:#e2e8f0; --muted:#64748b; --ink:#0f172a; --t:#2563eb; --b:#f59e0b; }
* { box-sizing: border-box; }
body { margin:0; background:#f1f5f9; color:var(--ink); line-height:1.45;
       font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width:1120px; margin:0 auto; padding:20px 24px 48px; }
header h1 { font-size:22px; margin:8px 0 2px; }
header .sub { color:var(--muted); font-size:13px; }
nav { margin:10px 0 4px; font-size:13px; display:flex; flex-wrap:wrap; gap:2px 14px; }
nav a { color:var(--muted); text-decoration:none; white-space:nowrap; }
nav a:hover { color:var(--ink); text-decoration:underline; }
section { background:#fff; border:1px solid var(--line); border-radius:10px; padding:14px 20px 16px; margin:14px 0; }
section h2 { font-size:17px; margin:2px 0 10px; }
section h3 { font-size:14px; margin:14px 0 6px; }
.summary { border-left:8px solid var(--c); background:var(--cbg); }
.summary.good { --c:var(--good); --cbg:var(--good-bg); }
.summary.warn { --c:var(--warn); --cbg:var(--warn-bg); }
.summary.bad { --c:var(--bad); --cbg:var(--bad-bg); }
.badge { display:inline-block; padding:2px 10px; border-radius:999px; color:#fff; background:var(--c);
         font-weight:600; font-size:13px; letter-spacing:.02em; }
.verdict-sentence { font-size:16px; margin:8px 0 10px; }
.kpis { display:flex; flex-wrap:wrap; gap:10px; margin:8px 0; }
.kpi { background:#fff; border:1px solid var(--line); border-radius:8px; padding:6px 12px; min-width:150px; }
.kpi .v { font-size:18px; font-weight:600; font-variant-numeric:tabular-nums; }
.kpi .l { color:var(--muted); font-size:12px; }
.grid { display:grid; grid-template-columns:repeat(auto-fit, minmax(330px, 1fr)); gap:14px; align-items:start; }
.grid > * { min-width:0; }
figure { margin:0; }
figure img { max-width:100%; height:auto; display:block; }
figcaption { color:var(--muted); font-size:12px; margin-top:4px; }
table { border-collapse:collapse; font-size:13px; margin:4px 0 8px; }
th, td { padding:4px 10px; border-bottom:1px solid var(--line); text-align:left; vertical-align:top; }
th { background:#f8fafc; font-weight:600; }
table.kv td:first-child { white-space:nowrap; color:#334155; }
td.num, th.num { text-align:right; font-variant-numeric:tabular-nums; }
.scroll { overflow-x:auto; }
code { font: 12px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; word-break:break-all; }
.muted { color:var(--muted); }
.note { color:var(--muted); font-size:13px; }
.error { color:var(--bad); font-size:13px; }
ul.warnings { margin:6px 0; padding-left:20px; }
ul.warnings li { margin:2px 0; }
.dot { display:inline-block; width:10px; height:10px; border-radius:2px; margin-right:4px; vertical-align:middle; }
.example-text { max-width:520px; font-size:13px; }
img.thumb { image-rendering:pixelated; border:1px solid var(--line); border-radius:4px; width:64px; height:auto; }
.wrong { color:var(--bad); font-weight:600; }
@media print { body { background:#fff; } section { break-inside:avoid; border-color:#ccc; } nav { display:none; } }
"""


# ---------------------------------------------------------------------------------------------- helpers


def _pct(x: Any, digits: int = 1) -> str:
    return f"{100 * float(x):.{digits}f}%" if _num(x) else "—"


def _pts(x: Any) -> str:
    return f"{100 * float(x):+.1f}" if _num(x) else "—"


def _f(x: Any, digits: int = 3) -> str:
    return f"{float(x):.{digits}f}" if _num(x) else "—"


def _num(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(float(x))


def _img(uri: str, alt: str, caption: str = "") -> str:
    cap = f"<figcaption>{caption}</figcaption>" if caption else ""
    return f'<figure><img src="{uri}" alt="{escape(alt)}">{cap}</figure>'


def _table(
    header: Sequence[str], rows: Sequence[Sequence[Any]], numeric: Sequence[int] = (), *, kv: bool = False
) -> str:
    """A table of pre-escaped cell strings; columns listed in ``numeric`` are right-aligned."""
    th = "".join(f'<th class="num">{h}</th>' if i in numeric else f"<th>{h}</th>" for i, h in enumerate(header))
    body = "".join(
        "<tr>"
        + "".join(f'<td class="num">{c}</td>' if i in numeric else f"<td>{c}</td>" for i, c in enumerate(r))
        + "</tr>"
        for r in rows
    )
    cls = ' class="kv"' if kv else ""
    return f'<div class="scroll"><table{cls}><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table></div>'


def _dot(color: str) -> str:
    return f'<span class="dot" style="background:{color}"></span>'


class Section:
    def __init__(self, sid: str, title: str, body: str) -> None:
        self.sid, self.title, self.body = sid, title, body

    def html(self, extra_class: str = "") -> str:
        cls = f' class="{extra_class}"' if extra_class else ""
        return f'<section id="{self.sid}"{cls}><h2>{escape(self.title)}</h2>{self.body}</section>'


def _safe(sid: str, title: str, fn: Callable[[], str | None]) -> Section | None:
    """Run one section renderer; None = nothing to show; an exception becomes a visible note."""
    try:
        body = fn()
    except Exception as e:  # a report section must never take the run down
        log.warning("report section %r failed: %s: %s", sid, type(e).__name__, e)
        why = escape(f"{type(e).__name__}: {e}")
        body = f'<p class="error">This section could not be rendered ({why}).</p>'
    return None if body is None else Section(sid, title, body)


# ---------------------------------------------------------------------------------------------- sections


def _summary(config: Mapping[str, Any], metrics: Mapping[str, Any]) -> str:
    v = metrics["verdict"]
    t, b = metrics["transfer"], metrics["baseline"]
    label = str(v.get("label", ""))
    shipped = metrics.get("shipped", {})
    side = shipped.get("side", "transfer")
    shipped_name = (t if side == "transfer" else b).get("name", side)
    kpis = [
        (_pct(t.get("accuracy")), f"{_dot(plots.TRANSFER_COLOR)}transfer: {escape(str(t.get('name', '')))}"),
        (_pct(b.get("accuracy")), f"{_dot(plots.BASELINE_COLOR)}baseline: {escape(str(b.get('name', '')))}"),
        (
            f"{_pts(v.get('delta'))} pts",
            f"95% CI [{_pts(v.get('ci_low'))}, {_pts(v.get('ci_high'))}]",
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
    delta_img = _img(
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


def _performance(metrics: Mapping[str, Any]) -> str:
    t, b = metrics["transfer"], metrics["baseline"]
    rows = []
    for side, m, color in (("transfer", t, plots.TRANSFER_COLOR), ("baseline", b, plots.BASELINE_COLOR)):
        rows.append(
            [
                f"{_dot(color)}{side}",
                escape(str(m.get("name", ""))),
                _pct(m.get("accuracy")),
                _pct(m.get("macro_f1")),
                _pct(m.get("balanced_accuracy")),
                _f(m.get("log_loss")),
                _f(m.get("ece")),
                f"{escape(str(m.get('selection', 'val')))} {_f(m.get('val_accuracy'))}",
            ]
        )
    overall = _table(
        ["side", "model", "accuracy", "macro-F1", "balanced acc.", "log loss", "ECE", "selection score"],
        rows,
        numeric=range(2, 8),
    )
    classes = metrics.get("data", {}).get("classes") or list(t.get("per_class", {}))
    pt, pb = t.get("per_class", {}), b.get("per_class", {})
    f1_img = _img(
        plots.per_class_f1_plot(classes, pt, pb),
        "per-class F1, transfer vs baseline",
        "F1 per class on the test split (blue: transfer, orange: baseline).",
    )
    per_rows = [
        [
            escape(str(c)),
            str(pt.get(str(c), {}).get("support", "—")),
            _f(pt.get(str(c), {}).get("precision"), 2),
            _f(pt.get(str(c), {}).get("recall"), 2),
            _f(pt.get(str(c), {}).get("f1"), 2),
            _f(pb.get(str(c), {}).get("precision"), 2),
            _f(pb.get(str(c), {}).get("recall"), 2),
            _f(pb.get(str(c), {}).get("f1"), 2),
        ]
        for c in classes
    ]
    per_table = _table(
        ["class", "support", "transfer P", "transfer R", "transfer F1", "baseline P", "baseline R", "baseline F1"],
        per_rows,
        numeric=range(1, 8),
    )
    return (
        f"{overall}<h3>Per-class F1</h3>{f1_img}"
        f'<details><summary class="muted">per-class precision / recall / F1 table</summary>{per_table}</details>'
    )


def _confusion(metrics: Mapping[str, Any]) -> str:
    classes = metrics.get("data", {}).get("classes") or list(metrics["transfer"].get("per_class", {}))
    figs = []
    for side in ("transfer", "baseline"):
        m = metrics[side]
        if m.get("confusion_matrix"):
            title = f"{side}: {m.get('name', '')}"
            figs.append(_img(plots.confusion_plot(m["confusion_matrix"], classes, title), f"{side} confusion matrix"))
    if not figs:
        return '<p class="note">No confusion matrices in metrics.json.</p>'
    return (
        f'<div class="grid">{"".join(figs)}</div>'
        '<p class="note">Rows are true classes, columns predictions; shading is the share of each true class, '
        "numbers are counts of test examples.</p>"
    )


def _training(metrics: Mapping[str, Any]) -> str:
    figs, notes = [], []
    for side in ("transfer", "baseline"):
        m = metrics[side]
        hist = m.get("history") or []
        if hist:
            figs.append(
                _img(
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


def _calibration(metrics: Mapping[str, Any]) -> str:
    sides = []
    for side, color in (("transfer", plots.TRANSFER_COLOR), ("baseline", plots.BASELINE_COLOR)):
        m = metrics[side]
        if m.get("reliability"):
            sides.append((side, m["reliability"], float(m.get("ece", float("nan"))), color))
    if not sides:
        return '<p class="note">No reliability bins in metrics.json.</p>'
    fig = _img(plots.reliability_plot(sides), "reliability diagram")
    text = "".join(
        f"<li>{_dot(c)}{escape(s)}: expected calibration error <strong>{_f(e)}</strong></li>" for s, _, e, c in sides
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


def _wrong(config: Mapping[str, Any], metrics: Mapping[str, Any], predictions: pd.DataFrame | None, data: Any) -> str:
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
                _pct(r.confidence),
                f"{escape(str(other_pred))} ({_pct(other_conf)})" + (" ✓" if other_ok else ""),
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
        + _table(
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


def _audit(metrics: Mapping[str, Any]) -> str | None:
    audit = metrics.get("audit")
    if not audit:
        return None
    parts = [
        '<p class="note">Test metrics per subgroup of an audit column. The gap is the largest difference in '
        "accuracy between any two groups; transfer can widen or narrow it relative to the baseline.</p>"
    ]
    keys = ("accuracy", "recall", "fpr", "fnr", "selection_rate")
    for col, a in audit.items():
        groups = a.get("groups") or []
        tg, bg = a.get("transfer", {}).get("max_gap"), a.get("baseline", {}).get("max_gap")
        change = str(a.get("change", ""))
        cls = {"widened": "wrong", "narrowed": ""}.get(change, "")
        parts.append(
            f"<h3>by <code>{escape(str(col))}</code></h3><p>Largest accuracy gap: transfer <strong>{_f(tg)}</strong>, "
            f"baseline <strong>{_f(bg)}</strong>"
            + (f' — transfer <span class="{cls}">{escape(change)}</span> the gap' if change else "")
            + ".</p>"
        )
        if groups:
            parts.append(_img(plots.audit_plot(groups), f"accuracy per {col} group"))
            rows = []
            for g in groups:
                name = escape(str(g.get("group", "")))
                if g.get("in_gap") is False:
                    name += ' <span class="muted">(too few to count in the gap)</span>'
                row = [name, str(g.get("n", "—"))]
                for k in keys:
                    row.append(f"{_f(g.get('transfer', {}).get(k), 2)} / {_f(g.get('baseline', {}).get(k), 2)}")
                rows.append(row)
            parts.append(
                _table(
                    ["group", "n", *(f"{k.replace('_', ' ')} (T / B)" for k in keys)],
                    rows,
                    numeric=range(1, 2 + len(keys)),
                )
            )
    return "".join(parts)


def _curve(metrics: Mapping[str, Any]) -> str | None:
    curve = metrics.get("curve")
    points = (curve or {}).get("points") if isinstance(curve, Mapping) else None
    if not points:
        return None
    img = _img(
        plots.curve_plot(points),
        "test accuracy vs number of labels",
        "Mean test accuracy over seeds; error bars are ± one standard deviation.",
    )
    rows = [
        [
            f"{plots.curve_x(p):.3g}",
            f"{_pct(p.get('transfer_mean'))} ± {_pct(p.get('transfer_std'))}",
            f"{_pct(p.get('baseline_mean'))} ± {_pct(p.get('baseline_std'))}",
            str(p.get("n_seeds", "—")),
        ]
        for p in sorted(points, key=plots.curve_x)
    ]
    key = plots.curve_xlabel(points)
    return (
        '<p class="note">How much labeled data transfer saves: both sides re-fitted on growing subsets of the '
        "training labels, scored on the same test split.</p>"
        f'<div class="grid"><div>{img}</div><div>'
        + _table([key, "transfer", "baseline", "seeds"], rows, numeric=range(4))
        + "</div></div>"
    )


def _run_delta(r: Any) -> float | None:
    if _num(r):
        return float(r)
    if not isinstance(r, Mapping):
        return None
    if _num(r.get("delta")):
        return float(r["delta"])
    t, b = r.get("transfer"), r.get("baseline")
    t = t.get("accuracy", t.get("mean")) if isinstance(t, Mapping) else t
    b = b.get("accuracy", b.get("mean")) if isinstance(b, Mapping) else b
    if _num(t) and _num(b):
        return float(t) - float(b)
    return None


def _variance(metrics: Mapping[str, Any]) -> str | None:
    var = metrics.get("variance")
    if not isinstance(var, Mapping) or not var:
        return None
    mode = str(var.get("mode", "runs"))
    k = var.get("k", len(var.get("runs") or []))
    t, b, d = var.get("transfer", {}), var.get("baseline", {}), var.get("delta", {})
    rows = [
        [f"{_dot(plots.TRANSFER_COLOR)}transfer", _pct(t.get("mean")), _pct(t.get("std")), "", ""],
        [f"{_dot(plots.BASELINE_COLOR)}baseline", _pct(b.get("mean")), _pct(b.get("std")), "", ""],
        [
            "difference",
            f"{_pts(d.get('mean'))} pts",
            f"{100 * float(d['std']):.1f} pts" if _num(d.get("std")) else "—",
            _pts(d.get("min")),
            _pts(d.get("max")),
        ],
    ]
    deltas = [x for x in (_run_delta(r) for r in var.get("runs") or []) if x is not None]
    img = (
        _img(
            plots.variance_plot(deltas, mode),
            "per-run accuracy differences",
            "Each dot is one run; the box spans the quartiles.",
        )
        if deltas
        else ""
    )
    return (
        f'<p class="note">The comparison repeated over {escape(str(k))} {escape(mode)}: how much the verdict '
        "depends on which examples were labeled.</p>"
        + _table(["", "mean", "std", "min", "max"], rows, numeric=range(1, 5))
        + img
    )


def _cka(metrics: Mapping[str, Any]) -> str | None:
    cka = (metrics.get("notes") or {}).get("cka")
    if cka is None:
        return None
    if isinstance(cka, Mapping):
        rows = [[escape(str(k)), _f(v) if _num(v) else escape(str(v))] for k, v in cka.items()]
        return '<p class="note">Linear CKA between the original and fine-tuned representations.</p>' + _table(
            ["", "CKA"], rows, numeric=(1,)
        )
    if not _num(cka):
        return f"<p>{escape(str(cka))}</p>"
    value = float(cka)
    reading = (
        "the fine-tuned backbone still represents inputs much like the pretrained one"
        if value >= 0.9
        else "fine-tuning moved the representation substantially — a sign of forgetting the pretrained features"
        if value < 0.6
        else "fine-tuning changed the representation moderately"
    )
    return (
        f"<p>Linear CKA between the pretrained and fine-tuned embeddings of the test inputs: "
        f"<strong>{value:.3f}</strong> (1 = unchanged, 0 = unrelated): {reading}.</p>"
    )


def _data(config: Mapping[str, Any], metrics: Mapping[str, Any]) -> str:
    d = metrics.get("data", {})
    sizes = d.get("split_sizes", {})
    counts = d.get("class_counts", {})
    labeled = d.get("labeled_class_counts", {})
    support = {c: v.get("support") for c, v in metrics.get("transfer", {}).get("per_class", {}).items()}
    info = _table(
        ["field", "value"],
        [
            ["source", f"<code>{escape(str(d.get('source', config.get('data', ''))))}</code>"],
            ["provenance", escape(str(d.get("provenance", "—")))],
            ["modality", escape(str(d.get("modality", "—")))],
            ["items loaded", str(d.get("n_items", "—"))],
            [
                "splits (stratified)",
                f"train {sizes.get('train', '—')}, validation {sizes.get('val', '—')}, test {sizes.get('test', '—')}"
                f" (seed {escape(str(config.get('seed', '—')))}; indices in splits.json)",
            ],
            ["labels per class", escape(str(config.get("labels_per_class") or "all"))],
            ["imbalance ratio", _f(d.get("imbalance_ratio"), 2)],
        ],
        kv=True,
    )
    rows = [[escape(str(c)), str(n), str(labeled.get(c, "—")), str(support.get(c, "—"))] for c, n in counts.items()]
    classes = _table(["class", "items", "labeled (train + val)", "test"], rows, numeric=(1, 2, 3))
    skipped = d.get("skipped") or []
    if skipped:
        listed = "".join(
            f"<li><code>{escape(str(s.get('id', '')))}</code>: {escape(str(s.get('reason', '')))}</li>"
            for s in skipped[:MAX_SKIPPED_LISTED]
        )
        more = (
            f"<li>… and {len(skipped) - MAX_SKIPPED_LISTED} more (metrics.json data.skipped)</li>"
            if len(skipped) > MAX_SKIPPED_LISTED
            else ""
        )
        skipped_html = f'<h3>Skipped items ({len(skipped)})</h3><ul class="warnings">{listed}{more}</ul>'
    else:
        skipped_html = '<p class="note">No items were skipped.</p>'
    warnings = metrics.get("warnings") or []
    warn_html = (
        '<h3>Warnings</h3><ul class="warnings">' + "".join(f"<li>{escape(str(w))}</li>" for w in warnings) + "</ul>"
        if warnings
        else '<p class="note">No warnings.</p>'
    )
    return f'<div class="grid"><div>{info}</div><div>{classes}</div></div>{skipped_html}{warn_html}'


def _lineage_info(config: Mapping[str, Any]) -> dict[str, Any]:
    try:
        from headstart.card import _lineage

        return dict(_lineage(dict(config)))
    except Exception:
        return {"name": config.get("backbone", "—")}


def _lineage(config: Mapping[str, Any], metrics: Mapping[str, Any]) -> str:
    lin = _lineage_info(config)
    t = metrics.get("transfer", {})
    chosen = config.get("strategy_chosen")
    strategy = str(t.get("strategy", config.get("strategy", "—")))
    if isinstance(chosen, Mapping):
        strategy += f" (auto: {chosen.get('why', '')})"
    opts = config.get("options") or {}
    rows = [
        ["backbone", f"<code>{escape(str(lin.get('name', config.get('backbone', '—'))))}</code>"],
        ["description", escape(str(lin.get("description", "—")))],
        ["weights sha256", f"<code>{escape(str(lin.get('sha256') or 'not pinned'))}</code>"],
        ["license", escape(str(lin.get("license", "—")))],
        ["source", escape(f"{lin.get('source_package', '—')} {lin.get('source_version', '')}".strip())],
        ["pre-training domain", escape(str(lin.get("source_domain", "—")))],
        ["strategy", escape(strategy)],
        ["image size", escape(str(config.get("image_size") or "—"))],
        ["loss", escape(str(config.get("loss", "—")))],
        ["options", escape(", ".join(f"{k}={v}" for k, v in opts.items()) or "defaults")],
        ["license gate (--use)", escape(str(config.get("use", "—")))],
        ["seed", escape(str(config.get("seed", "—")))],
        ["started", escape(str(config.get("started", "—")))],
    ]
    versions = config.get("versions") or {}
    vrows = [[escape(str(k)), f"<code>{escape(str(v))}</code>"] for k, v in versions.items()]
    timing = metrics.get("timing") or {}
    cache = metrics.get("cache") or {}
    time_txt = ", ".join(f"{escape(str(k))} {float(v):.1f}s" for k, v in timing.items() if _num(v))
    cache_txt = (
        f"embedding cache: {cache.get('hits', 0)} reused, {cache.get('computed', cache.get('misses', 0))} computed"
        if cache
        else ""
    )
    return (
        f'<div class="grid"><div>{_table(["field", "value"], rows, kv=True)}</div>'
        f'<div><h3 style="margin-top:0">Package versions</h3>{_table(["package", "version"], vrows)}</div></div>'
        f'<p class="note">{time_txt}{"; " + cache_txt if cache_txt and time_txt else cache_txt}</p>'
    )


def _shipped(metrics: Mapping[str, Any]) -> str:
    shipped = metrics.get("shipped") or {}
    side = str(shipped.get("side", "transfer"))
    t, b = metrics["transfer"], metrics["baseline"]
    folder = "model/" if side == "transfer" else "baseline/"
    rows = [
        [
            f"{_dot(plots.TRANSFER_COLOR)}transfer" + (" <strong>(shipped)</strong>" if side == "transfer" else ""),
            escape(str(t.get("name", ""))),
            _f(t.get("val_accuracy")),
            _pct(t.get("accuracy")),
        ],
        [
            f"{_dot(plots.BASELINE_COLOR)}baseline" + (" <strong>(shipped)</strong>" if side == "baseline" else ""),
            escape(str(b.get("name", ""))),
            _f(b.get("val_accuracy")),
            _pct(b.get("accuracy")),
        ],
    ]
    out = (
        f"<p><strong>{escape(side)}</strong> was shipped (saved in <code>{folder}</code>, used by "
        f"<code>headstart predict</code>): {escape(str(shipped.get('reason', '')))}.</p>"
        '<p class="note">The choice uses validation accuracy only; the test split is kept for the verdict.</p>'
        + _table(["side", "model", "validation acc.", "test acc."], rows, numeric=(2, 3))
    )
    candidates = b.get("candidates") or {}
    if candidates:
        crow = [
            [escape(str(n)) + (" <strong>(chosen)</strong>" if n == b.get("name") else ""), _f(a)]
            for n, a in candidates.items()
        ]
        out += "<h3>Baseline candidates (validation accuracy)</h3>" + _table(["candidate", "val acc."], crow, (1,))
    return out


# ---------------------------------------------------------------------------------------------- page


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
    summary = _safe("summary", "Verdict", lambda: _summary(config, metrics))
    sections = [
        _safe("performance", "Transfer vs baseline on the test split", lambda: _performance(metrics)),
        _safe("arms", "Every arm and comparison", lambda: arms_section(metrics)),
        _safe("confusion", "Confusion matrices", lambda: _confusion(metrics)),
        _safe("training", "Training curves", lambda: _training(metrics)),
        _safe("calibration", "Calibration", lambda: _calibration(metrics)),
        _safe("mistakes", "Most confidently wrong test examples", lambda: _wrong(config, metrics, predictions, data)),
        _safe("audit", "Subgroup audit", lambda: _audit(metrics)),
        _safe("curve", "Learning curve", lambda: _curve(metrics)),
        _safe("variance", "Variance across splits", lambda: _variance(metrics)),
        _safe("drift", "Representation drift", lambda: _cka(metrics)),
        _safe("data", "Data", lambda: _data(config, metrics)),
        _safe("lineage", "Lineage and reproducibility", lambda: _lineage(config, metrics)),
        _safe("shipped", "Which model was shipped, and why", lambda: _shipped(metrics)),
    ]
    shown = [s for s in sections if s is not None]
    nav = "\n".join(f'<a href="#{s.sid}">{escape(s.title)}</a>' for s in shown)
    source = str(metrics.get("data", {}).get("source", config.get("data", "")))
    t = metrics.get("transfer", {})
    sub = " · ".join(
        escape(str(x))
        for x in (
            run_name,
            f"{t.get('strategy', config.get('strategy', ''))} on {config.get('backbone', '')}",
            f"vs {metrics.get('baseline', {}).get('name', '')}",
            f"report generated {time.strftime('%Y-%m-%d %H:%M')}",
        )
        if x
    )
    summary_html = summary.html(f"summary {VERDICT_CLASS.get(label, 'warn')}") if summary else ""
    body = "".join(s.html() for s in shown)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>headstart report: {escape(source)}</title>
<style>{CSS}</style>
</head>
<body>
<main>
<header>
<h1>headstart report: {escape(source)}</h1>
<div class="sub">{sub}</div>
<nav>{nav}</nav>
</header>
{summary_html}
{body}
<p class="note">Generated by headstart. This file is self-contained: it needs no network access to view.</p>
</main>
</body>
</html>
"""
