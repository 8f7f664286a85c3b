"""The in-memory labeled dataset shared by every layer above data/."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

MODALITIES = ("text", "image")


@dataclass
class LabeledData:
    """Items with integer labels, class names, per-item locators and optional audit groups.

    ``items`` is a list of texts, a list of image paths, or a uint8 image array (N,H,W) or (N,H,W,C).
    ``y`` holds int64 codes into ``classes`` (sorted as strings). ``ids`` locate each item for messages
    ("reviews.csv:row 17"). ``groups`` maps an audit column name to raw per-item values. ``skipped`` lists
    ``{"id", "reason"}`` for items dropped with ``on_bad_item="skip"``; ``warnings`` what loading noticed but
    accepted (fit shows them).
    """

    items: list[str] | np.ndarray
    y: np.ndarray
    classes: list[str]
    modality: str
    source: str
    provenance: str
    ids: list[str]
    groups: dict[str, np.ndarray] = field(default_factory=dict)
    skipped: list[dict] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # found while loading (e.g. conflicting duplicates)

    def __post_init__(self) -> None:
        self.y = np.asarray(self.y, dtype=np.int64)
        if self.modality not in MODALITIES:
            raise ValueError(f"modality must be one of {MODALITIES}, got {self.modality!r}")
        n = len(self.items)
        if len(self.y) != n or len(self.ids) != n:
            raise ValueError(f"items ({n}), y ({len(self.y)}) and ids ({len(self.ids)}) differ in length")
        for name, values in self.groups.items():
            if len(values) != n:
                raise ValueError(f"group {name!r} has {len(values)} values for {n} items")
        if n and (self.y.min() < 0 or self.y.max() >= len(self.classes)):
            raise ValueError("y holds codes outside range(len(classes))")

    def __len__(self) -> int:
        return len(self.items)

    @property
    def n_classes(self) -> int:
        """Number of classes."""
        return len(self.classes)

    def class_counts(self) -> dict[str, int]:
        """Items per class, in class order."""
        counts = np.bincount(self.y, minlength=len(self.classes))
        return {c: int(k) for c, k in zip(self.classes, counts, strict=True)}

    def subset(self, indices: Sequence[int] | np.ndarray) -> LabeledData:
        """A new LabeledData with the items at ``indices`` (classes and skipped are kept as they are)."""
        idx = np.asarray(indices, dtype=np.int64)
        if isinstance(self.items, np.ndarray):
            items: list[str] | np.ndarray = self.items[idx]
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
            warnings=list(self.warnings),
        )

    def labels(self) -> list[str]:
        """Class name per item."""
        return [self.classes[i] for i in self.y]
