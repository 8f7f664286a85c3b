"""``fit_run``: a run is a set of named **arms** (models fitted on named training sets) scored on the same test
items, and a list of paired **comparisons** between them (:mod:`headstart.evaluation.compare`).

The standard run has four arms: ``transfer`` (the strategy on the backbone), ``scratch`` (the strongest
from-scratch baseline on validation) and the references ``majority`` and ``stratified``; it judges
``transfer vs scratch``. Adaptation and multitask runs add arms and comparisons on the same machinery.
``fit_run`` reads as the recipe; each step is a small function below.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from headstart.artifacts import FittedModel
from headstart.backbones import check_license, get_spec
from headstart.baseline_cache import cached_fit_baseline, predict_cached
from headstart.baselines import check_baseline
from headstart.baselines.prior import MajorityClass
from headstart.config import FitConfig
from headstart.data import LabeledData, Splits, load_data, make_splits
from headstart.data.targets import regression_strata
from headstart.errors import HeadstartError
from headstart.evaluation.compare import Arm, Comparison, arm_summary, judge_all, reference_arms
from headstart.evaluation.metrics import classification_summary
from headstart.features import default_image_size
from headstart.io import atomic_write_bytes, atomic_write_json
from headstart.outputs import data_summary, data_warnings, package_versions, write_outputs
from headstart.predict import load_shipped, predict_run
from headstart.rundir import COMPLETE_MARKER, RunDir, load_run
from headstart.strategies import TransferTask, get_strategy
from headstart.training.ddp import init_from_env

__all__ = [
    "COMPLETE_MARKER",
    "DEFAULT_BACKBONE",
    "FitConfig",
    "RunResult",
    "data_summary",
    "fit_run",
    "load_run",
    "load_shipped",
    "package_versions",
    "predict_run",
]

DEFAULT_BACKBONE = {"text": "minilm-l6", "image": "mobilenetv2", "tabular": "minilm-l6"}
READS = {"tabular": "text"}  # tables reach a backbone as rows serialized to text (strategies.row_text)
# How each model kind's selection score was measured (shown instead of a bare "val acc.").
SELECTION_METHOD = {
    "linear-probe": "cv",
    "tfidf-logreg": "cv",
    "pixel-logreg": "cv",
    "contrastive": "cv",
    "majority": "prior",
    "tabular-linear": "cv",
    "tfidf-ridge": "cv",
    "pixel-ridge": "cv",
    "ridge-probe": "cv",
}
Echo = Callable[[str], None]


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


class Timer(dict[str, float]):
    """``with timer("stage"):`` adds the stage's wall time to the dict."""

    def __call__(self, stage: str) -> _Stage:
        return _Stage(self, stage)


class _Stage:
    def __init__(self, timer: Timer, stage: str) -> None:
        self.timer, self.stage = timer, stage

    def __enter__(self) -> None:
        self.t0 = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        self.timer[self.stage] = self.timer.get(self.stage, 0.0) + time.perf_counter() - self.t0


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


def load_and_split(cfg: FitConfig, timer: Timer) -> tuple[LabeledData, Splits, str, int | None, list[str]]:
    """The data, its seeded stratified splits, and the checked backbone (modality + license gate)."""
    with timer("load_data"):
        data = load_data(
            cfg.data,
            text_column=cfg.text_column,
            label_column=cfg.label_column,
            group_columns=tuple(cfg.group_columns),
            on_bad_item=cfg.on_bad_item,
            modality=cfg.modality,
            task=cfg.task,
        )
    backbone, license_warnings = resolve_backbone(cfg, data)
    image_size = cfg.image_size or default_image_size(data, backbone)
    splits = make_splits(
        regression_strata(data.y) if data.task == "regression" else data.y,
        seed=cfg.seed,
        test_size=cfg.test_size,
        val_size=cfg.val_size,
        labels_per_class=cfg.labels_per_class,
        max_test=cfg.max_test,
        classes=data.classes,
    )
    if cfg.add_labels:  # labeled rows from `headstart query` join train; the test split stays identical
        from headstart.active.add_labels import merge_added_labels

        data, splits = merge_added_labels(data, splits, cfg.add_labels)
    return data, splits, backbone, image_size, license_warnings


def resolve_backbone(cfg: FitConfig, data: LabeledData) -> tuple[str, list[str]]:
    """The backbone name, after the modality check and the license gate (also for ``hf:``/``timm:``)."""
    backbone = cfg.backbone or DEFAULT_BACKBONE[data.modality]
    spec = get_spec(backbone)
    reads = READS.get(data.modality, data.modality)
    if spec.modality != reads:
        raise HeadstartError(
            f"backbone {backbone!r} is for {spec.modality}, but {cfg.data} is {data.modality}"
            f"; pick a {reads} backbone (see `headstart backbones`)"
        )
    return backbone, check_license(spec, cfg.use)


def check_studies(cfg: FitConfig, data: LabeledData, splits: Splits) -> None:
    """Validate the study options against the data before anything is written."""
    from headstart.evaluation.audit import positive_class_index
    from headstart.studies import check_variance_config, parse_fractions

    check_baseline(cfg.baseline, data.modality, data.task)
    if data.task == "regression":
        from headstart.regression_run import check_regression_config

        check_regression_config(cfg)
    if cfg.folds or cfg.seeds:
        check_variance_config(data.y, splits, folds=cfg.folds, seeds=cfg.seeds, classes=data.classes)
    if cfg.group_columns:
        positive_class_index(data.classes, cfg.positive_class)
    if cfg.curve:
        parse_fractions(cfg.curve_fractions)


def write_config(work: Path, cfg: FitConfig, backbone: str, image_size: int | None, splits: Splits) -> dict[str, Any]:
    config_doc = {
        **asdict(cfg),
        "backbone": backbone,
        "image_size": image_size,
        "versions": package_versions(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    atomic_write_json(work / "config.json", config_doc)
    atomic_write_json(work / "splits.json", splits.to_json())
    return config_doc


def resolve_strategy(
    cfg: FitConfig,
    data: LabeledData,
    splits: Splits,
    backbone: str,
    image_size: int | None,
    config_doc: dict[str, Any],
    work: Path,
    say: Echo,
) -> str:
    if cfg.strategy != "auto":
        return cfg.strategy
    if data.modality == "tabular" or data.task == "regression":
        why = "tables and regression targets: the linear probe (the tree/ridge baseline is the side to beat)"
        config_doc["strategy_chosen"] = {"strategy": "linear-probe", "why": why}
        atomic_write_json(work / "config.json", config_doc)
        return "linear-probe"
    from headstart.advise.auto import choose_strategy

    strategy, why = choose_strategy(data, splits, backbone, image_size=image_size, seed=cfg.seed)
    say(f"--strategy auto chose {strategy}: {why}")
    config_doc["strategy_chosen"] = {"strategy": strategy, "why": why}
    atomic_write_json(work / "config.json", config_doc)
    return strategy


def make_task(
    cfg: FitConfig,
    data: LabeledData,
    splits: Splits,
    backbone: str,
    image_size: int | None,
    work: Path,
    resume: bool,
) -> TransferTask:
    return TransferTask.from_splits(
        data,
        splits,
        backbone,
        seed=cfg.seed,
        image_size=image_size,
        progress=cfg.progress,
        work_dir=work,
        resume=resume,
        options={**cfg.options, "loss": cfg.loss, "focal_gamma": cfg.focal_gamma},
    )


def fit_transfer(task: TransferTask, strategy: str, backbone: str, timer: Timer, say: Echo) -> FittedModel:
    say(f"[1/3] transfer: {strategy} on {backbone} ({len(task.y_train)} train, {len(task.y_val)} val)")
    with timer("transfer_fit"):
        if task.modality == "tabular":
            from headstart.strategies.row_text import fit_row_text

            return fit_row_text(task, strategy)
        return get_strategy(strategy)(task)


def fit_scratch(cfg: FitConfig, task: TransferTask, timer: Timer, say: Echo) -> tuple[FittedModel, dict[str, Any]]:
    """The from-scratch baseline. If it cannot be fitted, the run keeps the transfer result and falls back to
    the majority class, recording why."""
    say(f"[2/3] baseline: {cfg.baseline} from scratch on the same split")
    with timer("baseline_fit"):
        try:
            return cached_fit_baseline(cfg.baseline, task)  # a second fit on the same split reuses it
        except (HeadstartError, ValueError) as e:
            y = np.concatenate([task.y_train, task.y_val])
            reason = str(e).splitlines()[0]
            say(f"baseline failed ({reason}); judging transfer against the majority class instead")
            return MajorityClass.fit(y, task.n_classes), {
                "failed": reason,
                "candidates": {},
                "warnings": [
                    f"the from-scratch baseline failed ({reason}); transfer is compared with the majority class instead"
                ],
            }


def score_arms(
    transfer: FittedModel,
    baseline: FittedModel,
    task: TransferTask,
    test_items: Any,
    y_test: np.ndarray,
    timer: Timer,
) -> list[Arm]:
    n_lab = len(task.y_train) + len(task.y_val)
    if task.target == "regression":
        from headstart.regression_run import regression_arms

        models = [("transfer", "transfer", transfer), ("scratch", "baseline", baseline)]
        y_lab = np.concatenate([task.y_train, task.y_val])
        with timer("predict_test"):
            return regression_arms(models, y_lab, test_items, len(y_test), f"{n_lab} labeled items (train + val)")
    arms = []
    for name, role, model in (("transfer", "transfer", transfer), ("scratch", "baseline", baseline)):
        with timer(f"{'transfer' if role == 'transfer' else 'baseline'}_predict_test"):
            proba = predict_cached(model, test_items, task.modality)  # plain predict_proba unless a cached baseline
        arms.append(
            Arm(
                name,
                role,
                model.name,
                proba,
                val_score=float(getattr(model, "val_accuracy", np.nan)),
                trained_on=f"{n_lab} labeled items (train + val)",
                model=model,
                info={"selection": SELECTION_METHOD.get(getattr(getattr(model, "inner", model), "kind", ""), "val")},
            )
        )
    y_lab = np.concatenate([task.y_train, task.y_val])
    return [*arms, *reference_arms(y_lab, len(y_test), task.n_classes, seed=task.seed)]


def measure_drift(transfer: FittedModel, task: TransferTask, test_items: Any, timer: Timer) -> None:
    """Linear CKA between original and updated embeddings, for strategies that move the backbone."""
    drift = getattr(transfer, "representation_drift", None)
    if callable(drift):
        with timer("transfer_cka"):
            cka = drift(test_items)
        if cka is not None:
            task.notes["cka"] = float(cka)


def _side_metrics(arm: Arm, y_test: np.ndarray, classes: list[str], extra: dict[str, Any]) -> dict[str, Any]:
    if arm.is_regression:
        from headstart.regression_run import side_metrics

        return side_metrics(arm, y_test, extra)
    return {
        "name": arm.model_name,
        **extra,
        **classification_summary(y_test, arm.output, classes),
        "val_accuracy": arm.val_score,
        "selection": arm.info.get("selection", "val"),
        "history": getattr(arm.model, "history", []),
    }


def assemble_metrics(
    cfg: FitConfig,
    data: LabeledData,
    splits: Splits,
    arms: list[Arm],
    verdicts: list[dict[str, Any]],
    task: TransferTask,
    base_report: dict[str, Any],
    strategy: str,
    backbone: str,
) -> dict[str, Any]:
    by = {a.name: a for a in arms}
    y_test = data.y[splits.test]
    verdict = {
        **verdicts[0],
        "transfer_accuracy": verdicts[0]["a_score"],
        "baseline_accuracy": verdicts[0]["b_score"],
        "transfer_name": verdicts[0]["a_model"],
        "baseline_name": verdicts[0]["b_model"],
    }
    extract_notes = task.notes.get("extract", [])
    base = {k: v for k, v in base_report.items() if k != "warnings"}
    return {
        "transfer": _side_metrics(by["transfer"], y_test, data.classes, {"strategy": strategy, "backbone": backbone}),
        "baseline": _side_metrics(by["scratch"], y_test, data.classes, base),
        "references": {a.name: arm_summary(a, y_test) for a in arms if a.role == "reference"},
        "arms": [arm_summary(a, y_test) for a in arms],
        "comparisons": verdicts,
        "verdict": verdict,
        "data": data_summary(data, splits),
        "cache": {
            "extractions": extract_notes,
            "hits": int(sum(e.get("cache_hits", 0) for e in extract_notes)),
            "computed": int(sum(e.get("computed", 0) for e in extract_notes)),
        },
        "notes": {k: v for k, v in task.notes.items() if k != "extract"},
    }


def run_studies_into(
    metrics: dict[str, Any],
    cfg: FitConfig,
    data: LabeledData,
    splits: Splits,
    strategy: str,
    backbone: str,
    image_size: int | None,
    task: TransferTask,
    arms: list[Arm],
    timer: Timer,
    say: Echo,
) -> None:
    """Audit, curve and variance (as asked for); the variance rule may downgrade the verdict."""
    from headstart.evaluation.verdict import apply_variance
    from headstart.studies import run_studies

    by = {a.name: a for a in arms}
    extras = run_studies(
        cfg,
        data=data,
        splits=splits,
        strategy=strategy,
        backbone=backbone,
        image_size=image_size,
        options=task.options,
        transfer=by["transfer"].model,
        p_transfer=by["transfer"].output,
        p_baseline=by["scratch"].output,
        timings=timer,
        echo=say,
    )
    metrics.update(extras)
    if "variance" in extras:
        metrics["verdict"] = apply_variance(metrics["verdict"], extras["variance"])
        metrics["comparisons"][0] = {
            **metrics["comparisons"][0],
            "label": metrics["verdict"]["label"],
            "sentence": metrics["verdict"]["sentence"],
        }


def choose_shipped(
    metrics: dict[str, Any],
    cfg: FitConfig,
    arms: list[Arm],
    task: TransferTask,
    y_test: np.ndarray,
    data: LabeledData,
) -> FittedModel | None:
    """Which side ships and why (validation data only, never the test split); returns the stack model, if any."""
    from headstart.stacking import choose_stack, stack_for_run, validation_is_decisive

    by = {a.name: a for a in arms}
    t, b = by["transfer"], by["scratch"]
    side, reason = ship_rule(cfg.ship, t.val_score, b.val_score)
    doc: dict[str, Any] = {}
    if cfg.ship in ("best", "stack") and task.target != "regression":
        doc["decisive"], note = validation_is_decisive(t.val_score, b.val_score, len(task.y_train) + len(task.y_val))
        if note and cfg.ship == "best":
            reason = f"{reason}; {note}"
    stack = None
    if cfg.ship == "stack":
        with Timer()("stack"):
            try:
                stack, metrics["stack"], _ = stack_for_run(
                    t.model, b.model, task, y_test, t.output, b.output, data.classes
                )
                side, reason = choose_stack(t.val_score, b.val_score, metrics["stack"]["val_accuracy"])
            except ValueError as exc:
                reason = f"--ship stack: no combiner could be fitted ({exc}); {reason}"
    beaten = metrics["verdict"].get("reference", {}).get("beaten_by", {})
    if beaten and not any(beaten.values()):
        doc["beats_majority"] = False
        reason = (
            f"neither model beats guessing the majority class on the test items, so neither is worth deploying "
            f"yet; {side} is saved so `predict` works ({reason}); collect more labels"
        )
    metrics["shipped"] = {"side": side, "reason": reason, **doc}
    return stack


def ship_rule(ship: str, tv: float, bv: float) -> tuple[str, str]:
    """``--ship``: forced side, or the side that won on validation (ties go to the simpler baseline)."""
    if ship in ("transfer", "baseline"):
        return ship, f"--ship {ship} was requested"
    if np.isnan(tv) or np.isnan(bv):
        return "transfer", "validation scores unavailable; shipping the transfer model"
    if tv > bv:
        return "transfer", f"transfer was better on validation ({tv:.3f} vs {bv:.3f})"
    return "baseline", (
        f"the from-scratch baseline was at least as good on validation ({bv:.3f} vs {tv:.3f}); "
        "shipping the simpler model"
    )


def transfer_warnings(task: TransferTask, metrics: dict[str, Any]) -> list[str]:
    from headstart.strategies.finetune_model import cka_warnings

    return cka_warnings(task.notes.get("cka"), metrics["verdict"]["label"])
