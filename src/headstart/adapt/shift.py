"""Graded measures of the shift between source and target embeddings, before and after adaptation.

The measures live in :mod:`headstart.advise.graded` (the advisor makes its shift call from them too):
:func:`mmd_permutation` (unbiased RBF MMD^2 + permutation p-value) and :func:`domain_accuracy` (a low-capacity
domain classifier's accuracy with a Wilson CI, and the graded PAD from it). :func:`measure_shift` - both, as one
JSON-ready dict.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from headstart.advise.graded import domain_accuracy, mmd_permutation, wilson_ci

__all__ = ["domain_accuracy", "measure_shift", "mmd_permutation", "wilson_ci"]


def measure_shift(source: np.ndarray, target: np.ndarray, *, seed: int = 0, n_perm: int = 200) -> dict[str, Any]:
    """MMD (+ permutation p) and the low-capacity domain-classifier accuracy / PAD between two feature sets."""
    mmd, p = mmd_permutation(source, target, n_perm=n_perm, seed=seed)
    return {"mmd": mmd, "mmd_p": p, **domain_accuracy(source, target, seed=seed)}
