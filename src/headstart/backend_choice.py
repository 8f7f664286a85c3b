"""Which extraction backend and precision a call gets: ``auto`` | ``torch`` | ``onnx`` | ``onnx-fp32`` |
``onnx-int8`` (the graphs themselves: :mod:`headstart.backends`).
"""

from __future__ import annotations

import os
from typing import Any

import torch

__all__ = [
    "BACKENDS",
    "IMAGE_DEFAULT_PRECISION",
    "PRECISION_OF_BACKEND",
    "TEXT_DEFAULT_PRECISION",
    "default_precision",
    "onnx_available",
    "resolve_backend",
    "resolve_precision",
    "usable_cores",
    "use_backend",
]

# Text default precision for backend="auto": decided by benchmarks/bench_extraction.py (see
# benchmarks/results/extraction.md): int8 is used only if it is faster AND a linear probe on its embeddings
# agrees with the fp32 probe on >= 99.5% of test labels.
TEXT_DEFAULT_PRECISION = "fp32"
IMAGE_DEFAULT_PRECISION = "fp32"  # static int8 (onnx-int8) is opt-in: see benchmarks/results/extraction.md
BACKENDS = ("auto", "torch", "onnx", "onnx-fp32", "onnx-int8")
PRECISION_OF_BACKEND = {"onnx-fp32": "fp32", "onnx-int8": "int8"}  # "onnx" / "auto": default_precision


def onnx_available() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def usable_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def default_precision(encoder: Any) -> str:
    return TEXT_DEFAULT_PRECISION if encoder.spec.modality == "text" else IMAGE_DEFAULT_PRECISION


def resolve_precision(encoder: Any, backend: str) -> str:
    """The ONNX precision for ``backend``: onnx-fp32 / onnx-int8 name it, onnx and auto use the default
    (``HEADSTART_BACKEND=onnx-int8`` makes auto quantized)."""
    env = os.environ.get("HEADSTART_BACKEND", "").lower()
    chosen = env if backend == "auto" and env in PRECISION_OF_BACKEND else backend
    return PRECISION_OF_BACKEND.get(chosen, default_precision(encoder))


def resolve_backend(encoder: Any, backend: str, device: str | torch.device) -> str:
    """``"torch"`` or ``"onnx"`` for ``backend`` in auto | torch | onnx | onnx-fp32 | onnx-int8.

    auto picks ONNX Runtime when it is importable, the encoder has pinned weights (a stable cache key) and
    extraction runs on the CPU; torch otherwise. An explicit ``"onnx"`` without onnxruntime is an error.
    """
    from headstart.errors import HeadstartError

    if backend not in BACKENDS:
        raise HeadstartError(f"unknown extraction backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if backend == "torch":
        return "torch"
    if backend.startswith("onnx"):
        if not onnx_available():
            raise HeadstartError(f"backend {backend!r} needs onnxruntime: pip install onnxruntime")
        return "onnx"
    env = os.environ.get("HEADSTART_BACKEND", "").lower()
    if env == "torch":
        return "torch"
    on_cpu = torch.device(device).type == "cpu"
    pinned = getattr(encoder, "weights_sha256", None) is not None
    return "onnx" if on_cpu and pinned and onnx_available() else "torch"


def use_backend(backend: str) -> None:
    """``headstart --backend NAME``: every extraction of this process (and its workers) with ``auto`` uses it."""
    from headstart.errors import HeadstartError

    if backend not in BACKENDS:
        raise HeadstartError(f"--backend {backend!r}: choose one of {', '.join(BACKENDS)}")
    os.environ["HEADSTART_BACKEND"] = backend
