"""EfficientNet-Lite via the ``efficientnet_lite_pytorch`` package (lukemelas parameter naming)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from headstart.backbones.encoder import ImageEncoder
from headstart.errors import HeadstartError

if TYPE_CHECKING:
    from headstart.backbones.spec import BackboneSpec

__all__ = ["ARCH_PACKAGE", "EfficientNetEncoder", "build_efficientnet_lite"]

ARCH_PACKAGE = "efficientnet-lite-pytorch==0.1.0"


class EfficientNetEncoder(ImageEncoder):
    def forward_features(self, pixel_values: Tensor) -> Tensor:
        body: Any = self.body
        x = body.extract_features(pixel_values)
        return F.adaptive_avg_pool2d(x, 1).flatten(1)


def build_efficientnet_lite(
    spec: BackboneSpec,
    weights: Sequence[Path] | None,
    *,
    model_dir: Path | None = None,
    image_size: int | None = None,
) -> EfficientNetEncoder:
    """Build the encoder; ``weights`` is the lukemelas-style state_dict file, or None for random init."""
    del model_dir
    try:
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError:
        raise HeadstartError(
            f"backbone {spec.name} needs the architecture package: pip install --no-deps {ARCH_PACKAGE}"
        ) from None
    variant = str(dict(spec.options).get("variant", "efficientnet-lite0"))
    size = int(image_size or spec.input_size or 224)
    # Static 'SAME' padding computed for the size the images are resized to.
    net = EfficientNet.from_name(variant, image_size=size)
    head: nn.Linear = net._fc
    net._fc = nn.Identity()
    if weights:
        path = Path(weights[0])
        state = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(state, dict):
            raise HeadstartError(f"{path}: expected an EfficientNet state_dict, got {type(state).__name__}")
        head_state = {k.removeprefix("_fc."): v for k, v in state.items() if k.startswith("_fc.")}
        body_state = {k: v for k, v in state.items() if not k.startswith("_fc.")}
        try:
            net.load_state_dict(body_state, strict=True)
            head.load_state_dict(head_state, strict=True)
        except RuntimeError as exc:
            reason = " ".join(str(exc).split())[:200]
            raise HeadstartError(f"{path}: not an {variant} state_dict ({reason})") from None
        return EfficientNetEncoder(spec, net, image_size=size, source_head=head)
    return EfficientNetEncoder(spec, net, image_size=size)
