"""Linear centered kernel alignment (Kornblith et al., ICML 2019): how similar two representations of the
same inputs are, invariant to rotation and isotropic scaling. 1.0 = same geometry; near 0 = unrelated."""

from __future__ import annotations

import numpy as np

__all__ = ["linear_cka"]


def linear_cka(x: np.ndarray, y: np.ndarray) -> float:
    """Linear CKA between ``x`` [N, D1] and ``y`` [N, D2] (rows are the same N inputs).

    ``||Yc^T Xc||_F^2 / (||Xc^T Xc||_F * ||Yc^T Yc||_F)`` with column-centred ``Xc``, ``Yc``; computed through
    the N x N Gram matrices when N is smaller than the feature dimensions.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.ndim != 2 or y.ndim != 2 or x.shape[0] != y.shape[0]:
        raise ValueError(f"linear_cka needs two 2-D arrays with the same rows, got {x.shape} and {y.shape}")
    if x.shape[0] < 2:
        return float("nan")
    x = x - x.mean(0, keepdims=True)
    y = y - y.mean(0, keepdims=True)
    if x.shape[0] < min(x.shape[1], y.shape[1]):
        k, l_ = x @ x.T, y @ y.T
        hsic, nx, ny = float((k * l_).sum()), float(np.linalg.norm(k)), float(np.linalg.norm(l_))
    else:
        hsic = float(np.linalg.norm(y.T @ x) ** 2)
        nx, ny = float(np.linalg.norm(x.T @ x)), float(np.linalg.norm(y.T @ y))
    if nx == 0.0 or ny == 0.0:
        return float("nan")
    return hsic / (nx * ny)
