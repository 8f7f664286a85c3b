"""Training checkpoints as one safetensors file: every tensor (and numpy array) as a named tensor, and the rest
of the state (optimizer and scheduler hyper-parameters, epoch, RNG states, history) as JSON in the file's
metadata. Loading parses JSON and reads raw tensors, so a crafted checkpoint cannot execute code (unlike a
full-pickle ``torch.load``, which unpickles).

Nested state is encoded with tagged JSON objects: ``{"__tensor__": name}``, ``{"__ndarray__": name, "dtype",
"shape"}`` (stored as its raw bytes), ``{"__tuple__": [...]}`` and ``{"__items__": [[key, value], ...]}`` for
dicts whose keys are not all strings (the optimizer's integer parameter ids).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from headstart.errors import HeadstartError
from headstart.io import atomic_write_bytes

FORMAT = "headstart-checkpoint/1"
_TAGS = ("__tensor__", "__ndarray__", "__tuple__", "__items__", "__float__")


class _Encoder:
    def __init__(self) -> None:
        self.tensors: dict[str, torch.Tensor] = {}

    def _add(self, t: torch.Tensor) -> str:
        name = f"t{len(self.tensors)}"
        # a private contiguous CPU copy: safetensors refuses tensors that share memory (tied weights)
        self.tensors[name] = t.detach().to("cpu").contiguous().clone()
        return name

    def encode(self, obj: Any) -> Any:
        if isinstance(obj, torch.Tensor):
            return {"__tensor__": self._add(obj)}
        if isinstance(obj, np.ndarray):
            arr = np.ascontiguousarray(obj)
            raw = torch.from_numpy(np.frombuffer(arr.tobytes(), dtype=np.uint8).copy())
            return {"__ndarray__": self._add(raw), "dtype": arr.dtype.str, "shape": list(arr.shape)}
        if isinstance(obj, np.generic):
            return self.encode(obj.item())
        if isinstance(obj, float) and not math.isfinite(obj):
            return {"__float__": repr(obj)}
        if obj is None or isinstance(obj, bool | int | float | str):
            return obj
        if isinstance(obj, tuple):
            return {"__tuple__": [self.encode(v) for v in obj]}
        if isinstance(obj, list):
            return [self.encode(v) for v in obj]
        if isinstance(obj, dict):
            if all(isinstance(k, str) and k not in _TAGS for k in obj):
                return {k: self.encode(v) for k, v in obj.items()}
            return {"__items__": [[self.encode(k), self.encode(v)] for k, v in obj.items()]}
        raise TypeError(f"cannot store {type(obj).__name__} in a checkpoint")


def _decode(obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(obj, list):
        return [_decode(v, tensors) for v in obj]
    if not isinstance(obj, dict):
        return obj
    if "__tensor__" in obj:
        return tensors[obj["__tensor__"]]
    if "__ndarray__" in obj:
        raw = tensors[obj["__ndarray__"]].numpy().tobytes()
        return np.frombuffer(raw, dtype=np.dtype(obj["dtype"])).reshape(obj["shape"]).copy()
    if "__float__" in obj:
        return float(obj["__float__"])
    if "__tuple__" in obj:
        return tuple(_decode(v, tensors) for v in obj["__tuple__"])
    if "__items__" in obj:
        return {_decode(k, tensors): _decode(v, tensors) for k, v in obj["__items__"]}
    return {k: _decode(v, tensors) for k, v in obj.items()}


def checkpoint_bytes(state: dict[str, Any]) -> bytes:
    """``state`` (nested dicts/lists/tuples of tensors, arrays and JSON scalars) as safetensors bytes."""
    enc = _Encoder()
    skeleton = enc.encode(state)
    return bytes(st_save(enc.tensors, metadata={"format": FORMAT, "state": json.dumps(skeleton)}))


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    atomic_write_bytes(path, checkpoint_bytes(state))


def load_checkpoint(path: Path) -> dict[str, Any]:
    """The state saved by :func:`save_checkpoint`; a one-line error for anything else (never unpickled)."""
    data = path.read_bytes()
    hint = "delete it to train from the start, or re-run without --resume"
    try:
        tensors = st_load(data)
        header_len = int.from_bytes(data[:8], "little")
        meta = json.loads(data[8 : 8 + header_len]).get("__metadata__") or {}
    except (SafetensorError, ValueError, OSError) as exc:
        raise HeadstartError(f"{path}: not a headstart checkpoint ({type(exc).__name__}); {hint}") from None
    if meta.get("format") != FORMAT or "state" not in meta:
        raise HeadstartError(f"{path}: not a headstart checkpoint (format {meta.get('format')!r}); {hint}")
    try:
        state = _decode(json.loads(meta["state"]), tensors)
    except (KeyError, ValueError, TypeError) as exc:
        raise HeadstartError(f"{path}: damaged checkpoint state ({type(exc).__name__}); {hint}") from None
    if not isinstance(state, dict):
        raise HeadstartError(f"{path}: damaged checkpoint state; {hint}")
    return state
