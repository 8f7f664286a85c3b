"""The TF-IDF baseline's C: chosen by the rule named by ``SELECTION`` (fold accuracy; log-loss on request), and
the one-pass C path gives the same numbers as scoring every C from scratch with scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.model_selection import StratifiedKFold, cross_validate

from headstart.baselines import text
from headstart.data import load_data, make_splits


@pytest.fixture(scope="module")
def labeled() -> tuple[list[str], np.ndarray]:
    data = load_data("builtin:spam")
    sp = make_splits(data.y, seed=0, labels_per_class=16, classes=data.classes)
    idx = np.concatenate([sp.train, sp.val])
    return [data.items[i] for i in idx], data.y[idx]


def test_cv_path_matches_sklearn_cross_validation(labeled: tuple[list[str], np.ndarray]) -> None:
    texts, y = labeled
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)
    loss, acc = text._cv_path(texts, y, 5, seed=0, class_weight=None, branches=tuple(text.BRANCHES))
    for C in text.TFIDF_CS:
        ref = cross_validate(text._pipeline(C, None), texts, y, cv=folds, scoring=("accuracy", "neg_log_loss"))
        assert acc[C] == pytest.approx(ref["test_accuracy"].mean(), abs=1e-9)
        assert loss[C] == pytest.approx(-ref["test_neg_log_loss"].mean(), rel=1e-9)


def test_the_named_rule_chooses_c(labeled: tuple[list[str], np.ndarray], monkeypatch: pytest.MonkeyPatch) -> None:
    texts, y = labeled
    loss, acc = text._cv_path(texts, y, 5, seed=0, class_weight=None, branches=tuple(text.BRANCHES))
    assert text.SELECTION == "cv-accuracy"
    fitted = text.TfidfLogReg.fit(texts, y, 2, seed=0)
    assert acc[fitted.C] == max(acc.values()) and fitted.val_accuracy == acc[fitted.C]
    monkeypatch.setattr(text, "SELECTION", "cv-log-loss")
    by_loss = text.TfidfLogReg.fit(texts, y, 2, seed=0)
    assert loss[by_loss.C] == min(loss.values())
