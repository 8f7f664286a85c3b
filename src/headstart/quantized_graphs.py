"""Builds the int8 graph of an encoder from its exported fp32 graph (``backend="onnx-int8"``).

Text (transformers): dynamic quantization, per-channel int8 weights of the weight-bearing MatMuls, activations
quantized per batch (:func:`headstart.export.quantize.quantize_int8`). Images (CNNs): static QDQ quantization
calibrated on a fixed set of bundled real images (:mod:`headstart.export.quantize_static`): dynamically
quantized convolutions measured ~10x slower than fp32, statically quantized ones ~2x faster.

The caller (:func:`headstart.backends.get_onnx_encoder`) caches the result under a name keyed by the weights,
preprocessing and calibration recipe, records its sha256 and that of the fp32 source next to it, and rebuilds
it when either no longer matches.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["build_int8"]


def _build_text(encoder: Any, src: Path, dst: Path) -> dict[str, Any]:
    from headstart.export.quantize import quantize_int8

    return {"method": "dynamic-per-channel", **quantize_int8(src, dst)}


def _build_image(encoder: Any, src: Path, dst: Path) -> dict[str, Any]:
    from headstart.export.quantize_static import calibration_pixels, quantize_static_int8

    return quantize_static_int8(src, dst, calibration_pixels(encoder))


_BUILDERS = {"text": _build_text, "image": _build_image}


def build_int8(encoder: Any, src: Path, dst: Path) -> dict[str, Any]:
    """Quantize the fp32 graph ``src`` of ``encoder`` into ``dst`` the way its modality measured best."""
    return _BUILDERS[str(encoder.spec.modality)](encoder, src, dst)
