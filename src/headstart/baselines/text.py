"""Strong classical text baseline: TF-IDF word 1-2-grams + char 2-5-grams -> logistic regression (C by CV).

Saved without pickle: ``vocabulary.json`` (the terms of each TF-IDF branch, in column order) and
``weights.npz`` (idf per branch, coefficients, intercepts, classes); ``load`` rebuilds the same
scikit-learn pipeline from those numbers, so a run folder from someone else cannot execute code.
A branch whose analyzer finds no term in any text (single characters or emoji only give no word
tokens) is left out, so such texts still get a baseline instead of an "empty vocabulary" crash.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import FeatureUnion, Pipeline
from threadpoolctl import threadpool_limits

from headstart.artifacts import optional_float, read_json, read_meta, read_npz, register_kind, write_meta
from headstart.errors import HeadstartError
from headstart.io import atomic_write_json, atomic_write_npz
from headstart.strategies.linear_head import cv_folds

TFIDF_CS = (0.1, 1.0, 10.0, 100.0)
# The TF-IDF branches as data: name -> TfidfVectorizer parameters (also what load rebuilds from).
BRANCHES: dict[str, dict[str, Any]] = {
    "word": {"ngram_range": (1, 2), "sublinear_tf": True, "min_df": 1, "lowercase": True},
    "char": {"analyzer": "char_wb", "ngram_range": (2, 5), "sublinear_tf": True, "min_df": 1},
}
VOCABULARY_FILE, WEIGHTS_FILE = "vocabulary.json", "weights.npz"


def _pipeline(C: float, class_weight: str | None, branches: Sequence[str] = tuple(BRANCHES)) -> Pipeline:
    features = FeatureUnion([(b, TfidfVectorizer(**BRANCHES[b])) for b in branches])
    return Pipeline([("tfidf", features), ("lr", LogisticRegression(C=C, max_iter=3000, class_weight=class_weight))])


def usable_branches(texts: Sequence[str]) -> tuple[str, ...]:
    """The branches whose analyzer yields at least one term on ``texts``; a clear error when none does."""
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise HeadstartError(
                f"text item {i}: expected a string, got {type(t).__name__}; TF-IDF needs one text per row"
            )
    out = []
    for name, params in BRANCHES.items():
        analyze = TfidfVectorizer(**params).build_analyzer()
        if any(analyze(t) for t in texts):
            out.append(name)
    if not out:
        raise HeadstartError(
            "TF-IDF baseline: the texts contain no words and no characters to count (all empty?); check the text column"
        )
    return tuple(out)


@register_kind
class TfidfLogReg:
    kind: ClassVar[str] = "tfidf-logreg"
    name = "TF-IDF + logistic regression"

    def __init__(
        self, pipeline: Pipeline, n_classes: int, C: float, cv_accuracy: float, class_weight: str | None = None
    ) -> None:
        self.pipeline, self.n_classes, self.C, self.val_accuracy = pipeline, n_classes, C, cv_accuracy
        self.class_weight = class_weight

    @property
    def branches(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.pipeline.named_steps["tfidf"].transformer_list)

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
        branches = usable_branches(texts)
        k = cv_folds(y)
        if k >= 2:
            folds = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
            scores = {
                C: float(
                    np.nan_to_num(
                        cross_val_score(_pipeline(C, class_weight, branches), texts, y, cv=folds).mean(), nan=-1.0
                    )
                )
                for C in TFIDF_CS
            }
            C = max(TFIDF_CS, key=lambda c: (scores[c], -abs(np.log10(c))))
            cv_acc = scores[C] if scores[C] >= 0 else float("nan")
        else:
            C, cv_acc = 10.0, float("nan")
        return cls(_pipeline(C, class_weight, branches).fit(texts, y), n_classes, C, cv_acc, class_weight)

    def predict_proba(self, items: Sequence[str]) -> np.ndarray:
        p = self.pipeline.predict_proba(list(items))
        out = np.zeros((len(p), self.n_classes), dtype=np.float32)
        out[:, self.pipeline.classes_] = p
        return out

    def save(self, folder: Path) -> None:
        union: FeatureUnion = self.pipeline.named_steps["tfidf"]
        lr: LogisticRegression = self.pipeline.named_steps["lr"]
        vocab: dict[str, list[str]] = {}
        arrays: dict[str, np.ndarray] = {"coef": lr.coef_, "intercept": lr.intercept_, "classes": lr.classes_}
        for name, vec in union.transformer_list:
            terms = [""] * len(vec.vocabulary_)
            for term, j in vec.vocabulary_.items():
                terms[j] = term
            vocab[name] = terms
            arrays[f"idf_{name}"] = vec.idf_
        write_meta(
            folder,
            self.kind,
            n_classes=self.n_classes,
            C=self.C,
            cv_accuracy=self.val_accuracy,
            class_weight=self.class_weight,
            branches=list(self.branches),
            files=[VOCABULARY_FILE, WEIGHTS_FILE],
        )
        atomic_write_json(folder / VOCABULARY_FILE, vocab, indent=None)
        atomic_write_npz(folder / WEIGHTS_FILE, **arrays)

    @classmethod
    def load(cls, folder: Path) -> TfidfLogReg:
        m: dict[str, Any] = read_meta(folder)
        branches = m.get("branches")
        if not isinstance(branches, list) or not branches or any(b not in BRANCHES for b in branches):
            raise HeadstartError(
                f"{folder / 'meta.json'}: 'branches' must list TF-IDF branches among {', '.join(BRANCHES)}; "
                "the file is damaged or from an older headstart (pipeline.joblib is no longer read), "
                "re-run `headstart fit`"
            )
        vocab = read_json(folder / VOCABULARY_FILE, "mapping branch -> terms")
        arrays = read_npz(folder / WEIGHTS_FILE, ("coef", "intercept", "classes", *(f"idf_{b}" for b in branches)))
        pipe = _pipeline(float(m["C"]), m.get("class_weight"), branches)
        width = 0
        for name, vec in pipe.named_steps["tfidf"].transformer_list:
            terms = vocab.get(name)
            idf = arrays[f"idf_{name}"]
            if not isinstance(terms, list) or len(terms) != len(idf) or len(set(terms)) != len(terms):
                raise HeadstartError(
                    f"{folder / VOCABULARY_FILE}: the {name!r} terms do not match {WEIGHTS_FILE} "
                    f"({len(terms) if isinstance(terms, list) else 'none'} terms vs {len(idf)} idf values); "
                    "re-run `headstart fit`"
                )
            vec.vocabulary_ = {str(t): j for j, t in enumerate(terms)}
            vec.idf_ = idf.astype(np.float64)
            width += len(terms)
        lr = pipe.named_steps["lr"]
        coef, intercept, classes = arrays["coef"], arrays["intercept"], arrays["classes"]
        if coef.ndim != 2 or coef.shape[1] != width or len(intercept) != len(coef):
            raise HeadstartError(
                f"{folder / WEIGHTS_FILE}: coefficients of shape {coef.shape} do not fit {width} TF-IDF terms; "
                "re-run `headstart fit`"
            )
        lr.coef_, lr.intercept_, lr.classes_ = coef.astype(np.float64), intercept.astype(np.float64), classes
        lr.n_features_in_ = width
        cv_accuracy = optional_float(m.get("cv_accuracy"))
        return cls(pipe, int(m["n_classes"]), float(m["C"]), cv_accuracy, m.get("class_weight"))
