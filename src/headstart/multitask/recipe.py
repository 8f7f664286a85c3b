"""``fit_multitask``: one shared model vs one model per task vs scratch, per task, on identical splits.

Arms per task ``t`` (all scored on the test items that have t's label):

- ``multitask``: the shared trunk with one head per task (``--task-weighting``, ``--gradients``);
- ``single-task``: the same backbone, strategy, architecture and epoch budget with t's head only, trained on
  the items labeled for t;
- ``scratch``: the from-scratch baseline for t (``headstart.baselines.fit_baseline``);
- ``majority`` / ``stratified``: reference arms from t's labeled class counts.

Comparisons per task: ``multitask vs single-task`` (kind ``sharing``: sharing helps / no-difference /
interference) and ``<better of the two on validation> vs scratch`` (kind ``transfer``). The run also records
the training cost (seconds, parameters) of the multitask model against the sum of the single-task models.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from headstart.backbones import load_backbone
from headstart.baselines import fit_baseline
from headstart.baselines.prior import MajorityClass
from headstart.data import Splits, make_splits
from headstart.errors import HeadstartError
from headstart.evaluation.compare import Arm, Comparison, arm_summary, judge_all, reference_arms
from headstart.features import default_image_size
from headstart.multitask.data import MultiLabeledData
from headstart.multitask.fit import PROBE, FitSpec, Fitted, check_strategy, fit_heads, warm_up
from headstart.multitask.objective import check_options
from headstart.strategies.base import TransferTask

DEFAULT_BACKBONE = {"text": "minilm-l6", "image": "mobilenetv2"}


@dataclass
class MultitaskConfig:
    backbone: str | None = None
    strategy: str = PROBE
    weighting: str = "equal"
    gradients: str = "sum"
    baseline: str = "auto"
    seed: int = 0
    labels_per_class: int | None = None
    test_size: float = 0.2
    val_size: float = 0.2
    max_test: int | None = 2000
    image_size: int | None = None
    options: dict[str, Any] = field(default_factory=dict)
    progress: bool = False


@dataclass
class MultitaskResult:
    data: MultiLabeledData
    splits: Splits
    arms: list[Arm]
    comparisons: list[Comparison]
    verdicts: list[dict[str, Any]]
    cost: dict[str, Any]
    multitask: Fitted
    single: dict[str, Fitted]
    scratch: dict[str, Any]
    y_test: dict[str, np.ndarray]
    test_idx: dict[str, np.ndarray]
    warnings: list[str]

    def verdict(self, task: str, kind: str = "sharing") -> dict[str, Any]:
        return next(v for v in self.verdicts if v["task"] == task and v["kind"] == kind)

    def to_metrics(self) -> dict[str, Any]:
        """The ``multitask`` block of metrics.json."""
        per_task: dict[str, Any] = {}
        for t in self.data.names:
            arms = [a for a in self.arms if a.task == t]
            per_task[t] = {
                "arms": [arm_summary(a, self.y_test[t], self.data.tasks[t].classes) for a in arms],
                "sharing": self.verdict(t, "sharing"),
                "transfer": self.verdict(t, "transfer"),
                "n_test": len(self.y_test[t]),
            }
        return {
            "tasks": self.data.names,
            "primary": self.data.primary,
            "labels": self.data.summary(self.splits),
            "per_task": per_task,
            "cost": self.cost,
            "task_weights": self.multitask.weights[-1] if self.multitask.weights else None,
            "warnings": self.warnings,
        }


def check_task_splits(mdata: MultiLabeledData, splits: Splits) -> None:
    """Every task needs labeled items in train (two classes) and in test; say which one does not."""
    for t in mdata.tasks.values():
        n_test = int(t.mask[splits.test].sum())
        train = t.y[splits.train][t.mask[splits.train]]
        if n_test == 0 or len(np.unique(train)) < 2:
            raise HeadstartError(
                f"{mdata.data.source}: task {t.name!r} has {len(train)} labeled training items "
                f"({len(np.unique(train))} classes) and {n_test} labeled test items after the split; it needs "
                "two classes in training and at least one test item: add labels, raise --labels-per-class, or drop it"
            )


def _take(items: Any, idx: np.ndarray) -> Any:
    return items[idx] if isinstance(items, np.ndarray) else [items[i] for i in idx]


def _labeled(mdata: MultiLabeledData, t: int, idx: np.ndarray) -> np.ndarray:
    return idx[mdata.Y(idx)[:, t] >= 0]


def fit_multitask(mdata: MultiLabeledData, cfg: MultitaskConfig, *, echo: Any = None) -> MultitaskResult:
    """Every arm of a multitask run on one set of splits (stratified on the primary task), judged per task."""
    say = echo or (lambda *_: None)
    check_strategy(cfg.strategy)
    check_options(cfg.weighting, cfg.gradients)
    data = mdata.data
    backbone = cfg.backbone or DEFAULT_BACKBONE[data.modality]
    image_size = cfg.image_size or default_image_size(data, backbone)
    splits = make_splits(
        data.y, seed=cfg.seed, test_size=cfg.test_size, val_size=cfg.val_size,
        labels_per_class=cfg.labels_per_class, max_test=cfg.max_test, classes=data.classes,
    )  # fmt: skip
    names = mdata.names
    tasks = {n: mdata.tasks[n].classes for n in names}
    Y = mdata.Y()
    check_task_splits(mdata, splits)
    spec = FitSpec(
        backbone, cfg.strategy, data.modality, image_size, cfg.seed, cfg.weighting, cfg.gradients,
        dict(cfg.options), cfg.progress,
    )  # fmt: skip
    t0 = time.perf_counter()
    encoder = load_backbone(backbone, image_size=image_size)
    load_seconds = time.perf_counter() - t0
    embed_seconds = 0.0
    if cfg.strategy == PROBE:  # one cached embedding pass shared by every arm, so no arm is charged for it
        from headstart.features import extract

        t0 = time.perf_counter()
        every = np.concatenate([splits.train, splits.val, splits.test])
        extract(encoder, _take(data.items, every), progress=cfg.progress)
        embed_seconds = time.perf_counter() - t0
    warm_up()

    def fit(spec_: FitSpec, chosen: list[int]) -> Fitted:
        tr = splits.train[(Y[splits.train][:, chosen] >= 0).any(1)]
        va = splits.val[(Y[splits.val][:, chosen] >= 0).any(1)]
        sub = {names[j]: tasks[names[j]] for j in chosen}
        return fit_heads(
            spec_, sub, _take(data.items, tr), Y[tr][:, chosen], _take(data.items, va), Y[va][:, chosen],
            encoder=encoder,
        )  # fmt: skip

    say(f"[1/3] multitask: {cfg.strategy} on {backbone}, {len(names)} heads ({cfg.weighting}, {cfg.gradients})")
    multi = fit(spec, list(range(len(names))))
    single: dict[str, Fitted] = {}
    plain = FitSpec(**{**spec.__dict__, "weighting": "equal", "gradients": "sum"})
    for j, n in enumerate(names):
        say(f"[2/3] single-task: {n}")
        single[n] = fit(plain, [j])
    scratch: dict[str, Any] = {}
    scratch_seconds: dict[str, float] = {}
    fallback: list[str] = []
    for j, n in enumerate(names):
        say(f"[3/3] scratch baseline ({cfg.baseline}): {n}")
        tr, va = _labeled(mdata, j, splits.train), _labeled(mdata, j, splits.val)
        task = TransferTask(
            train_items=_take(data.items, tr), y_train=Y[tr, j], val_items=_take(data.items, va), y_val=Y[va, j],
            classes=tasks[n], modality=data.modality, backbone=backbone, seed=cfg.seed, image_size=image_size,
            progress=cfg.progress, options=dict(cfg.options),
        )  # fmt: skip
        t1 = time.perf_counter()
        try:
            scratch[n], _ = fit_baseline(cfg.baseline, task)
        except (HeadstartError, ValueError) as e:  # as fit_run does: keep the run, judge against the prior
            reason = str(e).splitlines()[0]
            scratch[n] = MajorityClass.fit(np.concatenate([task.y_train, task.y_val]), len(tasks[n]))
            fallback.append(f"task {n!r}: the from-scratch baseline failed ({reason}); the majority class stands in")
        scratch_seconds[n] = time.perf_counter() - t1

    arms, comparisons, y_test, test_idx = _arms(mdata, splits, multi, single, scratch)
    verdicts = judge_all(comparisons, arms, y_test, seed=cfg.seed)
    cost = _cost(multi, single, scratch_seconds, load_seconds, embed_seconds)
    warnings = [*fallback, *_warnings(verdicts, names)]
    return MultitaskResult(
        mdata, splits, arms, comparisons, verdicts, cost, multi, single, scratch, y_test, test_idx, warnings
    )


def _arms(
    mdata: MultiLabeledData,
    splits: Splits,
    multi: Fitted,
    single: dict[str, Fitted],
    scratch: dict[str, Any],
) -> tuple[list[Arm], list[Comparison], dict[str, np.ndarray], dict[str, np.ndarray]]:
    data, Y, names = mdata.data, mdata.Y(), mdata.names
    test = splits.test
    p_multi = multi.model.predict_tasks(_take(data.items, test))
    arms: list[Arm] = []
    comparisons: list[Comparison] = []
    y_test: dict[str, np.ndarray] = {}
    test_idx: dict[str, np.ndarray] = {}
    for j, n in enumerate(names):
        mask = Y[test, j] >= 0
        idx = test[mask]
        test_idx[n], y_test[n] = idx, Y[idx, j]
        items = _take(data.items, idx)
        mv = multi.model.val_accuracies.get(n, float("nan"))
        sv = single[n].model.val_accuracies.get(n, float("nan"))
        shared_name = f"{multi.model.name}"
        st = single[n].model
        sc = scratch[n]
        sv_scratch = float(getattr(sc, "val_accuracy", float("nan")))
        arms += [
            Arm("multitask", "multitask", shared_name, p_multi[n][mask], task=n, val_score=mv,
                trained_on="train split, every task's labels", model=multi.model,
                info={"n_train": multi.n_train, "n_train_labeled": multi.n_labeled[n]}),
            Arm("single-task", "single-task", st.name, st.predict_tasks(items)[n], task=n, val_score=sv,
                trained_on=f"train split items labeled for {n}", model=st,
                info={"n_train": single[n].n_train, "n_train_labeled": single[n].n_labeled[n]}),
            Arm("scratch", "baseline", sc.name, sc.predict_proba(items), task=n, val_score=sv_scratch,
                trained_on=f"train+val items labeled for {n}", model=sc),
        ]  # fmt: skip
        lab = np.concatenate([splits.train, splits.val])
        y_lab = Y[lab, j]
        for ref in reference_arms(y_lab[y_lab >= 0], len(idx), mdata.tasks[n].n_classes, seed=splits.seed):
            ref.task = n
            arms.append(ref)
        comparisons.append(Comparison("multitask", "single-task", kind="sharing", task=n))
        best = "multitask" if np.nan_to_num(mv, nan=-1) >= np.nan_to_num(sv, nan=-1) else "single-task"
        comparisons.append(Comparison(best, "scratch", kind="transfer", task=n))
    return arms, comparisons, y_test, test_idx


def _cost(
    multi: Fitted,
    single: dict[str, Fitted],
    scratch_seconds: dict[str, float],
    load_seconds: float,
    embed_seconds: float,
) -> dict[str, Any]:
    st_seconds = float(sum(f.seconds for f in single.values()))
    st_trainable = int(sum(f.params["trainable"] for f in single.values()))
    st_total = int(sum(f.params["total"] for f in single.values()))
    return {
        "multitask": {"seconds": multi.seconds, **multi.params, "timings": multi.timings},
        "single_task": {n: {"seconds": f.seconds, **f.params, "timings": f.timings} for n, f in single.items()},
        "single_task_total": {"seconds": st_seconds, "trainable": st_trainable, "total": st_total},
        "time_ratio": multi.seconds / st_seconds if st_seconds > 0 else float("nan"),
        "trainable_ratio": multi.params["trainable"] / max(1, st_trainable),
        "total_params_ratio": multi.params["total"] / max(1, st_total),
        "scratch_seconds": scratch_seconds,
        "load_backbone_seconds": load_seconds,
        "shared_embedding_seconds": embed_seconds,
        "note": (
            "seconds = fit wall time of each model (cache lookups or backbone passes included); the backbone "
            "load and, for linear-probe, the one embedding pass every arm reads from the cache are counted "
            "once, apart; total parameters count each model's own backbone copy"
        ),
    }


def _warnings(verdicts: list[dict[str, Any]], names: list[str]) -> list[str]:
    out = []
    for n in names:
        v = next(v for v in verdicts if v["task"] == n and v["kind"] == "sharing")
        if v["label"] != "interference" and v["delta"] < 0:
            out.append(
                f"task {n!r}: the multitask model is {100 * -v['delta']:.1f} points below its single-task model "
                f"(within noise: 95% CI {100 * v['ci_low']:+.1f} to {100 * v['ci_high']:+.1f}); sharing did not help it"
            )
        if v["label"] == "interference":
            out.append(
                f"task {n!r}: sharing HURTS it ({100 * v['delta']:+.1f} points, 95% CI {100 * v['ci_low']:+.1f} to "
                f"{100 * v['ci_high']:+.1f}): use its single-task model, or drop the task that interferes"
            )
        ref = v.get("reference", {})
        if ref and not any(ref.get("beaten_by", {}).values()):
            out.append(
                f"task {n!r}: neither the multitask nor the single-task model beats the majority class: the task "
                "may not be learnable from these items (check its labels)"
            )
    return out
