"""The data-efficiency curve (``--curve``): accuracy of both sides against the number of labels.

The test split and its embeddings stay fixed; the run's labeled set (train + val) is subsampled per fraction
and seed, stratified (at least one example per class; nested across fractions for one seed), then split into
train/val with the run's ``val_size``; each point is the mean ± std over the seeds.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from headstart.data import Splits
from headstart.errors import HeadstartError
from headstart.evaluation.variance import mean_std
from headstart.executors import Executor
from headstart.pair_fitter import PairFitter, PairJob
from headstart.stage_timer import Echo
from headstart.study_splits import _rng, split_train_val, stratified_subsample

DEFAULT_FRACTIONS = (0.1, 0.25, 0.5, 1.0)
DEFAULT_CURVE_SEEDS = 3


def parse_fractions(text: str | Sequence[float] | None) -> list[float]:
    """``"0.1,0.25,0.5,1"`` -> sorted unique fractions in (0, 1]; HeadstartError on a bad value."""
    if text is None:
        return list(DEFAULT_FRACTIONS)
    parts: list[Any] = text.split(",") if isinstance(text, str) else list(text)
    out = set()
    for p in parts:
        if isinstance(p, str) and not p.strip():
            continue
        try:
            f = float(p)
        except ValueError:
            raise HeadstartError(f"--curve-fractions: {p!r} is not a number; use e.g. 0.1,0.25,0.5,1.0") from None
        if not 0.0 < f <= 1.0:
            raise HeadstartError(f"--curve-fractions: {f} is outside (0, 1]; use e.g. 0.1,0.25,0.5,1.0")
        out.add(f)
    if not out:
        raise HeadstartError("--curve-fractions is empty; use e.g. 0.1,0.25,0.5,1.0")
    return sorted(out)


def run_curve(
    fitter: PairFitter,
    splits: Splits,
    *,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    n_seeds: int = DEFAULT_CURVE_SEEDS,
    seed: int = 0,
    val_size: float = 0.2,
    echo: Echo | None = None,
    executor: Executor | None = None,
) -> dict[str, Any]:
    """``metrics["curve"]``: accuracy of both sides vs. the number of labels, mean ± std over seeds; the
    (fraction, seed) fits run on ``executor`` (default: here, one after the other)."""
    if n_seeds < 1:
        raise HeadstartError(f"--curve-seeds must be at least 1, got {n_seeds}")
    say = echo or (lambda _s: None)
    d = fitter.data
    pool = np.sort(np.concatenate([splits.train, splits.val]))
    test = splits.test
    extraction = fitter.prepare(np.concatenate([pool, test]))
    n_classes = len(d.classes)
    jobs: list[PairJob] = []
    for f in fractions:
        for s in range(n_seeds):
            sub = stratified_subsample(d.y, pool, f, _rng(seed, s, 11))
            train, val = split_train_val(d.y, sub, val_size, _rng(seed, s, 12, round(f * 1e6)))
            jobs.append((train, val, test, seed + s))
    results = iter(fitter.fit_eval_all(jobs, executor))
    points = []
    for f in fractions:
        t_acc, b_acc, n_lab, names = [], [], [], set()
        for s in range(n_seeds):
            r = next(results)
            train, val = jobs[len(points) * n_seeds + s][:2]
            t_acc.append(r.transfer_accuracy)
            b_acc.append(r.baseline_accuracy)
            n_lab.append(len(train) + len(val))
            names.add(r.baseline_name)
        t, b = mean_std(t_acc), mean_std(b_acc)
        n_labeled = round(float(np.mean(n_lab)))
        say(
            f"  curve {f:.0%} ({n_labeled} labels): transfer {100 * t['mean']:.1f}±{100 * t['std']:.1f}%, "
            f"baseline {100 * b['mean']:.1f}±{100 * b['std']:.1f}%"
        )
        points.append(
            {
                "fraction": float(f),
                "n_labeled": int(n_labeled),
                "labels_per_class": float(n_labeled / n_classes),
                "transfer_mean": t["mean"],
                "transfer_std": t["std"],
                "baseline_mean": b["mean"],
                "baseline_std": b["std"],
                "n_seeds": int(n_seeds),
                "transfer_runs": t_acc,
                "baseline_runs": b_acc,
                "baseline_names": sorted(names),
            }
        )
    return {
        "points": points,
        "strategy": fitter.strategy,
        "baseline": fitter.baseline,
        "backbone": fitter.backbone,
        "n_test": len(test),
        "embeddings_reused": fitter.reuses_embeddings,
        "extraction": extraction,
    }
