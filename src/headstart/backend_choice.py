"""Which extraction backend and precision a call gets: ``auto`` | ``torch`` | ``torch-bf16`` | ``onnx`` |
``onnx-fp32`` | ``onnx-int8`` (the graphs themselves: :mod:`headstart.backends`).

``auto`` on the CPU, as measured by ``benchmarks/bench_extraction.py`` (``benchmarks/results/extraction.md``):
text encoders run in torch under bfloat16 autocast where the CPU multiplies bf16 matrices in hardware (Intel
AMX: 2.5x torch fp32; AVX512-BF16, e.g. AMD Zen 4: 1.9x torch fp32 and 1.25x ONNX Runtime fp32), with a
downstream probe agreeing with fp32 on >= 99.5% of labels; elsewhere ONNX Runtime fp32.
Image encoders run in ONNX Runtime fp32 (ahead of torch bf16 on the same CPU); static int8 is opt-in.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

import torch

__all__ = [
    "BACKENDS",
    "IMAGE_DEFAULT_PRECISION",
    "PRECISION_OF_BACKEND",
    "TEXT_DEFAULT_PRECISION",
    "auto_backend",
    "cpu_has_fast_bf16",
    "default_precision",
    "forced_backend",
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
BACKENDS = ("auto", "torch", "torch-bf16", "onnx", "onnx-fp32", "onnx-int8")
PRECISION_OF_BACKEND = {"onnx-fp32": "fp32", "onnx-int8": "int8", "torch-bf16": "bf16", "torch": "fp32"}
# what auto picks per modality on a CPU with hardware bf16 matmuls (see the module docstring)
AUTO_ON_FAST_BF16 = {"text": "torch-bf16"}


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


def cpu_has_fast_bf16() -> bool:
    """True where torch multiplies bfloat16 matrices in hardware: AMX tiles (Intel Sapphire Rapids and later) or
    AVX512-BF16 (AMD Zen 4 and later, Intel Cooper Lake)."""
    for name in ("_is_amx_tile_supported", "_is_avx512_bf16_supported"):
        probe = getattr(torch.cpu, name, None)
        try:
            if callable(probe) and probe():
                return True
        except Exception:  # pragma: no cover - a torch build without the probe
            continue
    return False


def auto_backend(encoder: Any, device: str | torch.device) -> str:
    """The concrete backend ``auto`` means for ``encoder`` on ``device`` (``HEADSTART_BACKEND`` wins)."""
    env = os.environ.get("HEADSTART_BACKEND", "").lower()
    on_cpu = torch.device(device).type == "cpu"
    pinned = getattr(encoder, "weights_sha256", None) is not None  # a stable key for the exported graph
    if env in BACKENDS and env != "auto":
        return env if not env.startswith("onnx") or (on_cpu and pinned) else "torch"
    if not on_cpu:
        return "torch"
    fast = AUTO_ON_FAST_BF16.get(encoder.spec.modality)
    if fast is not None and cpu_has_fast_bf16():
        return fast
    return "onnx" if pinned and onnx_available() else "torch"


def _concrete(encoder: Any, backend: str, device: str | torch.device) -> str:
    from headstart.errors import HeadstartError

    if backend not in BACKENDS:
        raise HeadstartError(f"unknown extraction backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    return auto_backend(encoder, device) if backend == "auto" else backend


def resolve_precision(encoder: Any, backend: str, device: str | torch.device = "cpu") -> str:
    """fp32 | int8 | bf16 for ``backend``: onnx-fp32 / onnx-int8 / torch-bf16 name it, ``onnx`` uses the
    modality's default, ``auto`` what :func:`auto_backend` picks (``HEADSTART_BACKEND=onnx-int8`` makes it int8)."""
    name = _concrete(encoder, backend, device)
    return PRECISION_OF_BACKEND.get(name, default_precision(encoder))


def resolve_backend(encoder: Any, backend: str, device: str | torch.device) -> str:
    """``"torch"`` or ``"onnx"`` for ``backend`` in :data:`BACKENDS`.

    auto: see :func:`auto_backend` (ONNX Runtime on the CPU for pinned weights, torch bf16 for text on AMX or
    AVX512-BF16 CPUs, torch otherwise). An explicit ``onnx*`` without onnxruntime is an error.
    """
    from headstart.errors import HeadstartError

    name = _concrete(encoder, backend, device)
    if not name.startswith("onnx"):
        return "torch"
    if not onnx_available():
        raise HeadstartError(f"backend {name!r} needs onnxruntime: pip install onnxruntime")
    return "onnx"


def use_backend(backend: str) -> None:
    """``headstart --backend NAME``: every extraction of this process (and its workers) with ``auto`` uses it."""
    from headstart.errors import HeadstartError

    if backend not in BACKENDS:
        raise HeadstartError(f"--backend {backend!r}: choose one of {', '.join(BACKENDS)}")
    os.environ["HEADSTART_BACKEND"] = backend


@contextlib.contextmanager
def forced_backend(backend: str) -> Iterator[None]:
    """Every ``auto`` extraction inside the block uses ``backend``: the reference side of an ONNX export's
    parity check runs the model in torch fp32, whatever auto would pick (bf16 text on AMX or AVX512-BF16 CPUs)."""
    before = os.environ.get("HEADSTART_BACKEND")
    use_backend(backend)  # checks the name, sets the variable
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("HEADSTART_BACKEND", None)
        else:
            os.environ["HEADSTART_BACKEND"] = before
