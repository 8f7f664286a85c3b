"""MobileNetV2 in pure torch; parameter names match ``torchvision.models.mobilenet_v2`` exactly."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torch import Tensor, nn

from headstart.backbones.encoder import ImageEncoder
from headstart.errors import HeadstartError

if TYPE_CHECKING:
    from headstart.backbones.spec import BackboneSpec

__all__ = ["MobileNetV2Encoder", "MobileNetV2Features", "build_mobilenetv2"]

# (expansion t, output channels c, repeats n, first stride s), width multiplier 1.0
_SETTINGS = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)


def _conv_bn(cin: int, cout: int, kernel: int = 3, stride: int = 1, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU6(inplace=True),
    )


class InvertedResidual(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, expand: int) -> None:
        super().__init__()
        hidden = round(cin * expand)
        self.use_res_connect = stride == 1 and cin == cout
        layers: list[nn.Module] = [_conv_bn(cin, hidden, kernel=1)] if expand != 1 else []
        layers += [
            _conv_bn(hidden, hidden, stride=stride, groups=hidden),
            nn.Conv2d(hidden, cout, 1, bias=False),
            nn.BatchNorm2d(cout),
        ]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


class MobileNetV2Features(nn.Module):
    """``features`` of torchvision's MobileNetV2 + global average pooling -> [B, 1280]."""

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = [_conv_bn(3, 32, stride=2)]
        cin = 32
        for t, c, n, s in _SETTINGS:
            for i in range(n):
                layers.append(InvertedResidual(cin, c, s if i == 0 else 1, t))
                cin = c
        layers.append(_conv_bn(cin, 1280, kernel=1))
        self.features = nn.Sequential(*layers)
        for m in self.modules():  # torchvision's initialisation (used by the ":random" control)
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: Tensor) -> Tensor:
        return F.adaptive_avg_pool2d(self.features(x), 1).flatten(1)


class MobileNetV2Encoder(ImageEncoder):
    def forward_features(self, pixel_values: Tensor) -> Tensor:
        return self.body(pixel_values)


def _source_head(n_classes: int = 1000) -> nn.Linear:
    head = nn.Linear(1280, n_classes)
    nn.init.normal_(head.weight, 0, 0.01)
    nn.init.zeros_(head.bias)
    return head


def build_mobilenetv2(
    spec: BackboneSpec,
    weights: Sequence[Path] | None,
    *,
    model_dir: Path | None = None,
    image_size: int | None = None,
) -> MobileNetV2Encoder:
    """Build the encoder; ``weights`` is the torchvision state_dict file (``.pth``, or ``.safetensors`` with the
    same key names and any number of source classes in ``classifier.1``), or None for random init."""
    del model_dir
    body = MobileNetV2Features()
    if not weights:
        return MobileNetV2Encoder(spec, body, image_size=image_size)
    path = Path(weights[0])
    state = (
        load_file(path) if path.suffix == ".safetensors" else torch.load(path, map_location="cpu", weights_only=True)
    )
    if not isinstance(state, dict):
        raise HeadstartError(f"{path}: expected a MobileNetV2 state_dict, got {type(state).__name__}")
    head_state = {k.removeprefix("classifier.1."): v for k, v in state.items() if k.startswith("classifier.1.")}
    body_state = {k: v for k, v in state.items() if not k.startswith("classifier.")}
    try:
        body.load_state_dict(body_state, strict=True)
        head = _source_head(int(head_state["weight"].shape[0]) if "weight" in head_state else 1000)
        head.load_state_dict(head_state, strict=True)
    except RuntimeError as exc:
        reason = " ".join(str(exc).split())[:200]
        raise HeadstartError(f"{path}: not a torchvision MobileNetV2 state_dict ({reason})") from None
    return MobileNetV2Encoder(spec, body, image_size=image_size, source_head=head)
