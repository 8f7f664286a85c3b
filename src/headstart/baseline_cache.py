"""The fitted from-scratch baseline, cached on disk so a second fit on the same split does not refit it.

Key: sha256 of the baseline settings (kind, seed, loss options, classes, backbone for ``random-init``), the
headstart version, and the content of the labeled items in split order (:func:`headstart.features.item_key`
of every train and val item, and their labels): the same data and split give the same key whatever the file
is called; a changed item, label, split, setting or release gives a new one.

Entries live in ``$HEADSTART_CACHE/baselines/<key>/`` as the model's own ``save(folder)`` (read back with
:func:`headstart.models.load_model`) plus ``report.json``. Nothing read from the cache may execute code:
a model whose saved folder holds a pickle-based file (``.joblib``, ``.pkl``, ``.pickle``) is not cached, and
such a file found in an entry is never loaded (the baseline is refitted instead).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from headstart.artifacts import FittedModel
from headstart.baselines import fit_baseline
from headstart.features import cache_root, item_key
from headstart.io import atomic_write_json
from headstart.models import load_model
from headstart.strategies.base import TransferTask

__all__ = ["UNSAFE_SUFFIXES", "baseline_key", "cached_fit_baseline"]

FORMAT = 1
UNSAFE_SUFFIXES = (".joblib", ".pkl", ".pickle")


def _version() -> str:
    try:
        return metadata.version("headstart")
    except metadata.PackageNotFoundError:
        return "unknown"


def baseline_key(kind: str, task: TransferTask) -> str:
    """Content hash of (labeled items and labels in split order, baseline settings, headstart version)."""
    settings = {
        "format": FORMAT,
        "version": _version(),
        "kind": kind,
        "seed": task.seed,
        "modality": task.modality,
        "classes": list(task.classes),
        "options": task.options,
        "backbone": task.backbone if kind == "random-init" else None,
        "image_size": task.image_size if kind == "random-init" else None,
    }
    h = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode())
    for part, items, y in (("train", task.train_items, task.y_train), ("val", task.val_items, task.y_val)):
        h.update(part.encode() + np.asarray(y, dtype=np.int64).tobytes())
        for item in items:
            h.update(item_key(item, task.modality))
    return h.hexdigest()[:32]


def _unsafe(folder: Path) -> bool:
    return any(p.suffix in UNSAFE_SUFFIXES for p in folder.rglob("*"))


def _load(entry: Path) -> tuple[FittedModel, dict[str, Any]] | None:
    model_dir, report_file = entry / "model", entry / "report.json"
    if not report_file.is_file() or not model_dir.is_dir() or _unsafe(model_dir):
        return None
    try:
        report = json.loads(report_file.read_text())
        model = load_model(model_dir)
    except Exception:  # damaged or from another format: refit
        return None
    return model, {**report, "cached": True}


def _store(entry: Path, model: FittedModel, report: dict[str, Any]) -> None:
    tmp = entry.parent / f".tmp-{uuid.uuid4().hex}"
    try:
        model.save(tmp / "model")
        if _unsafe(tmp / "model"):
            return
        atomic_write_json(tmp / "report.json", report)
        os.replace(tmp, entry)  # atomic: readers see a whole entry or none
    except (OSError, TypeError, ValueError):
        pass  # read-only or full cache, or another process stored it first: the fit itself is unaffected
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def cached_fit_baseline(
    kind: str, task: TransferTask, *, root: Path | None = None
) -> tuple[FittedModel, dict[str, Any]]:
    """:func:`headstart.baselines.fit_baseline`, answered from the cache when this data, split and setting
    were fitted before (``report["cached"]`` is then True)."""
    if os.environ.get("HEADSTART_BASELINE_CACHE", "1") == "0":
        return fit_baseline(kind, task)
    entry = (root or cache_root()) / "baselines" / baseline_key(kind, task)
    hit = _load(entry)
    if hit is not None:
        return hit
    model, report = fit_baseline(kind, task)
    entry.parent.mkdir(parents=True, exist_ok=True)
    _store(entry, model, report)
    return model, report
