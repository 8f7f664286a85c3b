"""The precision cascade for text probes (issue 15 §3): int8 for every text, fp32 again near the decision
boundary. On real reviews it keeps the fp32 probe's labels while re-embedding only a minority of the texts,
it is off where it must be (fit's own scoring, an explicit backend, a CPU where auto is not ONNX fp32), and a
stored error that is not a number is refused."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import headstart.backend_choice as backend_choice
import headstart.strategies.precision_cascade as precision_cascade
from headstart.data import LabeledData, load_data
from headstart.errors import HeadstartError
from headstart.models import load_model
from headstart.strategies import TransferTask, get_strategy
from headstart.strategies.fewshot_text import FewshotTextModel, blend
from headstart.strategies.linear_probe import LinearProbeModel
from headstart.strategies.precision_cascade import describe, enable, error_bound, plan

MIN_ITEMS = 256  # the tests' gate: the shipped one (1024) needs more texts than a unit test should embed


@pytest.fixture(autouse=True)
def _avx2_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    """As on a CPU without AMX / AVX512-BF16 (where auto runs ONNX Runtime fp32 text), whatever this one has."""
    monkeypatch.setattr(backend_choice, "cpu_has_fast_bf16", lambda: False)
    monkeypatch.delenv("HEADSTART_BACKEND", raising=False)
    monkeypatch.setattr(precision_cascade, "MIN_ITEMS", MIN_ITEMS)


@pytest.fixture(scope="module")
def reviews() -> tuple[LabeledData, np.ndarray, np.ndarray]:
    data = load_data("builtin:rotten-tomatoes")
    perm = np.random.default_rng(7).permutation(len(data.y))
    return data, perm[:200], perm[200:800]


def _fit(data: LabeledData, idx: np.ndarray) -> LinearProbeModel:
    half = len(idx) // 2
    task = TransferTask(
        train_items=[data.items[i] for i in idx[:half]],
        y_train=data.y[idx[:half]],
        val_items=[data.items[i] for i in idx[half:]],
        y_val=data.y[idx[half:]],
        classes=data.classes,
        modality="text",
        backbone="minilm-l6",
        progress=False,
    )
    model = get_strategy("linear-probe")(task)
    assert "calibrate_int8" in task.timings
    return model  # type: ignore[no-any-return]


def test_cascade_keeps_the_fp32_labels_on_reviews(reviews: tuple[LabeledData, np.ndarray, np.ndarray]) -> None:
    data, train, new = reviews
    probe = _fit(data, train)
    assert probe.cascade_errors is not None and len(probe.cascade_errors) == 200 and probe.cascade_errors.max() > 0
    texts = [data.items[i] for i in new]
    exact = probe.predict_proba(texts)  # fit-time scoring: the cascade is off until predict turns it on
    assert probe.last_cascade is None
    enable(probe)
    fast = probe.predict_proba(texts)
    got = probe.last_cascade
    assert got is not None and got.n_items == len(texts)
    assert 0 < got.rechecked < 0.5 * len(texts), got  # some texts went back to fp32, most did not
    assert (fast.argmax(1) == exact.argmax(1)).mean() >= 0.995
    # the texts not re-embedded really ran in int8: their probabilities moved off the fp32 ones
    assert not np.allclose(fast, exact, atol=1e-6)
    assert "texts in int8" in (describe([probe]) or "")
    # an error no margin exceeds sends every text back to fp32: exactly the fp32 probabilities
    probe.cascade_errors = np.array([1e30])
    np.testing.assert_allclose(probe.predict_proba(texts), exact, atol=1e-6)
    assert probe.last_cascade is not None and probe.last_cascade.rechecked == len(texts)


def test_cascade_is_off_for_an_explicit_backend_and_a_bf16_cpu(
    reviews: tuple[LabeledData, np.ndarray, np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    data, train, new = reviews
    probe = _fit(data, train)
    enable(probe)
    texts = [data.items[i] for i in new[:MIN_ITEMS]]
    probe.predict_proba(texts[:-1])  # one text short of the gate (a second ONNX session must pay): fp32
    assert probe.last_cascade is None
    probe.predict_proba(texts)
    assert probe.last_cascade is not None
    monkeypatch.setenv("HEADSTART_BACKEND", "onnx-fp32")
    probe.predict_proba(texts)
    assert probe.last_cascade is None and describe([probe]) is None
    monkeypatch.delenv("HEADSTART_BACKEND")
    monkeypatch.setattr(backend_choice, "cpu_has_fast_bf16", lambda: True)  # auto would run torch bf16 here
    probe.predict_proba(texts)
    assert probe.last_cascade is None


def test_blend_through_the_cascade_is_the_blend(reviews: tuple[LabeledData, np.ndarray, np.ndarray]) -> None:
    """fewshot-text's blend adds TF-IDF log-probabilities int8 never touches; with every text re-checked it is
    exactly blend(p_probe, p_tfidf), and with the stored error it keeps the labels."""
    from headstart.baselines.text import TfidfLogReg

    data, train, new = reviews
    words = TfidfLogReg.fit([data.items[i] for i in train], data.y[train], len(data.classes), seed=0)
    model = FewshotTextModel("blend", _fit(data, train), words)
    texts = [data.items[i] for i in new[:300]]
    reference = blend(model.probe.predict_proba(texts), model.tfidf.predict_proba(texts))
    exact = model.predict_proba(texts)
    np.testing.assert_allclose(exact, reference, atol=1e-6)
    assert enable(model) == [model.probe]
    fast = model.predict_proba(texts)
    assert model.probe.last_cascade is not None
    assert (fast.argmax(1) == exact.argmax(1)).mean() >= 0.99
    model.probe.cascade_errors = np.array([1e30])
    np.testing.assert_allclose(model.predict_proba(texts), reference, atol=1e-6)


@pytest.mark.parametrize("bad", [[-1.0], ["0.1"], [float("nan")], 0.1, [], [True]])
def test_a_stored_error_that_is_not_a_number_is_refused(
    reviews: tuple[LabeledData, np.ndarray, np.ndarray], tmp_path: Path, bad: object
) -> None:
    data, train, _ = reviews
    probe = _fit(data, train[:40])
    probe.save(tmp_path / "m")
    again = load_model(tmp_path / "m").cascade_errors  # type: ignore[attr-defined]
    np.testing.assert_array_equal(again, probe.cascade_errors)
    meta = json.loads((tmp_path / "m" / "meta.json").read_text())
    meta["cascade_errors"] = bad
    (tmp_path / "m" / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(HeadstartError, match="cascade_errors"):
        load_model(tmp_path / "m")
    del meta["cascade_errors"]  # a model saved before the cascade existed predicts in fp32
    (tmp_path / "m" / "meta.json").write_text(json.dumps(meta))
    assert load_model(tmp_path / "m").cascade_errors is None  # type: ignore[attr-defined]


def test_plan_narrows_a_few_shot_bound_with_the_items_it_rechecks() -> None:
    """16 stored errors alone need a widened bound; the errors measured on stage 1's items narrow it."""
    rng = np.random.default_rng(0)
    stored = rng.uniform(0.0, 1.0, 16)
    margins = np.linspace(0.0, 3.0, 301)
    truth = rng.uniform(0.0, 1.0, 301)  # the int8 error of each predicted item, as recheck would measure it
    asked: list[np.ndarray] = []

    def recheck(idx: np.ndarray) -> np.ndarray:
        asked.append(idx)
        return truth[idx]

    redo = plan(stored, margins, recheck)
    q = float(np.quantile(stored, 0.99))
    assert set(asked[0]) == set(np.flatnonzero(margins < q))  # stage 1: below the plain quantile
    bound = error_bound(np.concatenate([stored, truth[asked[0]]]))
    assert error_bound(stored) > bound  # the larger sample needs less widening
    assert set(redo) == set(np.flatnonzero(margins < max(q, bound))) and len(set(redo)) == len(redo)
