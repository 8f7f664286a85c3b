"""The tabular baselines: gradient-boosted trees (HistGradientBoosting, early stopping on the validation split)
and a regularized linear model on one-hot + scaled features. Both classify or regress.

Trees: fitted on train with early stopping on the validation loss (the validation score is measured there,
at the best iteration), then refitted on train+val for exactly that many iterations. Saved as node arrays
(headstart.baselines.trees), never pickled. Linear: logistic regression (C by stratified CV) or ridge
(alpha by CV MAE) on the encoder's linear matrix, saved as npz. ``val_accuracy`` is accuracy for
classification and minus the MAE for regression (higher is better in both, as the ship rule expects).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.model_selection import KFold, StratifiedKFold
from threadpoolctl import threadpool_limits

from headstart.artifacts import read_meta, register_kind, write_meta
from headstart.baselines.table_features import TableEncoder
from headstart.baselines.trees import TreeEnsemble, export_trees, raw_to_proba
from headstart.data.tabular import as_rows
from headstart.evaluation.metrics import conformal_halfwidth
from headstart.io import atomic_write_npz
from headstart.strategies.linear_head import LinearHead, cv_folds, fit_linear_head
from headstart.strategies.ridge_head import RidgeHead, fit_ridge_head

MAX_ITER = 500
PATIENCE = 20
THREADS = 1  # beside torch (loaded by the text arm), 2 OpenMP threads ran 3-300x slower here


def _hgb(regression: bool, n: int, seed: int, mask: np.ndarray, **kw: Any) -> Any:
    cls = HistGradientBoostingRegressor if regression else HistGradientBoostingClassifier
    return cls(
        learning_rate=0.1,
        max_leaf_nodes=15,
        min_samples_leaf=max(2, min(20, n // 10)),
        l2_regularization=1.0,
        categorical_features=mask if mask.any() else None,
        random_state=seed,
        **kw,
    )


def _expand(p: np.ndarray, present: np.ndarray, n_classes: int) -> np.ndarray:
    out = np.zeros((len(p), n_classes), dtype=np.float32)
    out[:, present] = p
    return out


@register_kind
class TreeModel:
    kind: ClassVar[str] = "tabular-trees"
    name = "gradient-boosted trees"

    def __init__(
        self, encoder: TableEncoder, trees: TreeEnsemble, present: np.ndarray, n_classes: int, info: dict[str, Any]
    ) -> None:
        self.encoder, self.trees, self.present, self.n_classes, self.info = encoder, trees, present, n_classes, info

    @property
    def regression(self) -> bool:
        return self.n_classes == 0

    @property
    def val_accuracy(self) -> float:
        return float(self.info.get("val_score", float("nan")))

    @property
    def halfwidth(self) -> float:
        """90% split-conformal half-width from the validation residuals (regression)."""
        return float(self.info.get("halfwidth", float("inf")))

    @classmethod
    def fit(
        cls,
        train: Sequence[dict[str, Any]],
        y_train: np.ndarray,
        val: Sequence[dict[str, Any]],
        y_val: np.ndarray,
        n_classes: int,
        *,
        seed: int = 0,
    ) -> TreeModel:
        """``n_classes=0`` fits a regressor."""
        train, val = as_rows(train), as_rows(val)
        regression = n_classes == 0
        enc = TableEncoder.fit(train + val)
        X_tr, X_va = enc.tree_matrix(train), enc.tree_matrix(val)
        X_all, y_all = np.concatenate([X_tr, X_va]), np.concatenate([y_train, y_val])
        mask = enc.categorical_mask()
        info: dict[str, Any] = {"val_score": float("nan")}
        with threadpool_limits(limits=THREADS):
            n_iter = 100
            if len(y_val) >= 2 and (regression or len(np.unique(y_train)) >= 2):
                model = _hgb(regression, len(y_train), seed, mask, max_iter=MAX_ITER, early_stopping=True,
                             n_iter_no_change=PATIENCE, scoring="loss")  # fmt: skip
                model.fit(X_tr, y_train, X_val=X_va, y_val=y_val)
                n_iter = max(1, int(np.argmax(model.validation_score_)))
                staged = model.staged_predict(X_va) if regression else model.staged_predict_proba(X_va)
                out = next(s for i, s in enumerate(staged, start=1) if i == min(n_iter, model.n_iter_))
                if regression:
                    info["val_score"] = -float(np.mean(np.abs(out - y_val)))
                    info["halfwidth"] = conformal_halfwidth(np.abs(out - y_val))
                else:
                    pred = model.classes_[np.asarray(out).argmax(1)]
                    info["val_score"] = float(np.mean(pred == y_val))
            final = _hgb(regression, len(y_all), seed, mask, max_iter=n_iter, early_stopping=False)
            final.fit(X_all, y_all)
        info.update({"n_iter": n_iter, "params": {k: v for k, v in final.get_params().items() if _jsonable(v)}})
        present = np.zeros(0, np.int64) if regression else np.asarray(final.classes_, dtype=np.int64)
        return cls(enc, export_trees(final, X_all), present, n_classes, info)

    def raw(self, items: Any) -> np.ndarray:
        return self.trees.raw(self.encoder.tree_matrix(as_rows(items)))

    def predict(self, items: Any) -> np.ndarray:
        """Regression values ``[n]``."""
        return self.raw(items)[:, 0]

    def predict_proba(self, items: Any) -> np.ndarray:
        if self.regression:
            raise TypeError("a regression model has no class probabilities; use predict()")
        return _expand(raw_to_proba(self.raw(items)), self.present, self.n_classes)

    def oof_proba(self, items: Any, y: np.ndarray, n_classes: int, *, seed: int = 0) -> np.ndarray | None:
        """Out-of-fold outputs of this recipe (same encoder and iterations) on ``items``: probabilities, or
        ``[n, 1]`` values for regression. None when there are too few rows for 2 folds."""
        rows = as_rows(items)
        X = self.encoder.tree_matrix(rows)
        y = np.asarray(y)
        if self.regression:
            k = min(5, len(y) // 2)
            folds: Any = KFold(n_splits=k, shuffle=True, random_state=seed) if k >= 2 else None
        else:
            k = cv_folds(y.astype(np.int64))
            folds = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed) if k >= 2 else None
        if folds is None:
            return None
        out = np.zeros((len(y), 1 if self.regression else n_classes))
        mask = self.encoder.categorical_mask()
        with threadpool_limits(limits=THREADS):
            for tr, va in folds.split(X, y if not self.regression else None):
                m = _hgb(self.regression, len(tr), seed, mask, max_iter=int(self.info["n_iter"]), early_stopping=False)
                m.fit(X[tr], y[tr])
                if self.regression:
                    out[va, 0] = m.predict(X[va])
                else:
                    out[np.ix_(va, m.classes_)] = m.predict_proba(X[va])
        return out

    def save(self, folder: Path) -> None:
        write_meta(folder, self.kind, n_classes=self.n_classes, encoder=self.encoder.to_dict(), info=self.info)
        atomic_write_npz(folder / "trees.npz", present=self.present, **self.trees.arrays())

    @classmethod
    def load(cls, folder: Path) -> TreeModel:
        m = read_meta(folder)
        with np.load(folder / "trees.npz") as z:
            arrays = {k: z[k] for k in z.files}
        present = arrays.pop("present").astype(np.int64)
        trees = TreeEnsemble.from_arrays(arrays)
        return cls(TableEncoder.from_dict(m["encoder"]), trees, present, int(m["n_classes"]), m["info"])


def _jsonable(v: Any) -> bool:
    return v is None or isinstance(v, (bool, int, float, str))


@register_kind
class TabularLinear:
    kind: ClassVar[str] = "tabular-linear"

    def __init__(self, encoder: TableEncoder, head: LinearHead | RidgeHead, n_classes: int) -> None:
        self.encoder, self.head, self.n_classes = encoder, head, n_classes

    @property
    def name(self) -> str:
        return "one-hot + scaled ridge" if self.n_classes == 0 else "one-hot + scaled logistic regression"

    @property
    def val_accuracy(self) -> float:
        if isinstance(self.head, RidgeHead):
            return -self.head.cv_mae
        return self.head.cv_accuracy

    @property
    def halfwidth(self) -> float:
        return self.head.halfwidth if isinstance(self.head, RidgeHead) else float("inf")

    @classmethod
    def fit(
        cls,
        rows: Sequence[dict[str, Any]],
        y: np.ndarray,
        n_classes: int,
        *,
        seed: int = 0,
        class_weight: str | None = None,
    ) -> TabularLinear:
        rows = as_rows(rows)
        enc = TableEncoder.fit(rows)
        X = enc.linear_matrix(rows)
        if n_classes == 0:
            return cls(enc, fit_ridge_head(X, y, seed=seed), 0)
        return cls(enc, fit_linear_head(X, y, n_classes, seed=seed, class_weight=class_weight), n_classes)

    def features(self, items: Any) -> np.ndarray:
        return self.encoder.linear_matrix(as_rows(items))

    def predict(self, items: Any) -> np.ndarray:
        assert isinstance(self.head, RidgeHead), "predict() is for regression; use predict_proba()"
        return self.head.predict(self.features(items))

    def predict_proba(self, items: Any) -> np.ndarray:
        if isinstance(self.head, RidgeHead):
            raise TypeError("a regression model has no class probabilities; use predict()")
        return self.head.predict_proba(self.features(items))

    def save(self, folder: Path) -> None:
        write_meta(folder, self.kind, n_classes=self.n_classes, encoder=self.encoder.to_dict())
        atomic_write_npz(folder / "head.npz", **self.head.arrays())

    @classmethod
    def load(cls, folder: Path) -> TabularLinear:
        m = read_meta(folder)
        with np.load(folder / "head.npz") as z:
            a = {k: z[k] for k in z.files}
        head: LinearHead | RidgeHead = (
            RidgeHead.from_arrays(a) if int(m["n_classes"]) == 0 else LinearHead.from_arrays(a)
        )
        return cls(TableEncoder.from_dict(m["encoder"]), head, int(m["n_classes"]))
