"""From-scratch baselines. ``fit_baseline`` fits every candidate for the modality and keeps the one that is
best on validation data (never the test split), so transfer is never judged against a strawman."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from headstart.artifacts import FittedModel
from headstart.baselines.image import PixelLogReg, SmallCNNModel, baseline_geometry
from headstart.baselines.text import TfidfLogReg
from headstart.baselines.tfidf_arrays import TfidfSoftmax  # noqa: F401  (registers the kind)
from headstart.errors import HeadstartError
from headstart.strategies.base import TransferTask

BASELINES = {
    "text": ("tfidf",),
    "image": ("pixel-logreg", "small-cnn"),
}
CHOICES = ("auto", "tfidf", "pixel-logreg", "small-cnn", "random-init")


def _fit_one(kind: str, task: TransferTask, geometry: tuple[int, bool] | None) -> FittedModel:
    cw = "balanced" if task.options.get("loss") == "weighted" else None
    items = list(task.train_items) + list(task.val_items)
    y = np.concatenate([task.y_train, task.y_val])
    if kind == "tfidf":
        return TfidfLogReg.fit(items, y, task.n_classes, seed=task.seed, class_weight=cw)
    assert geometry is not None
    side, gray = geometry
    if kind == "pixel-logreg":
        return PixelLogReg.fit(items, y, task.n_classes, side=side, gray=gray, seed=task.seed, class_weight=cw)
    if kind == "small-cnn":
        return SmallCNNModel.fit(
            task.train_items,
            task.y_train,
            task.val_items,
            task.y_val,
            task.n_classes,
            side=side,
            gray=gray,
            seed=task.seed,
            loss=task.options.get("loss", "ce"),
            focal_gamma=task.options.get("focal_gamma", 2.0),
            progress=task.progress,
        )
    if kind == "random-init":
        from headstart.strategies import get_strategy

        random_task = TransferTask(
            **{
                **task.__dict__,
                "backbone": task.backbone.split(":")[0] + ":random",
                "timings": {},
                "notes": {},
                "work_dir": None,
            }
        )
        random_task.options = {**task.options, "from_scratch": True}
        return get_strategy("finetune")(random_task)
    raise HeadstartError(f"unknown baseline {kind!r}; choose one of: {', '.join(CHOICES)}")


def check_baseline(kind: str, modality: str) -> tuple[str, ...]:
    """The baseline kinds ``kind`` stands for on ``modality``; HeadstartError when it does not fit the data."""
    if kind not in CHOICES:
        raise HeadstartError(f"unknown baseline {kind!r}; choose one of: {', '.join(CHOICES)}")
    kinds = BASELINES[modality] if kind == "auto" else (kind,)
    if modality == "text" and any(k in ("pixel-logreg", "small-cnn") for k in kinds):
        raise HeadstartError(f"--baseline {kind} is for images; this data is text (use tfidf or random-init)")
    if modality == "image" and "tfidf" in kinds:
        raise HeadstartError("--baseline tfidf is for text; this data is images")
    return kinds


def fit_baseline(kind: str, task: TransferTask) -> tuple[FittedModel, dict[str, Any]]:
    """Fit the requested baseline (``auto``: every classical candidate for the modality, best on validation).

    Returns the chosen model and ``{"candidates": {name: val_accuracy}, "timings": {name: seconds}}``.
    """
    kinds = check_baseline(kind, task.modality)
    geometry = baseline_geometry(task.train_items) if task.modality == "image" else None
    fitted: dict[str, FittedModel] = {}
    report: dict[str, Any] = {"candidates": {}, "timings": {}}
    for k in kinds:
        t0 = time.perf_counter()
        model = _fit_one(k, task, geometry)
        report["timings"][model.name] = time.perf_counter() - t0
        report["candidates"][model.name] = float(getattr(model, "val_accuracy", float("nan")))
        fitted[model.name] = model
    best = max(fitted, key=lambda n: np.nan_to_num(report["candidates"][n], nan=-1.0))
    report["chosen"] = best
    return fitted[best], report
