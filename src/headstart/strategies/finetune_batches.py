"""Training batches for the fine-tuning strategies: the encoder's own preprocessing plus image augmentation.

:func:`make_collate` builds ``collate(items, training) -> batch``; in training mode images first get a
label-preserving random resized crop, small rotation and (for colour images only, ``_default_flip``) a
horizontal flip, drawn from torch's global RNG so a resumed run repeats the same augmentation. Text gets no
augmentation. Shared by the single-task strategies, domain adaptation and multitask fitting.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from headstart.backbones.encoder import Encoder

__all__ = ["make_collate"]


def _augment_image(item: Any, size: int, flip: bool) -> np.ndarray:
    """Random resized crop (scale 0.8-1, ratio 3/4-4/3), optional horizontal flip, rotation within +-10 deg.

    Draws from torch's global RNG (saved in checkpoints), so resumed runs repeat the same augmentation.
    """
    from PIL import Image

    from headstart.data.images import read_image

    img = read_image(item).convert("RGB")
    w, h = img.size
    r = torch.rand(6).tolist()
    scale = 0.8 + 0.2 * r[0]
    ratio = math.exp(math.log(3 / 4) + (math.log(4 / 3) - math.log(3 / 4)) * r[1])
    cw = min(float(w), math.sqrt(w * h * scale * ratio))
    ch = min(float(h), math.sqrt(w * h * scale / ratio))
    x0, y0 = (w - cw) * r[2], (h - ch) * r[3]
    img = img.resize((size, size), Image.Resampling.BILINEAR, box=(x0, y0, x0 + cw, y0 + ch))
    if flip and r[4] < 0.5:
        img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    img = img.rotate((r[5] * 2 - 1) * 10.0, resample=Image.Resampling.BILINEAR)
    return np.asarray(img, dtype=np.uint8)


def make_collate(encoder: Encoder, *, augment: bool, flip: bool) -> Any:
    """``collate(items, training) -> batch``: the encoder's own preprocessing; for images in training mode,
    label-preserving augmentation first (text: none)."""
    size = int(getattr(encoder, "image_size", 0) or 0)

    def collate(items: Sequence[Any], training: bool) -> dict[str, torch.Tensor]:
        if training and augment and encoder.modality == "image" and size:
            items = [_augment_image(it, size, flip) for it in items]
        return encoder.prepare(items)

    return collate


def _default_flip(items: Sequence[Any]) -> bool:
    """Mirroring is label-preserving for photos but not for digits, characters or documents: flip only
    colour images (grayscale sources get crop + small rotation only)."""
    from headstart.data.images import read_image

    if len(items) == 0:
        return False
    return read_image(items[0]).mode not in ("L", "1", "I", "I;16", "F", "LA")
