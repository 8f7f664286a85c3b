"""A precision cascade for text probes on CPUs without fast bf16 matmuls: int8 for every item, fp32 again only
for the items whose int8 label could differ from the fp32 one.

Dynamic int8 MiniLM runs ~1.5x ONNX Runtime fp32 on an AVX2 CPU but changes 1-3% of a probe's labels
(``benchmarks/results/extraction.md``), too many to ship as is. The labels that change are the ones near the
decision boundary, and how far int8 can move a margin is measurable: the int8 error of an item is the spread
of its logit changes (``max_c d_c - min_c d_c`` with ``d = logits(int8) - logits(fp32)``, the most any
pairwise margin moved). At fit time the errors of up to :data:`CALIBRATION_ITEMS` labeled items are stored
with the model. At prediction (:func:`plan`) every item is embedded in int8, then in two stages:

1. items whose int8 margin (top-1 minus top-2 decision score) is below the :data:`QUANTILE` of the stored
   errors are embedded again in fp32 -- which also measures their own errors;
2. those join the stored ones, and items below the :func:`error_bound` of the whole sample (widened when it
   holds fewer than :data:`FEW` errors) are embedded again too.

Stage 2 makes a few-shot probe cheap to cascade: its 16-32 stored errors alone need a wide bound, the items
of stage 1 narrow it. Measured on development items (``benchmarks/bench_text_cascade.py``: 1600 Rotten
Tomatoes and 1600 spam texts none of the extraction benchmark's probe reads, both MiniLM views) in
``benchmarks/results/extraction.md``; :data:`QUANTILE` and :data:`WIDEN` were read off those rows.

It applies to ``headstart predict`` (:func:`enable`; ``fit`` scores its test split in exact fp32, so a run's
verdict never depends on it), where ``auto`` runs text on ONNX Runtime fp32 (a CPU without AMX or
AVX512-BF16, see :mod:`headstart.backend_choice`), for :data:`MIN_ITEMS` texts or more (fewer do not pay
for opening a second ONNX session), and the model has stored errors; ``--backend onnx-fp32`` (or any explicit
backend) turns it off.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from headstart.errors import HeadstartError
from headstart.features import extract

__all__ = [
    "CALIBRATION_ITEMS",
    "QUANTILE",
    "CascadeResult",
    "calibrate",
    "cascade_available",
    "cascade_scores",
    "describe",
    "enable",
    "error_bound",
    "errors_from_meta",
    "plan",
]

QUANTILE = 0.99  # of the labeled items' int8 errors (benchmarks/bench_text_cascade.py, development items)
CALIBRATION_ITEMS = 256  # labeled items embedded in int8 at fit time (evenly spaced), at most
FAST = "onnx-int8"
FEW = 64  # below this many errors the quantile is widened by (FEW / n) ** WIDEN
WIDEN = 0.25
MIN_ITEMS = 1024  # fewer texts: plain fp32 (a second ONNX session, ~0.6 s to open, costs what int8 saves)

# (decision scores of the whole batch from fp32 logits of the items ``idx``) -> scores [len(idx), K]: the
# probe's own logits, or a blend that adds a term int8 does not touch (fewshot-text's TF-IDF side)
Score = Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class CascadeResult:
    scores: np.ndarray
    n_items: int
    rechecked: int  # items embedded again in fp32


def enable(model: Any) -> list[Any]:
    """Let ``model`` (and its ``probe`` part, as in fewshot-text) predict through the cascade; the parts."""
    parts = [p for p in (model, getattr(model, "probe", None)) if p is not None and hasattr(p, "cascade_errors")]
    for part in parts:
        part.cascade = True
    return parts


def describe(parts: Sequence[Any]) -> str | None:
    """One line on what the last prediction of ``parts`` ran in int8, or None when the cascade did not run."""
    for part in parts:
        got = getattr(part, "last_cascade", None)
        if got is not None:
            return f"precision cascade: {got.n_items} texts in int8, {got.rechecked} near the boundary again in fp32"
    return None


def errors_from_meta(value: Any, where: Path) -> np.ndarray | None:
    """The stored calibration errors (a model's ``meta.json`` ``cascade_errors``): None when absent (a model
    saved before the cascade, or fitted where it does not apply); a one-line error when not a list of
    1-:data:`CALIBRATION_ITEMS` non-negative numbers, which could otherwise silently change labels."""
    if value is None:
        return None
    ok = isinstance(value, list) and 0 < len(value) <= CALIBRATION_ITEMS
    ok = ok and all(isinstance(v, int | float) and not isinstance(v, bool) and np.isfinite(v) and v >= 0 for v in value)
    if not ok:
        raise HeadstartError(
            f"{where}: 'cascade_errors' must be a list of 1-{CALIBRATION_ITEMS} non-negative numbers; "
            "re-run `headstart fit`"
        )
    return np.asarray(value, dtype=np.float64)


def cascade_available(encoder: Any, n_items: int | None = None) -> bool:
    """True where ``auto`` would run ``encoder`` on ONNX Runtime fp32 text: the cascade's int8 pass is then
    faster than the fp32 one, and nothing forced another backend; and for ``n_items`` >= :data:`MIN_ITEMS`."""
    import torch

    if n_items is not None and n_items < MIN_ITEMS:
        return False
    from headstart.backend_choice import auto_backend, resolve_precision

    if encoder.spec.modality != "text" or torch.cuda.is_available():
        return False
    if os.environ.get("HEADSTART_BACKEND", "auto").lower() not in ("", "auto"):
        return False
    return auto_backend(encoder, "cpu") == "onnx" and resolve_precision(encoder, "auto") == "fp32"


def _margin(scores: np.ndarray) -> np.ndarray:
    if scores.shape[1] < 2:
        return np.full(len(scores), np.inf)
    top = np.partition(scores, -2, axis=1)
    return top[:, -1] - top[:, -2]  # type: ignore[no-any-return]


def error_bound(errors: np.ndarray, widen: float | None = None) -> float:
    """The :data:`QUANTILE` of ``errors``, widened by ``(FEW / n) ** widen`` (default :data:`WIDEN`) when
    there are ``n < FEW``."""
    n = len(errors)
    return float(np.quantile(errors, QUANTILE)) * max(1.0, (FEW / n) ** (WIDEN if widen is None else widen))


def spread(d: np.ndarray) -> np.ndarray:
    """Per item, the most a pairwise margin moved when the logits moved by ``d`` ``[N, K]``."""
    return d.max(axis=1) - d.min(axis=1)  # type: ignore[no-any-return]


def plan(
    errors: np.ndarray,
    margins: np.ndarray,
    recheck: Callable[[np.ndarray], np.ndarray],
    widen: float | None = None,
) -> np.ndarray:
    """The items to score in fp32, given the stored calibration ``errors`` and the int8 ``margins``;
    ``recheck(idx)`` re-embeds items ``idx`` in fp32 (and rescoring them) and returns their int8 errors."""
    first = np.flatnonzero(margins < float(np.quantile(errors, QUANTILE)))
    seen = recheck(first) if len(first) else np.empty(0)
    bound = error_bound(np.concatenate([errors, seen]), widen)
    second = np.flatnonzero((margins < bound) & ~np.isin(np.arange(len(margins)), first))
    if len(second):
        recheck(second)
    return np.concatenate([first, second])


def calibrate(
    encoder: Any, logits: Callable[[np.ndarray], np.ndarray], items: Sequence[Any], fp32: np.ndarray
) -> np.ndarray | None:
    """The int8 errors of up to :data:`CALIBRATION_ITEMS` of ``items`` (evenly spaced; ``fp32`` holds their
    fp32 embeddings); None where no int8 graph could be built (the model then predicts in fp32)."""
    if not len(items):
        return None
    pick = np.unique(np.linspace(0, len(items) - 1, min(CALIBRATION_ITEMS, len(items))).astype(int))
    emb8, stats = extract(encoder, [items[i] for i in pick], backend=FAST, progress=False)
    if stats.backend != FAST and stats.computed:
        return None
    return spread(logits(emb8) - logits(fp32[pick]))


def cascade_scores(
    encoder: Any,
    logits: Callable[[np.ndarray], np.ndarray],
    items: Sequence[Any],
    errors: np.ndarray,
    *,
    score: Score | None = None,
    progress: bool = False,
) -> CascadeResult | None:
    """Decision scores of ``items``: int8, except the items :func:`plan` sends back to fp32. None when the int8
    graph is unavailable here (the caller predicts in fp32)."""
    score = score or (lambda z, idx: z)
    items = list(items)
    emb8, stats = extract(encoder, items, backend=FAST, progress=progress)
    if stats.backend != FAST and stats.computed:
        return None
    z8 = logits(emb8)
    scores = np.array(score(z8, np.arange(len(items))), dtype=np.float64)

    def recheck(idx: np.ndarray) -> np.ndarray:
        emb32, _ = extract(encoder, [items[i] for i in idx], backend="auto", progress=progress)
        z32 = logits(emb32)
        scores[idx] = score(z32, idx)
        return spread(z8[idx] - z32)

    redo = plan(np.asarray(errors, dtype=np.float64), _margin(scores), recheck)
    return CascadeResult(scores, len(items), len(redo))
