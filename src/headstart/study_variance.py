"""The fold/seed variance of the verdict (``--folds K`` and/or ``--seeds S``).

- ``folds``: the run's items (train + val + test) are cut into K stratified folds (repeated S times with
  different shuffles when ``--seeds`` is also given). Each fold is the test set once (capped at ``max_test``),
  and the labeled set is drawn from the other folds with the run's ``labels_per_class`` budget (all of them
  without a budget), so every repetition answers the same question as the run at the same label budget.
- ``seeds``: ``make_splits`` is redrawn with seeds ``seed, seed + 1, ..., seed + S - 1`` (new test set, new
  labeled set); the first repetition IS the main run and is reused.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from headstart.data import Splits, make_splits
from headstart.errors import HeadstartError
from headstart.evaluation.variance import summarize_runs
from headstart.executors import Executor
from headstart.pair_fitter import PairFitter
from headstart.stage_timer import Echo
from headstart.study_splits import _cap_test, _rng, per_class_budget, split_train_val


def check_variance_config(
    y: np.ndarray, splits: Splits, *, folds: int | None, seeds: int | None, classes: Sequence[str]
) -> None:
    """Fail fast (before the main fit) on a fold / seed request this data cannot satisfy."""
    if folds is not None:
        if folds < 2:
            raise HeadstartError(f"--folds must be at least 2, got {folds}")
        pool = np.concatenate([splits.train, splits.val, splits.test])
        counts = np.bincount(y[pool], minlength=len(classes))
        present = counts[counts > 0]
        if present.min() < folds:
            k = int(np.flatnonzero(counts == present.min())[0])
            raise HeadstartError(
                f"--folds {folds} needs at least {folds} examples of every class; class {classes[k]!r} has "
                f"{int(counts[k])}; use fewer folds or --seeds"
            )
        if splits.labels_per_class is not None:
            need = math.ceil(splits.labels_per_class * folds / (folds - 1))
            small = np.flatnonzero((counts > 0) & (counts < need))
            if len(small):
                k = int(small[0])
                raise HeadstartError(
                    f"--folds {folds} with {splits.labels_per_class} labels per class needs about {need} examples "
                    f"of class {classes[k]!r} in the run, which has {int(counts[k])}; lower --labels-per-class "
                    "or use --seeds"
                )
    if seeds is not None and seeds < 1:
        raise HeadstartError(f"--seeds must be at least 1, got {seeds}")


def run_variance(
    fitter: PairFitter,
    splits: Splits,
    *,
    folds: int | None = None,
    seeds: int | None = None,
    main_result: tuple[float, float] | None = None,
    echo: Echo | None = None,
    executor: Executor | None = None,
) -> dict[str, Any]:
    """``metrics["variance"]`` (see the module docstring); ``main_result`` = the run's (transfer, baseline)
    test accuracies, reused as the first seed in ``seeds`` mode. The repetitions run on ``executor``."""
    from sklearn.model_selection import RepeatedStratifiedKFold

    say = echo or (lambda _s: None)
    d = fitter.data
    y = d.y
    seed = splits.seed
    check_variance_config(y, splits, folds=folds, seeds=seeds, classes=d.classes)
    plans: list[tuple[dict[str, Any], np.ndarray, np.ndarray, np.ndarray, int]] = []
    if folds is not None:
        repeats = seeds or 1
        pool = np.sort(np.concatenate([splits.train, splits.val, splits.test]))
        rskf = RepeatedStratifiedKFold(n_splits=folds, n_repeats=repeats, random_state=seed)
        for i, (rest, held) in enumerate(rskf.split(np.zeros(len(pool)), y[pool])):
            rep, fold = divmod(i, folds)
            test = _cap_test(y, pool[held], splits.max_test, _rng(seed, i, 21))
            labeled = per_class_budget(y, pool[rest], splits.labels_per_class, _rng(seed, i, 22))
            train, val = split_train_val(y, labeled, splits.val_size, _rng(seed, i, 23))
            plans.append(({"fold_or_seed": fold, "repeat": rep}, train, val, test, seed + i))
        mode, k, extra = "folds", folds, {"repeats": repeats}
    elif seeds is not None:
        for s in range(seed, seed + seeds):
            sp = make_splits(
                y,
                seed=s,
                test_size=splits.test_size,
                val_size=splits.val_size,
                labels_per_class=splits.labels_per_class,
                max_test=splits.max_test,
                classes=d.classes,
            )
            plans.append(({"fold_or_seed": s}, sp.train, sp.val, sp.test, s))
        mode, k, extra = "seeds", seeds, {}
    else:
        raise ValueError("run_variance needs folds or seeds")
    todo = [p for p in plans if not (mode == "seeds" and main_result is not None and p[4] == seed)]
    extraction = fitter.prepare(np.concatenate([np.concatenate(p[1:4]) for p in todo])) if todo else {}
    done = iter(fitter.fit_eval_all([(p[1], p[2], p[3], p[4]) for p in todo], executor))
    runs = []
    for info, train, val, test, run_seed in plans:
        if mode == "seeds" and main_result is not None and run_seed == seed:
            t_acc, b_acc, reused = main_result[0], main_result[1], True
        else:
            r = next(done)
            t_acc, b_acc, reused = r.transfer_accuracy, r.baseline_accuracy, False
        runs.append(
            {
                **info,
                "transfer_accuracy": t_acc,
                "baseline_accuracy": b_acc,
                "delta": t_acc - b_acc,
                "n_labeled": len(train) + len(val),
                "n_test": len(test),
                "main_run": reused,
            }
        )
        say(f"  {mode[:-1]} {info['fold_or_seed']}: transfer {100 * t_acc:.1f}%, baseline {100 * b_acc:.1f}%")
    return summarize_runs(mode, k, runs, **extra, embeddings_reused=fitter.reuses_embeddings, extraction=extraction)
