"""Strong classical text baseline: TF-IDF word 1-2-grams + char 2-5-grams -> logistic regression (C by CV)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import joblib
import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import FeatureUnion, Pipeline
from threadpoolctl import threadpool_limits

from headstart.artifacts import read_meta, register_kind, write_meta
from headstart.strategies.linear_head import cv_folds

TFIDF_CS = (0.1, 1.0, 10.0, 100.0)


def _pipeline(C: float, class_weight: str | None) -> Pipeline:
    features = FeatureUnion(
        [
            ("word", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1, lowercase=True)),
            ("char", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=1)),
        ]
    )
    return Pipeline([("tfidf", features), ("lr", LogisticRegression(C=C, max_iter=3000, class_weight=class_weight))])


@register_kind
class TfidfLogReg:
    kind: ClassVar[str] = "tfidf-logreg"
    name = "TF-IDF + logistic regression"

    def __init__(self, pipeline: Pipeline, n_classes: int, C: float, cv_accuracy: float) -> None:
        self.pipeline, self.n_classes, self.C, self.val_accuracy = pipeline, n_classes, C, cv_accuracy

    @classmethod
    def fit(
        cls, texts: Sequence[str], y: np.ndarray, n_classes: int, *, seed: int = 0, class_weight: str | None = None
    ) -> TfidfLogReg:
        with threadpool_limits(limits=1, user_api="blas"):
            return cls._fit(list(texts), y, n_classes, seed=seed, class_weight=class_weight)

    @classmethod
    def _fit(
        cls, texts: list[str], y: np.ndarray, n_classes: int, *, seed: int, class_weight: str | None
    ) -> TfidfLogReg:
        k = cv_folds(y)
        if k >= 2:
            folds = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
            scores = {
                C: float(cross_val_score(_pipeline(C, class_weight), texts, y, cv=folds).mean()) for C in TFIDF_CS
            }
            C = max(TFIDF_CS, key=lambda c: (scores[c], -abs(np.log10(c))))
            cv_acc = scores[C]
        else:
            C, cv_acc = 10.0, float("nan")
        return cls(_pipeline(C, class_weight).fit(texts, y), n_classes, C, cv_acc)

    def predict_proba(self, items: Sequence[str]) -> np.ndarray:
        p = self.pipeline.predict_proba(list(items))
        out = np.zeros((len(p), self.n_classes), dtype=np.float32)
        out[:, self.pipeline.classes_] = p
        return out

    def save(self, folder: Path) -> None:
        write_meta(folder, self.kind, n_classes=self.n_classes, C=self.C, cv_accuracy=self.val_accuracy)
        joblib.dump(self.pipeline, folder / "pipeline.joblib")

    @classmethod
    def load(cls, folder: Path) -> TfidfLogReg:
        m: dict[str, Any] = read_meta(folder)
        return cls(joblib.load(folder / "pipeline.joblib"), m["n_classes"], m["C"], m["cv_accuracy"])
