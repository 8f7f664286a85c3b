"""Batched feature extraction with a per-item, content-addressed embedding cache on disk.

The cache lives under ``$HEADSTART_CACHE`` (default ``~/.cache/headstart``) in one folder per
(weights sha256, preprocessing) pair. Each item is keyed by the hash of its content (text bytes, image file
bytes, or array bytes), so a second run on the same data, a different label budget or another strategy only
embeds what it has not seen. Shards are written atomically and checksummed (see
:mod:`headstart.embedding_cache`); before cached vectors are used, one item per shard is re-embedded and a
shard that disagrees is dropped and recomputed, so a damaged or crafted cache never changes results.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from headstart.embedding_cache import SPOT_CHECK_TOLERANCE, EmbeddingCache, relative_error
from headstart.io import cache_root
from headstart.progress import progress_bar

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


def cache_for(encoder: Any, root: Path | None = None, backend: str = "torch") -> EmbeddingCache | None:
    """The cache folder of one (weights sha256, preprocessing, backend); None for unpinned weights."""
    sha = getattr(encoder, "weights_sha256", None)
    if not sha:  # random init or unpinned weights: nothing stable to key on
        return None
    # the backend is part of the namespace so ONNX Runtime and torch numerics never mix
    key = f"{sha}|{encoder.preprocessing_id}" + ("" if backend == "torch" else f"|{backend}")
    ns = hashlib.sha256(key.encode()).hexdigest()[:24]
    return EmbeddingCache((root or cache_root()) / "embeddings" / f"{encoder.spec.name}-{ns}", encoder.embed_dim)


def spot_check(
    store: EmbeddingCache,
    keys: Sequence[bytes],
    found: list[np.ndarray | None],
    items: Sequence[Any],
    run: Callable[[Sequence[Any], str], np.ndarray],
) -> list[np.ndarray | None]:
    """Re-embed one cached item per unsealed shard; drop every shard whose vector disagrees (its hits become
    misses). Shards sealed by this user (:class:`headstart.embedding_cache.EmbeddingCache`) are not re-checked."""
    probe: dict[str, int] = {}
    for i, f in enumerate(found):
        shard = store.shard_of(keys[i]) if f is not None else None
        if shard is not None and not store.is_sealed(shard):
            probe.setdefault(shard, i)
    if not probe:
        return found
    fresh = run([items[i] for i in probe.values()], "checking cached embeddings")
    bad = set()
    for (shard, i), vec in zip(probe.items(), fresh, strict=True):
        err = relative_error(np.asarray(found[i]), vec)
        if not err <= SPOT_CHECK_TOLERANCE:
            store.drop_shard(shard, f"a cached vector differs from a fresh one by {err:.2f} (relative)")
            bad.add(shard)
    if not bad:
        return found
    return store.get(keys)


def _needs_encoder(store: EmbeddingCache, keys: Sequence[bytes], found: list[np.ndarray | None]) -> bool:
    """Whether some item is missing or sits in an unsealed shard (to spot-check): only then is the backbone
    (or its ONNX graph) needed."""
    for k, f in zip(keys, found, strict=True):
        if f is None:
            return True
        shard = store.shard_of(k)
        if shard is not None and not store.is_sealed(shard):
            return True
    return False


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
    autocast: torch.dtype | None = None,
) -> np.ndarray:
    """Embed ``items`` with ``encoder`` under inference mode (texts in length-sorted batches).

    ``autocast=torch.bfloat16`` runs the matmuls in bf16 (``--backend torch-bf16``); outputs stay float32.
    """
    dev = torch.device(device)
    encoder.to(dev).eval()
    order = _length_order(items, encoder.spec.modality)
    out = np.zeros((len(items), encoder.embed_dim), dtype=np.float32)
    batches = [order[i : i + batch_size] for i in range(0, len(items), batch_size)]
    mixed = torch.autocast(dev.type, dtype=autocast) if autocast is not None else contextlib.nullcontext()
    with torch.inference_mode(), mixed:
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

    ``backend``: ``"torch"``, ``"onnx"`` (ONNX Runtime, see :mod:`headstart.backends`; ``"onnx-fp32"`` /
    ``"onnx-int8"`` name the precision, int8 being opt-in) or ``"auto"`` (ONNX
    Runtime on the CPU when it is installed and the weights are pinned; torch otherwise, or if the export
    fails its parity check). ``HEADSTART_BACKEND=torch`` turns auto into torch, ``=onnx-int8`` into int8.
    """
    from headstart.backends import get_onnx_encoder, resolve_backend, resolve_precision

    t0 = time.perf_counter()
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if isinstance(items, np.ndarray):
        items_seq: Sequence[Any] = list(items)
    else:
        items_seq = items
    n = len(items_seq)
    use_onnx = resolve_backend(encoder, backend, device) == "onnx"
    precision = resolve_precision(encoder, backend, device)
    backend_id = f"onnx-{precision}" if use_onnx else ("torch-bf16" if precision == "bf16" else "torch")
    autocast = torch.bfloat16 if backend_id == "torch-bf16" else None
    runner: Any = None

    def run(sub: Sequence[Any], desc: str) -> np.ndarray:
        if runner is not None:
            return runner.embed(sub, batch_size=batch_size, progress=progress, desc=desc)  # type: ignore[no-any-return]
        enc = _materialized(encoder)
        return embed(enc, sub, batch_size=batch_size, device=device, progress=progress, desc=desc, autocast=autocast)

    store = cache_for(encoder, cache_dir, backend=backend_id) if cache else None
    if store is None:
        encoder = _materialized(encoder)
        if use_onnx and n:
            runner = get_onnx_encoder(encoder, items_seq[:8], precision=precision)
            backend_id = runner.backend_id if runner is not None else "torch"
        emb = run(items_seq, "embedding")
        dt = time.perf_counter() - t0
        return emb, ExtractStats(n, 0, n, dt, n / max(dt, 1e-9), False, backend_id)
    keys = [item_key(it, encoder.spec.modality) for it in items_seq]
    found = store.get(keys)
    if n and use_onnx and _needs_encoder(store, keys, found):  # the runner also re-embeds spot-checked items
        encoder = _materialized(encoder)  # a lazy backbone (headstart.backbones.lazy) loads its weights here
        runner = get_onnx_encoder(encoder, items_seq[:8], precision=precision)
        if runner is None:  # export or parity failed (warned): torch, in the torch namespace
            backend_id = "torch"
            store = cache_for(encoder, cache_dir, backend=backend_id)
            assert store is not None
            found = store.get(keys)
    found = spot_check(store, keys, found, items_seq, run)
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
