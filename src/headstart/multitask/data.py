"""Several labels per item: ``MultiLabeledData`` and its loader (tables with several label columns, builtins).

The first task is the **primary** one: every item has its label (a row without it is a bad item), and the
splits are stratified on it, so every arm of a multitask run sees the same train/val/test items. Any other
task may miss labels: an empty cell is stored as code ``-1`` and that item counts only for the tasks it has.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from headstart.data.dataset import LabeledData
from headstart.data.validate import check_classes
from headstart.errors import HeadstartError

MISSING = -1


@dataclass
class TaskLabels:
    """One task's labels over all items: int64 codes into ``classes``, ``-1`` where the item has none."""

    name: str
    y: np.ndarray
    classes: list[str]
    label_source: str = ""

    @property
    def mask(self) -> np.ndarray:
        return self.y >= 0

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    def n_labeled(self) -> int:
        return int(self.mask.sum())


@dataclass
class MultiLabeledData:
    """Items (``data``, whose ``y`` is the primary task's labels) plus every task's labels, in task order."""

    data: LabeledData
    tasks: dict[str, TaskLabels]
    notes: dict[str, str] = field(default_factory=dict)  # per task: how its labels were derived (builtins)

    def __post_init__(self) -> None:
        if len(self.tasks) < 1:
            raise ValueError("a multitask dataset needs at least one task")
        first = next(iter(self.tasks.values()))
        if not np.array_equal(first.y, self.data.y):
            raise ValueError("data.y must hold the primary (first) task's labels")
        for t in self.tasks.values():
            if len(t.y) != len(self.data):
                raise ValueError(f"task {t.name!r} has {len(t.y)} labels for {len(self.data)} items")

    @property
    def names(self) -> list[str]:
        return list(self.tasks)

    @property
    def primary(self) -> str:
        return self.names[0]

    def __len__(self) -> int:
        return len(self.data)

    def Y(self, idx: np.ndarray | None = None) -> np.ndarray:
        """``[n, T]`` int64 label matrix (``-1`` = missing) for ``idx`` (all items when None)."""
        cols = [t.y if idx is None else t.y[idx] for t in self.tasks.values()]
        return np.stack(cols, axis=1).astype(np.int64)

    def summary(self, splits: Any | None = None) -> dict[str, Any]:
        """Per task: classes, labeled counts (overall and in train+val), missing share."""
        out: dict[str, Any] = {}
        for t in self.tasks.values():
            doc: dict[str, Any] = {
                "classes": t.classes,
                "label_source": t.label_source,
                "n_labeled": t.n_labeled(),
                "n_missing": int(len(t.y) - t.n_labeled()),
            }
            if splits is not None:
                lab = np.concatenate([splits.train, splits.val])
                doc["n_labeled_train_val"] = int(t.mask[lab].sum())
                doc["n_labeled_test"] = int(t.mask[splits.test].sum())
            if t.name in self.notes:
                doc["derived"] = self.notes[t.name]
            out[t.name] = doc
        return out


def encode_task(
    name: str, labels: Sequence[str | None], *, source: str, label_source: str, classes: Sequence[str] | None = None
) -> TaskLabels:
    """String labels (None = missing) -> TaskLabels, checking the labeled part has >= 2 classes of >= 2."""
    present = [lab for lab in labels if lab is not None]
    class_list = sorted(set(present)) if classes is None else list(classes)
    code = {c: i for i, c in enumerate(class_list)}
    y = np.array([MISSING if lab is None else code[lab] for lab in labels], dtype=np.int64)
    check_classes(y[y >= 0], class_list, source=source, label_source=label_source)
    return TaskLabels(name, y, class_list, label_source)


def check_label_columns(label_columns: Sequence[str], where: str) -> list[str]:
    """Reject an empty list and duplicates with a one-line message."""
    cols = [str(c) for c in label_columns]
    if not cols:
        raise HeadstartError(f"{where}: a multitask run needs at least one --label-column (or --tasks)")
    seen: set[str] = set()
    for c in cols:
        if c in seen:
            raise HeadstartError(f"{where}: --label-column {c!r} is given twice; name each task column once")
        seen.add(c)
    return cols


def parse_tasks(tasks: str | Sequence[str] | None) -> list[str]:
    """``"fine,coarse"`` or ``["fine", "coarse"]`` -> ``["fine", "coarse"]`` (empty names dropped)."""
    if tasks is None:
        return []
    parts = tasks.split(",") if isinstance(tasks, str) else [p for t in tasks for p in str(t).split(",")]
    return [p.strip() for p in parts if p.strip()]
