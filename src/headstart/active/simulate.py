"""Pool-based active-learning simulation on embeddings (labels hidden, revealed on query): the learner is the
linear probe's model (standardized embeddings -> logistic regression, fixed C, so rounds are cheap)."""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from headstart.active.select import select_batch

C = 0.5


def _proba(sc: StandardScaler, lr: LogisticRegression, X: np.ndarray, k: int) -> np.ndarray:
    out = np.zeros((len(X), k))
    out[:, lr.classes_] = lr.predict_proba(sc.transform(X))
    return out


def simulate_curve(
    emb: np.ndarray,
    y: np.ndarray,
    pool: np.ndarray,
    test: np.ndarray,
    method: str,
    *,
    start_per_class: int,
    batch: int,
    rounds: int,
    seed: int = 0,
) -> list[tuple[int, float]]:
    """(labels, test accuracy) after the seeded start set and after each queried batch."""
    k = int(y.max()) + 1
    rng = np.random.default_rng(np.random.SeedSequence([seed, 7]))
    labeled = np.concatenate(
        [rng.choice(pool[y[pool] == c], start_per_class, replace=False) for c in range(k) if (y[pool] == c).any()]
    )
    curve = []
    with threadpool_limits(limits=1, user_api="blas"):
        for r in range(rounds + 1):
            sc = StandardScaler().fit(emb[labeled])
            lr = LogisticRegression(C=C, max_iter=2000).fit(sc.transform(emb[labeled]), y[labeled])
            curve.append((len(labeled), float((_proba(sc, lr, emb[test], k).argmax(1) == y[test]).mean())))
            if r == rounds:
                break
            rest = np.setdiff1d(pool, labeled)
            p = _proba(sc, lr, emb[rest], k)
            feats = sc.transform(emb[rest]) if method == "badge" else emb[rest]  # BADGE: the head's input
            pick, _ = select_batch(method, batch, p, feats, labeled_emb=emb[labeled], seed=seed * 1000 + r)
            labeled = np.concatenate([labeled, rest[pick]])
    return curve


def area_under_curve(curve: list[tuple[int, float]]) -> float:
    """Mean accuracy over the rounds (the batches are equal, so this is the normalized area)."""
    return float(np.mean([a for _, a in curve]))
