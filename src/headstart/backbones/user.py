"""Bring your own pretrained image backbone: a safetensors file of a known architecture, sha256-pinned.

``register_image_backbone("fmnist-mnv2", "weights.safetensors", base="mobilenetv2", source_domain=...)`` adds a
registry entry that every name-based API then accepts (``load_backbone``, ``rank_data`` and its candidate
list, the fine-tuning strategies). Its spec is the base entry's (architecture, preprocessing, layer groups)
with the user's weights file as ``file:`` locator and that file's sha256 pinned at registration, so a
replaced or damaged file is refused at load. Only ``.safetensors`` is accepted: nothing executes code.
``save_image_backbone`` writes such a file (atomically) from a trained body and source head.

The registration lives in this process only: register again before loading a saved model that names it.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from safetensors.torch import save
from torch import nn

from headstart.backbones.registry import REGISTRY, weights_sha256
from headstart.backbones.spec import BackboneSpec
from headstart.errors import HeadstartError
from headstart.io import atomic_write_bytes

__all__ = ["USER_BASES", "register_cli_backbone", "register_image_backbone", "save_image_backbone"]

# registry entries whose builder reads a torchvision-style safetensors state dict with any source head
USER_BASES = ("mobilenetv2",)


def save_image_backbone(path: str | Path, body: nn.Module, head: nn.Linear | None = None) -> Path:
    """Write ``body``'s state dict (``features.*`` keys) and the source ``head`` as ``classifier.1.*``."""
    target = Path(path)
    if target.suffix != ".safetensors":
        raise HeadstartError(f"{target}: backbone weights must be saved as .safetensors")
    state = {k: v.detach().cpu().contiguous() for k, v in body.state_dict().items()}
    if head is not None:
        state["classifier.1.weight"] = head.weight.detach().cpu().contiguous()
        state["classifier.1.bias"] = head.bias.detach().cpu().contiguous()
    return atomic_write_bytes(target, save(state))


def register_image_backbone(
    name: str,
    weights: str | Path,
    *,
    base: str = "mobilenetv2",
    source_domain: str,
    license: str = "unknown",
    commercial_use: bool | None = None,
    description: str | None = None,
    sha256: str | None = None,
) -> BackboneSpec:
    """Add ``name`` to the registry: ``base``'s architecture with the weights in ``weights`` (pinned).

    ``sha256`` (optional) is the expected hash of the file: a mismatch is refused now. Returns the spec.
    """
    if not name or ":" in name or name.strip() != name:
        raise HeadstartError(f"backbone name '{name}' must be non-empty, without ':' or surrounding spaces")
    if name in REGISTRY:
        raise HeadstartError(f"backbone name '{name}' is already registered; choose another name")
    if base not in USER_BASES:
        raise HeadstartError(f"base architecture '{base}' is not supported for own weights; use one of {USER_BASES}")
    path = Path(weights).expanduser().resolve()
    if path.suffix != ".safetensors":
        raise HeadstartError(f"{path}: own backbone weights must be a .safetensors file (no pickle files)")
    if not path.is_file():
        raise HeadstartError(f"weights file {path} not found")
    found = weights_sha256((path,))
    if sha256 is not None and sha256.lower() != found:
        raise HeadstartError(f"{path} has sha256 {found[:16]}..., expected {sha256[:16]}...; check the file")
    spec = dataclasses.replace(
        REGISTRY[base],
        name=name,
        description=description or f"{base} architecture, own weights from {path.name}",
        license=license,
        commercial_use=commercial_use,
        source_package=str(path),
        source_version="",
        weights_locator=f"file:{path}",
        sha256=found,
        source_domain=source_domain,
    )
    REGISTRY[name] = spec
    return spec


def register_cli_backbone(text: str) -> BackboneSpec:
    """``NAME=PATH.safetensors`` (the CLI's ``--own``): a MobileNetV2 with the user's weights, under ``NAME``."""
    name, sep, path = text.partition("=")
    if not sep or not name.strip() or not path.strip():
        raise HeadstartError(f"--own '{text}': write NAME=PATH.safetensors (e.g. mine=weights/mine.safetensors)")
    return register_image_backbone(name.strip(), path.strip(), source_domain="user-supplied weights (--own)")
