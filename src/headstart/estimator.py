"""``TransferClassifier``: the scikit-learn face of headstart (works in Pipeline, GridSearchCV,
cross_val_score). X is a list of texts, a list of image paths, or an image array (N, H, W[, C])."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.model_selection import train_test_split
from sklearn.utils.validation import check_is_fitted

from headstart.errors import HeadstartError


def _as_items(X: Any) -> list[Any]:
    if isinstance(X, np.ndarray):
        if X.dtype.kind in "US" or X.dtype == object:
            return [str(x) if X.dtype.kind in "US" else x for x in X.ravel()]
        return list(X)
    if hasattr(X, "tolist") and not isinstance(X, list):  # pandas Series
        return list(X.tolist())
    return list(X)


class TransferClassifier(ClassifierMixin, BaseEstimator):
    """Transfer a pretrained backbone to a small labeled task.

    Parameters mirror ``headstart fit``: ``backbone`` (registry name, ``NAME:random``, ``hf:...``),
    ``strategy`` (``linear-probe``, ``partial``, ``finetune``, ...), ``image_size``, ``val_size`` (share of the
    training data held out for early stopping / model selection), ``seed``, and ``options`` (strategy
    hyper-parameters such as ``{"epochs": 5}``).

    Fitted attributes: ``classes_``, ``model_`` (the fitted strategy model), ``n_features_in_`` is not set
    (inputs are raw items), ``timings_``.
    """

    def __init__(
        self,
        backbone: str = "minilm-l6",
        strategy: str = "linear-probe",
        *,
        image_size: int | None = None,
        val_size: float = 0.2,
        seed: int = 0,
        options: dict[str, Any] | None = None,
        progress: bool = False,
    ) -> None:
        self.backbone = backbone
        self.strategy = strategy
        self.image_size = image_size
        self.val_size = val_size
        self.seed = seed
        self.options = options
        self.progress = progress

    def __sklearn_tags__(self) -> Any:
        """Inputs are raw items (texts, image paths or pixel arrays), not a numeric 2-D feature matrix."""
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.string = True
        return tags

    def _modality(self) -> str:
        if self.backbone.startswith("hf:"):
            return "text"
        if self.backbone.startswith("timm:"):
            return "image"
        from headstart.backbones import get_spec

        return get_spec(self.backbone.split(":")[0]).modality

    def fit(self, X: Sequence[Any], y: Sequence[Any]) -> TransferClassifier:
        from headstart.strategies import TransferTask, check_options, get_strategy

        get_strategy(self.strategy)
        check_options(self.strategy, dict(self.options or {}))
        items = _as_items(X)
        y_arr = np.asarray(y)
        if len(items) != len(y_arr):
            raise HeadstartError(f"X has {len(items)} items but y has {len(y_arr)} labels")
        self.classes_, codes = np.unique(y_arr, return_inverse=True)
        if len(self.classes_) < 2:
            raise HeadstartError("y has a single class; a classifier needs at least two")
        counts = np.bincount(codes)
        idx = np.arange(len(items))
        if counts.min() >= 2 and self.val_size > 0:
            n_val = max(len(self.classes_), round(self.val_size * len(items)))
            tr, va = train_test_split(idx, test_size=n_val, stratify=codes, random_state=self.seed)
        else:
            tr, va = idx, idx[:0]
        modality = self._modality()
        image_size = self.image_size
        if image_size is None and modality == "image":
            first = np.asarray(items[0]) if not isinstance(items[0], str) else None
            if first is not None and max(first.shape[:2]) <= 64:
                image_size = 96
        task = TransferTask(
            train_items=[items[i] for i in tr],
            y_train=codes[tr],
            val_items=[items[i] for i in va],
            y_val=codes[va],
            classes=[str(c) for c in self.classes_],
            modality=modality,
            backbone=self.backbone,
            seed=self.seed,
            image_size=image_size,
            progress=self.progress,
            options=dict(self.options or {}),
        )
        self.model_ = get_strategy(self.strategy)(task)
        self.timings_ = dict(task.timings)
        return self

    def predict_proba(self, X: Sequence[Any]) -> np.ndarray:
        check_is_fitted(self, "model_")
        return self.model_.predict_proba(_as_items(X))

    def predict(self, X: Sequence[Any]) -> np.ndarray:
        proba = self.predict_proba(X)  # raises NotFittedError before fit
        return self.classes_[proba.argmax(axis=1)]
