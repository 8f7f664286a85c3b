"""The fitted contrastive model: a pinned text backbone with contrastively trained top layers, plus a linear head.

Prediction runs the frozen lower layers once per text (cached in
:data:`headstart.strategies.contrastive_states.LOWER_CACHE`) and only the top layers per model. Saving writes the
changed layers only, as safetensors, plus the base backbone name and its pinned sha256 to rebuild the rest;
loading checks that the installed base weights match.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from headstart.artifacts import read_meta, register_kind, write_meta
from headstart.backbones import load_backbone
from headstart.errors import HeadstartError
from headstart.io import atomic_write_bytes, atomic_write_npz
from headstart.strategies.contrastive_states import _layers, embed_from_states, lower_states
from headstart.strategies.linear_head import LinearHead

WEIGHTS_FILE = "encoder_top.safetensors"
HEAD_FILE = "head.npz"


def _top_names(encoder: Any, split: int) -> list[str]:
    """State-dict names (of ``encoder.body``) of the trained top layers."""
    layers = _layers(encoder)
    ids = {id(m) for m in layers[split:]}
    prefix = next(n for n, m in encoder.body.named_modules() if m is layers)
    names = []
    for n in encoder.body.state_dict():
        if n.startswith(prefix + "."):
            idx = int(n[len(prefix) + 1 :].split(".")[0])
            if id(layers[idx]) in ids:
                names.append(n)
    return names


@register_kind
class ContrastiveModel:
    """A pinned text backbone whose top layers were contrastively fine-tuned, plus a linear head."""

    kind: ClassVar[str] = "contrastive"

    def __init__(
        self,
        backbone: str,
        encoder: Any,
        split: int,
        head: LinearHead,
        *,
        val_accuracy: float = float("nan"),
        history: list[dict[str, float]] | None = None,
        progress: bool = False,
    ) -> None:
        self.backbone = backbone
        self.encoder = encoder.eval()
        self.split = split
        self.head = head
        self._val_accuracy = val_accuracy
        self.history = history or []
        self.progress = progress

    @property
    def name(self) -> str:
        return f"{self.backbone} contrastive (top {len(_layers(self.encoder)) - self.split} layers)"

    @property
    def val_accuracy(self) -> float:
        return self._val_accuracy

    @property
    def weights_sha256(self) -> str | None:
        return getattr(self.encoder, "weights_sha256", None)

    def embed(self, items: Sequence[Any]) -> np.ndarray:
        texts = [str(t) if not isinstance(t, str) else t for t in items]
        if not texts:
            return np.zeros((0, self.encoder.embed_dim), dtype=np.float32)
        states, _ = lower_states(self.encoder, texts, self.split, progress=self.progress)
        return embed_from_states(self.encoder, states, self.split)

    def predict_proba(self, items: Sequence[Any]) -> np.ndarray:
        return self.head.predict_proba(self.embed(items))

    def save(self, folder: Path) -> None:
        from safetensors.torch import save

        state = self.encoder.body.state_dict()
        top = {n: state[n].detach().contiguous().clone() for n in _top_names(self.encoder, self.split)}
        write_meta(
            folder,
            self.kind,
            backbone=self.backbone,
            weights_sha256=self.weights_sha256,
            split_layer=self.split,
            n_layers=len(_layers(self.encoder)),
            trained_tensors=sorted(top),
            C=self.head.C,
            cv_accuracy=self.head.cv_accuracy,
            val_accuracy=self._val_accuracy,
            history=self.history,
        )
        atomic_write_bytes(folder / WEIGHTS_FILE, save(top))
        atomic_write_npz(folder / HEAD_FILE, **self.head.arrays())

    @classmethod
    def load(cls, folder: Path) -> ContrastiveModel:
        from safetensors.torch import load

        meta = read_meta(folder)
        encoder = load_backbone(meta["backbone"])
        want = meta.get("weights_sha256")
        if want and encoder.weights_sha256 != want:
            raise HeadstartError(
                f"{folder}: fine-tuned on base weights sha256 {want[:16]}..., but the installed "
                f"{meta['backbone']} weights are {str(encoder.weights_sha256)[:16]}...; reinstall the matching version"
            )
        path = folder / WEIGHTS_FILE
        if not path.exists():
            raise HeadstartError(f"{folder}: {WEIGHTS_FILE} is missing; this saved model is incomplete")
        top = load(path.read_bytes())
        result = encoder.body.load_state_dict(top, strict=False)
        if result.unexpected_keys or set(top) != set(meta.get("trained_tensors", top)):
            raise HeadstartError(f"{path}: tensors do not fit backbone {meta['backbone']}; the file is damaged")
        head = LinearHead.read(folder / HEAD_FILE)
        return cls(
            meta["backbone"],
            encoder,
            int(meta["split_layer"]),
            head,
            val_accuracy=float(meta.get("val_accuracy", float("nan"))),
            history=meta.get("history", []),
        )
