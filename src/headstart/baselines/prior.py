"""The majority-class predictor as a saved model: what a run falls back to when its from-scratch baseline
cannot be fitted, so the transfer result is still judged and kept (never lost to a baseline error)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from headstart.artifacts import read_meta, register_kind, write_meta


@register_kind
class MajorityClass:
    kind: ClassVar[str] = "majority"
    name = "majority class"

    def __init__(self, n_classes: int, label: int, val_accuracy: float) -> None:
        self.n_classes, self.label, self.val_accuracy = n_classes, label, val_accuracy

    @classmethod
    def fit(cls, y: np.ndarray, n_classes: int) -> MajorityClass:
        counts = np.bincount(np.asarray(y), minlength=n_classes)
        return cls(n_classes, int(counts.argmax()), float(counts.max() / max(1, counts.sum())))

    def predict_proba(self, items: Any) -> np.ndarray:
        out = np.zeros((len(items), self.n_classes))
        out[:, self.label] = 1.0
        return out

    def save(self, folder: Path) -> None:
        write_meta(folder, self.kind, n_classes=self.n_classes, label=self.label, val_accuracy=self.val_accuracy)

    @classmethod
    def load(cls, folder: Path) -> MajorityClass:
        m = read_meta(folder)
        return cls(int(m["n_classes"]), int(m["label"]), float(m["val_accuracy"]))
