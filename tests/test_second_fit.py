"""A second fit on cached embeddings loads no backbone (its cache shards are sealed by this user) and reuses the cached
baseline and probe head (headstart.backbones.lazy, headstart.baseline_cache, headstart.strategies.head_cache),
with predictions identical to the first fit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from headstart.backbones import registry
from headstart.baseline_cache import UNSAFE_SUFFIXES, baseline_key, cached_fit_baseline
from headstart.config import FitConfig
from headstart.data import load_data, make_splits
from headstart.strategies.base import TransferTask


@pytest.fixture
def backbone_builds(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Counts every real backbone construction (all loads go through a registry builder)."""
    counts = {"n": 0}
    for arch, build in list(registry.ARCHITECTURES.items()):

        def counted(*a: Any, _build: Any = build, **k: Any) -> Any:
            counts["n"] += 1
            return _build(*a, **k)

        monkeypatch.setitem(registry.ARCHITECTURES, arch, counted)
    return counts


@pytest.mark.slow
def test_second_fit_loads_no_weights_and_reuses_the_baseline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, backbone_builds: dict[str, int]
) -> None:
    from headstart.pipeline import fit_run

    monkeypatch.setenv("HEADSTART_CACHE", str(tmp_path / "cache"))

    def fit(name: str) -> Any:
        cfg = FitConfig(
            data="builtin:digits", out=str(tmp_path / name), labels_per_class=5, max_test=100, progress=False
        )
        return fit_run(cfg)

    first = fit("first")
    assert backbone_builds["n"] >= 1 and "cached" not in first.metrics["baseline"]
    backbone_builds["n"] = 0
    second = fit("second")
    # every embedding came from shards this user sealed (headstart.embedding_cache): no spot check, no load
    assert backbone_builds["n"] == 0
    assert second.metrics["cache"]["computed"] == 0 and second.metrics["cache"]["hits"] > 0
    assert second.metrics["baseline"]["cached"] is True
    assert second.metrics["notes"]["head_cached"] is True and first.metrics["notes"]["head_cached"] is False
    for name, arr in first.transfer.head.arrays().items():  # type: ignore[attr-defined]
        np.testing.assert_array_equal(arr, second.transfer.head.arrays()[name], err_msg=name)  # type: ignore[attr-defined]
    test_items = second.data.items[second.splits.test]
    np.testing.assert_array_equal(first.baseline.predict_proba(test_items), second.baseline.predict_proba(test_items))
    for side in ("transfer", "baseline"):
        assert second.metrics[side]["accuracy"] == first.metrics[side]["accuracy"]
    assert second.metrics["verdict"]["label"] == first.metrics["verdict"]["label"]


def _task(items: Any, y: np.ndarray, idx: np.ndarray, seed: int = 0) -> TransferTask:
    half = len(idx) // 2
    return TransferTask(
        train_items=[items[i] for i in idx[:half]],
        y_train=y[idx[:half]],
        val_items=[items[i] for i in idx[half:]],
        y_val=y[idx[half:]],
        classes=["neg", "pos"],
        modality="text",
        backbone="minilm-l6",
        seed=seed,
        options={"loss": "ce", "focal_gamma": 2.0},
    )


def test_baseline_key_follows_content_split_and_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = load_data("builtin:rotten-tomatoes")
    sp = make_splits(data.y, seed=0, labels_per_class=8, classes=data.classes)
    idx = np.concatenate([sp.train, sp.val])
    items = list(data.items)
    key = baseline_key("tfidf", _task(items, data.y, idx))
    assert key == baseline_key("tfidf", _task(list(items), data.y.copy(), idx.copy()))  # same content, same key
    assert key != baseline_key("tfidf", _task(items, data.y, idx, seed=1))
    assert key != baseline_key("auto", _task(items, data.y, idx))
    changed = list(items)
    changed[int(idx[0])] = changed[int(idx[0])] + " !"
    assert key != baseline_key("tfidf", _task(changed, data.y, idx))
    assert key != baseline_key("tfidf", _task(items, data.y, idx[::-1]))  # another split of the same items
    import headstart.baselines.text as text_baseline
    from headstart.strategies import linear_head

    other = {"cv-accuracy": "cv-log-loss", "cv-log-loss": "cv-accuracy"}
    for module in (text_baseline, linear_head):  # a baseline cached under another C rule is not reused
        with monkeypatch.context() as m:
            m.setattr(module, "SELECTION", other[module.SELECTION])
            assert key != baseline_key("tfidf", _task(items, data.y, idx))
    assert key == baseline_key("tfidf", _task(items, data.y, idx))

    # a model whose saved folder holds a pickle-based file is never read back from the cache
    task = _task(items, data.y, idx)
    first, _ = cached_fit_baseline("tfidf", task, root=tmp_path)
    again, report = cached_fit_baseline("tfidf", task, root=tmp_path)
    entry = tmp_path / "baselines" / key
    if report.get("cached"):
        assert not any(p.suffix in UNSAFE_SUFFIXES for p in entry.rglob("*"))
    else:
        assert not entry.exists()
    test = [items[i] for i in sp.test[:50]]
    np.testing.assert_array_equal(first.predict_proba(test), again.predict_proba(test))


def test_edited_cache_entries_are_refitted_not_trusted(tmp_path: Path) -> None:
    """A cached baseline whose files were edited, a planted test-prediction file and a planted probe head
    (valid formats, wrong numbers) never reach a result: each is recomputed."""
    from headstart.baseline_cache import predict_cached
    from headstart.strategies.head_cache import cached_linear_head, head_key

    data = load_data("builtin:rotten-tomatoes")
    sp = make_splits(data.y, seed=0, labels_per_class=8, classes=data.classes)
    idx = np.concatenate([sp.train, sp.val])
    items = list(data.items)
    task = _task(items, data.y, idx)
    test = [items[i] for i in sp.test[:40]]
    model, _ = cached_fit_baseline("tfidf", task, root=tmp_path)
    truth = model.predict_proba(test)
    np.testing.assert_array_equal(predict_cached(model, test, "text", root=tmp_path), truth)
    (pred,) = (tmp_path / "predictions").glob("*.npy")
    np.save(pred, truth[:, ::-1])  # planted: the predictions swapped, under the right name
    again, report = cached_fit_baseline("tfidf", task, root=tmp_path)
    assert report.get("cached") is True
    np.testing.assert_array_equal(predict_cached(again, test, "text", root=tmp_path), truth)

    entry = tmp_path / "baselines" / baseline_key("tfidf", task)
    npz = next(p for p in (entry / "model").rglob("*.npz"))
    with np.load(npz) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["coef"] = -arrays["coef"]  # an edited model: valid file, negated weights
    np.savez(npz, **arrays)
    _, report = cached_fit_baseline("tfidf", task, root=tmp_path)
    assert not report.get("cached")  # refitted, not read back

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 6)), np.repeat([0, 1], 20)
    X[y == 1] += 1.0
    head, hit = cached_linear_head(X, y, 2, root=tmp_path)
    assert not hit and cached_linear_head(X, y, 2, root=tmp_path)[1]
    path = tmp_path / "heads" / f"{head_key(X, y, 2, 0, None)}.npz"
    planted = {k: -v if k == "W" else v for k, v in head.arrays().items()}
    np.savez(path, **planted)
    refit, hit = cached_linear_head(X, y, 2, root=tmp_path)
    assert not hit and np.array_equal(refit.predict_proba(X), head.predict_proba(X))
