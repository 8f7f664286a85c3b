"""End-to-end `fit` on real bundled data: verdicts that must come out a given way, the run directory,
cache reuse, `predict`, and the scikit-learn estimator."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from headstart.pipeline import FitConfig, fit_run, load_run, predict_run

RUN_FILES = {"config.json", "splits.json", "metrics.json", "predictions.csv", "MODEL_CARD.md", "model", "baseline"}


def _fit(tmp_path: Path, name: str, **kw: object) -> object:
    cfg = FitConfig(out=str(tmp_path / name), progress=False, **kw)  # type: ignore[arg-type]
    return fit_run(cfg)


@pytest.mark.slow
def test_rotten_tomatoes_16_per_class_minilm_helps(tmp_path: Path) -> None:
    r = _fit(tmp_path, "rt", data="builtin:rotten-tomatoes", backbone="minilm-l6", labels_per_class=16)
    m = r.metrics
    assert m["verdict"]["label"] == "helps", m["verdict"]["sentence"]
    assert m["transfer"]["accuracy"] > m["baseline"]["accuracy"]
    assert m["baseline"]["name"].startswith("TF-IDF")
    assert m["verdict"]["n_test"] == 2000
    assert m["data"]["split_sizes"]["train"] + m["data"]["split_sizes"]["val"] == 32
    assert {p.name for p in r.out.iterdir()} >= RUN_FILES
    card = (r.out / "MODEL_CARD.md").read_text()
    front = yaml.safe_load(card.split("---")[1])
    assert front["base_model"] == "minilm-l6" and front["license"] == "apache-2.0"
    assert "53aa51172d142c89" in card and "helps" in card


@pytest.mark.slow
def test_planted_random_backbone_does_not_help(tmp_path: Path) -> None:
    r = _fit(
        tmp_path,
        "rt-random",
        data="builtin:rotten-tomatoes",
        backbone="minilm-l6:random",
        labels_per_class=16,
        max_test=1000,
    )
    assert r.metrics["verdict"]["label"] in ("no-difference", "negative-transfer"), r.metrics["verdict"]["sentence"]


@pytest.mark.slow
def test_mnist_imagenet_probe_is_negative_transfer(tmp_path: Path) -> None:
    r = _fit(tmp_path, "mnist", data="builtin:mnist5k", backbone="mobilenetv2", labels_per_class=50)
    v = r.metrics["verdict"]
    assert v["label"] == "negative-transfer", v["sentence"]
    assert r.metrics["baseline"]["name"] == "small CNN from scratch"
    # the guard: a run whose transfer side lost on validation ships the baseline
    assert r.metrics["shipped"]["side"] == "baseline"


def test_digits_run_dir_cache_reuse_and_predict(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEADSTART_CACHE", str(tmp_path / "cache"))
    first = _fit(
        tmp_path, "d1", data="builtin:digits", backbone="mobilenetv2", labels_per_class=10, image_size=32, max_test=300
    )
    second = _fit(
        tmp_path,
        "d2",
        data="builtin:digits",
        backbone="mobilenetv2",
        labels_per_class=10,
        image_size=32,
        max_test=300,
        seed=0,
    )
    n_labeled = 100  # 10 per class x 10 classes
    assert first.metrics["cache"]["computed"] == n_labeled and first.metrics["cache"]["hits"] == 0
    assert second.metrics["cache"]["hits"] == n_labeled and second.metrics["cache"]["computed"] == 0
    assert second.metrics["timing"]["transfer_embed_train"] < first.metrics["timing"]["transfer_embed_train"]
    assert first.metrics["transfer"]["accuracy"] == second.metrics["transfer"]["accuracy"]  # deterministic

    splits = json.loads((first.out / "splits.json").read_text())
    assert len(splits["test"]) == 300 and not set(splits["test"]) & set(splits["train"])
    preds = pd.read_csv(first.out / "predictions.csv")
    assert len(preds) == 300 and {"label", "prediction", "transfer_prediction", "baseline_prediction"} <= set(preds)
    out = predict_run(first.out, "builtin:digits", side="transfer")
    by_id = out.set_index("id")["prediction"].astype(str)
    test_rows = preds.set_index("id")
    assert (by_id.loc[test_rows.index].to_numpy() == test_rows["transfer_prediction"].astype(str).to_numpy()).all()


def test_partial_run_is_not_loadable(tmp_path: Path) -> None:
    partial = tmp_path / "run.partial"
    partial.mkdir()
    (partial / "config.json").write_text("{}")
    from headstart.errors import HeadstartError

    with pytest.raises(HeadstartError, match="interrupted run"):
        load_run(tmp_path / "run")
    (tmp_path / "run").mkdir()
    with pytest.raises(HeadstartError, match="not a complete headstart run"):
        load_run(tmp_path / "run")


def test_transfer_classifier_in_sklearn_pipeline_and_cross_val() -> None:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    from headstart import TransferClassifier

    d = load_digits()
    rng = np.random.default_rng(0)
    idx = rng.choice(len(d.target), 300, replace=False)
    X = (d.images[idx] * 16).clip(0, 255).astype(np.uint8)
    y = d.target[idx]
    clf = TransferClassifier(backbone="mobilenetv2", image_size=32)
    pipe = make_pipeline(FunctionTransformer(lambda a: a), clf)
    scores = cross_val_score(pipe, X, y, cv=3)
    assert scores.mean() > 0.6  # frozen ImageNet features on 8x8 digits: well above chance (0.1)
    clf.fit(X[:200], y[:200])
    assert set(clf.classes_) == set(range(10)) and hasattr(clf, "model_")
    proba = clf.predict_proba(X[200:])
    assert proba.shape == (100, 10) and np.allclose(proba.sum(1), 1, atol=1e-5)
    assert clf.score(X[200:], y[200:]) > 0.6
    assert clf.get_params()["backbone"] == "mobilenetv2"


def test_transfer_classifier_text_labels_are_strings() -> None:
    from headstart import TransferClassifier
    from headstart.data import load_data

    data = load_data("builtin:rotten-tomatoes")
    rng = np.random.default_rng(0)
    idx = rng.choice(len(data.y), 120, replace=False)
    X = [data.items[i] for i in idx]
    y = np.array(data.classes)[data.y[idx]]
    clf = TransferClassifier(backbone="minilm-l6").fit(X[:80], y[:80])
    assert set(clf.predict(X[80:])) <= {"fresh", "rotten"}
    assert 0.0 <= clf.score(X[80:], y[80:]) <= 1.0
