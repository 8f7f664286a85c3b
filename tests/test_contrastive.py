"""The contrastive strategy on real data: it learns (beats TF-IDF on Rotten Tomatoes at K=16), its saved model
predicts identically after loading, and a seed makes it deterministic."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from headstart.baselines.text import TfidfLogReg
from headstart.data import load_data, make_splits
from headstart.errors import HeadstartError
from headstart.models import load_model
from headstart.strategies import TransferTask, get_strategy
from headstart.strategies.contrastive import _options
from headstart.strategies.contrastive_model import ContrastiveModel
from headstart.strategies.contrastive_states import LOWER_CACHE
from headstart.strategies.contrastive_training import _folds, pair_loss

K = 16
MAX_TEST = 400


@pytest.fixture(scope="module")
def rotten() -> tuple[Any, Any]:
    data = load_data("builtin:rotten-tomatoes")
    return data, make_splits(data.y, seed=0, labels_per_class=K, max_test=MAX_TEST)


def _task(data: Any, splits: Any, **options: Any) -> TransferTask:
    return TransferTask.from_splits(data, splits, "minilm-l6", seed=0, progress=False, options=options)


@pytest.mark.slow
def test_contrastive_beats_tfidf_and_round_trips(rotten: tuple[Any, Any], tmp_path: Path) -> None:
    data, splits = rotten
    test_items, y_test = [data.items[i] for i in splits.test], data.y[splits.test]
    task = _task(data, splits)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small batches: a second thread mostly spins (CPU time, not speed)
    try:
        model = get_strategy("contrastive")(task)
    finally:
        torch.set_num_threads(threads)
    proba = model.predict_proba(test_items)
    acc = float((proba.argmax(1) == y_test).mean())

    labeled = np.concatenate([splits.train, splits.val])
    tfidf = TfidfLogReg.fit([data.items[i] for i in labeled], data.y[labeled], 2, seed=0)
    acc_tfidf = float((tfidf.predict_proba(test_items).argmax(1) == y_test).mean())
    majority = float(np.bincount(y_test).max() / len(y_test))
    assert acc >= acc_tfidf + 0.03, (acc, acc_tfidf)
    # 400 test items: one standard error is ~2.4 points. Measured here 60.5% vs majority 57.75% (the 2000-item
    # benchmark split of seed 0 gives 63.9% vs 57.8%, benchmarks/results/contrastive.md)
    assert acc >= majority + 0.02, (acc, majority)
    assert 0.0 <= model.val_accuracy <= 1.0
    notes = task.notes["contrastive"]
    assert notes["n_folds"] == 4 and 0 <= notes["best_epoch"] <= notes["epochs_run"]  # epochs chosen by 4-fold CV
    assert len(model.history) == notes["epochs_run"] + 1

    model.save(tmp_path / "model")
    saved = {p.name for p in (tmp_path / "model").iterdir()}
    assert {"meta.json", "encoder_top.safetensors", "head.npz"} <= saved
    assert (tmp_path / "model" / "encoder_top.safetensors").stat().st_size < 20 * 2**20  # 2 of 6 layers (~14 MB)
    LOWER_CACHE.data.clear()  # the loaded model recomputes the frozen lower layers itself
    LOWER_CACHE.bytes = 0
    loaded = load_model(tmp_path / "model")
    assert isinstance(loaded, ContrastiveModel)
    np.testing.assert_allclose(loaded.predict_proba(test_items[:64]), proba[:64], rtol=0, atol=1e-6)
    np.testing.assert_array_equal(loaded.predict_proba(test_items), model.predict_proba(test_items))


def test_contrastive_is_deterministic_with_a_seed(rotten: tuple[Any, Any]) -> None:
    data, splits = rotten
    items = [data.items[i] for i in splits.test[:32]]
    opts = {"epochs": 3, "patience": 10, "cv_folds": 2}
    p1 = get_strategy("contrastive")(_task(data, splits, **opts)).predict_proba(items)
    p2 = get_strategy("contrastive")(_task(data, splits, **opts)).predict_proba(items)
    np.testing.assert_array_equal(p1, p2)


def test_pair_losses_prefer_separated_classes() -> None:
    y = torch.tensor([0, 0, 1, 1])
    good = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
    bad = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.9, 0.1], [0.1, 0.9]])
    for kind in ("cosine", "supcon"):
        assert pair_loss(good, y, kind, 0.1) < pair_loss(bad, y, kind, 0.1)
    with pytest.raises(HeadstartError):
        pair_loss(good, y, "triplet", 0.1)


def test_epoch_selection_folds_cover_every_labeled_item_once() -> None:
    y = np.array([0] * 13 + [1] * 13)  # K=16-like: train 10 + val 3 per class
    opts = _options(TransferTask([], y[:20], [], y[20:], ["a", "b"], "text", "minilm-l6"))
    folds = _folds(y, 20, opts, seed=0)
    assert len(folds) == 4
    held = np.sort(np.concatenate([ho for _, ho in folds]))
    np.testing.assert_array_equal(held, np.arange(len(y)))
    for tr, ho in folds:
        assert not set(tr) & set(ho) and set(np.unique(y[ho])) == {0, 1}
    val = _folds(y, 20, {**opts, "select": "val"}, seed=0)
    assert len(val) == 1 and list(val[0][1]) == list(range(20, 26))
    assert _folds(np.array([0, 0, 1]), 2, opts, seed=0) == []  # a class with one item: nothing to hold out
    with pytest.raises(HeadstartError, match="select"):
        _options(TransferTask([], y, [], y, ["a", "b"], "text", "minilm-l6", options={"select": "test"}))


def test_contrastive_rejects_images() -> None:
    task = TransferTask(
        train_items=[np.zeros((8, 8), np.uint8)] * 2,
        y_train=np.array([0, 1]),
        val_items=[],
        y_val=np.array([], dtype=np.int64),
        classes=["a", "b"],
        modality="image",
        backbone="mobilenetv2",
    )
    with pytest.raises(HeadstartError, match="text"):
        get_strategy("contrastive")(task)
