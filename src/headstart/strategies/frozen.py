"""The part every probe on a frozen backbone shares (logistic and ridge): the lazy encoder and the cached
embedding of raw items."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from headstart.backbones.lazy import LazyEncoder, lazy_backbone
from headstart.features import extract


class FrozenBackbone:
    """What every probe on a pinned frozen backbone shares: the (lazy) encoder and cached embedding.

    Subclasses set ``backbone``, ``image_size``, ``progress`` and ``_encoder = None``.
    """

    backbone: str
    image_size: int | None
    progress: bool
    _encoder: Any

    def feature_encoder(self) -> Any:
        """The backbone for :func:`extract`: a lazy stand-in that reads weights only on a cache miss."""
        if self._encoder is None:
            self._encoder = lazy_backbone(self.backbone, image_size=self.image_size)
        return self._encoder

    def encoder(self) -> Any:
        """The loaded backbone (ONNX export and other code that runs the network itself)."""
        enc = self.feature_encoder()
        return enc.materialize() if isinstance(enc, LazyEncoder) else enc

    def embed(self, items: Sequence[Any]) -> np.ndarray:
        emb, _ = extract(self.feature_encoder(), items, progress=self.progress)
        return emb
