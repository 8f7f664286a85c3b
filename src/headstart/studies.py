"""Studies on top of one run: the data-efficiency curve and the fold/seed variance of the verdict.

Both repeat "fit transfer + fit baseline + score both on a test set" many times, so they share
:class:`PairFitter`. For the linear probe the embeddings of every item any repetition needs are extracted ONCE
(through the on-disk cache, usually all hits after the main run) and each repetition only refits the
logistic-regression head; other strategies are refit through their registered function. Baselines are always
refit with :func:`headstart.baseline_cache.cached_fit_baseline` (``auto`` = best candidate on validation, as in
the run; a repetition fitted before is read back from the cache).

Curve (``--curve``): the test split and its embeddings stay fixed; the run's labeled set (train + val) is
subsampled per fraction and seed, stratified (at least one example per class; nested across fractions for one
seed), then split into train/val with the run's ``val_size``.

Variance (``--folds K`` and/or ``--seeds S``):

- ``folds``: the run's items (train + val + test) are cut into K stratified folds (repeated S times with
  different shuffles when ``--seeds`` is also given). Each fold is the test set once (capped at ``max_test``),
  and the labeled set is drawn from the other folds with the run's ``labels_per_class`` budget (all of them
  without a budget), so every repetition answers the same question as the run at the same label budget.
- ``seeds``: ``make_splits`` is redrawn with seeds ``seed, seed + 1, ..., seed + S - 1`` (new test set, new
  labeled set); the first repetition IS the main run and is reused.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from headstart.artifacts import FittedModel
from headstart.baseline_cache import cached_fit_baseline
from headstart.data import LabeledData, Splits, make_splits
from headstart.errors import HeadstartError
from headstart.evaluation.variance import mean_std, summarize_runs
from headstart.executors import Executor, describe
from headstart.strategies import TransferTask, get_strategy

DEFAULT_FRACTIONS = (0.1, 0.25, 0.5, 1.0)
DEFAULT_CURVE_SEEDS = 3


def _rng(*key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(list(key)))


def _take(items: Any, idx: np.ndarray) -> Any:
    if isinstance(items, np.ndarray):
        return items[idx]
    return [items[i] for i in idx]


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


def stratified_subsample(y: np.ndarray, idx: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """``round(fraction * n_k)`` (at least 1) of each class's indices in ``idx``; nested across fractions for
    one ``rng`` state, since each class is permuted once and truncated."""
    idx = np.asarray(idx, dtype=np.int64)
    parts = []
    for k in np.unique(y[idx]):
        members = np.sort(idx[y[idx] == k])
        m = min(len(members), max(1, round(fraction * len(members))))
        parts.append(rng.permutation(members)[:m])
    return np.sort(np.concatenate(parts)) if parts else idx[:0]


def split_train_val(
    y: np.ndarray, idx: np.ndarray, val_size: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Stratified train/val inside ``idx`` (one val example per class with two or more, one train always)."""
    train, val = [], []
    for k in np.unique(y[idx]):
        members = rng.permutation(np.sort(idx[y[idx] == k]))
        n = len(members)
        n_val = 0 if n < 2 or val_size <= 0 else min(n - 1, max(1, round(val_size * n)))
        val.append(members[:n_val])
        train.append(members[n_val:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(val))


def per_class_budget(y: np.ndarray, idx: np.ndarray, k: int | None, rng: np.random.Generator) -> np.ndarray:
    """At most ``k`` examples of each class from ``idx`` (all of ``idx`` when ``k`` is None)."""
    if k is None:
        return np.sort(np.asarray(idx, dtype=np.int64))
    parts = [rng.permutation(np.sort(idx[y[idx] == c]))[:k] for c in np.unique(y[idx])]
    return np.sort(np.concatenate(parts))


@dataclass
class PairResult:
    transfer_accuracy: float
    baseline_accuracy: float
    baseline_name: str
    pred_transfer: np.ndarray
    pred_baseline: np.ndarray


@dataclass
class PairFitter:
    """Fit transfer + baseline on index sets of one dataset and score both on a test index set."""

    data: LabeledData
    strategy: str
    backbone: str
    baseline: str
    image_size: int | None = None
    options: dict[str, Any] = field(default_factory=dict)
    transfer: FittedModel | None = None  # the run's transfer model: its encoder is reused for the probe
    progress: bool = False
    _emb_index: np.ndarray | None = None
    _emb: np.ndarray | None = None

    @property
    def reuses_embeddings(self) -> bool:
        return self._emb is not None or (self.strategy == "linear-probe" and hasattr(self.transfer, "embed"))

    def portable(self) -> PairFitter:
        """A copy to ship to other processes: without the run's transfer model (its encoder stays here), with
        the prepared embeddings, without progress bars."""
        return replace(self, transfer=None, progress=False)

    def fit_eval_all(self, jobs: Sequence[PairJob], executor: Executor | None = None) -> list[PairResult]:
        """:meth:`fit_eval` of every ``(train, val, test, seed)`` job, in order, on ``executor``."""
        if executor is None or executor.kind == "sequential":
            return [self.fit_eval(*job) for job in jobs]
        return executor.map(_fit_eval_job, jobs, shared=self.portable())

    def prepare(self, idx: np.ndarray) -> dict[str, Any]:
        """Extract (through the cache) the embeddings of every item in ``idx`` once; returns extraction stats."""
        if not self.reuses_embeddings:
            return {}
        from headstart.features import extract

        uniq = np.unique(np.asarray(idx, dtype=np.int64))
        t = self.transfer
        encoder = t.feature_encoder() if hasattr(t, "feature_encoder") else t.encoder()  # type: ignore[union-attr]
        emb, stats = extract(encoder, _take(self.data.items, uniq), progress=self.progress)
        self._emb_index, self._emb = uniq, emb
        return stats.to_dict()

    def _embeddings(self, idx: np.ndarray) -> np.ndarray:
        assert self._emb_index is not None and self._emb is not None
        pos = np.searchsorted(self._emb_index, idx)
        if np.any(pos >= len(self._emb_index)) or np.any(
            self._emb_index[np.minimum(pos, len(self._emb_index) - 1)] != idx
        ):
            missing = np.setdiff1d(idx, self._emb_index)
            raise RuntimeError(f"{len(missing)} items were not prepared")
        return self._emb[pos]

    def fit_eval(self, train: np.ndarray, val: np.ndarray, test: np.ndarray, seed: int) -> PairResult:
        d = self.data
        y_test = d.y[test]
        task = TransferTask(
            train_items=_take(d.items, train),
            y_train=d.y[train],
            val_items=_take(d.items, val),
            y_val=d.y[val],
            classes=d.classes,
            modality=d.modality,
            backbone=self.backbone,
            seed=seed,
            image_size=self.image_size,
            progress=self.progress,
            options=dict(self.options),
        )
        if self.reuses_embeddings:
            from headstart.strategies.linear_head import fit_linear_head

            lab = np.concatenate([train, val])
            head = fit_linear_head(
                self._embeddings(lab),
                d.y[lab],
                len(d.classes),
                seed=seed,
                class_weight="balanced" if self.options.get("loss") == "weighted" else None,
            )
            p_t = head.predict_proba(self._embeddings(test))
        else:
            model = get_strategy(self.strategy)(task)
            p_t = model.predict_proba(_take(d.items, test))
        base, _ = cached_fit_baseline(self.baseline, task)
        p_b = base.predict_proba(_take(d.items, test))
        pt, pb = p_t.argmax(1), p_b.argmax(1)
        return PairResult(float((pt == y_test).mean()), float((pb == y_test).mean()), str(base.name), pt, pb)


PairJob = tuple[np.ndarray, np.ndarray, np.ndarray, int]  # train, val, test indices; seed


def _fit_eval_job(fitter: PairFitter, job: PairJob) -> PairResult:
    return fitter.fit_eval(*job)


Echo = Callable[[str], None]


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


def _cap_test(y: np.ndarray, idx: np.ndarray, max_test: int | None, rng: np.random.Generator) -> np.ndarray:
    if max_test is None or len(idx) <= max_test:
        return np.sort(idx)
    return stratified_subsample(y, idx, max_test / len(idx), rng)


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
