"""The linear-probe head, cached by the exact embeddings it is fitted on, so a second fit skips the C search.

Key: sha256 of the embedding matrix bytes, the labels, ``n_classes``, ``seed``, ``class_weight``, the C grid
and the headstart version. Entries are ``$HEADSTART_CACHE/heads/<key>.npz`` holding only the head's arrays
(:meth:`LinearHead.arrays`; read back without pickle), written atomically and sealed (:mod:`headstart.sealed`):
an entry without a valid seal (planted or edited) is not used, the head is refitted.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from importlib import metadata
from pathlib import Path

import numpy as np

from headstart.features import cache_root
from headstart.sealed import read_sealed, write_sealed
from headstart.strategies.linear_head import DEFAULT_CS, SELECTION, LinearHead, fit_linear_head

__all__ = ["cached_linear_head", "head_key"]


def head_key(X: np.ndarray, y: np.ndarray, n_classes: int, seed: int, class_weight: str | None) -> str:
    try:
        version = metadata.version("headstart")
    except metadata.PackageNotFoundError:
        version = "unknown"
    settings = [
        1,
        version,
        int(n_classes),
        int(seed),
        class_weight,
        list(DEFAULT_CS),
        SELECTION,
        list(X.shape),
        str(X.dtype),
    ]
    h = hashlib.sha256(json.dumps(settings).encode())
    h.update(np.ascontiguousarray(X).tobytes())
    h.update(np.asarray(y, dtype=np.int64).tobytes())
    return h.hexdigest()[:32]


def cached_linear_head(
    X: np.ndarray,
    y: np.ndarray,
    n_classes: int,
    *,
    seed: int = 0,
    class_weight: str | None = None,
    root: Path | None = None,
) -> tuple[LinearHead, bool]:
    """(:func:`fit_linear_head` result, whether it came from the cache)."""
    if os.environ.get("HEADSTART_HEAD_CACHE", "1") == "0":
        return fit_linear_head(X, y, n_classes, seed=seed, class_weight=class_weight), False
    path = (root or cache_root()) / "heads" / f"{head_key(X, y, n_classes, seed, class_weight)}.npz"
    data = read_sealed(path)  # None when missing, unsealed or edited
    if data is not None:
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as z:  # arrays only
                return LinearHead.from_arrays({k: z[k] for k in z.files}), True
        except Exception:  # damaged entry: refit and overwrite
            pass
    head = fit_linear_head(X, y, n_classes, seed=seed, class_weight=class_weight)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        buf = io.BytesIO()
        np.savez(buf, **head.arrays())
        write_sealed(path, buf.getvalue())
    except OSError:
        pass
    return head, False
