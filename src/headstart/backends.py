"""ONNX Runtime execution backend for an :class:`~headstart.backbones.Encoder` (fast CPU feature extraction).

The encoder's forward (image: ``pixel_values -> pooled embedding``; text: ``input_ids, attention_mask ->
pooled (normalised) embedding``) is exported once with the TorchScript-based ``torch.onnx.export`` and cached
under ``$HEADSTART_CACHE/onnx/<name>-<key>.onnx``, where the key hashes the weights sha256, the
preprocessing id, a fingerprint of the parameters actually in memory, the opset and the precision. On the
first use in each process the ONNX graph is checked against torch on a few real items (cosine and max abs
difference); the marker next to the file records the result with the graph's own sha256 and the weights
sha256 it was exported from. A graph whose bytes no longer match its marker, or that disagrees with torch
although it passed before, is deleted and exported again; a graph that fails on a fresh export makes
extraction fall back to torch with a warning.

Preprocessing (decode/resize/normalise, tokenization) stays in Python; only the network runs in ORT. Text is
tokenized once for all items, sorted by token count and padded per batch, which wastes no work on padding.
Sessions use ``intra_op_num_threads`` = the usable cores, all graph optimizations and sequential execution.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import warnings
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from headstart.backend_choice import (
    BACKENDS,
    IMAGE_DEFAULT_PRECISION,
    PRECISION_OF_BACKEND,
    TEXT_DEFAULT_PRECISION,
    default_precision,
    onnx_available,
    resolve_backend,
    resolve_precision,
    usable_cores,
)
from headstart.io import atomic_write_bytes, atomic_write_json, sha256_file

__all__ = [
    "BACKENDS",
    "DEFAULT_OPSET",
    "IMAGE_DEFAULT_PRECISION",
    "PARITY_MAX_ABS",
    "PARITY_MIN_COSINE",
    "PRECISION_OF_BACKEND",
    "TEXT_DEFAULT_PRECISION",
    "EncoderGraph",
    "OnnxEncoder",
    "default_precision",
    "export_module",
    "get_onnx_encoder",
    "make_session",
    "onnx_available",
    "onnx_model_path",
    "resolve_backend",
    "resolve_precision",
    "usable_cores",
]

DEFAULT_OPSET = 17
PARITY_MIN_COSINE = 0.9999  # fp32 graph vs torch on real items
PARITY_MAX_ABS = 1e-3
# sanity floors for the quantized graphs vs torch on the sample items (agreement is measured downstream);
# static int8 of a CNN measured min cosine 0.89-0.90 on builtin:digits at the same probe accuracy
INT8_MIN_COSINE = {"text": 0.98, "image": 0.85}


def make_session(model: str | Path | bytes, *, threads: int | None = None) -> Any:
    """An ORT CPU session: intra-op threads = usable cores, all graph optimizations, sequential execution."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads or usable_cores()
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    src = model if isinstance(model, bytes) else str(model)
    return ort.InferenceSession(src, sess_options=opts, providers=["CPUExecutionProvider"])


class EncoderGraph(nn.Module):
    """The exportable forward of an encoder: positional tensor inputs -> pooled embeddings ``[B, D]``."""

    def __init__(self, encoder: nn.Module) -> None:
        super().__init__()
        self.encoder = encoder
        self.modality = str(encoder.spec.modality)  # type: ignore[union-attr]

    @property
    def input_names(self) -> list[str]:
        return ["pixel_values"] if self.modality == "image" else ["input_ids", "attention_mask"]

    def forward(self, *inputs: Tensor) -> Tensor:
        if self.modality == "image":
            return self.encoder.forward_features(inputs[0])  # type: ignore[operator,no-any-return]
        return self.encoder({"input_ids": inputs[0], "attention_mask": inputs[1]})  # type: ignore[no-any-return]


def _dynamic_axes(input_names: Sequence[str], output_name: str) -> dict[str, dict[int, str]]:
    axes: dict[str, dict[int, str]] = {}
    for name in input_names:
        axes[name] = {0: "batch", 1: "tokens"} if name in ("input_ids", "attention_mask") else {0: "batch"}
    axes[output_name] = {0: "batch"}
    return axes


@contextlib.contextmanager
def _eval_mode(module: nn.Module) -> Iterator[None]:
    """Eval mode for the export, then restore every submodule's own mode (the exporter would otherwise
    propagate the wrapper's mode to the whole tree)."""
    modes = {m: m.training for m in module.modules()}
    module.eval()
    try:
        yield
    finally:
        for m, mode in modes.items():
            m.training = mode


def export_module(
    module: nn.Module,
    example: Sequence[Tensor],
    path: Path,
    *,
    input_names: Sequence[str],
    output_name: str,
    opset: int = DEFAULT_OPSET,
) -> None:
    """Export ``module(*example)`` to ``path`` (atomically), batch (and token) axes dynamic."""
    import io

    buf = io.BytesIO()
    with _eval_mode(module), warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            tuple(example),
            buf,
            dynamo=False,
            input_names=list(input_names),
            output_names=[output_name],
            dynamic_axes=_dynamic_axes(input_names, output_name),
            opset_version=opset,
            do_constant_folding=True,
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, buf.getvalue())


def param_fingerprint(module: nn.Module) -> str:
    """Cheap fingerprint of the tensors in memory (guards the cache against weights changed after loading)."""
    h = hashlib.sha256()
    with torch.no_grad():
        for name, t in module.state_dict().items():
            v = t.detach().double()
            h.update(f"{name}:{tuple(t.shape)}:{float(v.sum()):.10e}:{float(v.abs().sum()):.10e}".encode())
    return h.hexdigest()[:16]


def onnx_model_path(
    encoder: Any, *, opset: int = DEFAULT_OPSET, precision: str = "fp32", root: Path | None = None
) -> Path:
    from headstart.io import cache_root

    key = "|".join(
        [str(encoder.weights_sha256), encoder.preprocessing_id, param_fingerprint(encoder), f"opset{opset}", "fp32"]
    )
    digest = hashlib.sha256(key.encode()).hexdigest()[:24]
    suffix = "" if precision == "fp32" else f".{precision}"
    if precision == "int8" and encoder.spec.modality == "image":  # static: the calibration set is in the key
        from headstart.export.quantize_static import calibration_id

        suffix = f".int8s-{calibration_id()}"
    safe = encoder.spec.name.replace("/", "_").replace(":", "_")
    return (root or cache_root()) / "onnx" / f"{safe}-{digest}{suffix}.onnx"


def _cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    na = np.linalg.norm(a, axis=1)
    nb = np.linalg.norm(b, axis=1)
    return (a * b).sum(1) / np.maximum(na * nb, 1e-12)


@dataclass
class Parity:
    ok: bool
    min_cosine: float
    max_abs: float
    n_items: int
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class OnnxEncoder:
    """Runs an encoder's exported graph in ONNX Runtime: raw items -> embeddings ``[N, D]`` (float32)."""

    def __init__(self, encoder: Any, path: Path, precision: str = "fp32", threads: int | None = None) -> None:
        self.encoder = encoder
        self.path = path
        self.precision = precision
        self.modality = str(encoder.spec.modality)
        self.session = make_session(path, threads=threads)

    @property
    def backend_id(self) -> str:
        """Names the numerics of this backend (part of the embedding-cache namespace)."""
        return f"onnx-{self.precision}"

    def _run(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        out = self.session.run(None, feeds)[0]
        return np.asarray(out, dtype=np.float32)

    def embed(
        self, items: Sequence[Any], *, batch_size: int = 64, progress: bool = False, desc: str = ""
    ) -> np.ndarray:
        from headstart.progress import progress_bar

        n = len(items)
        out = np.zeros((n, self.encoder.embed_dim), dtype=np.float32)
        if n == 0:
            return out
        if self.modality == "image":
            batches = [np.arange(i, min(n, i + batch_size)) for i in range(0, n, batch_size)]
            for idx, pix in progress_bar(
                _prefetched(batches, lambda idx: self._pixels([items[i] for i in idx])),
                total=len(batches),
                desc=desc or "embedding (onnx)",
                enabled=progress,
            ):
                out[idx] = self._run({"pixel_values": pix})
            return out
        ids, lengths = self._tokenize(items)
        order = np.argsort(lengths, kind="stable")
        batches = [order[i : i + batch_size] for i in range(0, n, batch_size)]
        for idx in progress_bar(batches, desc=desc or "embedding (onnx)", enabled=progress):
            width = max(1, int(lengths[idx].max()))
            input_ids = np.full((len(idx), width), self._pad_id, dtype=np.int64)
            mask = np.zeros((len(idx), width), dtype=np.int64)
            for r, i in enumerate(idx):
                input_ids[r, : lengths[i]] = ids[i]
                mask[r, : lengths[i]] = 1
            out[idx] = self._run({"input_ids": input_ids, "attention_mask": mask})
        return out

    def _pixels(self, batch: Sequence[Any]) -> np.ndarray:
        return self.encoder.prepare(batch)["pixel_values"].numpy()  # type: ignore[no-any-return]

    @property
    def _pad_id(self) -> int:
        pad = getattr(self.encoder.tokenizer, "pad_token_id", None)
        return int(pad) if pad is not None else 0

    def _tokenize(self, items: Sequence[Any]) -> tuple[list[list[int]], np.ndarray]:
        from headstart.errors import HeadstartError

        texts = list(items)
        for i, t in enumerate(texts):
            if not isinstance(t, str):
                raise HeadstartError(f"text item {i}: expected a string, got {type(t).__name__}")
        enc = self.encoder.tokenizer(texts, truncation=True, max_length=self.encoder.max_length, padding=False)
        ids = [list(x) for x in enc["input_ids"]]
        return ids, np.array([len(x) for x in ids], dtype=np.int64)


def _prefetched(
    batches: Sequence[np.ndarray], load: Callable[[np.ndarray], np.ndarray]
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """``(idx, load(idx))`` for each batch, loading the next batch in a worker thread while the caller runs
    the current one: decoding and resizing (PIL, numpy and torch release the GIL) overlap ONNX Runtime's
    forward pass instead of waiting for it. An error in ``load`` is raised for the batch it belongs to."""
    if len(batches) <= 1:
        for idx in batches:
            yield idx, load(idx)
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="headstart-prefetch") as pool:
        pending = pool.submit(load, batches[0])
        for k, idx in enumerate(batches):
            ready = pending.result()
            if k + 1 < len(batches):
                pending = pool.submit(load, batches[k + 1])
            yield idx, ready


def _torch_embed(encoder: Any, items: Sequence[Any]) -> np.ndarray:
    with _eval_mode(encoder), torch.inference_mode():
        return encoder(encoder.prepare(list(items))).float().cpu().numpy()  # type: ignore[no-any-return]


def check_parity(
    runner: OnnxEncoder,
    items: Sequence[Any],
    *,
    min_cosine: float = PARITY_MIN_COSINE,
    max_abs: float | None = PARITY_MAX_ABS,
) -> Parity:
    """ORT vs torch embeddings of ``items`` (a few real ones)."""
    ref = _torch_embed(runner.encoder, items)
    got = runner.embed(items, batch_size=max(1, len(items)))
    cos = float(_cosine_rows(ref, got).min()) if len(items) else 1.0
    mad = float(np.abs(ref - got).max()) if len(items) else 0.0
    ok = bool(np.isfinite(got).all() and cos >= min_cosine and (max_abs is None or mad <= max_abs))
    reason = "" if ok else f"min cosine {cos:.6f} (need >= {min_cosine}), max abs diff {mad:.2e}"
    return Parity(ok, cos, mad, len(items), reason)


def _example_inputs(encoder: Any, items: Sequence[Any]) -> list[Tensor]:
    batch = encoder.prepare(list(items[:2]))
    if encoder.spec.modality == "image":
        return [batch["pixel_values"]]
    return [batch["input_ids"], batch["attention_mask"]]


_SESSIONS: dict[tuple[str, int | None], OnnxEncoder] = {}


def _warn(msg: str) -> None:
    warnings.warn(msg, RuntimeWarning, stacklevel=3)


def _read_marker(marker: Path) -> dict[str, Any] | None:
    try:
        info = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # absent or damaged: the graph is checked again
    return info if isinstance(info, dict) else None


def _forget(*paths: Path) -> None:
    for p in paths:
        p.unlink(missing_ok=True)
        p.with_suffix(".parity.json").unlink(missing_ok=True)
    _SESSIONS.clear()


def _build_runner(
    encoder: Any,
    sample_items: Sequence[Any],
    fp32: Path,
    path: Path,
    precision: str,
    opset: int,
    threads: int | None,
    marker: Path,
) -> OnnxEncoder | None:
    """Export (and quantize) the graph if it is not cached, then open an ORT session on it."""
    try:
        if not fp32.exists():
            graph = EncoderGraph(encoder)
            export_module(
                graph,
                _example_inputs(encoder, sample_items),
                fp32,
                input_names=graph.input_names,
                output_name="embedding",
                opset=opset,
            )
        if precision == "int8" and not path.exists():
            from headstart.quantized_graphs import build_int8

            build_int8(encoder, fp32, path)
        elif precision not in ("fp32", "int8"):
            raise ValueError(f"unknown precision {precision!r}")
        return OnnxEncoder(encoder, path, precision, threads=threads)
    except ImportError as exc:  # a missing optional package: not a property of this graph, no marker
        _warn(f"ONNX backend unavailable for {encoder.spec.name} ({exc}); using torch for extraction")
        return None
    except Exception as exc:  # any exporter/runtime failure: torch still works
        atomic_write_json(marker, {"ok": False, "reason": f"{type(exc).__name__}: {exc}"[:500]})
        _warn(f"ONNX export of {encoder.spec.name} failed ({type(exc).__name__}); using torch for extraction")
        return None


def get_onnx_encoder(
    encoder: Any,
    sample_items: Sequence[Any],
    *,
    precision: str = "fp32",
    opset: int = DEFAULT_OPSET,
    threads: int | None = None,
    root: Path | None = None,
) -> OnnxEncoder | None:
    """The cached ORT runner for ``encoder`` (exported and parity-checked on ``sample_items`` the first time).

    Returns None, with a warning, when the export or the parity check fails (the caller falls back to torch).
    ``precision="int8"`` dynamically quantizes the fp32 graph (weights int8, activations quantized per batch).
    """
    fp32 = onnx_model_path(encoder, opset=opset, root=root)
    path = fp32 if precision == "fp32" else onnx_model_path(encoder, opset=opset, precision=precision, root=root)
    cached = _SESSIONS.get((str(path), threads))
    if cached is not None:  # same file name = same weights, preprocessing and precision
        if cached.encoder is not encoder:  # share the session, but bind this caller's module: the first
            cached = copy.copy(cached)  # caller's may have been trained in place since (fine-tuning)
            cached.encoder = encoder
        return cached
    marker = path.with_suffix(".parity.json")
    info = _read_marker(marker)
    if info is not None and not info.get("ok", True):
        return None  # failed before: already warned then; torch is used
    if info is not None and path.exists() and info.get("graph_sha256") != sha256_file(path):
        _warn(f"cached ONNX graph {path} is not the graph that passed the parity check (sha256 differs); re-exporting")
        _forget(fp32, path)
        info = None
    if precision != "fp32" and path.exists() and (info is None or info.get("source_sha256") != _sha_or_none(fp32)):
        # a quantized graph is trusted only with a marker naming its own sha256 and that of the fp32 graph it
        # was built from; anything else (no marker, another source graph) is rebuilt
        _warn(f"cached quantized graph {path} has no matching record of how it was built; rebuilding it")
        _forget(path)
        info = None
    for attempt in (1, 2):
        runner = _build_runner(encoder, sample_items, fp32, path, precision, opset, threads, marker)
        if runner is None:
            return None
        # checked in every process, not only at export: a graph edited with its marker is still caught
        parity = check_parity(
            runner,
            list(sample_items[:8]),
            min_cosine=PARITY_MIN_COSINE if precision == "fp32" else INT8_MIN_COSINE[runner.modality],
            max_abs=PARITY_MAX_ABS if precision == "fp32" else None,
        )
        if parity.ok or info is None or attempt == 2:
            break
        _warn(f"cached ONNX graph {path} disagrees with torch ({parity.reason}); re-exporting it")
        _forget(fp32, path)
        info = None
    graph = {"graph_sha256": sha256_file(path), "weights_sha256": str(encoder.weights_sha256)}
    if precision != "fp32":
        graph["source_sha256"] = sha256_file(fp32)
    atomic_write_json(marker, {"precision": precision, **graph, **parity.to_dict()})
    if not parity.ok:
        _warn(f"ONNX graph of {encoder.spec.name} disagrees with torch ({parity.reason}); using torch")
        return None
    _SESSIONS[(str(path), threads)] = runner
    return runner


def _sha_or_none(path: Path) -> str | None:
    return sha256_file(path) if path.exists() else None
