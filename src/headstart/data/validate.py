"""Dataset checks (fatal problems raise HeadstartError) and a class-balance summary with warnings."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from headstart.data.dataset import LabeledData
from headstart.errors import HeadstartError

MIN_PER_CLASS = 2
IMBALANCE_WARN = 10.0
SMALL_CLASS_WARN = 10


@dataclass
class DataSummary:
    """Sizes, class counts and warnings for one dataset (the ``data`` block of metrics.json)."""

    source: str
    modality: str
    n_items: int
    classes: list[str]
    class_counts: dict[str, int]
    imbalance_ratio: float
    warnings: list[str] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)


def check_classes(
    y: np.ndarray,
    classes: list[str],
    *,
    source: str,
    label_source: str | None = None,
    min_per_class: int = MIN_PER_CLASS,
) -> None:
    """Raise HeadstartError on an empty dataset, a single class, or a class below ``min_per_class``."""
    where = f" ({label_source})" if label_source else ""
    counts = np.bincount(np.asarray(y, dtype=np.int64), minlength=len(classes))
    if counts.sum() == 0:
        raise HeadstartError(f"{source}: no usable labeled items{where}; add labeled examples")
    if len(classes) < 2:
        name, k = classes[0], int(counts[0])
        raise HeadstartError(
            f"{source}: only one class ({name!r}, {k} items){where}; "
            "a classifier needs at least 2 classes: add examples of another class"
        )
    for c, k in zip(classes, counts, strict=True):
        if k < min_per_class:
            noun = "example" if k == 1 else "examples"
            raise HeadstartError(
                f"{source}: class {c!r} has {int(k)} {noun}{where}; each class needs at least "
                f"{min_per_class}: add {min_per_class - int(k)} or more examples or drop the class"
            )


def _item_key(item: Any) -> Any:
    if isinstance(item, np.ndarray):
        return (item.shape, item.tobytes())
    return str(item)


def conflicting_duplicates(
    items: Sequence[Any] | np.ndarray, labels: Sequence[str], ids: Sequence[str], *, max_items: int = 200_000
) -> list[str]:
    """One warning when the same text (or array) appears with different labels, naming the first such pair."""
    if not len(items) or len(items) > max_items or (isinstance(items, np.ndarray) and items.ndim < 2):
        return []
    first: dict[Any, int] = {}
    conflicts: dict[Any, tuple[int, int]] = {}
    for i, item in enumerate(items):
        key = _item_key(item)
        j = first.setdefault(key, i)
        if j != i and labels[j] != labels[i] and key not in conflicts:
            conflicts[key] = (j, i)
    if not conflicts:
        return []
    j, i = next(iter(conflicts.values()))
    return [
        f"{len(conflicts)} duplicate items carry different labels (first: {ids[j]} is {labels[j]!r}, "
        f"{ids[i]} is {labels[i]!r}); fix or remove them: no model can fit both labels"
    ]


def summarize(data: LabeledData) -> DataSummary:
    """Class counts, imbalance ratio (largest/smallest class) and warnings; never raises on content."""
    counts = data.class_counts()
    nonzero = [k for k in counts.values() if k > 0]
    ratio = float(max(nonzero) / min(nonzero)) if nonzero else float("nan")
    warnings: list[str] = []
    if nonzero and ratio >= IMBALANCE_WARN:
        big = max(counts, key=lambda c: counts[c])
        small = min((c for c in counts if counts[c] > 0), key=lambda c: counts[c])
        warnings.append(
            f"classes are imbalanced (largest/smallest = {ratio:.1f}: {big!r} {counts[big]} vs {small!r} "
            f"{counts[small]}); judge by macro-F1 and balanced accuracy, not accuracy alone"
        )
    for c, k in counts.items():
        if 0 < k < SMALL_CLASS_WARN:
            warnings.append(f"class {c!r} has only {k} examples; its scores will be noisy")
    if len(data) and len(data) <= 200_000:
        labels_by_key: dict[Any, set[int]] = defaultdict(set)
        n_seen: dict[Any, int] = defaultdict(int)
        for item, label in zip(data.items, data.y, strict=True):
            key = _item_key(item)
            labels_by_key[key].add(int(label))
            n_seen[key] += 1
        dup = sum(v - 1 for v in n_seen.values() if v > 1)
        conflicting = sum(1 for v in labels_by_key.values() if len(v) > 1)
        if dup:
            msg = f"{dup} duplicate items"
            if conflicting:
                msg += f" ({conflicting} of them appear with different labels)"
            warnings.append(msg + "; duplicates can leak between train and test splits")
    if data.skipped:
        first = data.skipped[0]
        warnings.append(f"{len(data.skipped)} bad items skipped (first: {first.get('id')}: {first.get('reason')})")
    return DataSummary(
        source=data.source,
        modality=data.modality,
        n_items=len(data),
        classes=list(data.classes),
        class_counts=counts,
        imbalance_ratio=ratio,
        warnings=warnings,
        skipped=list(data.skipped),
    )


def validate(data: LabeledData, *, label_source: str | None = None, min_per_class: int = MIN_PER_CLASS) -> DataSummary:
    """Run the fatal checks (single class, tiny classes) then return the summary."""
    check_classes(data.y, data.classes, source=data.source, label_source=label_source, min_per_class=min_per_class)
    return summarize(data)
