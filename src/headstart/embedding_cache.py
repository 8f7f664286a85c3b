"""The on-disk embedding cache: append-only, checksummed shards of ``item key -> embedding``, one folder per
(weights sha256, preprocessing, backend).

Trust: every shard is named by the sha256 of its bytes (``emb-<sha256>.npz``) and read with
``allow_pickle=False``; a shard whose bytes do not match its name, whose arrays have the wrong shape, dtype
or dimension, or that holds non-finite values is deleted with a warning and its items are recomputed. That
catches damage; a crafted shard with a matching name but wrong vectors is caught by ``spot_check`` (the
caller re-embeds one cached item per shard and drops shards that disagree).

Seals: a shard this user's headstart wrote (``put``, or a compaction of sealed shards only) gets a sidecar
``emb-<sha256>.mac``: HMAC-SHA256 over the cache folder name and the shard name, with a key kept outside the
cache (:mod:`headstart.sealed`). A shard whose seal verifies was written by a holder of that key and
needs no spot check, so a second fit on cached embeddings loads no backbone; a shard without a valid seal
(written by someone else, copied from another folder, or with a seal of another shard) is spot-checked.

Concurrency: new shards get unique names and are written atomically, so writers never collide;
compaction (merging shards once there are more than ``MAX_SHARDS``) runs under an exclusive ``fcntl`` lock
on ``<folder>/.lock``, re-reads the shards from disk inside the lock and deletes only the shards it merged,
so entries another process wrote meanwhile are never lost.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from headstart.io import atomic_write_bytes, atomic_write_text
from headstart.sealed import sign, verify

__all__ = ["MAX_SHARDS", "EmbeddingCache", "relative_error"]

MAX_SHARDS = 32
SHARD_GLOB = "emb-*.npz"
KEY_BYTES = 16
SPOT_CHECK_TOLERANCE = 0.02  # relative L2 error between a cached and a recomputed embedding


@contextlib.contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    """An exclusive advisory lock held across processes (no-op where fcntl is missing)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def relative_error(cached: np.ndarray, fresh: np.ndarray) -> float:
    return float(np.linalg.norm(cached - fresh) / max(float(np.linalg.norm(fresh)), 1e-6))


def _key_array(keys: Sequence[bytes]) -> np.ndarray:
    """Keys as a ``[N, 16]`` uint8 array (numpy's ``S16`` would silently drop trailing NUL bytes)."""
    return np.frombuffer(b"".join(keys), dtype=np.uint8).reshape(len(keys), KEY_BYTES)


def _shard_bytes(keys: Sequence[bytes], emb: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, keys=_key_array(keys), emb=np.ascontiguousarray(emb, dtype=np.float32))
    return buf.getvalue()


class EmbeddingCache:
    """Append-only shard store of ``key -> embedding`` (float32, ``dim`` wide) for one encoder namespace."""

    def __init__(self, folder: Path, dim: int | None = None) -> None:
        self.folder = folder
        self.dim = dim
        self._index: dict[bytes, np.ndarray] | None = None
        self._shard_of: dict[bytes, str] = {}
        self._sealed: set[str] = set()

    def _seal(self, shard: Path) -> None:  # the shard name holds its content hash: sealing the name seals the bytes
        seal = sign(f"{self.folder.name}/{shard.name}")
        if seal is not None:
            atomic_write_text(shard.with_suffix(".mac"), seal)
            self._sealed.add(shard.name)

    def _verify(self, shard: Path) -> bool:
        try:
            return verify(f"{self.folder.name}/{shard.name}", shard.with_suffix(".mac").read_text())
        except (OSError, UnicodeDecodeError):
            return False

    def is_sealed(self, name: str) -> bool:
        """Whether shard ``name`` carries this user's valid seal (written by this user's headstart)."""
        self._load()
        return name in self._sealed

    def _read_shard(self, shard: Path) -> tuple[np.ndarray, np.ndarray] | None:
        """(keys, emb) of a valid shard; None (after deleting it, with a warning) for a damaged one."""
        try:
            data = shard.read_bytes()
        except FileNotFoundError:  # compacted away by another process meanwhile
            return None
        problem = ""
        if hashlib.sha256(data).hexdigest()[:32] != shard.stem.removeprefix("emb-"):
            problem = "its bytes do not match the checksum in its name"
        else:
            try:
                with np.load(io.BytesIO(data), allow_pickle=False) as z:
                    keys, emb = z["keys"], z["emb"]
            except Exception as exc:  # a foreign or damaged file
                problem = f"unreadable ({type(exc).__name__})"
            else:
                if keys.dtype != np.uint8 or keys.ndim != 2 or keys.shape[1] != KEY_BYTES:
                    problem = f"keys of shape {keys.shape} and dtype {keys.dtype}"
                elif emb.dtype != np.float32 or emb.ndim != 2 or len(emb) != len(keys):
                    problem = f"embeddings of shape {emb.shape} and dtype {emb.dtype} for {len(keys)} keys"
                elif self.dim is not None and emb.shape[1] != self.dim:
                    problem = f"{emb.shape[1]}-dim embeddings where the encoder gives {self.dim}"
                elif not np.isfinite(emb).all():
                    problem = "non-finite embeddings"
        if problem:
            self._discard(shard, problem)
            return None
        return keys, emb

    def _discard(self, shard: Path, why: str) -> None:
        warnings.warn(
            f"embedding cache shard {shard} is damaged ({why}); deleted, its items will be recomputed",
            RuntimeWarning,
            stacklevel=4,
        )
        shard.unlink(missing_ok=True)

    def _load(self) -> dict[bytes, np.ndarray]:
        if self._index is None:
            self._index = {}
            for shard in sorted(self.folder.glob(SHARD_GLOB)) if self.folder.exists() else []:
                read = self._read_shard(shard)
                if read is None:
                    continue
                if self._verify(shard):
                    self._sealed.add(shard.name)
                for k, e in zip((k.tobytes() for k in read[0]), read[1], strict=True):
                    self._index[k] = e
                    self._shard_of[k] = shard.name
        return self._index

    def get(self, keys: Sequence[bytes]) -> list[np.ndarray | None]:
        index = self._load()
        return [index.get(k) for k in keys]

    def shard_of(self, key: bytes) -> str | None:
        """The shard file a cached key was read from (None for keys put by this process)."""
        self._load()
        return self._shard_of.get(key)

    def drop_shard(self, name: str, why: str) -> None:
        """Forget and delete a shard whose vectors failed a spot check."""
        self._discard(self.folder / name, why)
        index = self._load()
        for k in [k for k, s in self._shard_of.items() if s == name]:
            index.pop(k, None)
            del self._shard_of[k]

    def put(self, keys: Sequence[bytes], emb: np.ndarray) -> None:
        if not len(keys):
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        self._seal(self._write(keys, emb))
        index = self._load()
        for k, e in zip(keys, emb, strict=True):
            index[k] = e
            self._shard_of.pop(k, None)
        if len(list(self.folder.glob(SHARD_GLOB))) > MAX_SHARDS:
            self.compact()

    def _write(self, keys: Sequence[bytes], emb: np.ndarray) -> Path:
        data = _shard_bytes(keys, emb)
        return atomic_write_bytes(self.folder / f"emb-{hashlib.sha256(data).hexdigest()[:32]}.npz", data)

    def compact(self) -> None:
        """Merge every shard on disk into one, under the folder's lock (safe with concurrent writers)."""
        with _exclusive(self.folder / ".lock"):
            shards = sorted(self.folder.glob(SHARD_GLOB))
            if len(shards) <= 1:
                return
            merged: dict[bytes, np.ndarray] = {}
            all_sealed = True
            for shard in shards:
                read = self._read_shard(shard)
                if read is not None:
                    merged.update(zip((k.tobytes() for k in read[0]), read[1], strict=True))
                    all_sealed = all_sealed and self._verify(shard)
            if not merged:
                return
            keys = list(merged)
            new = self._write(keys, np.stack([merged[k] for k in keys]))
            if all_sealed:  # never seal vectors that came from an unsealed (unverified) shard
                self._seal(new)
            for shard in shards:
                if shard != new:
                    shard.unlink(missing_ok=True)
                    shard.with_suffix(".mac").unlink(missing_ok=True)
        self._index, self._shard_of, self._sealed = None, {}, set()
