"""``fit_run``: one transfer run paired with a from-scratch baseline on identical splits, judged by a paired
bootstrap verdict, written to a run directory. ``predict_run`` loads only from such a directory.

The run is built in ``<out>.partial/`` and renamed onto ``<out>`` only when complete, so a killed run never
leaves a folder that ``predict`` would take for a finished one; ``resume=True`` continues from the partial
folder's checkpoints.
"""

from __future__ import annotations

import platform
import shutil
import time
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from headstart.artifacts import FittedModel, load_model, read_json
from headstart.backbones import check_license, get_spec
from headstart.baselines import fit_baseline
from headstart.data import LabeledData, Splits, load_data, make_splits
from headstart.errors import HeadstartError
from headstart.evaluation import classification_summary, paired_bootstrap_verdict
from headstart.features import default_image_size
from headstart.integrity import require_listed, verify_manifest, write_manifest
from headstart.io import atomic_write_json, atomic_write_text
from headstart.strategies import TransferTask, get_strategy

DEFAULT_BACKBONE = {"text": "minilm-l6", "image": "mobilenetv2"}
COMPLETE_MARKER = "metrics.json"
PACKAGES = (
    "headstart",
    "torch",
    "numpy",
    "scikit-learn",
    "transformers",
    "sentence-transformers",
    "onnxruntime",
    "peft",
    "pandas",
)


@dataclass
class FitConfig:
    """Every setting of one run; saved verbatim to ``config.json``."""

    data: str
    out: str
    backbone: str | None = None
    strategy: str = "linear-probe"
    baseline: str = "auto"
    text_column: str | None = None
    label_column: str | None = None
    group_columns: list[str] = field(default_factory=list)
    labels_per_class: int | None = None
    seed: int = 0
    test_size: float = 0.2
    val_size: float = 0.2
    max_test: int | None = 2000
    on_bad_item: str = "error"
    image_size: int | None = None
    loss: str = "ce"
    focal_gamma: float = 2.0
    use: str = "commercial"
    ship: str = "best"
    curve: bool = False  # data-efficiency curve (headstart.studies)
    curve_fractions: list[float] | None = None  # None: 0.1, 0.25, 0.5, 1.0 of the labeled set
    curve_seeds: int = 3
    folds: int | None = None  # variance: repeated stratified K-fold ...
    seeds: int | None = None  # ... or S seeds (both: K folds repeated S times)
    positive_class: str | None = None  # audit: positive class of a binary task (default: the second class)
    options: dict[str, Any] = field(default_factory=dict)  # strategy hyper-parameters: epochs, lr, unfreeze...
    overwrite: bool = False
    progress: bool = True

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FitConfig:
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        return cls(**known)


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


def package_versions(packages: tuple[str, ...] = PACKAGES, missing: str | None = None) -> dict[str, str]:
    """Python and package versions; a package that is not installed is left out, or shown as ``missing``."""
    out = {"python": platform.python_version()}
    for p in packages:
        try:
            out[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            if missing is not None:
                out[p] = missing
    return out


def _take(items: Any, idx: np.ndarray) -> Any:
    if isinstance(items, np.ndarray):
        return items[idx]
    return [items[i] for i in idx]


def _partial_dir(out: Path) -> Path:
    return out.with_name(out.name + ".partial")


def _ship(cfg: FitConfig, transfer: FittedModel, baseline: FittedModel) -> tuple[str, str]:
    """Which side ships, and why (validation data only, never the test split)."""
    tv = float(getattr(transfer, "val_accuracy", float("nan")))
    bv = float(getattr(baseline, "val_accuracy", float("nan")))
    if cfg.ship == "transfer":
        return "transfer", "--ship transfer was requested"
    if cfg.ship == "baseline":
        return "baseline", "--ship baseline was requested"
    if cfg.ship not in ("best", "stack"):
        raise HeadstartError(f"unknown --ship {cfg.ship!r}; choose best, transfer, baseline or stack")
    if np.isnan(tv) or np.isnan(bv):
        return "transfer", "validation scores unavailable; shipping the transfer model"
    if tv > bv:
        return "transfer", f"transfer was better on validation ({tv:.3f} vs {bv:.3f})"
    return "baseline", (
        f"the from-scratch baseline was at least as good on validation ({bv:.3f} vs {tv:.3f}); "
        "shipping the simpler model"
    )


def fit_run(cfg: FitConfig, *, resume: bool = False, echo: Any = None) -> RunResult:
    """Run transfer + baseline on identical splits, judge, and write the run directory."""
    say = echo or (lambda *_: None)
    out = Path(cfg.out)
    from headstart.training.ddp import init_from_env

    dist = init_from_env()  # under torchrun: every rank runs the pipeline, only rank 0 writes --out
    if dist.enabled and resume:
        raise HeadstartError("--resume is not supported under torchrun; resume with a single process")
    if not dist.is_main:
        import tempfile

        out = Path(tempfile.mkdtemp(prefix=f"headstart-rank{dist.rank}-")) / out.name
    work = _partial_dir(out)
    if out.exists() and not (cfg.overwrite or resume):
        raise HeadstartError(f"{out} already exists; choose another --out or pass --overwrite")
    if resume and not work.exists():
        if (out / COMPLETE_MARKER).exists():
            raise HeadstartError(f"{out} is already complete; nothing to resume")
        raise HeadstartError(f"{work} not found: there is no interrupted run to resume at {out}")
    timings: dict[str, float] = {}
    t_start = time.perf_counter()

    if cfg.strategy not in ("auto",):
        get_strategy(cfg.strategy)  # fail fast on an unknown name
    t0 = time.perf_counter()
    data = load_data(
        cfg.data,
        text_column=cfg.text_column,
        label_column=cfg.label_column,
        group_columns=tuple(cfg.group_columns),
        on_bad_item=cfg.on_bad_item,
    )
    timings["load_data"] = time.perf_counter() - t0
    backbone = cfg.backbone or DEFAULT_BACKBONE[data.modality]
    license_warnings: list[str] = []
    if not backbone.startswith(("hf:", "timm:")):
        spec = get_spec(backbone.split(":")[0])
        if spec.modality != data.modality:
            raise HeadstartError(
                f"backbone {backbone!r} is for {spec.modality}, but {cfg.data} is {data.modality}"
                f"; pick a {data.modality} backbone (see `headstart backbones`)"
            )
        license_warnings = check_license(spec, cfg.use)
    image_size = cfg.image_size or default_image_size(data, backbone)
    splits = make_splits(
        data.y,
        seed=cfg.seed,
        test_size=cfg.test_size,
        val_size=cfg.val_size,
        labels_per_class=cfg.labels_per_class,
        max_test=cfg.max_test,
        classes=data.classes,
    )
    if cfg.ship not in ("best", "transfer", "baseline", "stack"):
        raise HeadstartError(f"unknown --ship {cfg.ship!r}; choose best, transfer, baseline or stack")
    if cfg.folds or cfg.seeds:
        from headstart.studies import check_variance_config

        check_variance_config(data.y, splits, folds=cfg.folds, seeds=cfg.seeds, classes=data.classes)
    if cfg.group_columns:
        from headstart.evaluation.audit import positive_class_index

        positive_class_index(data.classes, cfg.positive_class)
    if cfg.curve:
        from headstart.studies import parse_fractions

        parse_fractions(cfg.curve_fractions)
    if work.exists() and not resume:
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    config_doc = {
        **asdict(cfg),
        "backbone": backbone,
        "image_size": image_size,
        "versions": package_versions(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    atomic_write_json(work / "config.json", config_doc)
    atomic_write_json(work / "splits.json", splits.to_json())

    strategy = cfg.strategy
    if strategy == "auto":
        from headstart.advise.auto import choose_strategy

        strategy, why = choose_strategy(data, splits, backbone, image_size=image_size, seed=cfg.seed)
        say(f"--strategy auto chose {strategy}: {why}")
        config_doc["strategy_chosen"] = {"strategy": strategy, "why": why}
        atomic_write_json(work / "config.json", config_doc)

    task = TransferTask(
        train_items=_take(data.items, splits.train),
        y_train=data.y[splits.train],
        val_items=_take(data.items, splits.val),
        y_val=data.y[splits.val],
        classes=data.classes,
        modality=data.modality,
        backbone=backbone,
        seed=cfg.seed,
        image_size=image_size,
        progress=cfg.progress,
        work_dir=work,
        resume=resume,
        options={**cfg.options, "loss": cfg.loss, "focal_gamma": cfg.focal_gamma},
    )
    say(f"[1/3] transfer: {strategy} on {backbone} ({len(splits.train)} train, {len(splits.val)} val)")
    t0 = time.perf_counter()
    transfer = get_strategy(strategy)(task)
    timings["transfer_fit"] = time.perf_counter() - t0
    timings.update({f"transfer_{k}": v for k, v in task.timings.items()})

    say(f"[2/3] baseline: {cfg.baseline} from scratch on the same split")
    t0 = time.perf_counter()
    baseline, base_report = fit_baseline(cfg.baseline, task)
    timings["baseline_fit"] = time.perf_counter() - t0

    say(f"[3/3] evaluating both on {len(splits.test)} held-out test examples")
    test_items, y_test = _take(data.items, splits.test), data.y[splits.test]
    t0 = time.perf_counter()
    p_t = transfer.predict_proba(test_items)
    timings["transfer_predict_test"] = time.perf_counter() - t0
    drift = getattr(transfer, "representation_drift", None)
    if callable(drift):  # strategies that update the backbone: how far the representation moved
        t0 = time.perf_counter()
        cka = drift(test_items)
        timings["transfer_cka"] = time.perf_counter() - t0
        if cka is not None:
            task.notes["cka"] = float(cka)
    t0 = time.perf_counter()
    p_b = baseline.predict_proba(test_items)
    timings["baseline_predict_test"] = time.perf_counter() - t0

    m_t = {
        "name": transfer.name,
        "strategy": strategy,
        "backbone": backbone,
        **classification_summary(y_test, p_t, data.classes),
        "val_accuracy": float(getattr(transfer, "val_accuracy", float("nan"))),
        "history": getattr(transfer, "history", []),
    }
    m_b = {
        "name": baseline.name,
        **classification_summary(y_test, p_b, data.classes),
        "val_accuracy": float(getattr(baseline, "val_accuracy", float("nan"))),
        "history": getattr(baseline, "history", []),
        **base_report,
    }
    verdict = paired_bootstrap_verdict(
        y_test, p_t.argmax(1), p_b.argmax(1), transfer_name=transfer.name, baseline_name=baseline.name, seed=cfg.seed
    )
    from headstart.studies import run_studies

    extras = run_studies(
        cfg,
        data=data,
        splits=splits,
        strategy=strategy,
        backbone=backbone,
        image_size=image_size,
        options=task.options,
        transfer=transfer,
        p_transfer=p_t,
        p_baseline=p_b,
        timings=timings,
        echo=say,
    )
    verdict_doc = verdict.to_dict()
    if "variance" in extras:
        from headstart.evaluation.verdict import apply_variance

        verdict_doc = apply_variance(verdict_doc, extras["variance"])
    shipped, ship_reason = _ship(cfg, transfer, baseline)
    ship_doc: dict[str, Any] = {}
    if cfg.ship in ("best", "stack"):
        from headstart.stacking import validation_is_decisive

        ship_doc["decisive"], note = validation_is_decisive(
            m_t["val_accuracy"], m_b["val_accuracy"], len(splits.train) + len(splits.val)
        )
        if note and cfg.ship == "best":
            ship_reason = f"{ship_reason}; {note}"
    stack = None
    p_shipped = p_t if shipped == "transfer" else p_b
    if cfg.ship == "stack":
        from headstart.stacking import choose_stack, stack_for_run

        t0 = time.perf_counter()
        try:
            stack, extras["stack"], p_stack = stack_for_run(transfer, baseline, task, y_test, p_t, p_b, data.classes)
            shipped, ship_reason = choose_stack(
                m_t["val_accuracy"], m_b["val_accuracy"], extras["stack"]["val_accuracy"]
            )
            p_shipped = {"transfer": p_t, "baseline": p_b, "stack": p_stack}[shipped]
        except ValueError as exc:
            ship_reason = f"--ship stack: no combiner could be fitted ({exc}); {ship_reason}"
        timings["stack"] = time.perf_counter() - t0
    warnings = [*data_warnings(data, splits), *license_warnings, *verdict.warnings]
    from headstart.strategies.finetune import cka_warnings

    warnings += cka_warnings(task.notes.get("cka"), verdict_doc["label"])
    timings["total"] = time.perf_counter() - t_start
    extract_notes = task.notes.get("extract", [])
    metrics = {
        "transfer": m_t,
        "baseline": m_b,
        "verdict": verdict_doc,
        "shipped": {"side": shipped, "reason": ship_reason, **ship_doc},
        **extras,
        "data": data_summary(data, splits),
        "timing": timings,
        "cache": {
            "extractions": extract_notes,
            "hits": int(sum(e.get("cache_hits", 0) for e in extract_notes)),
            "computed": int(sum(e.get("computed", 0) for e in extract_notes)),
        },
        "notes": {k: v for k, v in task.notes.items() if k != "extract"},
        "warnings": warnings,
    }
    transfer.save(work / "model")
    baseline.save(work / "baseline")
    if stack is not None:
        stack.save(work / "stack")
    _write_predictions(work / "predictions.csv", data, splits.test, y_test, p_t, p_b, p_shipped)
    from headstart.card import write_model_card

    write_model_card(work, config_doc, metrics, data)
    _write_report(work, metrics, config_doc, data)
    atomic_write_json(work / COMPLETE_MARKER, metrics)  # written last: its presence marks a complete run
    for ckpt in work.glob("checkpoint*"):  # checkpoint*.safetensors (and *.pt of older versions)
        ckpt.unlink()
    write_manifest(work)  # sha256 of every artifact: predict/export/report refuse edited files
    if out.exists():
        shutil.rmtree(out)
    work.rename(out)
    if not dist.is_main:  # a scratch copy: rank 0 wrote the real run directory
        shutil.rmtree(out.parent, ignore_errors=True)
        out = Path(cfg.out)
    return RunResult(out, metrics, transfer, baseline, data, splits, warnings)


def _write_report(work: Path, metrics: dict[str, Any], config_doc: dict[str, Any], data: LabeledData) -> None:
    """report.html from the in-memory results (metrics.json does not exist yet: it is written last)."""
    from headstart.report import write_report

    write_report(work, metrics, config_doc, data=data)


def data_summary(data: LabeledData, splits: Splits) -> dict[str, Any]:
    counts = np.bincount(data.y, minlength=len(data.classes))
    train_counts = np.bincount(data.y[np.concatenate([splits.train, splits.val])], minlength=len(data.classes))
    return {
        "source": data.source,
        "provenance": data.provenance,
        "modality": data.modality,
        "classes": data.classes,
        "class_counts": {c: int(n) for c, n in zip(data.classes, counts, strict=True)},
        "labeled_class_counts": {c: int(n) for c, n in zip(data.classes, train_counts, strict=True)},
        "imbalance_ratio": float(counts.max() / max(1, counts.min())),
        "split_sizes": {"train": len(splits.train), "val": len(splits.val), "test": len(splits.test)},
        "n_items": len(data.y),
        "skipped": data.skipped,
    }


def data_warnings(data: LabeledData, splits: Splits) -> list[str]:
    out = []
    labeled = np.bincount(data.y[np.concatenate([splits.train, splits.val])], minlength=len(data.classes))
    ratio = labeled.max() / max(1, labeled.min())
    if ratio >= 3:
        out.append(f"labeled classes are imbalanced ({ratio:.1f}:1); consider --loss weighted or --loss focal")
    if data.skipped:
        out.append(f"{len(data.skipped)} unreadable items were skipped (listed in metrics.json data.skipped)")
    out.extend(data.warnings)  # what loading noticed (conflicting duplicate labels, ...)
    return out


def _write_predictions(
    path: Path, data: LabeledData, idx: np.ndarray, y: np.ndarray, p_t: np.ndarray, p_b: np.ndarray, p_s: np.ndarray
) -> None:
    classes = np.array(data.classes)
    df = pd.DataFrame(
        {
            "id": [data.ids[i] for i in idx],
            "label": classes[y],
            "prediction": classes[p_s.argmax(1)],
            "confidence": p_s.max(1),
            "transfer_prediction": classes[p_t.argmax(1)],
            "transfer_confidence": p_t.max(1),
            "baseline_prediction": classes[p_b.argmax(1)],
            "baseline_confidence": p_b.max(1),
        }
    )
    atomic_write_text(path, df.to_csv(index=False))


def load_run(run_dir: str | Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """(config, metrics) of a COMPLETE run directory; a clear error for a missing or partial one."""
    run = Path(run_dir)
    if not run.exists():
        partial = _partial_dir(run)
        hint = f"; an interrupted run is at {partial} (use `headstart fit --resume {run}`)" if partial.exists() else ""
        raise HeadstartError(f"{run}: no such run directory{hint}")
    if not (run / COMPLETE_MARKER).exists() or not (run / "config.json").exists():
        raise HeadstartError(f"{run} is not a complete headstart run (no {COMPLETE_MARKER}); re-run `headstart fit`")
    verify_manifest(run)
    return read_json(run / "config.json"), read_json(run / COMPLETE_MARKER)


def load_shipped(run_dir: str | Path, side: str | None = None) -> tuple[FittedModel, dict[str, Any], dict[str, Any]]:
    config, metrics = load_run(run_dir)
    side = side or metrics.get("shipped", {}).get("side", "transfer")
    if side not in ("transfer", "baseline", "stack"):
        raise HeadstartError(f"unknown side {side!r}; choose transfer, baseline or stack")
    folder = Path(run_dir) / {"transfer": "model", "baseline": "baseline", "stack": "stack"}[side]
    if side == "stack":
        import headstart.stacking  # noqa: F401  (registers the "stack" model kind)

        if not folder.exists():
            raise HeadstartError(f"{run_dir} has no stacked model; fit it with `headstart fit ... --ship stack`")
    require_listed(run_dir, folder.name)
    return load_model(folder), config, metrics


def predict_run(
    run_dir: str | Path, source: str, *, side: str | None = None, text_column: str | None = None
) -> pd.DataFrame:
    """Predict labels for new data with the model a run shipped (or ``side``: transfer | baseline)."""
    from headstart.data.unlabeled import load_unlabeled

    model, config, metrics = load_shipped(run_dir, side)
    modality = metrics["data"]["modality"]
    classes = np.array(metrics["data"]["classes"])
    ids, items = load_unlabeled(source, modality=modality, text_column=text_column or config.get("text_column"))
    proba = model.predict_proba(items)
    df = pd.DataFrame({"id": ids, "prediction": classes[proba.argmax(1)], "confidence": proba.max(1)})
    for j, c in enumerate(classes):
        df[f"p_{c}"] = proba[:, j]
    return df
