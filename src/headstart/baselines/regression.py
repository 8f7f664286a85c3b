"""From-scratch regression baselines for text and images: TF-IDF + ridge and pixel ridge (alpha by CV MAE).

Both save without pickle: the TF-IDF vocabularies and idf weights go to JSON/npz and are set back onto fresh
vectorizers on load (identical transforms); the ridge weights are plain arrays. ``val_accuracy`` is minus
the cross-validated MAE (higher is better, as the ship rule expects); ``halfwidth`` is the 90% conformal
half-width from the same cross-validated residuals.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import Ridge
from sklearn.model_selection import KFold
from threadpoolctl import threadpool_limits

from headstart.artifacts import read_meta, register_kind, write_meta
from headstart.baselines.image import PixelLogReg
from headstart.evaluation.metrics import conformal_halfwidth
from headstart.io import atomic_write_npz, atomic_write_text
from headstart.strategies.ridge_head import DEFAULT_ALPHAS, RidgeHead, fit_ridge_head

VECTORIZERS: dict[str, dict[str, Any]] = {
    "word": {"ngram_range": (1, 2), "sublinear_tf": True, "lowercase": True},
    "char": {"analyzer": "char_wb", "ngram_range": (2, 5), "sublinear_tf": True},
}


def _vectorizers() -> dict[str, TfidfVectorizer]:
    return {k: TfidfVectorizer(**kw) for k, kw in VECTORIZERS.items()}


def _features(vecs: dict[str, TfidfVectorizer], texts: list[str], fit: bool = False) -> sp.csr_matrix:
    mats = [v.fit_transform(texts) if fit else v.transform(texts) for v in vecs.values()]
    return sp.hstack(mats, format="csr")


def _ridge(X: sp.csr_matrix, y: np.ndarray, alpha: float) -> tuple[np.ndarray, float]:
    mu, sd = float(y.mean()), float(y.std()) or 1.0
    m = Ridge(alpha=alpha, solver="auto").fit(X, (y - mu) / sd)
    return m.coef_ * sd, float(m.intercept_) * sd + mu


@register_kind
class TfidfRidge:
    kind: ClassVar[str] = "tfidf-ridge"
    name = "TF-IDF + ridge"

    def __init__(self, vecs: dict[str, TfidfVectorizer], w: np.ndarray, b: float, info: dict[str, Any]) -> None:
        self.vecs, self.w, self.b, self.info = vecs, w, b, info

    @property
    def val_accuracy(self) -> float:
        return -float(self.info["cv_mae"])

    @property
    def halfwidth(self) -> float:
        return float(self.info["halfwidth"])

    @classmethod
    def fit(cls, texts: Sequence[str], y: np.ndarray, *, seed: int = 0) -> TfidfRidge:
        texts, y = list(texts), np.asarray(y, dtype=np.float64)
        k = min(5, len(y) // 2)
        scores: dict[float, np.ndarray] = {}
        with threadpool_limits(limits=1, user_api="blas"):
            if k >= 2:
                for a in DEFAULT_ALPHAS:
                    errs = []
                    for tr, va in KFold(n_splits=k, shuffle=True, random_state=seed).split(texts):
                        vecs = _vectorizers()
                        w, b = _ridge(_features(vecs, [texts[i] for i in tr], fit=True), y[tr], a)
                        errs.append(np.abs(_features(vecs, [texts[i] for i in va]) @ w + b - y[va]))
                    scores[a] = np.concatenate(errs)
                alpha = min(DEFAULT_ALPHAS, key=lambda a: (float(scores[a].mean()), abs(np.log10(a))))
                cv_mae, hw = float(scores[alpha].mean()), conformal_halfwidth(scores[alpha])
            else:
                alpha, cv_mae, hw = 1.0, float("nan"), float("inf")
            vecs = _vectorizers()
            w, b = _ridge(_features(vecs, texts, fit=True), y, alpha)
        return cls(vecs, w, b, {"alpha": alpha, "cv_mae": cv_mae, "halfwidth": hw})

    def predict(self, items: Sequence[str]) -> np.ndarray:
        return np.asarray(_features(self.vecs, list(items)) @ self.w + self.b, dtype=np.float64)

    def save(self, folder: Path) -> None:
        write_meta(folder, self.kind, b=self.b, **self.info)
        vocab = {k: {t: int(i) for t, i in v.vocabulary_.items()} for k, v in self.vecs.items()}
        atomic_write_text(folder / "vocabulary.json", json.dumps(vocab, ensure_ascii=False))
        atomic_write_npz(folder / "weights.npz", w=self.w, **{f"idf_{k}": v.idf_ for k, v in self.vecs.items()})

    @classmethod
    def load(cls, folder: Path) -> TfidfRidge:
        m = read_meta(folder)
        vocab = json.loads((folder / "vocabulary.json").read_text(encoding="utf-8"))
        vecs = _vectorizers()
        with np.load(folder / "weights.npz") as z:
            w = z["w"]
            for k, v in vecs.items():
                v.vocabulary_ = vocab[k]
                v.idf_ = z[f"idf_{k}"]
        info = {k: m[k] for k in ("alpha", "cv_mae", "halfwidth")}
        return cls(vecs, w, float(m["b"]), info)


@register_kind
class PixelRidge:
    kind: ClassVar[str] = "pixel-ridge"
    name = "pixel ridge"

    def __init__(self, head: RidgeHead, side: int, gray: bool) -> None:
        self.head, self.side, self.gray = head, side, gray

    @property
    def val_accuracy(self) -> float:
        return -self.head.cv_mae

    @property
    def halfwidth(self) -> float:
        return self.head.halfwidth

    @classmethod
    def fit(cls, items: Sequence[Any], y: np.ndarray, *, side: int, gray: bool, seed: int = 0) -> PixelRidge:
        X = PixelLogReg._features(items, side, gray)
        return cls(fit_ridge_head(X, y, seed=seed), side, gray)

    def predict(self, items: Sequence[Any]) -> np.ndarray:
        return self.head.predict(PixelLogReg._features(items, self.side, self.gray))

    def save(self, folder: Path) -> None:
        write_meta(folder, self.kind, side=self.side, gray=self.gray)
        atomic_write_npz(folder / "head.npz", **self.head.arrays())

    @classmethod
    def load(cls, folder: Path) -> PixelRidge:
        m = read_meta(folder)
        with np.load(folder / "head.npz") as z:
            head = RidgeHead.from_arrays({k: z[k] for k in z.files})
        return cls(head, m["side"], m["gray"])
