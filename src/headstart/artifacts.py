"""Saving and loading fitted models without pickled code where it matters.

Every fitted model (transfer or baseline) is a class with a ``kind`` string, ``save(folder)`` and
``load(folder)``; ``meta.json`` in the folder names the kind, so ``headstart.models.load_model`` needs no other
context. Network weights go to safetensors, other arrays to npz (read with ``allow_pickle=False``), and
everything else to JSON: nothing read from a model folder can execute code (no pickle, no joblib).
Scikit-learn models are stored as their fitted numbers (vocabulary, idf, coefficients) and rebuilt on load.
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


def read_json(path: Path, what: str = "JSON object") -> dict[str, Any]:
    """A JSON object from ``path``; a one-line error naming the file when it is unreadable or not an object."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise HeadstartError(f"{path}: missing; re-run `headstart fit` to write it again") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise HeadstartError(
            f"{path}: not valid JSON ({type(exc).__name__}); the file is damaged, re-run `headstart fit`"
        ) from None
    if not isinstance(doc, dict):
        raise HeadstartError(f"{path}: expected a {what}, got {type(doc).__name__}; re-run `headstart fit`")
    return doc


def read_meta(folder: Path) -> dict[str, Any]:
    path = folder / "meta.json"
    if not path.exists():
        raise HeadstartError(f"{folder}: no meta.json; this is not a saved headstart model folder")
    meta = read_json(path, "model description (object with a 'kind')")
    if not isinstance(meta.get("kind"), str):
        raise HeadstartError(f"{path}: no model 'kind' field; the file is damaged, re-run `headstart fit`")
    return meta


def read_npz(path: Path, required: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
    """All arrays of an ``.npz`` file (never unpickled); a one-line error for a missing, truncated or
    incomplete file."""
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except FileNotFoundError:
        raise HeadstartError(f"{path}: missing; re-run `headstart fit` to write the model again") from None
    except Exception as exc:  # zipfile.BadZipFile, EOFError, ValueError (object arrays), OSError, ...
        raise HeadstartError(
            f"{path}: unreadable ({type(exc).__name__}); the file is damaged or truncated, re-run `headstart fit`"
        ) from None
    absent = [k for k in required if k not in arrays]
    if absent:
        raise HeadstartError(f"{path}: no array {absent[0]!r}; the file is damaged, re-run `headstart fit`")
    return arrays


def optional_float(value: Any) -> float:
    """A float read back from JSON, where NaN was written as null."""
    return float("nan") if value is None else float(value)


def model_class(folder: Path, meta: dict[str, Any]) -> type:
    """The registered class of a saved model folder (its families must have been imported)."""
    kind = meta.get("kind")
    if kind not in _KINDS:
        raise HeadstartError(f"{folder}/meta.json: unknown model kind {kind!r}; upgrade headstart")
    return _KINDS[kind]
