"""What ``export/export.json`` measures: the exported graph run on raw items, and its speed against torch.

:func:`ort_proba` runs an ONNX Runtime session on raw items through the preprocessing contract (the parity
check compares it with the torch model within :data:`PARITY_TOLERANCE`; ``predict --onnx`` serves with it), and
``_speed`` times torch vs ORT fp32 vs ORT int8 on the same prepared inputs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from headstart.export.contract import prepare_inputs
from headstart.export.plans import ExportPlan

__all__ = ["PARITY_TOLERANCE", "ort_proba"]

PARITY_TOLERANCE = 1e-4  # max abs probability difference accepted as "parity"


def _run_batches(session: Any, inputs: dict[str, np.ndarray], batch_size: int) -> np.ndarray:
    n = len(next(iter(inputs.values())))
    outs = [
        session.run(None, {k: v[i : i + batch_size] for k, v in inputs.items()})[0] for i in range(0, n, batch_size)
    ]
    return np.concatenate(outs).astype(np.float32) if outs else np.zeros((0, 0), np.float32)


def ort_proba(
    session: Any, contract: dict[str, Any], items: Sequence[Any], *, tokenizer: Any = None, batch_size: int = 64
) -> np.ndarray:
    """The exported graph's output on raw items (text in token-length-sorted batches): probabilities, or a
    regression graph's values ``[N, 1]``."""
    n = len(items)
    if contract["modality"] == "text":
        lengths = np.array([len(t) for t in items])
        order = np.argsort(lengths, kind="stable")
        out: np.ndarray | None = None
        for s in range(0, n, batch_size):
            idx = order[s : s + batch_size]
            feeds = prepare_inputs(contract, [items[i] for i in idx], tokenizer=tokenizer)
            p = session.run(None, feeds)[0]
            if out is None:  # float32 probabilities; a table regressor's values stay float64
                out = np.zeros((n, p.shape[1]), dtype=p.dtype)
            out[idx] = p
        return out if out is not None else np.zeros((0, max(1, len(contract["classes"]))), np.float32)
    outs = []
    for s in range(0, n, batch_size):
        feeds = prepare_inputs(contract, list(items[s : s + batch_size]), tokenizer=tokenizer)
        outs.append(session.run(None, feeds)[0])
    return np.concatenate(outs) if outs else np.zeros((0, max(1, len(contract["classes"]))), np.float32)


def _time(fn: Callable[[], Any], repeat: int) -> float:
    fn()  # warm-up
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _speed(
    plan: ExportPlan, sessions: dict[str, Any], inputs: dict[str, np.ndarray], *, batch_size: int, repeat: int
) -> dict[str, Any]:
    """Graph-only speed (same prepared inputs for all): throughput at ``batch_size``, latency at batch 1."""
    names = plan.input_names
    n = len(inputs[names[0]])
    one = {k: v[:1] for k, v in inputs.items()}
    tensors = {k: torch.from_numpy(v) for k, v in inputs.items()}
    module = plan.module.eval()

    def torch_run(feed: dict[str, Tensor]) -> None:
        with torch.inference_mode():
            for i in range(0, len(feed[names[0]]), batch_size):
                module(*[feed[k][i : i + batch_size] for k in names])

    rows: dict[str, Any] = {}
    t_all = _time(lambda: torch_run(tensors), repeat)
    t_one = _time(lambda: torch_run({k: torch.from_numpy(v) for k, v in one.items()}), max(3, repeat * 3))
    rows["torch"] = {"items_per_s": n / t_all, "latency_ms": 1000 * t_one}
    for name, sess in sessions.items():
        t_all = _time(lambda s=sess: _run_batches(s, inputs, batch_size), repeat)
        t_one = _time(lambda s=sess: s.run(None, one), max(3, repeat * 3))
        rows[name] = {"items_per_s": n / t_all, "latency_ms": 1000 * t_one}
    base = rows["torch"]["items_per_s"]
    for r in rows.values():
        r["throughput_ratio_vs_torch"] = r["items_per_s"] / base
    return {
        "n_items": n,
        "batch_size": batch_size,
        "torch_threads": torch.get_num_threads(),
        "timed": "network only, on the same preprocessed inputs; best of repeats; latency = batch of 1",
        **rows,
    }
