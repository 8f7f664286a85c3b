"""Batched feature extraction with a per-item, content-addressed embedding cache on disk.

The cache lives under ``$HEADSTART_CACHE`` (default ``~/.cache/headstart``) in one folder per
(weights sha256, preprocessing) pair. Each item is keyed by the hash of its content (text bytes, image file
bytes, or array bytes), so a second run on the same data, a different label budget or another strategy only
embeds what it has not seen. Shards are written atomically; a crash never leaves a partial shard behind.
"""

from __future__ import annotations

import hashlib
import os
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from headstart.io import atomic_write_npz
from headstart.progress import progress_bar

MAX_SHARDS = 32
SMALL_IMAGE_SIDE = 64
SMALL_IMAGE_RESOLUTION = 96


def default_image_size(data: Any, backbone: str, image_size: int | None = None) -> int | None:
    """The input resolution every command embeds ``data`` at (so fit, rank and advise share one cache).

    ``image_size`` if given; else the backbone's native resolution, except for tiny images (<= 64 px): 96 px,
    since upsampling an 8x8 or 28x28 digit further adds compute, not information. None for text.
    """
    if data.modality != "image":
        return None
    if image_size is not None:
        return int(image_size)
    from headstart.data.images import read_image

    if max(read_image(data.items[0]).size) <= SMALL_IMAGE_SIDE:
        return SMALL_IMAGE_RESOLUTION
    if backbone.startswith(("hf:", "timm:")):
        return None
    from headstart.backbones import get_spec

    return get_spec(backbone.split(":")[0]).input_size


def cache_root() -> Path:
    return Path(os.environ.get("HEADSTART_CACHE", Path.home() / ".cache" / "headstart"))


def item_key(item: Any, modality: str) -> bytes:
    """Content hash of one raw item (text, image path, or array)."""
    h = hashlib.blake2b(digest_size=16)
    if modality == "text":
        h.update(b"t")
        h.update(item.encode("utf-8", "surrogatepass"))
    elif isinstance(item, (str, Path)):
        h.update(b"f")
        h.update(Path(item).read_bytes())
    else:
        arr = np.ascontiguousarray(item)
        h.update(b"a")
        h.update(str((arr.shape, arr.dtype.str)).encode())
        h.update(arr.tobytes())
    return h.digest()


@dataclass
class ExtractStats:
    n_items: int
    cache_hits: int
    computed: int
    seconds: float
    items_per_second: float
    cached: bool
    backend: str = "torch"  # "torch" | "onnx-fp32" | "onnx-int8": what computed the missing items

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class EmbeddingCache:
    """Append-only shard store of ``key -> embedding`` for one backbone + preprocessing."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._index: dict[bytes, np.ndarray] | None = None

    @classmethod
    def for_encoder(cls, encoder: Any, root: Path | None = None, backend: str = "torch") -> EmbeddingCache | None:
        sha = getattr(encoder, "weights_sha256", None)
        if not sha:  # random init or unpinned weights: nothing stable to key on
            return None
        # the backend is part of the namespace so ONNX Runtime and torch numerics never mix
        key = f"{sha}|{encoder.preprocessing_id}" + ("" if backend == "torch" else f"|{backend}")
        ns = hashlib.sha256(key.encode()).hexdigest()[:24]
        return cls((root or cache_root()) / "embeddings" / f"{encoder.spec.name}-{ns}")

    def _load(self) -> dict[bytes, np.ndarray]:
        if self._index is None:
            self._index = {}
            if self.folder.exists():
                for shard in sorted(self.folder.glob("shard-*.npz")):
                    try:
                        with np.load(shard) as z:
                            keys, emb = z["keys"], z["emb"]
                    except Exception:  # a foreign or damaged file: ignore it, it will be recomputed
                        continue
                    for k, e in zip(_key_bytes(keys), emb, strict=True):
                        self._index[k] = e
        return self._index

    def get(self, keys: Sequence[bytes]) -> list[np.ndarray | None]:
        index = self._load()
        return [index.get(k) for k in keys]

    def put(self, keys: Sequence[bytes], emb: np.ndarray) -> None:
        if not len(keys):
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        atomic_write_npz(
            self.folder / f"shard-{uuid.uuid4().hex}.npz", keys=_key_array(keys), emb=emb.astype(np.float32)
        )
        index = self._load()
        for k, e in zip(keys, emb, strict=True):
            index[k] = e
        if len(list(self.folder.glob("shard-*.npz"))) > MAX_SHARDS:
            self._compact()

    def _compact(self) -> None:
        index = self._load()
        old = list(self.folder.glob("shard-*.npz"))
        keys = list(index)
        atomic_write_npz(
            self.folder / f"shard-{uuid.uuid4().hex}.npz", keys=_key_array(keys), emb=np.stack([index[k] for k in keys])
        )
        for f in old:
            f.unlink(missing_ok=True)


def _key_array(keys: Sequence[bytes]) -> np.ndarray:
    """Keys as a ``[N, 16]`` uint8 array (numpy's ``S16`` would silently drop trailing NUL bytes)."""
    return np.frombuffer(b"".join(keys), dtype=np.uint8).reshape(len(keys), 16)


def _key_bytes(keys: np.ndarray) -> list[bytes]:
    if keys.dtype.kind == "S":  # shards written before keys were stored as uint8
        return [bytes(k).ljust(16, b"\x00") for k in keys]
    return [k.tobytes() for k in keys]


def _length_order(items: Sequence[Any], modality: str) -> np.ndarray:
    if modality == "text":
        return np.argsort([len(t) for t in items], kind="stable")
    return np.arange(len(items))


def embed(
    encoder: Any,
    items: Sequence[Any],
    *,
    batch_size: int = 64,
    device: str | torch.device = "cpu",
    progress: bool = True,
    desc: str = "embedding",
) -> np.ndarray:
    """Embed ``items`` with ``encoder`` under inference mode (texts in length-sorted batches)."""
    dev = torch.device(device)
    encoder.to(dev).eval()
    order = _length_order(items, encoder.spec.modality)
    out = np.zeros((len(items), encoder.embed_dim), dtype=np.float32)
    batches = [order[i : i + batch_size] for i in range(0, len(items), batch_size)]
    with torch.inference_mode():
        for idx in progress_bar(batches, desc=desc, enabled=progress):
            inputs = {k: v.to(dev) for k, v in encoder.prepare([items[i] for i in idx]).items()}
            out[idx] = encoder(inputs).float().cpu().numpy()
    return out


def _materialized(encoder: Any) -> Any:
    load = getattr(encoder, "materialize", None)
    return load() if callable(load) else encoder


def extract(
    encoder: Any,
    items: Sequence[Any],
    *,
    batch_size: int = 64,
    device: str | torch.device | None = None,
    cache: bool = True,
    cache_dir: Path | None = None,
    progress: bool = True,
    backend: str = "auto",
) -> tuple[np.ndarray, ExtractStats]:
    """Embeddings ``[N, D]`` for ``items``, computing only those missing from the cache.

    ``backend``: ``"torch"``, ``"onnx"`` (ONNX Runtime, see :mod:`headstart.backends`) or ``"auto"`` (ONNX
    Runtime on the CPU when it is installed and the weights are pinned; torch otherwise, or if the export
    fails its parity check). ``HEADSTART_BACKEND=torch`` turns auto into torch.
    """
    from headstart.backends import default_precision, get_onnx_encoder, resolve_backend

    t0 = time.perf_counter()
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if isinstance(items, np.ndarray):
        items_seq: Sequence[Any] = list(items)
    else:
        items_seq = items
    n = len(items_seq)
    use_onnx = resolve_backend(encoder, backend, device) == "onnx"
    backend_id = f"onnx-{default_precision(encoder)}" if use_onnx else "torch"
    runner: Any = None

    def run(sub: Sequence[Any], desc: str) -> np.ndarray:
        if runner is not None:
            return runner.embed(sub, batch_size=batch_size, progress=progress, desc=desc)  # type: ignore[no-any-return]
        return embed(encoder, sub, batch_size=batch_size, device=device, progress=progress, desc=desc)

    store = EmbeddingCache.for_encoder(encoder, cache_dir, backend=backend_id) if cache else None
    if store is None:
        encoder = _materialized(encoder)
        if use_onnx and n:
            runner = get_onnx_encoder(encoder, items_seq[:8], precision=default_precision(encoder))
            backend_id = runner.backend_id if runner is not None else "torch"
        emb = run(items_seq, "embedding")
        dt = time.perf_counter() - t0
        return emb, ExtractStats(n, 0, n, dt, n / max(dt, 1e-9), False, backend_id)
    keys = [item_key(it, encoder.spec.modality) for it in items_seq]
    found = store.get(keys)
    missing = [i for i, f in enumerate(found) if f is None]
    if missing:  # a lazy backbone (headstart.backbones.lazy) loads its weights only now
        encoder = _materialized(encoder)
    if missing and use_onnx:
        runner = get_onnx_encoder(encoder, [items_seq[i] for i in missing[:8]], precision=default_precision(encoder))
        if runner is None:  # export or parity failed (warned): torch, in the torch namespace
            backend_id = "torch"
            store = EmbeddingCache.for_encoder(encoder, cache_dir, backend=backend_id)
            assert store is not None
            found = store.get(keys)
            missing = [i for i, f in enumerate(found) if f is None]
    out = np.zeros((n, encoder.embed_dim), dtype=np.float32)
    for i, f in enumerate(found):
        if f is not None:
            out[i] = f
    if missing:
        new = run([items_seq[i] for i in missing], f"embedding with {encoder.spec.name}")
        out[missing] = new
        # de-duplicate keys inside the batch before storing
        uniq: dict[bytes, int] = {}
        for j, i in enumerate(missing):
            uniq.setdefault(keys[i], j)
        store.put(list(uniq), new[list(uniq.values())])
    dt = time.perf_counter() - t0
    return out, ExtractStats(n, n - len(missing), len(missing), dt, n / max(dt, 1e-9), True, backend_id)
