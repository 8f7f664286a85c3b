"""Seals for what headstart caches: an HMAC-SHA256 with a key kept outside the cache, so that a cache entry this
user's headstart wrote can be told from one somebody else planted or edited (the trust boundary: nothing read
from the cache may silently change a result).

The key lives in ``$HEADSTART_KEY_FILE``, else ``~/.config/headstart/cache.key`` (mode 0600, 32 random bytes,
created on first use). Where it cannot be kept (read-only home) nothing is sealed and every entry counts as
unsealed: callers then verify it another way or recompute it.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import hmac
import os
from pathlib import Path

from headstart.io import atomic_write_bytes, atomic_write_text

__all__ = ["cache_secret", "read_sealed", "sign", "verify", "write_sealed"]

SEAL_SUFFIX = ".mac"


@functools.cache
def _secret_at(path: Path) -> bytes | None:
    return _load_or_create(path)


def cache_secret() -> bytes | None:
    """This user's key for sealing cache entries it wrote itself (HMAC-SHA256), or None where none can be kept.

    Kept OUTSIDE the cache (``$HEADSTART_KEY_FILE``, else ``~/.config/headstart/cache.key``, mode 0600), so that
    whoever can write the cache folder cannot forge a seal; created with 32 random bytes on first use.
    """
    return _secret_at(Path(os.environ.get("HEADSTART_KEY_FILE", Path.home() / ".config" / "headstart" / "cache.key")))


def _load_or_create(path: Path) -> bytes | None:
    with contextlib.suppress(FileNotFoundError, PermissionError):
        data = path.read_bytes()
        return data if len(data) >= 32 else None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process created it meanwhile
        data = path.read_bytes()
        return data if len(data) >= 32 else None
    except OSError:  # read-only home: entries stay unsealed (they are spot-checked instead)
        return None
    secret = os.urandom(32)
    with os.fdopen(fd, "wb") as f:
        f.write(secret)
    return secret


def sign(label: str) -> str | None:
    """The seal of ``label`` (a string naming what is sealed, including its content hash); None without a key."""
    secret = cache_secret()
    return None if secret is None else hmac.new(secret, label.encode(), hashlib.sha256).hexdigest()


def verify(label: str, seal: str) -> bool:
    expected = sign(label)
    return expected is not None and hmac.compare_digest(seal.strip(), expected)


def _label(path: Path, data: bytes) -> str:
    """What a file's seal covers: its name and its bytes (callers put a content key in the name or the bytes,
    so a sealed file moved under another key does not verify)."""
    return f"{path.name}:{hashlib.sha256(data).hexdigest()}"


def write_sealed(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically, with its seal beside it (``path.mac``) when a key exists."""
    atomic_write_bytes(path, data)
    seal = sign(_label(path, data))
    if seal is not None:
        atomic_write_text(path.with_name(path.name + SEAL_SUFFIX), seal)


def read_sealed(path: Path) -> bytes | None:
    """The bytes at ``path`` if its seal verifies; None when missing, unsealed or tampered with (a miss)."""
    try:
        data = path.read_bytes()
        seal = path.with_name(path.name + SEAL_SUFFIX).read_text()
    except (OSError, UnicodeDecodeError):
        return None
    return data if verify(_label(path, data), seal) else None
