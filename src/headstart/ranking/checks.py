"""Input checks shared by the transferability scores: one-line errors for bad features or labels."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from headstart.errors import HeadstartError

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


def as_features(features: ArrayLike, name: str = "features") -> FloatArray:
    f = np.asarray(features)
    if f.ndim != 2:
        raise HeadstartError(f"{name} must be a 2-D array [N, D]; got shape {f.shape}")
    if f.shape[0] == 0 or f.shape[1] == 0:
        raise HeadstartError(f"{name} is empty (shape {f.shape}); pass at least one sample and one dimension")
    if not np.issubdtype(f.dtype, np.number) or np.issubdtype(f.dtype, np.complexfloating):
        raise HeadstartError(f"{name} must be real numbers; got dtype {f.dtype}")
    f = f.astype(np.float64, copy=False)
    if not np.all(np.isfinite(f)):
        raise HeadstartError(f"{name} contains NaN or infinite values; fix or drop those rows first")
    return f


def as_labels(y: ArrayLike, n: int | None = None, name: str = "y", min_classes: int = 2) -> IntArray:
    arr = np.asarray(y)
    if arr.ndim != 1:
        raise HeadstartError(f"{name} must be a 1-D array of labels [N]; got shape {arr.shape}")
    if n is not None and arr.shape[0] != n:
        raise HeadstartError(f"{name} has {arr.shape[0]} labels but the features have {n} rows; they must match")
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        raise HeadstartError(f"{name} contains NaN labels; drop unlabeled rows first")
    _, codes = np.unique(arr, return_inverse=True)
    codes = codes.reshape(-1).astype(np.int64)
    n_classes = int(codes.max()) + 1 if codes.size else 0
    if n_classes < min_classes:
        raise HeadstartError(f"{name} has {n_classes} distinct class(es); need at least {min_classes}")
    return codes


# ----------------------------------------------------------------------------------------------------------
# LogME
# ----------------------------------------------------------------------------------------------------------
