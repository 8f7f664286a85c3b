"""The linear probe for a regression target: frozen backbone, cached embeddings, ridge head (alpha by CV MAE,
target standardized). Reached through ``linear-probe`` when ``task.target == "regression"``."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from headstart.artifacts import read_meta, read_npz, register_kind, write_meta
from headstart.backbones import load_backbone
from headstart.features import extract
from headstart.io import atomic_write_npz
from headstart.strategies.base import TransferTask
from headstart.strategies.frozen import FrozenBackbone
from headstart.strategies.ridge_head import RidgeHead, fit_ridge_head


@register_kind
class RidgeProbeModel(FrozenBackbone):
    kind: ClassVar[str] = "ridge-probe"

    def __init__(
        self, backbone: str, head: RidgeHead, *, image_size: int | None = None, weights_sha256: str | None = None
    ) -> None:
        self.backbone, self.head, self.image_size, self.weights_sha256 = backbone, head, image_size, weights_sha256
        self.progress = False
        self._encoder: Any = None

    @property
    def name(self) -> str:
        return f"{self.backbone} ridge probe"

    @property
    def val_accuracy(self) -> float:
        return -self.head.cv_mae

    @property
    def halfwidth(self) -> float:
        return self.head.halfwidth

    def predict(self, items: Sequence[Any]) -> np.ndarray:
        return self.head.predict(self.embed(items))

    def save(self, folder: Path) -> None:
        write_meta(
            folder,
            self.kind,
            backbone=self.backbone,
            image_size=self.image_size,
            weights_sha256=self.weights_sha256,
            alpha=self.head.alpha,
            cv_mae=self.head.cv_mae,
        )
        atomic_write_npz(folder / "head.npz", **self.head.arrays())

    @classmethod
    def load(cls, folder: Path) -> RidgeProbeModel:
        meta = read_meta(folder)
        head = RidgeHead.from_arrays(read_npz(folder / "head.npz"))
        return cls(meta["backbone"], head, image_size=meta.get("image_size"), weights_sha256=meta.get("weights_sha256"))


def fit_ridge_probe(task: TransferTask) -> RidgeProbeModel:
    t0 = time.perf_counter()
    encoder = load_backbone(task.backbone, image_size=task.image_size)
    task.timings["load_backbone"] = time.perf_counter() - t0
    items = list(task.train_items) + list(task.val_items)
    y = np.concatenate([task.y_train, task.y_val]).astype(np.float64)
    emb, stats = extract(encoder, items, progress=task.progress)
    task.timings["embed_train"] = stats.seconds
    task.notes.setdefault("extract", []).append({"split": "train+val", **stats.to_dict()})
    t1 = time.perf_counter()
    head = fit_ridge_head(emb, y, seed=task.seed)
    task.timings["fit_head"] = time.perf_counter() - t1
    model = RidgeProbeModel(task.backbone, head, image_size=task.image_size, weights_sha256=encoder.weights_sha256)
    model._encoder, model.progress = encoder, task.progress
    return model
