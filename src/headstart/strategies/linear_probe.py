"""Feature extraction: frozen backbone -> cached embeddings -> logistic-regression head (C chosen by CV).

Text probes fitted where ``auto`` runs ONNX Runtime fp32 also store the int8 error of their labeled items, so
that prediction can run the precision cascade (:mod:`headstart.strategies.precision_cascade`)."""

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
from headstart.strategies.linear_head import LinearHead, softmax
from headstart.strategies.precision_cascade import (
    CascadeResult,
    Score,
    calibrate,
    cascade_available,
    cascade_scores,
    errors_from_meta,
)


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
        cascade_errors: np.ndarray | None = None,
    ) -> None:
        self.backbone = backbone
        self.head = head
        self.image_size = image_size
        self.weights_sha256 = weights_sha256
        self.progress = progress
        self.cascade_errors = cascade_errors  # int8 logit errors of labeled items (precision cascade)
        self.cascade = False  # predict through the cascade (headstart predict turns it on; fit scores in fp32)
        self.last_cascade: CascadeResult | None = None  # what the last prediction re-embedded in fp32
        self._encoder: Any = None

    @property
    def name(self) -> str:
        return f"{self.backbone} linear probe"

    @property
    def val_accuracy(self) -> float:
        return self.head.cv_accuracy

    def logits(self, emb: np.ndarray) -> np.ndarray:
        return self.head.logits(np.asarray(emb, dtype=np.float64))

    def scores(self, items: Sequence[Any], score: Score | None = None) -> np.ndarray:
        """Decision scores of ``items``: the head's logits, or ``score`` of them; through the precision
        cascade where it is on (:func:`~headstart.strategies.precision_cascade.enable`) and applies."""
        self.last_cascade = None
        if self.cascade and self.cascade_errors is not None and cascade_available(self.feature_encoder(), len(items)):
            got = cascade_scores(
                self.feature_encoder(), self.logits, items, self.cascade_errors, score=score, progress=self.progress
            )
            if got is not None:
                self.last_cascade = got
                return got.scores
        z = self.logits(self.embed(items))
        return z if score is None else score(z, np.arange(len(z)))

    def predict_proba(self, items: Sequence[Any]) -> np.ndarray:
        return softmax(self.scores(items))

    def save(self, folder: Path) -> None:
        write_meta(
            folder,
            self.kind,
            backbone=self.backbone,
            image_size=self.image_size,
            weights_sha256=self.weights_sha256,
            C=self.head.C,
            cv_accuracy=self.head.cv_accuracy,
            cascade_errors=None if self.cascade_errors is None else [float(e) for e in self.cascade_errors],
        )
        atomic_write_npz(folder / "head.npz", **self.head.arrays())

    @classmethod
    def load(cls, folder: Path) -> LinearProbeModel:
        meta = read_meta(folder)
        head = LinearHead.read(folder / "head.npz")
        errors = errors_from_meta(meta.get("cascade_errors"), folder / "meta.json")
        return cls(
            meta["backbone"],
            head,
            image_size=meta.get("image_size"),
            weights_sha256=meta.get("weights_sha256"),
            cascade_errors=errors,
        )


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
    if task.modality == "text" and cascade_available(encoder):
        t2 = time.perf_counter()
        model.cascade_errors = calibrate(encoder, model.logits, items, emb)
        task.timings["calibrate_int8"] = time.perf_counter() - t2
    return model
