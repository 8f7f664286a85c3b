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

    @classmethod
    def from_splits(cls, data: Any, splits: Any, backbone: str, **settings: Any) -> TransferTask:
        """The task of ``data`` (a :class:`headstart.data.LabeledData`) on its ``splits`` train and val indices;
        ``settings`` are the other fields (seed, image_size, progress, work_dir, resume, options...)."""

        def take(idx: np.ndarray) -> Any:
            return data.items[idx] if isinstance(data.items, np.ndarray) else [data.items[i] for i in idx]

        return cls(
            train_items=take(splits.train),
            y_train=data.y[splits.train],
            val_items=take(splits.val),
            y_val=data.y[splits.val],
            classes=data.classes,
            modality=data.modality,
            backbone=backbone,
            target=data.task,
            **settings,
        )


StrategyFn = Callable[[TransferTask], FittedModel]
STRATEGIES: dict[str, StrategyFn] = {}
DESCRIPTIONS: dict[str, str] = {}
# Options every strategy accepts (set by the run from --loss / --focal-gamma, or device settings).
COMMON_OPTIONS = frozenset({"loss", "focal_gamma", "device", "amp"})
# Strategies that only read frozen features (never update the backbone).
FROZEN_STRATEGIES = frozenset({"linear-probe"})
OPTION_KEYS: dict[str, frozenset[str]] = {}  # strategy -> the hyper-parameters it reads


def register_strategy(name: str, description: str, options: Sequence[str] = ()) -> Callable[[StrategyFn], StrategyFn]:
    """Register ``fn`` under ``name``; ``options`` lists the hyper-parameter keys it reads (others are errors)."""

    def wrap(fn: StrategyFn) -> StrategyFn:
        STRATEGIES[name] = fn
        DESCRIPTIONS[name] = description
        OPTION_KEYS[name] = frozenset(options) | COMMON_OPTIONS
        return fn

    return wrap


def check_options(strategy: str | None, options: dict[str, Any]) -> None:
    """HeadstartError for an option the strategy does not read (``None``: any strategy's keys, for ``auto``)."""
    allowed = OPTION_KEYS.get(strategy, COMMON_OPTIONS) if strategy else frozenset().union(*OPTION_KEYS.values())
    unknown = sorted(k for k, v in options.items() if v is not None and k not in allowed)
    if unknown:
        which = f"strategy {strategy}" if strategy else "any strategy"
        takes = ", ".join(sorted(allowed - COMMON_OPTIONS)) or "no hyper-parameters"
        raise HeadstartError(
            f"option {', '.join(map(repr, unknown))} is not used by {which} (it takes: {takes}); "
            "remove it or pick a strategy that uses it"
        )


def get_strategy(name: str) -> StrategyFn:
    if name not in STRATEGIES:
        raise HeadstartError(f"unknown strategy {name!r}; choose one of: {', '.join(sorted(STRATEGIES))}")
    return STRATEGIES[name]
