"""Small matplotlib figures for report.html, each returned as a ``data:image/png;base64,...`` URI so the report
stays one self-contained file.

Figures are drawn with the object API (``Figure`` + Agg canvas), never ``pyplot``: no global state, no GUI
backend, safe to call from any thread.

Drawing costs ~0.1-0.3 s a figure, most of a report's time. Each figure function is a pure function of its
arguments, so its PNG is cached (:func:`cached_figure`) under the hash of (function, arguments, this module's
source, matplotlib version) in sealed files (:mod:`headstart.sealed`): a rerun, or a fit that shares the
baseline side with an earlier one, reuses identical figures; a planted or edited file is redrawn.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import io
import json
import math
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, NullFormatter

TRANSFER_COLOR = "#2563eb"
BASELINE_COLOR = "#f59e0b"
VERDICT_COLORS = {"helps": "#15803d", "no-difference": "#b45309", "negative-transfer": "#b91c1c"}
DPI = 110
_MPL = tuple(int(p) for p in matplotlib.__version__.split(".")[:2] if p.isdigit())
MAX_ANNOTATED_CLASSES = 15


def _plain(x: Any) -> Any:
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, np.generic):
        return x.item()
    raise TypeError(f"cannot key a figure on {type(x).__name__}")


@functools.cache
def _code_id() -> str:
    return hashlib.sha256(Path(__file__).read_bytes() + matplotlib.__version__.encode()).hexdigest()[:16]


def cached_figure(fn: Callable[..., str]) -> Callable[..., str]:
    """Cache the data URI ``fn(*args)`` returns, keyed by its arguments (``HEADSTART_PLOT_CACHE=0``: off)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> str:
        from headstart.io import cache_root
        from headstart.sealed import read_sealed, write_sealed

        if os.environ.get("HEADSTART_PLOT_CACHE", "1") == "0":
            return fn(*args, **kwargs)
        try:
            spec = json.dumps([fn.__name__, _code_id(), args, kwargs], default=_plain, sort_keys=True)
        except (TypeError, ValueError):  # an argument without a stable form: just draw
            return fn(*args, **kwargs)
        path = cache_root() / "figures" / f"{hashlib.sha256(spec.encode()).hexdigest()[:32]}.txt"
        hit = read_sealed(path)
        if hit is not None and hit.startswith(b"data:image/png;base64,"):
            return hit.decode("ascii")
        uri = fn(*args, **kwargs)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_sealed(path, uri.encode("ascii"))
        except OSError:
            pass
        return uri

    return wrapper


def to_data_uri(fig: Figure) -> str:
    """Render ``fig`` to PNG and return it as a base64 data URI."""
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), layout="constrained")
    return fig


def _style(ax: Any) -> None:
    ax.spines[["top", "right"]].set_visible(False)
    ax.tick_params(labelsize=8)
    ax.grid(axis="y", alpha=0.25)


def _top_legend(ax: Any, handles: Any = None, labels: Any = None) -> None:
    """Legend in one row above the axes, where it never covers data."""
    if handles is None:
        handles, labels = ax.get_legend_handles_labels()
    ax.legend(
        handles, labels, fontsize=7, frameon=False, ncols=len(handles), loc="lower center", bbox_to_anchor=(0.5, 1.0)
    )


def _short(label: str, n: int = 14) -> str:
    return label if len(label) <= n else label[: n - 1] + "…"


def _finite(x: Any) -> bool:
    return isinstance(x, int | float) and math.isfinite(float(x))


@cached_figure
def delta_plot(verdict: Mapping[str, Any]) -> str:
    """The accuracy difference (transfer - baseline) with its 95% CI, against a zero line."""
    d, lo, hi = (100 * float(verdict[k]) for k in ("delta", "ci_low", "ci_high"))
    color = VERDICT_COLORS.get(str(verdict.get("label")), "#475569")
    fig = _figure(5.2, 1.35)
    ax = fig.add_subplot()
    span = max(abs(lo), abs(hi), abs(d), 1.0) * 1.25
    ax.axvspan(-span, 0, color="#fee2e2", alpha=0.5, lw=0)
    ax.axvspan(0, span, color="#dcfce7", alpha=0.5, lw=0)
    ax.axvline(0, color="#334155", lw=1.2)
    ax.errorbar([d], [0], xerr=[[d - lo], [hi - d]], fmt="o", color=color, ecolor=color, capsize=6, lw=2.5, ms=8)
    ax.set_xlim(-span, span)
    ax.set_ylim(-1, 1)
    ax.set_yticks([])
    ax.set_xlabel("accuracy difference, transfer − baseline (points), 95% CI", fontsize=8)
    ax.text(-span * 0.97, 0.55, "baseline better", fontsize=7, color="#991b1b", va="center")
    ax.text(span * 0.97, 0.55, "transfer better", fontsize=7, color="#166534", va="center", ha="right")
    ax.spines[["top", "right", "left"]].set_visible(False)
    ax.tick_params(labelsize=8)
    return to_data_uri(fig)


@cached_figure
def per_class_f1_plot(classes: Sequence[str], transfer: Mapping[str, Any], baseline: Mapping[str, Any]) -> str:
    """Grouped bars of per-class F1, transfer vs baseline."""
    names = [str(c) for c in classes]
    t = [float(transfer.get(c, {}).get("f1", float("nan"))) for c in names]
    b = [float(baseline.get(c, {}).get("f1", float("nan"))) for c in names]
    x = np.arange(len(names))
    fig = _figure(max(5.0, min(11.0, 0.45 * len(names) + 2.5)), 2.8)
    ax = fig.add_subplot()
    w = 0.4
    ax.bar(x - w / 2, t, w, label="transfer", color=TRANSFER_COLOR)
    ax.bar(x + w / 2, b, w, label="baseline", color=BASELINE_COLOR)
    rot = len(names) > 8 and max(len(n) for n in names) > 3
    ax.set_xticks(x, [_short(n) for n in names], rotation=45 if rot else 0, ha="right" if rot else "center")
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("F1 on test", fontsize=8)
    _top_legend(ax)
    _style(ax)
    return to_data_uri(fig)


@cached_figure
def confusion_plot(matrix: Sequence[Sequence[int]], classes: Sequence[str], title: str) -> str:
    """A confusion matrix (rows: true class, columns: predicted), shaded by row share, annotated with counts."""
    cm = np.asarray(matrix, dtype=float)
    n = len(classes)
    rows = cm.sum(axis=1, keepdims=True)
    share = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)
    side = max(3.2, min(6.5, 0.34 * n + 2.0))
    fig = _figure(side, side * 0.92)
    ax = fig.add_subplot()
    ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    labels = [_short(str(c), 12) for c in classes]
    ax.set_xticks(range(n), labels, rotation=45 if n > 4 else 0, ha="right" if n > 4 else "center", fontsize=7)
    ax.set_yticks(range(n), labels, fontsize=7)
    ax.set_xlabel("predicted", fontsize=8)
    ax.set_ylabel("true", fontsize=8)
    ax.set_title(_short(title, 48), fontsize=9)
    if n <= MAX_ANNOTATED_CLASSES:
        for i in range(n):
            for j in range(n):
                if cm[i, j]:
                    ax.text(
                        j,
                        i,
                        f"{int(cm[i, j])}",
                        ha="center",
                        va="center",
                        fontsize=7 if n > 8 else 8,
                        color="white" if share[i, j] > 0.5 else "#0f172a",
                    )
    return to_data_uri(fig)


@cached_figure
def history_plot(history: Sequence[Mapping[str, Any]], title: str) -> str:
    """Training and validation loss per epoch, with validation accuracy on a second axis."""
    epochs = [float(h.get("epoch", i + 1)) for i, h in enumerate(history)]

    def col(key: str) -> list[float]:
        return [float(h[key]) if _finite(h.get(key)) else float("nan") for h in history]

    fig = _figure(4.6, 2.7)
    ax = fig.add_subplot()
    ax.plot(epochs, col("train_loss"), "-o", ms=3, color="#0f172a", label="train loss")
    ax.plot(epochs, col("val_loss"), "-o", ms=3, color="#dc2626", label="validation loss")
    ax.set_xlabel("epoch", fontsize=8)
    ax.set_ylabel("loss", fontsize=8)
    ax.set_title(_short(title, 56), fontsize=9)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    _style(ax)
    handles, labels = ax.get_legend_handles_labels()
    acc = col("val_accuracy")
    if any(math.isfinite(a) for a in acc):
        ax2 = ax.twinx()
        ax2.plot(epochs, acc, "--", color="#16a34a", label="validation accuracy")
        ax2.set_ylim(0, 1.02)
        ax2.set_ylabel("accuracy", fontsize=8)
        ax2.tick_params(labelsize=8)
        ax2.spines[["top"]].set_visible(False)
        h2, l2 = ax2.get_legend_handles_labels()
        handles, labels = handles + h2, labels + l2
    ax.legend(
        handles, labels, fontsize=7, frameon=False, ncols=len(handles), loc="upper center", bbox_to_anchor=(0.5, -0.2)
    )
    return to_data_uri(fig)


@cached_figure
def reliability_plot(sides: Sequence[tuple[str, Sequence[Mapping[str, Any]], float, str]]) -> str:
    """Reliability diagram: mean confidence vs accuracy per confidence bin, one line per side.

    ``sides`` holds ``(label, bins, ece, color)``; bins are ``{"lo", "hi", "count", "confidence", "accuracy"}``.
    """
    fig = _figure(4.2, 3.6)
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], ":", color="#64748b", lw=1, label="perfect calibration")
    for label, bins, ece, color in sides:
        pts = [
            (float(b["confidence"]), float(b["accuracy"]), int(b.get("count", 0)))
            for b in bins
            if int(b.get("count", 0)) > 0 and _finite(b.get("confidence")) and _finite(b.get("accuracy"))
        ]
        if not pts:
            continue
        c, a, n = (list(v) for v in zip(*pts, strict=True))
        total = max(1, sum(n))
        sizes = [20 + 180 * k / total for k in n]
        ax.plot(c, a, "-", color=color, lw=1.2, alpha=0.7, label=f"{label} (ECE {ece:.3f})")
        ax.scatter(c, a, s=sizes, color=color, alpha=0.75, zorder=3)
    ax.set_xlim(0, 1.02)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("mean confidence in bin", fontsize=8)
    ax.set_ylabel("accuracy in bin", fontsize=8)
    ax.legend(fontsize=7, frameon=False, loc="upper left")
    _style(ax)
    return to_data_uri(fig)


@cached_figure
def audit_plot(groups: Sequence[Mapping[str, Any]], metric: str = "accuracy") -> str:
    """Grouped bars of ``metric`` per subgroup, transfer vs baseline."""
    names = [_short(str(g.get("group", "?")), 16) for g in groups]
    t = [float(g.get("transfer", {}).get(metric, float("nan"))) for g in groups]
    b = [float(g.get("baseline", {}).get(metric, float("nan"))) for g in groups]
    x = np.arange(len(names))
    fig = _figure(max(4.5, min(11.0, 0.6 * len(names) + 2.5)), 2.7)
    ax = fig.add_subplot()
    w = 0.4
    ax.bar(x - w / 2, t, w, label="transfer", color=TRANSFER_COLOR)
    ax.bar(x + w / 2, b, w, label="baseline", color=BASELINE_COLOR)
    rot = len(names) > 6
    ax.set_xticks(x, names, rotation=45 if rot else 0, ha="right" if rot else "center")
    ax.set_ylim(0, 1.05)
    ax.set_ylabel(f"{metric} per group", fontsize=8)
    _top_legend(ax)
    _style(ax)
    return to_data_uri(fig)


def curve_x(point: Mapping[str, Any]) -> float:
    """The x value of a learning-curve point: labels per class, else labeled examples, else the fraction."""
    for key in ("labels_per_class", "n_labeled", "fraction"):
        if _finite(point.get(key)):
            return float(point[key])
    return float("nan")


def curve_xlabel(points: Sequence[Mapping[str, Any]]) -> str:
    if all(_finite(p.get("labels_per_class")) for p in points):
        return "labels per class"
    if all(_finite(p.get("n_labeled")) for p in points):
        return "labeled examples"
    return "fraction of training labels"


@cached_figure
def curve_plot(points: Sequence[Mapping[str, Any]]) -> str:
    """Test accuracy vs number of labels for both sides, mean ± std over seeds."""
    pts = sorted(points, key=curve_x)
    x = np.asarray([curve_x(p) for p in pts])

    def col(key: str) -> np.ndarray:
        return np.asarray(
            [float(p[key]) if _finite(p.get(key)) else (0.0 if key.endswith("std") else np.nan) for p in pts]
        )

    fig = _figure(4.8, 3.0)
    ax = fig.add_subplot()
    for side, color in (("transfer", TRANSFER_COLOR), ("baseline", BASELINE_COLOR)):
        mean = col(f"{side}_mean")
        if np.isfinite(mean).any():
            ax.errorbar(x, mean, yerr=col(f"{side}_std"), fmt="-o", ms=4, capsize=3, color=color, label=side)
    if len(x) > 1 and np.nanmin(x) > 0 and np.nanmax(x) / np.nanmin(x) >= 8:
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(NullFormatter())
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xticks(x, [f"{v:g}" for v in x])
    ax.set_xlabel(curve_xlabel(pts), fontsize=8)
    ax.set_ylabel("test accuracy", fontsize=8)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8, frameon=False, loc="lower right")
    _style(ax)
    return to_data_uri(fig)


@cached_figure
def variance_plot(deltas: Sequence[float], mode: str) -> str:
    """Per-run accuracy differences (transfer - baseline) as a strip over a box plot, against zero."""
    d = 100 * np.asarray(deltas, dtype=float)
    fig = _figure(5.2, 1.7)
    ax = fig.add_subplot()
    horizontal = {"orientation": "horizontal"} if _MPL >= (3, 10) else {"vert": False}
    ax.boxplot(d, widths=0.5, showfliers=False, medianprops={"color": "#0f172a"}, **horizontal)
    jitter = np.random.default_rng(0).uniform(-0.12, 0.12, size=len(d))
    ax.scatter(d, 1 + jitter, color=TRANSFER_COLOR, s=22, zorder=3, alpha=0.85)
    ax.axvline(0, color="#334155", lw=1.2)
    span = max(float(np.abs(d).max()) if len(d) else 1.0, 1.0) * 1.2
    ax.set_xlim(-span, span)
    ax.set_yticks([])
    ax.set_xlabel(f"accuracy difference per {mode[:-1] if mode.endswith('s') else mode} (points)", fontsize=8)
    ax.spines[["top", "right", "left"]].set_visible(False)
    ax.tick_params(labelsize=8)
    return to_data_uri(fig)


def thumbnail_uri(image: Any, size: int = 64) -> str:
    """A small PNG thumbnail (PIL image) as a data URI; tiny images are upscaled with nearest-neighbour."""
    from PIL import Image

    img = image.convert("RGB") if image.mode not in ("L", "RGB") else image
    w, h = img.size
    scale = size / max(w, h)
    resample = Image.Resampling.NEAREST if scale > 1 else Image.Resampling.LANCZOS
    img = img.resize((max(1, round(w * scale)), max(1, round(h * scale))), resample)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
