"""``--ship stack``: honest (out-of-fold / validation) combiner inputs, save/load as a model kind, the guard."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

from headstart.baselines.image import PixelLogReg
from headstart.data import load_data, make_splits
from headstart.models import load_model
from headstart.stacking import (
    StackedModel,
    choose_stack,
    fit_stack,
    oof_proba,
    stack_features,
    validation_is_decisive,
)


@pytest.fixture(scope="module")
def digits_parts() -> dict[str, Any]:
    d = load_data("builtin:digits")
    s = make_splits(d.y, seed=0, labels_per_class=12, max_test=300)
    items = lambda idx: d.items[idx]  # noqa: E731
    lab = np.concatenate([s.train, s.val])
    return {
        "d": d,
        "s": s,
        "items": items,
        # two honest-but-different sides: 8 px and 4 px pixel logistic regressions
        "a": PixelLogReg.fit(items(lab), d.y[lab], 10, side=8, gray=True),
        "b": PixelLogReg.fit(items(lab), d.y[lab], 10, side=4, gray=True),
    }


def test_stack_features_are_centred_log_probs() -> None:
    p = np.array([[0.5, 0.5], [0.9, 0.1]])
    f = stack_features([p, p])
    assert f.shape == (2, 4)
    assert np.allclose(f.sum(axis=1), 0.0) and np.allclose(f[0], 0.0)


def test_oof_and_stack_roundtrip(tmp_path: Path, digits_parts: dict[str, Any]) -> None:
    d, s, items, a, b = (digits_parts[k] for k in ("d", "s", "items", "a", "b"))
    lab = np.concatenate([s.train, s.val])
    oof = oof_proba(a, items(lab), d.y[lab], 10, seed=0)
    assert oof is not None and oof.shape == (len(lab), 10) and np.allclose(oof.sum(1), 1.0)
    stack = fit_stack(a, b, items(s.train), d.y[s.train], items(s.val), d.y[s.val], 10, seed=0)
    assert stack.info["combiner_rows"] == len(lab)
    assert set(stack.info["sources"].values()) == {"out-of-fold (5-fold) on train+val"}
    p = stack.predict_proba(items(s.test))
    acc = float((p.argmax(1) == d.y[s.test]).mean())
    assert acc > 0.8
    # saved next to the run's model/ and baseline/ folders; load_model rebuilds the whole stack
    a.save(tmp_path / "model")
    b.save(tmp_path / "baseline")
    stack.save(tmp_path / "stack")
    again = load_model(tmp_path / "stack")
    assert isinstance(again, StackedModel) and again.name == stack.name
    assert np.allclose(again.predict_proba(items(s.test)), p, atol=1e-6)


class _NoRefit:
    """A model without a cheap refit recipe (like the small CNN): the stack falls back to validation rows."""

    kind: ClassVar[str] = "test-no-refit"
    name = "no-refit wrapper"

    def __init__(self, inner: PixelLogReg) -> None:
        self.inner = inner
        self.val_accuracy = inner.val_accuracy

    def predict_proba(self, items: Any) -> np.ndarray:
        return self.inner.predict_proba(items)


def test_validation_split_fallback(digits_parts: dict[str, Any]) -> None:
    d, s, items, a, b = (digits_parts[k] for k in ("d", "s", "items", "a", "b"))
    stack = fit_stack(a, _NoRefit(b), items(s.train), d.y[s.train], items(s.val), d.y[s.val], 10, seed=0)  # type: ignore[arg-type]
    assert stack.info["combiner_rows"] == len(s.val)
    assert stack.info["sources"]["baseline"] == "validation split"


def test_choose_stack_guard_and_decisiveness() -> None:
    assert choose_stack(0.80, 0.85, 0.86)[0] == "stack"
    assert choose_stack(0.80, 0.85, 0.85)[0] == "stack"  # a tie goes to what was asked for
    side, why = choose_stack(0.80, 0.85, 0.82)
    assert side == "baseline" and "below" in why
    assert choose_stack(0.9, 0.85, float("nan"))[0] == "transfer"
    assert validation_is_decisive(0.95, 0.6, 400)[0]
    decisive, note = validation_is_decisive(0.617, 0.867, 16)
    assert not decisive and "16 labeled" in note
