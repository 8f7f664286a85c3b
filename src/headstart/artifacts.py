"""Saving and loading fitted models without pickled code where it matters.

Every fitted model (transfer or baseline) is a class with a ``kind`` string, ``save(folder)`` and
``load(folder)``; ``meta.json`` in the folder names the kind, so ``headstart.models.load_model`` needs no other
context.
Network weights go to safetensors; scikit-learn text pipelines go through joblib (they hold no weights
of ours that could be tampered with upstream, and the run directory is the user's own).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np

from headstart.errors import HeadstartError
from headstart.io import atomic_write_json


@runtime_checkable
class FittedModel(Protocol):
    kind: ClassVar[str]
    name: str

    def predict_proba(self, items: Any) -> np.ndarray: ...

    def save(self, folder: Path) -> None: ...

    @classmethod
    def load(cls, folder: Path) -> FittedModel: ...


_KINDS: dict[str, type] = {}


def register_kind(cls: type) -> type:
    """Class decorator: make ``cls`` loadable by ``load_model`` through its ``kind``."""
    _KINDS[cls.kind] = cls  # type: ignore[attr-defined]
    return cls


def write_meta(folder: Path, kind: str, **fields: Any) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_json(folder / "meta.json", {"kind": kind, **fields})


def read_meta(folder: Path) -> dict[str, Any]:
    path = folder / "meta.json"
    if not path.exists():
        raise HeadstartError(f"{folder}: no meta.json; this is not a saved headstart model folder")
    return json.loads(path.read_text())


def model_class(folder: Path, meta: dict[str, Any]) -> type:
    """The registered class of a saved model folder (its families must have been imported)."""
    kind = meta.get("kind")
    if kind not in _KINDS:
        raise HeadstartError(f"{folder}/meta.json: unknown model kind {kind!r}; upgrade headstart")
    return _KINDS[kind]
