"""What every transfer strategy receives, and the table of strategies by name."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from headstart.artifacts import FittedModel
from headstart.errors import HeadstartError


@dataclass
class TransferTask:
    """The labeled data and settings one strategy fits on. Items are raw (texts, image paths, arrays)."""

    train_items: Sequence[Any]
    y_train: np.ndarray
    val_items: Sequence[Any]
    y_val: np.ndarray
    classes: list[str]
    modality: str
    backbone: str
    seed: int = 0
    image_size: int | None = None
    progress: bool = True
    work_dir: Path | None = None  # where checkpoints go (resumable runs)
    resume: bool = False
    options: dict[str, Any] = field(default_factory=dict)  # strategy hyper-parameters (epochs, lr, ...)
    target: str = "classification"  # or "regression": y holds float targets and classes is empty
    timings: dict[str, float] = field(default_factory=dict)
    notes: dict[str, Any] = field(default_factory=dict)  # what the strategy wants recorded (cache hits, CKA)

    @property
    def n_classes(self) -> int:
        return len(self.classes)


StrategyFn = Callable[[TransferTask], FittedModel]
STRATEGIES: dict[str, StrategyFn] = {}
DESCRIPTIONS: dict[str, str] = {}


def register_strategy(name: str, description: str) -> Callable[[StrategyFn], StrategyFn]:
    def wrap(fn: StrategyFn) -> StrategyFn:
        STRATEGIES[name] = fn
        DESCRIPTIONS[name] = description
        return fn

    return wrap


def get_strategy(name: str) -> StrategyFn:
    if name not in STRATEGIES:
        raise HeadstartError(f"unknown strategy {name!r}; choose one of: {', '.join(sorted(STRATEGIES))}")
    return STRATEGIES[name]
