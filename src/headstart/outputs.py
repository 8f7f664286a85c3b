"""What a finished run writes into its (partial) run directory: models, predictions.csv, MODEL_CARD.md,
report.html and, last, metrics.json (the completion marker). Also the data summary and the version record."""

from __future__ import annotations

import platform
from collections.abc import Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from headstart.data import LabeledData, Splits
from headstart.evaluation.compare import Arm
from headstart.io import atomic_write_json, atomic_write_text
from headstart.rundir import COMPLETE_MARKER

PACKAGES = (
    "headstart",
    "torch",
    "numpy",
    "scikit-learn",
    "transformers",
    "onnxruntime",
    "peft",
    "pandas",
)


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
    out = list(getattr(data, "warnings", []) or [])
    labeled = np.bincount(data.y[np.concatenate([splits.train, splits.val])], minlength=len(data.classes))
    ratio = labeled.max() / max(1, labeled.min())
    if ratio >= 3:
        out.append(f"labeled classes are imbalanced ({ratio:.1f}:1); consider --loss weighted or --loss focal")
    if data.skipped:
        out.append(f"{len(data.skipped)} unreadable items were skipped (listed in metrics.json data.skipped)")
    return out


def write_predictions(path: Path, data: LabeledData, idx: np.ndarray, arms: Sequence[Arm], shipped: str) -> None:
    """One row per test item: the shipped prediction, then every model arm's prediction and confidence."""
    classes = np.array(data.classes)
    by = {a.name: a for a in arms}
    ship_arm = {"transfer": "transfer", "baseline": "scratch"}.get(shipped, shipped)
    shipped_out = by[ship_arm].output if ship_arm in by else by["transfer"].output
    cols: dict[str, Any] = {
        "id": [data.ids[i] for i in idx],
        "label": classes[data.y[idx]],
        "prediction": classes[shipped_out.argmax(1)],
        "confidence": shipped_out.max(1),
    }
    for arm, prefix in ((by["transfer"], "transfer"), (by["scratch"], "baseline")):
        cols[f"{prefix}_prediction"] = classes[arm.output.argmax(1)]
        cols[f"{prefix}_confidence"] = arm.output.max(1)
    cols["majority_prediction"] = classes[by["majority"].output.argmax(1)]
    atomic_write_text(path, pd.DataFrame(cols).to_csv(index=False))


def write_outputs(
    work: Path,
    config_doc: dict[str, Any],
    metrics: dict[str, Any],
    data: LabeledData,
    splits: Splits,
    arms: Sequence[Arm],
    models: Mapping[str, Any],
) -> None:
    """Models, predictions, card and report; metrics.json last (its presence marks the run complete)."""
    from headstart.card import write_model_card
    from headstart.report import write_report

    for folder, model in models.items():
        if model is not None:
            model.save(work / folder)
    write_predictions(work / "predictions.csv", data, splits.test, arms, metrics["shipped"]["side"])
    write_model_card(work, config_doc, metrics, data)
    write_report(work, metrics, config_doc, data=data)
    atomic_write_json(work / COMPLETE_MARKER, metrics)
    for ckpt in work.glob("checkpoint*"):
        ckpt.unlink()
