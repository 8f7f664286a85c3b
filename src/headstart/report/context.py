"""Report sections that put the results in context: audit, curve, variance, drift, data, lineage, shipping."""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from typing import Any

import headstart.report.plots as plots
from headstart.report.widgets import dot, figure, fnum, html_table, is_num, pct, pts

MAX_SKIPPED_LISTED = 20


def audit_section(metrics: Mapping[str, Any]) -> str | None:
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
            f"<h3>by <code>{escape(str(col))}</code></h3>"
            f"<p>Largest accuracy gap: transfer <strong>{fnum(tg)}</strong>, "
            f"baseline <strong>{fnum(bg)}</strong>"
            + (f' — transfer <span class="{cls}">{escape(change)}</span> the gap' if change else "")
            + ".</p>"
        )
        if groups:
            parts.append(figure(plots.audit_plot(groups), f"accuracy per {col} group"))
            rows = []
            for g in groups:
                name = escape(str(g.get("group", "")))
                if g.get("in_gap") is False:
                    name += ' <span class="muted">(too few to count in the gap)</span>'
                row = [name, str(g.get("n", "—"))]
                for k in keys:
                    row.append(f"{fnum(g.get('transfer', {}).get(k), 2)} / {fnum(g.get('baseline', {}).get(k), 2)}")
                rows.append(row)
            parts.append(
                html_table(
                    ["group", "n", *(f"{k.replace('_', ' ')} (T / B)" for k in keys)],
                    rows,
                    numeric=range(1, 2 + len(keys)),
                )
            )
    return "".join(parts)


def curve_section(metrics: Mapping[str, Any]) -> str | None:
    curve = metrics.get("curve")
    points = (curve or {}).get("points") if isinstance(curve, Mapping) else None
    if not points:
        return None
    img = figure(
        plots.curve_plot(points),
        "test accuracy vs number of labels",
        "Mean test accuracy over seeds; error bars are ± one standard deviation.",
    )
    rows = [
        [
            f"{plots.curve_x(p):.3g}",
            f"{pct(p.get('transfer_mean'))} ± {pct(p.get('transfer_std'))}",
            f"{pct(p.get('baseline_mean'))} ± {pct(p.get('baseline_std'))}",
            str(p.get("n_seeds", "—")),
        ]
        for p in sorted(points, key=plots.curve_x)
    ]
    key = plots.curve_xlabel(points)
    return (
        '<p class="note">How much labeled data transfer saves: both sides re-fitted on growing subsets of the '
        "training labels, scored on the same test split.</p>"
        f'<div class="grid"><div>{img}</div><div>'
        + html_table([key, "transfer", "baseline", "seeds"], rows, numeric=range(4))
        + "</div></div>"
    )


def _run_delta(r: Any) -> float | None:
    if is_num(r):
        return float(r)
    if not isinstance(r, Mapping):
        return None
    if is_num(r.get("delta")):
        return float(r["delta"])
    t, b = r.get("transfer"), r.get("baseline")
    t = t.get("accuracy", t.get("mean")) if isinstance(t, Mapping) else t
    b = b.get("accuracy", b.get("mean")) if isinstance(b, Mapping) else b
    if is_num(t) and is_num(b):
        return float(t) - float(b)
    return None


def variance_section(metrics: Mapping[str, Any]) -> str | None:
    var = metrics.get("variance")
    if not isinstance(var, Mapping) or not var:
        return None
    mode = str(var.get("mode", "runs"))
    k = var.get("k", len(var.get("runs") or []))
    t, b, d = var.get("transfer", {}), var.get("baseline", {}), var.get("delta", {})
    rows = [
        [f"{dot(plots.TRANSFER_COLOR)}transfer", pct(t.get("mean")), pct(t.get("std")), "", ""],
        [f"{dot(plots.BASELINE_COLOR)}baseline", pct(b.get("mean")), pct(b.get("std")), "", ""],
        [
            "difference",
            f"{pts(d.get('mean'))} pts",
            f"{100 * float(d['std']):.1f} pts" if is_num(d.get("std")) else "—",
            pts(d.get("min")),
            pts(d.get("max")),
        ],
    ]
    deltas = [x for x in (_run_delta(r) for r in var.get("runs") or []) if x is not None]
    img = (
        figure(
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
        + html_table(["", "mean", "std", "min", "max"], rows, numeric=range(1, 5))
        + img
    )


def cka_section(metrics: Mapping[str, Any]) -> str | None:
    cka = (metrics.get("notes") or {}).get("cka")
    if cka is None:
        return None
    if isinstance(cka, Mapping):
        rows = [[escape(str(k)), fnum(v) if is_num(v) else escape(str(v))] for k, v in cka.items()]
        return '<p class="note">Linear CKA between the original and fine-tuned representations.</p>' + html_table(
            ["", "CKA"], rows, numeric=(1,)
        )
    if not is_num(cka):
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


def data_section(config: Mapping[str, Any], metrics: Mapping[str, Any]) -> str:
    d = metrics.get("data", {})
    sizes = d.get("split_sizes", {})
    counts = d.get("class_counts", {})
    labeled = d.get("labeled_class_counts", {})
    support = {c: v.get("support") for c, v in metrics.get("transfer", {}).get("per_class", {}).items()}
    info = html_table(
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
            ["imbalance ratio", fnum(d.get("imbalance_ratio"), 2)],
        ],
        kv=True,
    )
    rows = [[escape(str(c)), str(n), str(labeled.get(c, "—")), str(support.get(c, "—"))] for c, n in counts.items()]
    classes = html_table(["class", "items", "labeled (train + val)", "test"], rows, numeric=(1, 2, 3))
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
        from headstart.backbones import backbone_lineage

        return backbone_lineage(str(config["backbone"]))
    except Exception:
        return {"name": config.get("backbone", "—")}


def lineage_section(config: Mapping[str, Any], metrics: Mapping[str, Any]) -> str:
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
    time_txt = ", ".join(f"{escape(str(k))} {float(v):.1f}s" for k, v in timing.items() if is_num(v))
    cache_txt = (
        f"embedding cache: {cache.get('hits', 0)} reused, {cache.get('computed', cache.get('misses', 0))} computed"
        if cache
        else ""
    )
    return (
        f'<div class="grid"><div>{html_table(["field", "value"], rows, kv=True)}</div>'
        f'<div><h3 style="margin-top:0">Package versions</h3>{html_table(["package", "version"], vrows)}</div></div>'
        f'<p class="note">{time_txt}{"; " + cache_txt if cache_txt and time_txt else cache_txt}</p>'
    )


def shipped_section(metrics: Mapping[str, Any]) -> str:
    shipped = metrics.get("shipped") or {}
    side = str(shipped.get("side", "transfer"))
    t, b = metrics["transfer"], metrics["baseline"]
    folder = "model/" if side == "transfer" else "baseline/"
    rows = [
        [
            f"{dot(plots.TRANSFER_COLOR)}transfer" + (" <strong>(shipped)</strong>" if side == "transfer" else ""),
            escape(str(t.get("name", ""))),
            fnum(t.get("val_accuracy")),
            pct(t.get("accuracy")),
        ],
        [
            f"{dot(plots.BASELINE_COLOR)}baseline" + (" <strong>(shipped)</strong>" if side == "baseline" else ""),
            escape(str(b.get("name", ""))),
            fnum(b.get("val_accuracy")),
            pct(b.get("accuracy")),
        ],
    ]
    out = (
        f"<p><strong>{escape(side)}</strong> was shipped (saved in <code>{folder}</code>, used by "
        f"<code>headstart predict</code>): {escape(str(shipped.get('reason', '')))}.</p>"
        '<p class="note">The choice uses validation accuracy only; the test split is kept for the verdict.</p>'
        + html_table(["side", "model", "validation acc.", "test acc."], rows, numeric=(2, 3))
    )
    candidates = b.get("candidates") or {}
    if candidates:
        crow = [
            [escape(str(n)) + (" <strong>(chosen)</strong>" if n == b.get("name") else ""), fnum(a)]
            for n, a in candidates.items()
        ]
        out += "<h3>Baseline candidates (validation accuracy)</h3>" + html_table(["candidate", "val acc."], crow, (1,))
    return out


# ---------------------------------------------------------------------------------------------- page
