"""From-scratch baselines. ``fit_baseline`` fits every candidate for the modality and keeps the one that is
best on validation data (never the test split), so transfer is never judged against a strawman."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from headstart.artifacts import FittedModel
from headstart.baselines.image import PixelLogReg, SmallCNNModel, baseline_geometry
from headstart.baselines.regression import PixelRidge, TfidfRidge
from headstart.baselines.tabular import TabularLinear, TreeModel
from headstart.baselines.text import TfidfLogReg
from headstart.baselines.tfidf_arrays import TfidfSoftmax  # noqa: F401  (registers the kind)
from headstart.errors import HeadstartError
from headstart.strategies.base import TransferTask

BASELINES = {
    "text": ("tfidf",),
    "image": ("pixel-logreg", "small-cnn"),
    "tabular": ("trees", "tabular-linear"),
}
REGRESSION_BASELINES = {
    "text": ("tfidf-ridge",),
    "image": ("pixel-ridge",),
    "tabular": ("trees", "tabular-linear"),
}
CHOICES = ("auto", "tfidf", "pixel-logreg", "small-cnn", "random-init", "trees", "tabular-linear", "tfidf-ridge",
           "pixel-ridge")  # fmt: skip
MODALITY_OF = {"tfidf": "text", "tfidf-ridge": "text", "pixel-logreg": "image", "small-cnn": "image",
               "pixel-ridge": "image", "trees": "tabular", "tabular-linear": "tabular"}  # fmt: skip


def _fit_one(kind: str, task: TransferTask, geometry: tuple[int, bool] | None) -> FittedModel:
    cw = "balanced" if task.options.get("loss") == "weighted" else None
    items = list(task.train_items) + list(task.val_items)
    y = np.concatenate([task.y_train, task.y_val])
    n_out = 0 if task.target == "regression" else task.n_classes
    if kind == "trees":
        return TreeModel.fit(task.train_items, task.y_train, task.val_items, task.y_val, n_out, seed=task.seed)
    if kind == "tabular-linear":
        return TabularLinear.fit(items, y, n_out, seed=task.seed, class_weight=cw)
    if kind == "tfidf-ridge":
        return TfidfRidge.fit(items, y, seed=task.seed)
    if kind == "pixel-ridge":
        assert geometry is not None
        return PixelRidge.fit(items, y, side=geometry[0], gray=geometry[1], seed=task.seed)
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


def check_baseline(kind: str, modality: str, target: str = "classification") -> tuple[str, ...]:
    """The baseline kinds ``kind`` stands for on ``modality`` and ``target`` (classification | regression);
    HeadstartError when it does not fit the data."""
    if kind not in CHOICES:
        raise HeadstartError(f"unknown baseline {kind!r}; choose one of: {', '.join(CHOICES)}")
    regression = target == "regression"
    kinds = (REGRESSION_BASELINES if regression else BASELINES)[modality] if kind == "auto" else (kind,)
    for k in kinds:
        if MODALITY_OF.get(k, modality) != modality:
            fits = ", ".join(b for b, m in MODALITY_OF.items() if m == modality)
            raise HeadstartError(f"--baseline {k} is for {MODALITY_OF[k]} data; this data is {modality} (use {fits})")
    if modality == "tabular" and "random-init" in kinds:
        raise HeadstartError(
            "--baseline random-init is for text and images; on a table use auto, trees or tabular-linear"
        )
    if regression and any(k in ("tfidf", "pixel-logreg", "small-cnn", "random-init") for k in kinds):
        fits = ", ".join(REGRESSION_BASELINES[modality])
        raise HeadstartError(f"--baseline {kind} classifies; this is a regression task (use auto or {fits})")
    return kinds


def fit_baseline(kind: str, task: TransferTask) -> tuple[FittedModel, dict[str, Any]]:
    """Fit the requested baseline (``auto``: every classical candidate for the modality, best on validation).

    Returns the chosen model and ``{"candidates": {name: val_accuracy}, "timings": {name: seconds}}``
    (for regression the candidates' scores are minus their validation MAE: higher is still better).
    """
    kinds = check_baseline(kind, task.modality, task.target)
    geometry = baseline_geometry(task.train_items) if task.modality == "image" else None
    fitted: dict[str, FittedModel] = {}
    report: dict[str, Any] = {"candidates": {}, "timings": {}}
    for k in kinds:
        t0 = time.perf_counter()
        model = _fit_one(k, task, geometry)
        report["timings"][model.name] = time.perf_counter() - t0
        report["candidates"][model.name] = float(getattr(model, "val_accuracy", float("nan")))
        fitted[model.name] = model
    best = max(fitted, key=lambda n: np.nan_to_num(report["candidates"][n], nan=-np.inf))
    report["chosen"] = best
    return fitted[best], report
