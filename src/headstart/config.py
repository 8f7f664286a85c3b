"""``FitConfig``: every setting of one run, validated before any data is loaded, saved verbatim to config.json.

Choices are Enums (Typer lists them in ``--help``); strategy hyper-parameters are checked against the keys the
chosen strategy declares (:data:`headstart.strategies.base.OPTION_KEYS`), so a misspelled option is an error
instead of being silently dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from enum import Enum, StrEnum
from typing import Any

from headstart.errors import HeadstartError

# The names ``headstart.strategies`` registers, for ``--help`` without importing torch (that package imports
# every strategy module); tests/test_cli.py checks this tuple against the registry.
BUILTIN_STRATEGIES = ("contrastive", "fewshot-text", "finetune", "linear-probe", "lora", "partial", "progressive")


class Ship(StrEnum):
    best = "best"
    transfer = "transfer"
    baseline = "baseline"
    stack = "stack"


class Loss(StrEnum):
    ce = "ce"
    weighted = "weighted"
    focal = "focal"


class OnBadItem(StrEnum):
    error = "error"
    skip = "skip"


class Use(StrEnum):
    commercial = "commercial"
    research = "research"


class Baseline(StrEnum):
    auto = "auto"
    tfidf = "tfidf"
    pixel_logreg = "pixel-logreg"
    small_cnn = "small-cnn"
    random_init = "random-init"
    trees = "trees"
    tabular_linear = "tabular-linear"
    tfidf_ridge = "tfidf-ridge"
    pixel_ridge = "pixel-ridge"


class Task(StrEnum):
    auto = "auto"
    classification = "classification"
    regression = "regression"


class Modality(StrEnum):
    text = "text"
    image = "image"
    tabular = "tabular"


def _choice(enum: type[Enum], value: Any, flag: str) -> str:
    raw = value.value if isinstance(value, Enum) else value
    allowed = [e.value for e in enum]  # type: ignore[attr-defined]
    if raw not in allowed:
        raise HeadstartError(f"{flag}: unknown value {raw!r}; choose one of {', '.join(allowed)}")
    return str(raw)


@dataclass
class FitConfig:
    """Every setting of one run; saved verbatim to ``config.json``."""

    data: str
    out: str
    backbone: str | None = None
    strategy: str = "linear-probe"
    baseline: str = "auto"
    text_column: str | None = None
    label_column: str | None = None
    label_columns: list[str] = field(default_factory=list)  # several: a multitask run (headstart.multitask)
    tasks: str | None = None  # multitask builtins: task names, e.g. "fine,coarse"
    task_weighting: str = "equal"  # multitask: equal | uncertainty | dwa
    gradients: str = "sum"  # multitask: sum | pcgrad | upgrad
    group_columns: list[str] = field(default_factory=list)
    labels_per_class: int | None = None
    seed: int = 0
    test_size: float = 0.2
    val_size: float = 0.2
    max_test: int | None = 2000
    on_bad_item: str = "error"
    image_size: int | None = None
    loss: str = "ce"
    focal_gamma: float = 2.0
    use: str = "commercial"
    ship: str = "best"
    curve: bool = False  # data-efficiency curve (headstart.studies)
    curve_fractions: list[float] | None = None  # None: 0.1, 0.25, 0.5, 1.0 of the labeled set
    curve_seeds: int = 3
    folds: int | None = None  # variance: repeated stratified K-fold ...
    seeds: int | None = None  # ... or S seeds (both: K folds repeated S times)
    executor: str = "sequential"  # where --seeds/--folds/--curve repetitions run: sequential | ray
    ray_address: str | None = None  # --executor ray: an existing cluster (default: a local Ray)
    positive_class: str | None = None  # audit: positive class of a binary task (default: the second class)
    options: dict[str, Any] = field(default_factory=dict)  # strategy hyper-parameters: epochs, lr, unfreeze...
    add_labels: str | None = None  # to_label.csv filled in (headstart.active.add_labels): added to train
    overwrite: bool = False
    progress: bool = True
    modality: str | None = None  # None: detected (a table without a text column is tabular)
    task: str = "auto"  # classification | regression | auto (headstart.data.targets)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FitConfig:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    def validate(self) -> FitConfig:
        """Normalize choices and check every field that can be checked without the data; returns ``self``."""
        from headstart.strategies import check_options, get_strategy

        self.ship = _choice(Ship, self.ship, "--ship")
        self.loss = _choice(Loss, self.loss, "--loss")
        self.on_bad_item = _choice(OnBadItem, self.on_bad_item, "--on-bad-item")
        self.use = _choice(Use, self.use, "--use")
        self.baseline = _choice(Baseline, self.baseline, "--baseline")
        self.task = _choice(Task, self.task, "--task")
        if self.modality is not None:
            self.modality = _choice(Modality, self.modality, "--modality")
        if self.strategy != "auto":
            get_strategy(self.strategy)
            check_options(self.strategy, self.options)
        else:
            check_options(None, self.options)
        for name, lo in (("test_size", 0.0), ("val_size", 0.0)):
            value = float(getattr(self, name))
            if not lo < value < 1.0:
                raise HeadstartError(f"--{name.replace('_', '-')} must be between 0 and 1 (exclusive), got {value}")
        if self.labels_per_class is not None and self.labels_per_class < 1:
            raise HeadstartError(f"--labels-per-class must be at least 1, got {self.labels_per_class}")
        if self.max_test is not None and self.max_test < 1:
            self.max_test = None
        if self.image_size is not None and self.image_size < 16:
            raise HeadstartError(f"--image-size must be at least 16 pixels, got {self.image_size}")
        if self.focal_gamma < 0:
            raise HeadstartError(f"--focal-gamma must be >= 0, got {self.focal_gamma}")
        for name in ("folds", "seeds"):
            value = getattr(self, name)
            if value is not None and value < 2:
                raise HeadstartError(f"--{name} must be at least 2 (it repeats the comparison), got {value}")
        from headstart.executors import check_executor

        self.executor = check_executor(self.executor, self.ray_address)
        if self.curve_seeds < 1:
            raise HeadstartError(f"--curve-seeds must be at least 1, got {self.curve_seeds}")
        return self
