"""Batch selection on arrays: uncertainty scores, BADGE and core-set, all with a diversity step.

- ``margin`` / ``entropy`` / ``least-confidence``: score every pool item, keep the ``DIVERSITY_FACTOR * n``
  most uncertain, then pick ``n`` of them by greedy k-center on embeddings (seeded with the most uncertain),
  so a batch is not ``n`` near-duplicates.
- ``badge`` (Ash et al., ICLR 2020): k-means++ seeding on last-layer gradient embeddings
  ``g_i = (p_i - onehot(argmax p_i)) (x) h_i``; distances use ``<g_i, g_j> = <a_i, a_j> <h_i, h_j>`` so the
  ``K * D`` vectors are never materialized.
- ``coreset`` (Sener & Savarese, ICLR 2018): greedy k-center on embeddings, distances to the labeled set first.
- ``random``: a seeded uniform sample (the control).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from headstart.errors import HeadstartError

DIVERSITY_FACTOR = 3


def margin_score(p: np.ndarray) -> np.ndarray:
    """1 - (top-1 minus top-2 probability): high = uncertain."""
    s = np.sort(p, axis=1)
    return 1.0 - (s[:, -1] - s[:, -2])


def entropy_score(p: np.ndarray) -> np.ndarray:
    q = np.clip(p, 1e-12, 1.0)
    return -(q * np.log(q)).sum(axis=1)


def least_confidence_score(p: np.ndarray) -> np.ndarray:
    return 1.0 - p.max(axis=1)


PICK_MEANING = {  # (what the ``score`` column of to_label.csv holds, what ``rank`` is), per method
    "margin": ("1 - (top probability - runner-up); higher = less sure", "uncertain"),
    "entropy": ("entropy of the probabilities; higher = less sure", "uncertain"),
    "least-confidence": ("1 - top probability; higher = less sure", "uncertain"),
    "badge": ("1 - (top probability - runner-up)", "k-means++ on gradient embeddings: uncertain and spread out"),
    "coreset": ("distance to the nearest other item (embeddings)", "k-center: farthest from what is labeled first"),
    "random": ("0 (not scored)", "a seeded random sample"),
}


def describe_pick(method: str) -> str:
    """One line for the console: what ``score`` and ``rank`` mean for ``method``."""
    score, how = PICK_MEANING[method]
    if how == "uncertain":
        how = (
            f"the {DIVERSITY_FACTOR}x budget most uncertain, then spread over the embeddings (k-center), so a "
            "batch holds no near-duplicates"
        )
    return f"score = {score}; rank = pick order: {how}"


UNCERTAINTY: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "margin": margin_score,
    "entropy": entropy_score,
    "least-confidence": least_confidence_score,
}
METHODS = (*UNCERTAINTY, "badge", "coreset", "random")


def _sqdist_to(X: np.ndarray, c: np.ndarray) -> np.ndarray:
    return np.maximum(((X - c) ** 2).sum(axis=1), 0.0)


def k_center(X: np.ndarray, n: int, *, start: int | None = None, labeled: np.ndarray | None = None) -> np.ndarray:
    """Greedy k-center: repeatedly take the point farthest from everything chosen (and ``labeled``)."""
    n = min(n, len(X))
    if n <= 0:
        return np.zeros(0, dtype=np.int64)
    d = np.full(len(X), np.inf)
    if labeled is not None and len(labeled):
        L = np.asarray(labeled, dtype=np.float64)  # distances to the already-labeled set
        d = np.maximum((X * X).sum(1)[:, None] + (L * L).sum(1)[None, :] - 2.0 * X @ L.T, 0.0).min(axis=1)
    chosen: list[int] = []
    if start is not None:
        chosen.append(int(start))
        d = np.minimum(d, _sqdist_to(X, X[start]))
    while len(chosen) < n:
        d[chosen] = -1.0
        i = int(np.argmax(d)) if np.isfinite(d).all() else int(np.argmax(np.where(np.isinf(d), 1.0, 0.0)))
        chosen.append(i)
        d = np.minimum(d, _sqdist_to(X, X[i]))
    return np.asarray(chosen, dtype=np.int64)


def badge(p: np.ndarray, h: np.ndarray, n: int, *, seed: int = 0) -> np.ndarray:
    """k-means++ seeding on gradient embeddings (p - onehot(yhat)) (x) h."""
    rng = np.random.default_rng(seed)
    a = p.astype(np.float64).copy()
    a[np.arange(len(p)), p.argmax(1)] -= 1.0
    h = h.astype(np.float64)
    na, nh = (a * a).sum(1), (h * h).sum(1)
    norm2 = na * nh
    n = min(n, len(p))
    chosen = [int(np.argmax(norm2))]  # BADGE starts from the largest gradient
    d = np.full(len(p), np.inf)
    while True:
        c = chosen[-1]
        dc = np.maximum(norm2 + norm2[c] - 2.0 * (a @ a[c]) * (h @ h[c]), 0.0)
        d = np.minimum(d, dc)
        if len(chosen) >= n:
            break
        d[chosen] = 0.0
        total = d.sum()
        if total <= 0:  # every remaining point coincides with a center: fill at random
            rest = np.setdiff1d(np.arange(len(p)), chosen)
            chosen += list(rng.choice(rest, n - len(chosen), replace=False))
            break
        chosen.append(int(rng.choice(len(p), p=d / total)))
    return np.asarray(chosen, dtype=np.int64)


def select_batch(
    method: str,
    n: int,
    proba: np.ndarray,
    emb: np.ndarray | None = None,
    *,
    labeled_emb: np.ndarray | None = None,
    seed: int = 0,
    diversity: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """(indices into the pool in pick order, score per picked item) for a batch of ``n``."""
    if method not in METHODS:
        raise HeadstartError(f"unknown --method {method!r}; choose one of: {', '.join(METHODS)}")
    n = min(int(n), len(proba))
    if n < 1:
        raise HeadstartError("--budget must be at least 1 (and the pool must not be empty)")
    if method == "random":
        idx = np.random.default_rng(seed).choice(len(proba), n, replace=False)
        return idx, np.zeros(n)
    if method in UNCERTAINTY:
        score = UNCERTAINTY[method](proba)
        order = np.argsort(-score, kind="stable")
        if not diversity or emb is None or n == len(proba):
            idx = order[:n]
        else:
            top = order[: min(len(order), DIVERSITY_FACTOR * n)]
            idx = top[k_center(_unit(emb[top]), n, start=0)]
        return idx, score[idx]
    if emb is None:
        raise HeadstartError(f"--method {method} needs embeddings of the pool")
    if method == "badge":
        idx = badge(proba, emb, n, seed=seed)
        return idx, margin_score(proba)[idx]
    X = _unit(emb)
    lab = _unit(labeled_emb) if labeled_emb is not None and len(labeled_emb) else None
    start = None if lab is not None else int(np.argmax(margin_score(proba)))
    idx = k_center(X, n, start=start, labeled=lab)
    return idx, _min_dist(X[idx], np.vstack([X, lab]) if lab is not None else X)


def _unit(X: np.ndarray) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    return X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)


def _min_dist(P: np.ndarray, X: np.ndarray) -> np.ndarray:
    """Distance of each picked point to its nearest other point (the core-set radius it closes)."""
    d = np.maximum((P * P).sum(1)[:, None] + (X * X).sum(1)[None, :] - 2.0 * P @ X.T, 0.0)
    d[d < 1e-10] = np.inf
    return np.sqrt(np.min(d, axis=1))
