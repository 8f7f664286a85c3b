"""Feature extraction: frozen backbone -> cached embeddings -> logistic-regression head (C chosen by CV)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from headstart.artifacts import read_meta, register_kind, write_meta
from headstart.backbones.lazy import lazy_backbone
from headstart.features import extract
from headstart.io import atomic_write_npz
from headstart.strategies.base import TransferTask, register_strategy
from headstart.strategies.frozen import FrozenBackbone
from headstart.strategies.head_cache import cached_linear_head
from headstart.strategies.linear_head import LinearHead


@register_kind
class LinearProbeModel(FrozenBackbone):
    """A pinned frozen backbone plus a linear head; ``predict_proba`` embeds (through the cache) then scores."""

    kind: ClassVar[str] = "linear-probe"

    def __init__(
        self,
        backbone: str,
        head: LinearHead,
        *,
        image_size: int | None = None,
        weights_sha256: str | None = None,
        progress: bool = False,
    ) -> None:
        self.backbone = backbone
        self.head = head
        self.image_size = image_size
        self.weights_sha256 = weights_sha256
        self.progress = progress
        self._encoder: Any = None

    @property
    def name(self) -> str:
        return f"{self.backbone} linear probe"

    @property
    def val_accuracy(self) -> float:
        return self.head.cv_accuracy

    def predict_proba(self, items: Sequence[Any]) -> np.ndarray:
        return self.head.predict_proba(self.embed(items))

    def save(self, folder: Path) -> None:
        write_meta(
            folder,
            self.kind,
            backbone=self.backbone,
            image_size=self.image_size,
            weights_sha256=self.weights_sha256,
            C=self.head.C,
            cv_accuracy=self.head.cv_accuracy,
        )
        atomic_write_npz(folder / "head.npz", **self.head.arrays())

    @classmethod
    def load(cls, folder: Path) -> LinearProbeModel:
        meta = read_meta(folder)
        head = LinearHead.read(folder / "head.npz")
        return cls(meta["backbone"], head, image_size=meta.get("image_size"), weights_sha256=meta.get("weights_sha256"))


@register_strategy("linear-probe", "frozen backbone, cached embeddings, logistic-regression head (C by CV)")
def fit_linear_probe(task: TransferTask) -> Any:
    if task.target == "regression":
        from headstart.strategies.ridge_probe import fit_ridge_probe

        return fit_ridge_probe(task)
    t0 = time.perf_counter()
    encoder = lazy_backbone(task.backbone, image_size=task.image_size)  # weights read only on a cache miss
    task.timings["load_backbone"] = time.perf_counter() - t0
    items = list(task.train_items) + list(task.val_items)
    y = np.concatenate([task.y_train, task.y_val])
    emb, stats = extract(encoder, items, progress=task.progress)
    task.timings["embed_train"] = stats.seconds
    task.notes.setdefault("extract", []).append({"split": "train+val", **stats.to_dict()})
    t1 = time.perf_counter()
    head, reused = cached_linear_head(  # the same embeddings and labels as a previous fit: no C search
        emb,
        y,
        task.n_classes,
        seed=task.seed,
        class_weight="balanced" if task.options.get("loss") == "weighted" else None,
    )
    task.timings["fit_head"] = time.perf_counter() - t1
    task.notes["head_cached"] = reused
    model = LinearProbeModel(
        task.backbone, head, image_size=task.image_size, weights_sha256=encoder.weights_sha256, progress=task.progress
    )
    model._encoder = encoder
    return model
