"""``fit_run``: a run is a set of named **arms** (models fitted on named training sets) scored on the same test
items, and a list of paired **comparisons** between them (:mod:`headstart.evaluation.compare`).

The standard run has four arms: ``transfer`` (the strategy on the backbone), ``scratch`` (the strongest
from-scratch baseline on validation) and the references ``majority`` and ``stratified``; it judges
``transfer vs scratch``. Adaptation and multitask runs add arms and comparisons on the same machinery.
``fit_run`` reads as the recipe; each step is a small function in :mod:`headstart.run_setup`,
:mod:`headstart.run_arms`, :mod:`headstart.run_metrics` or :mod:`headstart.run_shipping`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from headstart.artifacts import FittedModel
from headstart.config import FitConfig
from headstart.data import LabeledData, Splits
from headstart.errors import HeadstartError
from headstart.evaluation.compare import Comparison, judge_all
from headstart.io import atomic_write_bytes
from headstart.outputs import data_summary, data_warnings, package_versions, write_outputs
from headstart.predict import load_shipped, predict_run
from headstart.run_arms import fit_scratch, fit_transfer, measure_drift, score_arms
from headstart.run_metrics import assemble_metrics, run_studies_into, transfer_warnings
from headstart.run_setup import check_studies, load_and_split, make_task, resolve_strategy, write_config
from headstart.run_shipping import choose_shipped
from headstart.rundir import COMPLETE_MARKER, RunDir, load_run
from headstart.stage_timer import Echo, Timer
from headstart.training.ddp import init_from_env

__all__ = [
    "COMPLETE_MARKER",
    "FitConfig",
    "RunResult",
    "data_summary",
    "fit_run",
    "load_run",
    "load_shipped",
    "package_versions",
    "predict_run",
]


@dataclass
class RunResult:
    out: Path
    metrics: dict[str, Any]
    transfer: FittedModel
    baseline: FittedModel
    data: LabeledData
    splits: Splits
    warnings: list[str]

    @property
    def verdict(self) -> dict[str, Any]:
        return self.metrics["verdict"]  # type: ignore[no-any-return]


def fit_run(cfg: FitConfig, *, resume: bool = False, echo: Echo | None = None) -> RunResult:
    """Fit every arm on identical splits, judge the comparisons, and write the run directory."""
    say, timer, t_start = echo or (lambda _s: None), Timer(), time.perf_counter()
    cfg.validate()
    from headstart.multitask.run import fit_multitask_run, is_multitask, reject_multitask_flags

    if is_multitask(cfg):  # several label columns: one shared model vs one per task (headstart.multitask)
        if resume:
            raise HeadstartError("--resume is not supported for multitask runs; start it again with --overwrite")
        return RunResult(*fit_multitask_run(cfg, echo=echo))
    reject_multitask_flags(cfg)
    dist = init_from_env()  # under torchrun: every rank runs the recipe, only rank 0 writes --out
    if dist.enabled and resume:
        raise HeadstartError("--resume is not supported under torchrun; resume with a single process")
    out = Path(cfg.out) if dist.is_main else _scratch_out(cfg, dist.rank)
    RunDir.check(out, overwrite=cfg.overwrite, resume=resume)
    data, splits, backbone, image_size, license_warnings = load_and_split(cfg, timer)
    check_studies(cfg, data, splits)
    with RunDir.open(out, overwrite=cfg.overwrite, resume=resume) as rundir:
        config_doc = write_config(rundir.work, cfg, backbone, image_size, splits)
        if cfg.add_labels:  # kept with the run, so its data and splits can be rebuilt (headstart.runinputs)
            atomic_write_bytes(rundir.work / "added_labels.csv", Path(cfg.add_labels).read_bytes())
        strategy = resolve_strategy(cfg, data, splits, backbone, image_size, config_doc, rundir.work, say)
        task = make_task(cfg, data, splits, backbone, image_size, rundir.work, resume)
        transfer = fit_transfer(task, strategy, backbone, timer, say)
        baseline, base_report = fit_scratch(cfg, task, timer, say)
        test_items, y_test = _take(data.items, splits.test), data.y[splits.test]
        say(f"[3/3] evaluating every arm on {len(splits.test)} held-out test examples")
        arms = score_arms(transfer, baseline, task, test_items, y_test, timer)
        comparisons = [Comparison("transfer", "scratch", kind="transfer")]
        verdicts = judge_all(comparisons, arms, y_test, seed=cfg.seed)
        measure_drift(transfer, task, test_items, timer)
        metrics = assemble_metrics(cfg, data, splits, arms, verdicts, task, base_report, strategy, backbone)
        run_studies_into(metrics, cfg, data, splits, strategy, backbone, image_size, task, arms, timer, say)
        stack = choose_shipped(metrics, cfg, arms, task, y_test, data)
        metrics["warnings"] = [
            *data_warnings(data, splits),
            *license_warnings,
            *base_report.get("warnings", []),
            *metrics["verdict"]["warnings"],
            *transfer_warnings(task, metrics),
        ]
        metrics["timing"] = {
            **timer,
            **{f"transfer_{k}": v for k, v in task.timings.items()},
            "total": time.perf_counter() - t_start,
        }
        models = {"model": transfer, "baseline": baseline, "stack": stack}
        write_outputs(rundir.work, config_doc, metrics, data, splits, arms, models)
        rundir.commit()
    if not dist.is_main:
        import shutil

        shutil.rmtree(out.parent, ignore_errors=True)
        out = Path(cfg.out)
    return RunResult(out, metrics, transfer, baseline, data, splits, metrics["warnings"])


# ------------------------------------------------------------------------------------------------ the steps
def _take(items: Any, idx: np.ndarray) -> Any:
    if isinstance(items, np.ndarray):
        return items[idx]
    return [items[i] for i in idx]


def _scratch_out(cfg: FitConfig, rank: int) -> Path:
    import tempfile

    return Path(tempfile.mkdtemp(prefix=f"headstart-rank{rank}-")) / Path(cfg.out).name
