"""The Encoder contract shared by every backbone, and the common image preprocessing."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from PIL import Image
from torch import Tensor, nn

if TYPE_CHECKING:
    from pathlib import Path

    from headstart.backbones.spec import BackboneSpec

__all__ = ["Encoder", "ImageEncoder", "image_preprocessing_id", "resize_center_crop"]


class Encoder(nn.Module):
    """A pretrained (or randomly initialised) feature extractor: raw items -> [B, embed_dim] embeddings.

    ``body`` is the backbone module; every trainable parameter of the encoder lives in it and
    ``spec.layer_groups`` partitions its parameter names. The source classifier (e.g. the ImageNet head),
    when one exists, is kept out of the module tree: see :meth:`source_head`.
    """

    def __init__(
        self,
        spec: BackboneSpec,
        body: nn.Module,
        *,
        preprocessing_id: str,
        source_head: nn.Linear | None = None,
    ) -> None:
        super().__init__()
        self.spec = spec
        self.embed_dim = spec.embed_dim
        self.body = body
        self.preprocessing_id = preprocessing_id
        self.weights_sha256: str | None = None
        self.weights_path: Path | None = None
        # A tuple hides the head from parameters()/state_dict(): it is the source task's, not ours.
        self._source_head: tuple[nn.Linear, ...] = () if source_head is None else (source_head.eval(),)

    @property
    def name(self) -> str:
        """Backbone name as given to ``load_backbone`` (``"mobilenetv2:random"`` for the control)."""
        return self.spec.name

    @property
    def modality(self) -> str:
        return self.spec.modality

    @property
    def device(self) -> torch.device:
        for p in self.parameters():
            return p.device
        return torch.device("cpu")

    def prepare(self, items: Sequence[Any] | np.ndarray) -> dict[str, Tensor]:
        """CPU preprocessing of raw items into a batch of tensors."""
        raise NotImplementedError

    def forward(self, inputs: dict[str, Tensor]) -> Tensor:
        """Pooled embeddings [B, embed_dim] of a prepared batch."""
        raise NotImplementedError

    @torch.no_grad()
    def embed(self, items: Sequence[Any] | np.ndarray) -> Tensor:
        """Convenience: ``prepare`` + ``forward`` without gradients (does not change train/eval mode)."""
        return self(self.prepare(items))

    def _on_device(self, inputs: dict[str, Tensor]) -> dict[str, Tensor]:
        device = self.device
        return {k: v.to(device) for k, v in inputs.items()}

    def block_groups(self) -> list[tuple[str, list[nn.Parameter]]]:
        """Parameters grouped by ``spec.layer_groups`` (first matching regex wins), ordered stem -> top.

        Empty groups are dropped. Raises RuntimeError if a parameter matches no group.
        """
        compiled = [(name, re.compile(rx)) for name, rx in self.spec.layer_groups]
        buckets: dict[str, list[nn.Parameter]] = {name: [] for name, _ in compiled}
        for pname, param in self.body.named_parameters():
            for gname, rx in compiled:
                if rx.search(pname):
                    buckets[gname].append(param)
                    break
            else:
                raise RuntimeError(f"parameter {pname!r} of backbone {self.spec.name} matches no layer group")
        return [(name, buckets[name]) for name, _ in compiled if buckets[name]]

    def source_head(self) -> nn.Linear | None:
        """The pretrained source-task classifier (features -> source logits), or None.

        It is not a submodule of the encoder (not in ``parameters()``/``state_dict()``) and stays on the CPU
        in eval mode; move it yourself. None for random init and for text encoders.
        """
        return self._source_head[0] if self._source_head else None

    def extra_repr(self) -> str:
        return f"name={self.spec.name!r}, embed_dim={self.embed_dim}, preprocessing={self.preprocessing_id!r}"


def _fmt(values: Sequence[float]) -> str:
    return ",".join(f"{v:g}" for v in values)


def image_preprocessing_id(size: int, mean: Sequence[float], std: Sequence[float]) -> str:
    """Stable description of :class:`ImageEncoder` preprocessing (used to namespace feature caches)."""
    return f"img{size}-short-side-bilinear-centercrop-mean({_fmt(mean)})-std({_fmt(std)})-rgb"


def resize_center_crop(image: Image.Image, size: int) -> Image.Image:
    """Resize the shorter side to ``size`` (bilinear, antialiased), then center-crop to ``size`` x ``size``.

    Square images are simply resized.
    """
    w, h = image.size
    if (w, h) == (size, size):
        return image
    scale = size / min(w, h)
    nw, nh = max(size, round(w * scale)), max(size, round(h * scale))
    image = image.resize((nw, nh), Image.Resampling.BILINEAR)
    if (nw, nh) == (size, size):
        return image
    left, top = (nw - size) // 2, (nh - size) // 2
    return image.crop((left, top, left + size, top + size))


def _locator(item: Any, i: int) -> str | None:
    return f"image item {i}" if isinstance(item, np.ndarray) else None


class ImageEncoder(Encoder):
    """Base for image backbones: shared preprocessing; subclasses implement :meth:`forward_features`."""

    def __init__(
        self,
        spec: BackboneSpec,
        body: nn.Module,
        *,
        image_size: int | None = None,
        source_head: nn.Linear | None = None,
    ) -> None:
        size = int(image_size or spec.input_size or 224)
        mean = tuple(spec.mean or (0.485, 0.456, 0.406))
        std = tuple(spec.std or (0.229, 0.224, 0.225))
        super().__init__(spec, body, preprocessing_id=image_preprocessing_id(size, mean, std), source_head=source_head)
        self.image_size = size
        self._mean = np.asarray(mean, dtype=np.float32)
        self._std = np.asarray(std, dtype=np.float32)

    def prepare(self, items: Sequence[Any] | np.ndarray) -> dict[str, Tensor]:
        """Paths or uint8 arrays -> {"pixel_values": float32 [N, 3, S, S]} (RGB, normalised)."""
        from headstart.data.images import read_image

        size = self.image_size
        # each image is resized in its own mode (L or RGB): bilinear resampling works per channel, so a grey
        # image resized once and repeated in R, G and B equals convert("RGB") then resize, at a third of the
        # work; an all-grey batch stays one channel until the normalisation broadcasts it
        resized = [
            np.asarray(resize_center_crop(read_image(item, locator=_locator(item, i)), size))
            for i, item in enumerate(items)
        ]
        grey = all(r.ndim == 2 for r in resized)
        batch = np.empty((len(items), size, size) if grey else (len(items), size, size, 3), dtype=np.uint8)
        for i, r in enumerate(resized):
            batch[i] = r if grey or r.ndim == 3 else r[..., None]
        # (x / 255 - mean) / std as one scale and one shift per channel, in torch's threaded kernels: the
        # per-pixel float passes in numpy cost a third of an image's ONNX forward pass
        scale = torch.from_numpy(1.0 / (255.0 * self._std)).view(1, 3, 1, 1)
        shift = torch.from_numpy(self._mean / self._std).view(1, 3, 1, 1)
        if grey:
            return {"pixel_values": torch.from_numpy(batch).unsqueeze(1).to(torch.float32).mul(scale).sub_(shift)}
        pixels = torch.from_numpy(batch).permute(0, 3, 1, 2).to(torch.float32, memory_format=torch.contiguous_format)
        return {"pixel_values": pixels.mul_(scale).sub_(shift)}

    def forward(self, inputs: dict[str, Tensor]) -> Tensor:
        x = inputs["pixel_values"].to(self.device)
        return self.forward_features(x)

    def forward_features(self, pixel_values: Tensor) -> Tensor:
        """Pooled features [B, embed_dim] from normalised pixels [B, 3, S, S]."""
        raise NotImplementedError
