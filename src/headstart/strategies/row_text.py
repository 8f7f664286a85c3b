"""Transfer on a table through a text backbone: every row serialized as ``"col: value; col: value"``
(headstart.data.tabular.serialize_row) and handed to an existing text strategy (linear probe, finetune,
LoRA, contrastive). The wrapper saves the text model in ``<folder>/text`` and serializes new rows the same
way at predict time."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from headstart.artifacts import FittedModel, model_class, read_meta, register_kind, write_meta
from headstart.data.tabular import row_texts
from headstart.strategies.base import StrategyFn, TransferTask, get_strategy


@register_kind
class RowTextModel:
    kind: ClassVar[str] = "row-text"

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    @property
    def name(self) -> str:
        return f"{self.inner.name} on rows as text"

    @property
    def val_accuracy(self) -> float:
        return float(getattr(self.inner, "val_accuracy", float("nan")))

    @property
    def halfwidth(self) -> float:
        return float(getattr(self.inner, "halfwidth", float("inf")))

    @property
    def history(self) -> list[Any]:
        return list(getattr(self.inner, "history", []))

    def texts(self, items: Any) -> list[str]:
        return row_texts(items)

    def embed(self, items: Any) -> np.ndarray:
        return self.inner.embed(self.texts(items))  # type: ignore[no-any-return]

    def predict_proba(self, items: Any) -> np.ndarray:
        return self.inner.predict_proba(self.texts(items))  # type: ignore[no-any-return]

    def predict(self, items: Any) -> np.ndarray:
        return self.inner.predict(self.texts(items))  # type: ignore[no-any-return]

    def save(self, folder: Path) -> None:
        write_meta(folder, self.kind, inner="text")
        self.inner.save(folder / "text")

    @classmethod
    def load(cls, folder: Path) -> RowTextModel:
        sub = folder / "text"  # fixed name: never follow a path written into meta.json
        return cls(model_class(sub, read_meta(sub)).load(sub))


def text_task(task: TransferTask) -> TransferTask:
    """The same task with every row serialized to text (modality ``text``)."""
    return replace(
        task,
        train_items=row_texts(task.train_items),
        val_items=row_texts(task.val_items),
        modality="text",
    )


def fit_row_text(task: TransferTask, strategy: str | StrategyFn) -> RowTextModel:
    """Fit ``strategy`` (a name or function) on the rows-as-text version of a tabular task."""
    fn = get_strategy(strategy) if isinstance(strategy, str) else strategy
    inner_task = text_task(task)
    inner: FittedModel = fn(inner_task)
    task.timings.update(inner_task.timings)
    task.notes.update(inner_task.notes)
    return RowTextModel(inner)
