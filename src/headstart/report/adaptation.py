"""The domain-adaptation section of a report: shift before/after, the 2-D projection of source vs target
before and after alignment, per-class target accuracy per arm, the verdicts and what the scorers chose."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

__all__ = ["adaptation_section", "projection_png"]


def projection_png(projection: dict[str, Any], path: Path) -> Path:
    """Scatter plots (PCA 2-D) of source vs target, before and (when measured) after alignment."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [k for k in ("before", "after") if k in projection]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.8), squeeze=False)
    for ax, tag in zip(axes[0], panels, strict=True):
        for side, color in (("source", "tab:blue"), ("target", "tab:orange")):
            pts = projection[tag][side]
            ax.scatter([p[0] for p in pts], [p[1] for p in pts], s=6, alpha=0.5, c=color, label=side)
        ax.set_title(f"{tag} alignment (PCA)")
        ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    import io

    from headstart.io import atomic_write_bytes

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
    return path


def _shift_row(tag: str, s: dict[str, Any] | None) -> str:
    if not s:
        return f"<tr><td>{tag}</td><td colspan=3>not measured</td></tr>"
    lo, hi = s["domain_accuracy_ci"]
    return (
        f"<tr><td>{tag}</td><td>{s['mmd']:.4f} (p = {s['mmd_p']:.3f})</td><td>{s['pad']:.2f}</td>"
        f"<td>{100 * s['domain_accuracy']:.1f}% ({100 * lo:.1f}-{100 * hi:.1f})</td></tr>"
    )


def adaptation_section(doc: dict[str, Any], plot: str | None = None) -> str:
    """HTML for the ``adaptation`` dict of metrics.json (``AdaptResult.metrics()``)."""
    e = html.escape
    parts = ["<section id='adaptation'><h2>Domain adaptation</h2>"]
    shift = doc.get("shift", {})
    parts.append("<table><tr><th></th><th>MMD</th><th>PAD (low-capacity)</th><th>domain accuracy (95% CI)</th></tr>")
    parts.append(_shift_row("before", shift.get("before")))
    parts.append(_shift_row(f"after ({shift.get('after_method', '')})", shift.get("after")))
    parts.append("</table>")
    if plot:
        parts.append(f"<img src='{e(plot)}' alt='source vs target, PCA, before and after alignment'>")
    for v in doc.get("verdicts", []):
        parts.append(f"<p><b>{e(v['comparison'])}: {e(v['label'])}</b>. {e(v['sentence'])}</p>")
    if not doc.get("verdicts"):
        parts.append("<p>The target has no labels: no verdict; the shift and the scorer ranking are reported.</p>")
    parts.append(f"<p>Ships: <b>{e(doc.get('shipped', ''))}</b> ({e(doc.get('ship_reason', ''))}).</p>")
    h = doc.get("hindsight", {})
    if "best" in h:
        parts.append(
            f"<p>Unsupervised choice: {e(str(h['chosen']))}; best in hindsight on the target test: {e(h['best'])}.</p>"
        )
    sel = doc.get("selection") or {}
    if sel.get("picked_by"):
        items = "".join(f"<li>{e(k)}: {e(v)}</li>" for k, v in sel["picked_by"].items())
        parts.append(f"<p>Each scorer's top candidate:</p><ul>{items}</ul>")
    per_class = doc.get("per_class_accuracy", {})
    if per_class:
        classes = list(next(iter(per_class.values())))
        head = "".join(f"<th>{e(c)}</th>" for c in classes)
        rows = "".join(
            f"<tr><td>{e(a)}</td>" + "".join(f"<td>{100 * acc[c]:.0f}</td>" for c in classes) + "</tr>"
            for a, acc in per_class.items()
        )
        parts.append(f"<table><tr><th>arm \\ class (% correct)</th>{head}</tr>{rows}</table>")
    parts.append("</section>")
    return "\n".join(parts)
