"""Pretrained backbones: the registry (as data) and the Encoder contract."""

from headstart.backbones.encoder import Encoder, ImageEncoder
from headstart.backbones.registry import (
    ARCHITECTURES,
    REGISTRY,
    BackboneSpec,
    backbone_lineage,
    backbone_table,
    check_license,
    get_spec,
    is_installed,
    license_commercial_use,
    list_specs,
    load_backbone,
    locate_weights,
    probe_view,
    weights_sha256,
)
from headstart.backbones.text import TextEncoder
from headstart.backbones.user import register_image_backbone, save_image_backbone

__all__ = [
    "ARCHITECTURES",
    "REGISTRY",
    "BackboneSpec",
    "Encoder",
    "ImageEncoder",
    "TextEncoder",
    "backbone_lineage",
    "backbone_table",
    "check_license",
    "get_spec",
    "is_installed",
    "license_commercial_use",
    "list_specs",
    "load_backbone",
    "locate_weights",
    "probe_view",
    "register_image_backbone",
    "save_image_backbone",
    "weights_sha256",
]
