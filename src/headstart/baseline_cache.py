"""The fitted from-scratch baseline, cached on disk so a second fit on the same split does not refit it.

Key: sha256 of the baseline settings (kind, seed, loss options, classes, backbone for ``random-init``, the
rules that choose the heads' C: a baseline cached under another rule is refitted), the headstart version,
and the content of the labeled items in split order (:func:`headstart.features.item_key` of every train and
val item, and their labels): the same data and split give the same key whatever the file is called; a
changed item, label, split, setting or release gives a new one.

Entries live in ``$HEADSTART_CACHE/baselines/<key>/`` as the model's own ``save(folder)`` (read back with
:func:`headstart.models.load_model`) plus ``report.json``. Nothing read from the cache may execute code:
a model whose saved folder holds a pickle-based file (``.joblib``, ``.pkl``, ``.pickle``) is not cached, and
such a file found in an entry is never loaded (the baseline is refitted instead). Nothing read from it may
silently change a result either: ``entry.json`` lists the sha256 of every file of the entry and is sealed
(:mod:`headstart.sealed`); an entry whose seal, file hashes or file list do not match is refitted.

Test-split predictions of a cached baseline are cached too (:func:`predict_cached`), keyed by the entry and
the content of the items, in sealed ``$HEADSTART_CACHE/predictions/<entry>-<items>.npy`` files.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import uuid
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from headstart.artifacts import FittedModel
from headstart.baselines import fit_baseline, text
from headstart.features import cache_root, item_key
from headstart.io import atomic_write_json
from headstart.models import load_model
from headstart.sealed import read_sealed, write_sealed
from headstart.strategies import linear_head
from headstart.strategies.base import TransferTask

__all__ = ["UNSAFE_SUFFIXES", "baseline_key", "cached_fit_baseline", "predict_cached"]

FORMAT = 1
UNSAFE_SUFFIXES = (".joblib", ".pkl", ".pickle")
ENTRY_FILE = "entry.json"


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
        "selection": {"linear_head": linear_head.SELECTION, "tfidf": text.SELECTION},
    }
    h = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode())
    for part, items, y in (("train", task.train_items, task.y_train), ("val", task.val_items, task.y_val)):
        h.update(part.encode() + np.asarray(y, dtype=np.int64).tobytes())
        for item in items:
            h.update(item_key(item, task.modality))
    return h.hexdigest()[:32]


def _unsafe(folder: Path) -> bool:
    return any(p.suffix in UNSAFE_SUFFIXES for p in folder.rglob("*"))


def _file_hashes(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name not in (ENTRY_FILE, ENTRY_FILE + ".mac")
    }


def _intact(entry: Path) -> bool:
    """The entry's sealed file list matches its files, byte for byte."""
    listed = read_sealed(entry / ENTRY_FILE)
    try:
        return listed is not None and json.loads(listed) == {"key": entry.name, "files": _file_hashes(entry)}
    except (ValueError, OSError):
        return False


def _load(entry: Path) -> tuple[FittedModel, dict[str, Any]] | None:
    model_dir, report_file = entry / "model", entry / "report.json"
    if not report_file.is_file() or not model_dir.is_dir() or _unsafe(model_dir) or not _intact(entry):
        return None
    try:
        report = json.loads(report_file.read_text())
        model = load_model(model_dir)
    except Exception:  # damaged or from another format: refit
        return None
    return model, {**report, "cached": True}


def _store(entry: Path, model: FittedModel, report: dict[str, Any]) -> None:
    """Write the entry in a temporary folder, list and seal its files, then move it into place."""
    tmp = entry.parent / f".tmp-{uuid.uuid4().hex}"
    try:
        model.save(tmp / "model")
        if _unsafe(tmp / "model"):
            return
        atomic_write_json(tmp / "report.json", report)
        write_sealed(tmp / ENTRY_FILE, json.dumps({"key": entry.name, "files": _file_hashes(tmp)}).encode())
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
    key = baseline_key(kind, task)
    entry = (root or cache_root()) / "baselines" / key
    hit = _load(entry)
    if hit is None:
        model, report = fit_baseline(kind, task)
        entry.parent.mkdir(parents=True, exist_ok=True)
        _store(entry, model, report)
        if not _intact(entry):  # not stored (read-only cache, unsafe format): no predictions cache either
            return model, report
        hit = model, report
    hit[0].cache_key = key  # type: ignore[attr-defined]  # read by predict_cached
    return hit


def predict_cached(model: FittedModel, items: Any, modality: str, *, root: Path | None = None) -> np.ndarray:
    """``model.predict_proba(items)``, answered from a sealed cache file for a cached baseline
    (:func:`cached_fit_baseline`) that already predicted these exact items; other models just predict."""
    key = getattr(model, "cache_key", None)
    if key is None or os.environ.get("HEADSTART_BASELINE_CACHE", "1") == "0":
        return model.predict_proba(items)
    h = hashlib.sha256()
    for item in items:
        h.update(item_key(item, modality))
    path = (root or cache_root()) / "predictions" / f"{key}-{h.hexdigest()[:32]}.npy"
    data = read_sealed(path)
    if data is not None:
        try:
            out = np.load(io.BytesIO(data), allow_pickle=False)
            if out.ndim == 2 and len(out) == len(items):
                return np.asarray(out)
        except ValueError:
            pass
    proba = model.predict_proba(items)
    buf = io.BytesIO()
    np.save(buf, np.asarray(proba), allow_pickle=False)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_sealed(path, buf.getvalue())
    except OSError:
        pass
    return proba
