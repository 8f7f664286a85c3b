"""``fit_multitask_run``: a multitask ``headstart fit`` (several ``--label-column``s or ``--tasks``) written to a
run directory like any other run: config.json, splits.json, the shared model in ``model/`` (the single-task
probes in ``single/<task>/``), predictions.csv with one column group per task, report.html, MODEL_CARD.md and,
last, metrics.json. The primary task's arms also fill the standard ``transfer`` / ``baseline`` / ``verdict``
blocks, so every reader of a run (report, card, predict, export) works unchanged.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from headstart.config import FitConfig
from headstart.errors import HeadstartError
from headstart.evaluation.compare import arm_summary
from headstart.evaluation.metrics import classification_summary
from headstart.io import atomic_write_json, atomic_write_text
from headstart.multitask.data import MultiLabeledData, parse_tasks
from headstart.multitask.fit import PROBE, check_strategy
from headstart.multitask.loader import load_multitask
from headstart.multitask.objective import check_options
from headstart.multitask.recipe import MultitaskConfig, MultitaskResult, fit_multitask
from headstart.outputs import data_summary, data_warnings, package_versions
from headstart.rundir import COMPLETE_MARKER, RunDir

Echo = Callable[[str], None]


def is_multitask(cfg: FitConfig) -> bool:
    """Several label columns, ``--tasks``, or a builtin that only exists with several tasks."""
    from headstart.data.builtin import BUILTINS
    from headstart.multitask.builtins import MULTITASK_BUILTINS

    name = cfg.data.split(":", 1)[1].strip().lower() if cfg.data.startswith("builtin:") else ""
    only_multi = name in MULTITASK_BUILTINS and name not in BUILTINS
    return len(cfg.label_columns) > 1 or bool(cfg.tasks) or only_multi


def reject_multitask_flags(cfg: FitConfig) -> None:
    """A single-task run given --task-weighting/--gradients: say they do nothing there."""
    if cfg.task_weighting != "equal" or cfg.gradients != "sum":
        raise HeadstartError(
            "--task-weighting and --gradients apply to multitask runs only; give several --label-column "
            "flags (or --tasks for a multitask builtin), or drop them"
        )


def task_columns(cfg: FitConfig) -> list[str] | None:
    """The task names of a run: ``--tasks`` (comma-separated) or the repeated ``--label-column``s."""
    return parse_tasks(cfg.tasks) or list(cfg.label_columns) or None


def fit_multitask_run(cfg: FitConfig, *, echo: Echo | None = None) -> tuple[Any, ...]:
    """Fit, judge and write the run; returns the fields of ``pipeline.RunResult`` (out, metrics, the shared
    model, the primary task's scratch model, data, splits, warnings)."""
    say = echo or (lambda _s: None)
    t_start = time.perf_counter()
    check_strategy(cfg.strategy)
    check_options(cfg.task_weighting, cfg.gradients)
    out = Path(cfg.out)
    RunDir.check(out, overwrite=cfg.overwrite, resume=False)
    mdata = load_multitask(
        cfg.data,
        task_columns(cfg),
        text_column=cfg.text_column,
        group_columns=cfg.group_columns,
        on_bad_item=cfg.on_bad_item,
    )
    mcfg = MultitaskConfig(
        backbone=cfg.backbone, strategy=cfg.strategy, weighting=cfg.task_weighting, gradients=cfg.gradients,
        baseline=cfg.baseline, seed=cfg.seed, labels_per_class=cfg.labels_per_class, test_size=cfg.test_size,
        val_size=cfg.val_size, max_test=cfg.max_test, image_size=cfg.image_size, options=dict(cfg.options),
        progress=cfg.progress,
    )  # fmt: skip
    with RunDir.open(out, overwrite=cfg.overwrite) as rundir:
        r = fit_multitask(mdata, mcfg, echo=say)
        backbone = r.multitask.model.backbone
        config_doc = {
            **asdict(cfg),
            "backbone": backbone,
            "image_size": r.multitask.model.image_size,
            "label_columns": mdata.names,
            "versions": package_versions((*_packages(), "torchjd")),
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        atomic_write_json(rundir.work / "config.json", config_doc)
        atomic_write_json(rundir.work / "splits.json", r.splits.to_json())
        metrics = assemble(cfg, r)
        metrics["timing"] = {"total": time.perf_counter() - t_start}
        write(rundir.work, config_doc, metrics, r)
        rundir.commit()
    return out, metrics, r.multitask.model, r.scratch[mdata.primary], mdata.data, r.splits, metrics["warnings"]


def _packages() -> tuple[str, ...]:
    from headstart.outputs import PACKAGES

    return PACKAGES


def _side(r: MultitaskResult, arm_name: str, extra: dict[str, Any]) -> dict[str, Any]:
    t = r.data.primary
    arm = next(a for a in r.arms if a.task == t and a.name == arm_name)
    return {
        "name": arm.model_name,
        **extra,
        **classification_summary(r.y_test[t], arm.output, r.data.tasks[t].classes),
        "val_accuracy": arm.val_score,
        "selection": "val",
        "history": getattr(arm.model, "history", []),
    }


def assemble(cfg: FitConfig, r: MultitaskResult) -> dict[str, Any]:
    """metrics.json of a multitask run: the standard blocks for the primary task + the ``multitask`` block."""
    t = r.data.primary
    sharing, transfer = r.verdict(t, "sharing"), r.verdict(t, "transfer")
    verdict = {
        **transfer,
        "transfer_accuracy": transfer["a_score"],
        "baseline_accuracy": transfer["b_score"],
        "transfer_name": transfer["a_model"],
        "baseline_name": transfer["b_model"],
    }
    labels = {v["task"]: v["label"] for v in r.verdicts if v["kind"] == "sharing"}
    hurt = [n for n, lab in labels.items() if lab == "interference"]
    reason = f"one model for every task; sharing verdicts: {', '.join(f'{n} {lab}' for n, lab in labels.items())}" + (
        f"; for {', '.join(hurt)} use the single-task model (sharing hurts it)" if hurt else ""
    )
    per_task, why = ship_per_task(cfg, r)
    scratch = [n for n, side in per_task.items() if side == "scratch"]
    if scratch:
        reason += "; " + "; ".join(f"for {n} the from-scratch model ships ({why[n]})" for n in scratch)
    return {
        "kind": "multitask",
        "transfer": _side(r, "multitask", {"strategy": cfg.strategy, "backbone": r.multitask.model.backbone}),
        "baseline": _side(r, "scratch", {}),
        "references": {a.name: arm_summary(a, r.y_test[t]) for a in r.arms if a.task == t and a.role == "reference"},
        "arms": [arm_summary(a, r.y_test[a.task]) for a in r.arms],
        "comparisons": r.verdicts,
        "verdict": verdict,
        "sharing_verdict": sharing,
        "multitask": r.to_metrics(),
        "shipped": {"side": "transfer", "reason": reason, "per_task": per_task},
        "data": data_summary(r.data.data, r.splits),
        "cache": {"extractions": [], "hits": 0, "computed": 0},
        "notes": {},
        "warnings": [*data_warnings(r.data.data, r.splits), *r.warnings, *transfer.get("warnings", [])],
    }


def ship_per_task(cfg: FitConfig, r: MultitaskResult) -> tuple[dict[str, str], dict[str, str]]:
    """Per task, ``"multitask"`` or ``"scratch"`` and why: the single-task run's rule (``--ship``, else the
    validation winner, ties to the simpler from-scratch model), on each task's validation scores only."""
    from headstart.run_shipping import ship_rule

    forced = cfg.ship if cfg.ship in ("transfer", "baseline") else "best"
    sides: dict[str, str] = {}
    why: dict[str, str] = {}
    for n in r.data.names:
        by = {a.name: a for a in r.arms if a.task == n}
        side, reason = ship_rule(forced, by["multitask"].val_score, by["scratch"].val_score)
        sides[n] = "scratch" if side == "baseline" else "multitask"
        why[n] = reason.replace("transfer was", "multitask was")
    return sides, why


def scratch_folder(task: str) -> str:
    """Where a multitask run keeps the from-scratch model it ships for ``task`` (``baseline/`` is in the
    run's integrity manifest)."""
    return f"baseline/{_safe_name(task)}"


def write(work: Path, config_doc: dict[str, Any], metrics: dict[str, Any], r: MultitaskResult) -> None:
    """Models, predictions, card and report; metrics.json last (its presence marks the run complete)."""
    from headstart.card import write_model_card
    from headstart.report import write_report

    r.multitask.model.save(work / "model")
    for n, side in metrics["shipped"].get("per_task", {}).items():
        if side == "scratch":
            r.scratch[n].save(work / scratch_folder(n))
    if r.multitask.model.strategy == PROBE:  # small: keep them, they are what a user would ship instead
        for n, f in r.single.items():
            f.model.save(work / "single" / _safe_name(n))
    write_predictions(work / "predictions.csv", r)
    write_model_card(work, config_doc, metrics, r.data.data)
    write_report(work, metrics, config_doc, data=r.data.data)
    atomic_write_json(work / COMPLETE_MARKER, metrics)


def _safe_name(task: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in task)


def write_predictions(path: Path, r: MultitaskResult) -> None:
    """One row per test item: the primary task as ``label``/``prediction``, then every task's label and the
    multitask and single-task predictions (empty where the item has no label for that task)."""
    data, test = r.data.data, r.splits.test
    pos = {int(i): k for k, i in enumerate(test)}
    cols: dict[str, Any] = {"id": [data.ids[i] for i in test]}
    for j, n in enumerate(r.data.names):
        classes = np.array(r.data.tasks[n].classes, dtype=object)
        rows = [pos[int(i)] for i in r.test_idx[n]]
        by = {a.name: a for a in r.arms if a.task == n}
        for key, values in (
            ("label", classes[r.y_test[n]]),
            ("prediction", classes[by["multitask"].output.argmax(1)]),
            ("confidence", by["multitask"].output.max(1)),
            ("single_task_prediction", classes[by["single-task"].output.argmax(1)]),
            ("scratch_prediction", classes[by["scratch"].output.argmax(1)]),
        ):
            col = np.full(len(test), None, dtype=object)
            col[rows] = values
            if j == 0:
                cols[key] = col
            cols[f"{n}_{key}"] = col
    atomic_write_text(path, pd.DataFrame(cols).to_csv(index=False))


def predict_tasks_frame(model: Any, ids: list[str], items: Any, scratch: dict[str, Any] | None = None) -> pd.DataFrame:
    """``predict`` for a multitask run: one prediction + confidence column per task (primary task first, also
    as ``prediction``/``confidence``), and ``p_<task>_<class>`` probabilities. ``scratch``: the from-scratch
    models the run ships for some tasks (they predict those tasks instead of the shared model)."""
    probs = model.predict_tasks(items)
    for n, m in (scratch or {}).items():
        probs[n] = m.predict_proba(items)
    df = pd.DataFrame({"id": ids})
    for j, (n, p) in enumerate(probs.items()):
        classes = np.array(model.tasks[n], dtype=object)
        if j == 0:
            df["prediction"], df["confidence"] = classes[p.argmax(1)], p.max(1)
        df[f"{n}_prediction"], df[f"{n}_confidence"] = classes[p.argmax(1)], p.max(1)
        for k, c in enumerate(classes):
            df[f"p_{n}_{c}"] = p[:, k]
    return df


def describe(mdata: MultiLabeledData) -> str:
    return ", ".join(f"{n} ({t.n_labeled()} labeled)" for n, t in mdata.tasks.items())
