"""``BackboneSpec``: everything headstart knows about one backbone, as data (see docs/ARCHITECTURE.md).

It sits below the builders, the hub loaders and the registry, which all read it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

RANDOM_SUFFIX = ":random"


@dataclass(frozen=True)
class BackboneSpec:
    """Everything headstart knows about one backbone (see docs/ARCHITECTURE.md)."""

    name: str
    modality: str  # "text" | "image"
    architecture: str  # key into ARCHITECTURES
    description: str
    embed_dim: int
    params_m: float  # millions of parameters of the encoder (without the source classifier)
    license: str
    commercial_use: bool | None  # None = unknown
    source_package: str  # pip distribution shipping the weights
    source_version: str
    weights_locator: str
    sha256: str | None  # pinned sha256 of the weights file; None = not pinned
    source_domain: str
    input_size: int | None
    mean: tuple[float, ...] | None
    std: tuple[float, ...] | None
    max_length: int | None
    layer_groups: tuple[tuple[str, str], ...]  # ordered stem -> top: (group name, regex on parameter names)
    options: tuple[tuple[str, Any], ...] = ()  # builder keyword options (pooling, normalize, variant, ...)

    @property
    def is_random(self) -> bool:
        return self.name.endswith(RANDOM_SUFFIX)

    @property
    def install_hint(self) -> str:
        if not self.source_version:
            return f"install {self.source_package}"
        return f"pip install --force-reinstall --no-deps {self.source_package}=={self.source_version}"
