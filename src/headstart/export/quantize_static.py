"""Static (calibrated) int8 quantization of a CNN encoder graph: QDQ format, per-channel int8 weights, uint8
activations whose ranges are calibrated ahead of time on real images.

Dynamic quantization of convolutions (``ConvInteger``) ran ~10x slower than fp32 on this CPU; with static
scales ORT fuses each QuantizeLinear/DequantizeLinear pair around a convolution into an int8 ``QLinearConv``.
Measured on MobileNetV2 at 96 px (builtin:digits, ORT 1.32, AVX-512 VNNI; see
``benchmarks/results/extraction.md``): about 2x the fp32 network rate. Signed int8 activations ran no faster
than fp32 there (no u8s8 kernel path), so activations are uint8. Percentile (99.99) calibration clipped
outliers better than plain min/max.

The calibration set is fixed (:data:`CALIBRATION_SETS`, bundled real images), so the quantized graph, hence
its embeddings, do not depend on which items a run happens to extract first: one graph per backbone and
preprocessing, cached by the caller and checked against its recorded sha256 before it is used.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from headstart.io import atomic_write_bytes

__all__ = ["CALIBRATION_SETS", "calibration_id", "calibration_pixels", "quantize_static_int8"]

# (dataset, how many items): real images from the bundled datasets, spread over their classes
CALIBRATION_SETS: tuple[tuple[str, int], ...] = (("builtin:digits", 32), ("builtin:fashion-mnist", 32))
CALIBRATION_PERCENTILE = 99.99
CALIBRATION_BATCH = 16
# convolutions kept fp32 (graph order): the stem and the last 1x1 conv before pooling, the textbook sensitive
# layers; measured on MobileNetV2 / fashion-mnist, 300/600 probe: all quantized -2.0 points, first + last
# fp32 -1.8, first 3 + last fp32 +0.3 at the same ~2.5x speed (held-out check in extraction.md)
KEEP_FP32_FIRST_CONVS = 3
KEEP_FP32_LAST_CONVS = 1


def calibration_id() -> str:
    """Names the calibration recipe (part of the quantized graph's cache key)."""
    spec = "|".join(f"{name}:{n}" for name, n in CALIBRATION_SETS)
    keep = f"keep{KEEP_FP32_FIRST_CONVS}+{KEEP_FP32_LAST_CONVS}"
    return hashlib.sha256(f"{spec}|p{CALIBRATION_PERCENTILE}|u8|qdq|{keep}".encode()).hexdigest()[:12]


def calibration_pixels(encoder: Any) -> np.ndarray:
    """The calibration images, preprocessed exactly as extraction does: ``[N, C, H, W]`` float32."""
    from headstart.data import load_data

    items: list[Any] = []
    for name, n in CALIBRATION_SETS:
        data = load_data(name)
        order = np.random.default_rng(0).permutation(len(data.y))[:n]
        items.extend(data.items[int(i)] for i in order)
    return encoder.prepare(items)["pixel_values"].numpy()  # type: ignore[no-any-return]


class _Reader:
    """onnxruntime's CalibrationDataReader protocol over fixed batches."""

    def __init__(self, input_name: str, pixels: np.ndarray) -> None:
        self._batches: Iterator[dict[str, np.ndarray]] = iter(
            [{input_name: pixels[i : i + CALIBRATION_BATCH]} for i in range(0, len(pixels), CALIBRATION_BATCH)]
        )

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._batches, None)


def _kept_fp32(path: Path) -> list[str]:
    import onnx

    convs = [n.name for n in onnx.load(str(path)).graph.node if n.op_type == "Conv"]
    if len(convs) <= KEEP_FP32_FIRST_CONVS + KEEP_FP32_LAST_CONVS:
        return []
    return convs[:KEEP_FP32_FIRST_CONVS] + convs[len(convs) - KEEP_FP32_LAST_CONVS :]


def quantize_static_int8(
    src: Path, dst: Path, pixels: np.ndarray, *, input_name: str = "pixel_values"
) -> dict[str, Any]:
    """``onnxruntime.quantization.quantize_static`` of the fp32 graph ``src`` into ``dst`` (atomically).

    QDQ, per-channel signed int8 weights, uint8 activations, percentile calibration on ``pixels``; the first
    and last convolutions stay fp32. Returns ``{"method", "calibration_id", "n_calibration", "qdq_nodes",
    "kept_fp32"}``.
    """
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    logging.getLogger().setLevel(max(logging.getLogger().level, logging.ERROR))  # ORT's progress chatter
    with tempfile.TemporaryDirectory() as tmp:
        pre, out = Path(tmp) / "pre.onnx", Path(tmp) / "int8.onnx"
        quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
        keep = _kept_fp32(pre)
        chatter = io.StringIO()  # the percentile calibrator prints its histogram settings
        with contextlib.redirect_stdout(chatter):
            quantize_static(
                str(pre),
                str(out),
                _Reader(input_name, pixels),  # type: ignore[arg-type]
                quant_format=QuantFormat.QDQ,
                per_channel=True,
                weight_type=QuantType.QInt8,
                activation_type=QuantType.QUInt8,
                calibrate_method=CalibrationMethod.Percentile,
                extra_options={"CalibPercentile": CALIBRATION_PERCENTILE},
                nodes_to_exclude=keep,
            )
        n_qdq = sum(1 for n in onnx.load(str(out)).graph.node if n.op_type == "QuantizeLinear")
        dst.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(dst, out.read_bytes())
    return {
        "method": "static-qdq-percentile",
        "calibration_id": calibration_id(),
        "n_calibration": len(pixels),
        "qdq_nodes": n_qdq,
        "kept_fp32": keep,
    }
