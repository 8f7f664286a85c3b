"""Studies on top of one run: :func:`run_studies` adds the ``audit``, ``curve`` and ``variance`` parts of
``metrics.json`` that a :class:`headstart.pipeline.FitConfig` asks for, after the run's test predictions.

The group audit is :func:`headstart.evaluation.audit.audit_groups`; the data-efficiency curve
(:mod:`headstart.study_curve`) and the fold/seed variance (:mod:`headstart.study_variance`) both repeat "fit
transfer + fit baseline + score both on a test set" through one :class:`headstart.pair_fitter.PairFitter`,
on the executor the run names (:mod:`headstart.executors`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from headstart.artifacts import FittedModel
from headstart.data import LabeledData, Splits
from headstart.executors import Executor, describe
from headstart.pair_fitter import PairFitter
from headstart.stage_timer import Echo
from headstart.study_curve import parse_fractions, run_curve
from headstart.study_variance import run_variance


def run_studies(
    cfg: Any,
    *,
    data: LabeledData,
    splits: Splits,
    strategy: str,
    backbone: str,
    image_size: int | None,
    options: dict[str, Any],
    transfer: FittedModel,
    p_transfer: np.ndarray,
    p_baseline: np.ndarray,
    timings: dict[str, float],
    echo: Echo | None = None,
) -> dict[str, Any]:
    """The optional parts of ``metrics.json`` a :class:`headstart.pipeline.FitConfig` asks for, after the run's
    test predictions: ``audit`` (``group_columns``), ``curve`` (``curve``) and ``variance`` (``folds`` /
    ``seeds``)."""
    import time

    from headstart.evaluation.audit import audit_groups

    say = echo or (lambda _s: None)
    out: dict[str, Any] = {}
    y_test = data.y[splits.test]
    if cfg.group_columns:
        t0 = time.perf_counter()
        out["audit"] = audit_groups(
            y_test,
            p_transfer.argmax(1),
            p_baseline.argmax(1),
            {c: np.asarray(data.groups[c], dtype=object)[splits.test] for c in cfg.group_columns},
            data.classes,
            positive_class=getattr(cfg, "positive_class", None),
            seed=cfg.seed,
        )
        timings["audit"] = time.perf_counter() - t0
    folds, seeds = getattr(cfg, "folds", None), getattr(cfg, "seeds", None)
    if not (getattr(cfg, "curve", False) or folds or seeds):
        return out
    fitter = PairFitter(
        data=data,
        strategy=strategy,
        backbone=backbone,
        baseline=cfg.baseline,
        image_size=image_size,
        options=options,
        transfer=transfer,
        progress=cfg.progress,
    )
    kind, address = getattr(cfg, "executor", "sequential"), getattr(cfg, "ray_address", None)
    with Executor(kind, address) as ex:
        if ex.kind != "sequential":
            say(f"studies run on {describe(kind, address)}")
        if getattr(cfg, "curve", False):
            fr = parse_fractions(cfg.curve_fractions)
            say(f"curve: {len(fr)} label budgets x {cfg.curve_seeds} seeds, test set fixed ({len(splits.test)})")
            t0 = time.perf_counter()
            out["curve"] = run_curve(
                fitter,
                splits,
                fractions=fr,
                n_seeds=cfg.curve_seeds,
                seed=cfg.seed,
                val_size=cfg.val_size,
                echo=say,
                executor=ex,
            )
            timings["curve"] = time.perf_counter() - t0
        if folds or seeds:
            t0 = time.perf_counter()
            y_pred_t, y_pred_b = p_transfer.argmax(1), p_baseline.argmax(1)
            main = (float((y_pred_t == y_test).mean()), float((y_pred_b == y_test).mean()))
            say(
                f"variance: {f'{folds} folds' if folds else f'{seeds} seeds'}"
                + (f" x {seeds} repeats" if folds and seeds else "")
            )
            out["variance"] = run_variance(
                fitter, splits, folds=folds, seeds=seeds, main_result=main, echo=say, executor=ex
            )
            timings["variance"] = time.perf_counter() - t0
    return out
