"""A TF-IDF + softmax text model saved as JSON + npz (no pickle): vocabularies and idf weights rebuild the
vectorizers exactly, the weights are a plain matrix. Trained on soft targets, it is the TF-IDF student of
``headstart distill``; it loads through ``load_model`` like every other kind."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer

from headstart.artifacts import read_meta, register_kind, write_meta
from headstart.io import atomic_write_npz, atomic_write_text

VECTORIZERS: dict[str, dict[str, Any]] = {  # the features of the TF-IDF baseline, with a frequency floor
    "word": {"ngram_range": (1, 2), "sublinear_tf": True, "min_df": 2, "lowercase": True},
    "char": {"analyzer": "char_wb", "ngram_range": (2, 5), "sublinear_tf": True, "min_df": 2},
}


def make_vectorizers() -> dict[str, TfidfVectorizer]:
    return {k: TfidfVectorizer(**v) for k, v in VECTORIZERS.items()}


def tfidf_features(vecs: dict[str, TfidfVectorizer], texts: Sequence[str], *, fit: bool = False) -> sp.csr_matrix:
    parts = [(v.fit_transform(texts) if fit else v.transform(texts)) for v in vecs.values()]
    return sp.hstack(parts, format="csr")


@register_kind
class TfidfSoftmax:
    kind: ClassVar[str] = "tfidf-softmax"

    def __init__(self, vecs: dict[str, TfidfVectorizer], W: np.ndarray, b: np.ndarray, *, name: str = "") -> None:
        self.vecs, self.W, self.b = vecs, W, b
        self.name = name or "TF-IDF + softmax"

    def predict_proba(self, items: Sequence[str]) -> np.ndarray:
        z = np.asarray(tfidf_features(self.vecs, list(items)) @ self.W.T) + self.b
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)

    def save(self, folder: Path) -> None:
        write_meta(folder, self.kind, name=self.name, n_classes=int(self.W.shape[0]))
        vocab = {k: {t: int(i) for t, i in v.vocabulary_.items()} for k, v in self.vecs.items()}
        atomic_write_text(folder / "vocabulary.json", json.dumps(vocab, ensure_ascii=False))
        atomic_write_npz(
            folder / "weights.npz", W=self.W, b=self.b, **{f"idf_{k}": v.idf_ for k, v in self.vecs.items()}
        )

    @classmethod
    def load(cls, folder: Path) -> TfidfSoftmax:
        meta = read_meta(folder)
        vocab = json.loads((folder / "vocabulary.json").read_text(encoding="utf-8"))
        with np.load(folder / "weights.npz") as z:
            arrays = {k: z[k] for k in z.files}
        vecs = {}
        for k, opts in VECTORIZERS.items():
            v = TfidfVectorizer(**{**opts, "min_df": 1}, vocabulary=vocab[k])
            v.idf_ = arrays[f"idf_{k}"]
            vecs[k] = v
        return cls(vecs, arrays["W"], arrays["b"], name=meta.get("name", ""))
