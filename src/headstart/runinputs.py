"""What the after-shipping commands (monitor, query, distill) read from a finished run directory: its config,
metrics, shipped model, labeled data and splits, rebuilt through the public loaders; the features the
embedding-space tests use; and new data with labels when it has them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from headstart.artifacts import FittedModel
from headstart.data import LabeledData, Splits, load_data
from headstart.errors import HeadstartError
from headstart.predict import load_shipped

ADDED_LABELS_FILE = "added_labels.csv"


def take(items: Any, idx: np.ndarray) -> Any:
    """``items[idx]`` for an image array or a list."""
    if isinstance(items, np.ndarray):
        return items[np.asarray(idx, dtype=np.int64)]
    return [items[int(i)] for i in idx]


@dataclass
class RunInputs:
    run: Path
    config: dict[str, Any]
    metrics: dict[str, Any]
    model: FittedModel
    side: str
    data: LabeledData
    splits: Splits

    @property
    def classes(self) -> list[str]:
        return list(self.metrics["data"]["classes"])

    @property
    def modality(self) -> str:
        return str(self.metrics["data"]["modality"])

    @property
    def reference(self) -> np.ndarray:
        """Indices of the run's train + validation items."""
        return np.concatenate([self.splits.train, self.splits.val])

    def items(self, idx: np.ndarray) -> Any:
        return take(self.data.items, idx)


def load_run_data(run: Path, config: dict[str, Any]) -> tuple[LabeledData, Splits]:
    """The run's labeled data and splits, with any ``--add-labels`` rows re-applied."""
    splits = Splits.load(run / "splits.json")
    data = load_data(
        config["data"],
        text_column=config.get("text_column"),
        label_column=config.get("label_column"),
        group_columns=tuple(config.get("group_columns") or ()),
        on_bad_item=config.get("on_bad_item", "error"),
    )
    if (run / ADDED_LABELS_FILE).exists():
        from headstart.active.add_labels import merge_added_labels

        data, splits = merge_added_labels(data, splits, str(run / ADDED_LABELS_FILE), rebuild=True)
    if len(data.y) != splits.n_items:
        raise HeadstartError(
            f"{run}/splits.json indexes {splits.n_items} items but {config['data']} now has {len(data.y)}; "
            "the data changed since the run, so its splits cannot be rebuilt"
        )
    return data, splits


def open_run(run_dir: str | Path, side: str | None = None) -> RunInputs:
    """Load the shipped (or ``side``) model and rebuild the run's data and splits."""
    run = Path(run_dir)
    model, config, metrics = load_shipped(run, side)
    if metrics.get("kind") in ("adaptation", "generalization"):
        raise HeadstartError(
            f"{run} is a domain-{metrics['kind']} study, with no splits of one labeled dataset: this command needs "
            "a `headstart fit` run; `headstart predict` works on the study's saved model"
        )
    chosen = side or metrics.get("shipped", {}).get("side", "transfer")
    data, splits = load_run_data(run, config)
    return RunInputs(run, config, metrics, model, chosen, data, splits)


def feature_source(ri: RunInputs) -> str:
    """Which features the embedding-space methods use for this run (recorded in their outputs)."""
    if callable(getattr(ri.model, "embed", None)):
        return f"the shipped model's own backbone ({getattr(ri.model, 'name', ri.side)})"
    return f"the run's frozen backbone {ri.config.get('backbone')} (the shipped {ri.side} model has no embedding)"


def features_are_frozen(ri: RunInputs) -> bool:
    return getattr(ri.model, "kind", "") != "finetuned"


def embed_items(ri: RunInputs, items: Any) -> np.ndarray:
    """Embeddings of ``items`` in the run's representation space (through the embedding cache).

    The shipped model's own ``embed`` when it has one (linear probe: the frozen cached backbone; fine-tuned:
    the updated backbone); for a shipped baseline or stack (TF-IDF, pixels, small CNN) the run's pretrained
    backbone, frozen, at the run's image size.
    """
    if not len(items):
        return np.zeros((0, 1), dtype=np.float32)
    fn = getattr(ri.model, "embed", None)
    if callable(fn):
        return np.asarray(fn(items), dtype=np.float32)
    from headstart.backbones import load_backbone
    from headstart.features import extract

    if ri.modality == "tabular":  # the run's text backbone reads rows the way the rows-as-text arm does
        from headstart.data.tabular import row_texts

        items = row_texts(items)
    encoder = load_backbone(str(ri.config["backbone"]), image_size=ri.config.get("image_size"))
    emb, _ = extract(encoder, items, progress=False)
    return emb


@dataclass
class NewData:
    ids: list[str]
    items: Any
    y: np.ndarray | None  # codes into the run's classes; -1 where an item has no (known) label


def load_new_data(source: str, ri: RunInputs, *, max_items: int | None = None) -> NewData:
    """New data for a run: labeled through ``load_data`` when it has a label the run knows, else unlabeled."""
    from headstart.data.unlabeled import load_unlabeled

    text_column = ri.config.get("text_column")
    y: np.ndarray | None = None
    try:
        d: LabeledData | None = load_data(source, text_column=text_column, label_column=ri.config.get("label_column"))
    except HeadstartError:  # no label column, a flat image folder...: read it as unlabeled
        d = None
    if d is not None:
        if d.modality != ri.modality:
            raise HeadstartError(f"{source} is {d.modality} data but the run was fitted on {ri.modality}")
        index = {c: i for i, c in enumerate(ri.classes)}
        y = np.array([index.get(d.classes[c], -1) for c in d.y], dtype=np.int64)
        ids, items = list(d.ids), d.items
        if (y < 0).all():
            y = None
    elif ri.modality == "tabular":  # typed with the run's own column kinds, as `predict` reads a table
        from headstart.data.table_rows import load_prediction_table

        ids, items, _ = load_prediction_table(source, ri.metrics["data"].get("table", {}))
    else:
        ids, items = load_unlabeled(source, modality=ri.modality, text_column=text_column)
    if max_items is not None and len(ids) > max_items:
        ids, items = ids[:max_items], take(items, np.arange(max_items))
        y = None if y is None else y[:max_items]
    if not len(ids):
        raise HeadstartError(f"{source}: no items to read")
    return NewData(ids, items, y)
