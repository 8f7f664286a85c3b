"""Building LabeledData from raw items and labels, shared by every loader (files, arrays, builtins).

Normalises raw labels to class names (:func:`label_to_str`: ``"1.0"`` and ``1`` are one class, NaN is
missing) and text cells to strings, applies the bad-item policy (``_BadItems``: raise a one-line error, or
record the item in ``skipped`` with ``on_bad_item="skip"``) and encodes labels into a checked
:class:`~headstart.data.dataset.LabeledData` (:func:`build_labeled`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from headstart.data.dataset import LabeledData
from headstart.data.validate import check_classes, conflicting_duplicates
from headstart.errors import HeadstartError

ON_BAD_ITEM = ("error", "skip")


class _BadItems:
    """Either raises on a bad item or records it in ``skipped``."""

    def __init__(self, on_bad_item: str) -> None:
        if on_bad_item not in ON_BAD_ITEM:
            raise HeadstartError(f"on_bad_item must be 'error' or 'skip', got {on_bad_item!r}")
        self.skip = on_bad_item == "skip"
        self.skipped: list[dict] = []

    def bad(self, item_id: str, reason: str, advice: str) -> None:
        if not self.skip:
            raise HeadstartError(f"{item_id}: {reason}; {advice}, or pass --on-bad-item skip")
        self.skipped.append({"id": item_id, "reason": reason})


_DECIMAL = re.compile(r"[+-]?\d+\.\d*")


def label_to_str(value: Any) -> str | None:
    """Normalize a raw label to its class name; None when missing (None, NaN, empty string)."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    if isinstance(value, str):
        value = value.strip()
        if _DECIMAL.fullmatch(value):  # "1.0" and "1" are one class, as they are when the column is numeric
            return label_to_str(float(value))
        return value or None
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        if math.isnan(value):
            return None
        return str(int(value)) if float(value).is_integer() else str(float(value))
    return str(value).strip() or None


def _text_value(value: Any) -> str:
    if value is None or value is pd.NA:
        return ""
    if isinstance(value, float) and math.isnan(value):
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return value if isinstance(value, str) else str(value)


def build_labeled(
    items: list[Any] | np.ndarray,
    labels: Sequence[str],
    *,
    modality: str,
    source: str,
    provenance: str,
    ids: list[str],
    groups: Mapping[str, Sequence[Any] | np.ndarray] | None = None,
    skipped: list[dict] | None = None,
    classes: Sequence[str] | None = None,
    label_source: str | None = None,
) -> LabeledData:
    """Encode string labels (classes sorted as strings unless given), check the classes, build LabeledData."""
    class_list = sorted(set(labels)) if classes is None else list(classes)
    code = {c: i for i, c in enumerate(class_list)}
    y = np.fromiter((code[lab] for lab in labels), dtype=np.int64, count=len(labels))
    check_classes(y, class_list, source=source, label_source=label_source)
    warnings = conflicting_duplicates(items, labels, ids) if modality == "text" else []
    return LabeledData(
        items=items,
        y=y,
        classes=class_list,
        modality=modality,
        source=source,
        provenance=provenance,
        ids=ids,
        groups={k: np.asarray(v, dtype=object) for k, v in (groups or {}).items()},
        skipped=list(skipped or []),
        warnings=warnings,
    )
