"""The in-memory labeled dataset shared by every layer above data/."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

MODALITIES = ("text", "image", "tabular")
TASKS = ("classification", "regression")


@dataclass
class LabeledData:
    """Items with integer labels, class names, per-item locators and optional audit groups.

    ``items`` is a list of texts, a list of image paths, a uint8 image array (N,H,W) or (N,H,W,C), or for
    ``modality="tabular"`` a list of row dicts (column -> float, str or None; see headstart.data.tabular).
    ``y`` holds int64 codes into ``classes`` (sorted as strings), or with ``task="regression"`` float64
    targets (``classes`` is then empty). ``ids`` locate each item for messages
    ("reviews.csv:row 17"). ``groups`` maps an audit column name to raw per-item values. ``skipped`` lists
    ``{"id", "reason"}`` for items dropped with ``on_bad_item="skip"``; ``warnings`` what loading noticed but
    accepted (fit shows them).
    """

    items: list[Any] | np.ndarray
    y: np.ndarray
    classes: list[str]
    modality: str
    source: str
    provenance: str
    ids: list[str]
    groups: dict[str, np.ndarray] = field(default_factory=dict)
    skipped: list[dict] = field(default_factory=list)
    task: str = "classification"
    table: dict[str, Any] = field(default_factory=dict)  # tabular: column kinds, dropped columns, text column
    warnings: list[str] = field(default_factory=list)  # found while loading (e.g. conflicting duplicates)

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {self.task!r}")
        regression = self.task == "regression"
        self.y = np.asarray(self.y, dtype=np.float64 if regression else np.int64)
        if self.modality not in MODALITIES:
            raise ValueError(f"modality must be one of {MODALITIES}, got {self.modality!r}")
        n = len(self.items)
        if len(self.y) != n or len(self.ids) != n:
            raise ValueError(f"items ({n}), y ({len(self.y)}) and ids ({len(self.ids)}) differ in length")
        for name, values in self.groups.items():
            if len(values) != n:
                raise ValueError(f"group {name!r} has {len(values)} values for {n} items")
        if regression:
            if n and not np.all(np.isfinite(self.y)):
                raise ValueError("regression targets must be finite")
        elif n and (self.y.min() < 0 or self.y.max() >= len(self.classes)):
            raise ValueError("y holds codes outside range(len(classes))")

    def __len__(self) -> int:
        return len(self.items)

    @property
    def n_classes(self) -> int:
        """Number of classes."""
        return len(self.classes)

    def class_counts(self) -> dict[str, int]:
        """Items per class, in class order."""
        if self.task == "regression":
            return {}
        counts = np.bincount(self.y, minlength=len(self.classes))
        return {c: int(k) for c, k in zip(self.classes, counts, strict=True)}

    def subset(self, indices: Sequence[int] | np.ndarray) -> LabeledData:
        """A new LabeledData with the items at ``indices`` (classes and skipped are kept as they are)."""
        idx = np.asarray(indices, dtype=np.int64)
        if isinstance(self.items, np.ndarray):
            items: list[Any] | np.ndarray = self.items[idx]
        else:
            items = [self.items[i] for i in idx]
        return LabeledData(
            items=items,
            y=self.y[idx],
            classes=list(self.classes),
            modality=self.modality,
            source=self.source,
            provenance=self.provenance,
            ids=[self.ids[i] for i in idx],
            groups={k: np.asarray(v)[idx] for k, v in self.groups.items()},
            skipped=list(self.skipped),
            task=self.task,
            table=dict(self.table),
            warnings=list(self.warnings),
        )

    def labels(self) -> list[str]:
        """Class name per item (the target value as text for regression)."""
        if self.task == "regression":
            return [f"{v:g}" for v in self.y]
        return [self.classes[i] for i in self.y]
