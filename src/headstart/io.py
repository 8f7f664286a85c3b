"""Atomic file and directory writes, and streaming file hashes."""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = [
    "atomic_dir",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_npz",
    "atomic_write_text",
    "json_safe",
    "sha256_file",
]


def _fsync_dir(folder: Path) -> None:
    """Best effort: persist a rename on POSIX file systems."""
    if os.name != "posix":
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temp file in the same folder and ``os.replace``."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}.tmp")
    # os.open with 0o666 honours the umask (mkstemp would leave the file 0600).
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_dir(target.parent)
    return target


def atomic_write_text(path: str | os.PathLike[str], text: str, encoding: str = "utf-8") -> Path:
    """Atomically write ``text`` (encoded with ``encoding``)."""
    return atomic_write_bytes(path, text.encode(encoding))


def _json_default(obj: Any) -> Any:
    """Serialise the numpy scalars/arrays and paths that results often hold."""
    if hasattr(obj, "tolist") and callable(obj.tolist):  # numpy arrays and numpy scalars
        return obj.tolist()
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if isinstance(obj, set | frozenset):
        return sorted(obj)
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


def json_safe(obj: Any) -> Any:
    """``obj`` with every non-finite float (NaN, +-Infinity, also inside numpy values) replaced by None.

    Python's json writes bare ``NaN``/``Infinity``, which is not JSON: other languages' parsers reject it.
    """
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [json_safe(v) for v in obj]
    if isinstance(obj, str | int | bool) or obj is None:
        return obj
    try:
        converted = _json_default(obj)
    except TypeError:
        return obj
    return json_safe(converted)


def atomic_write_json(path: str | os.PathLike[str], obj: Any, *, indent: int | None = 2) -> Path:
    """Atomically write ``obj`` as UTF-8 JSON (numpy values and paths are converted; NaN/Infinity -> null)."""
    text = json.dumps(json_safe(obj), indent=indent, ensure_ascii=False, default=_json_default, allow_nan=False)
    return atomic_write_text(path, text + "\n")


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temp sibling folder; on success it replaces ``path``, on failure it is removed.

    An existing ``path`` is only removed once the new folder is complete, so readers see either the old or
    the new folder, never a half-written one.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    token = uuid.uuid4().hex[:12]
    tmp = target.with_name(f".{target.name}.{token}.tmp")
    tmp.mkdir()
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old: Path | None = None
    if target.exists() or target.is_symlink():
        old = target.with_name(f".{target.name}.{token}.old")
        os.replace(target, old)
    try:
        os.replace(tmp, target)
    except BaseException:
        if old is not None:
            os.replace(old, target)
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _fsync_dir(target.parent)
    if old is not None:
        if old.is_dir() and not old.is_symlink():
            shutil.rmtree(old, ignore_errors=True)
        else:
            old.unlink(missing_ok=True)


def sha256_file(path: str | os.PathLike[str], *, chunk_size: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk_size):
            digest.update(block)
    return digest.hexdigest()


def atomic_write_npz(path: str | os.PathLike[str], **arrays: Any) -> Path:
    """``numpy.savez`` of ``arrays`` to ``path``, written atomically."""
    import io

    import numpy as np

    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return atomic_write_bytes(path, buf.getvalue())


def cache_root() -> Path:
    """Where headstart keeps its caches (embeddings, ONNX graphs, baselines, heads): ``$HEADSTART_CACHE``."""
    return Path(os.environ.get("HEADSTART_CACHE", Path.home() / ".cache" / "headstart"))
