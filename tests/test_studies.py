"""Data-efficiency curve and fold/seed variance (headstart.studies), and the variance-aware verdict rule.

The orchestration tests use a stand-in transfer strategy (word-only TF-IDF) so they need no backbone; the
linear-probe embedding reuse is covered by the slow end-to-end test at the bottom."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from headstart.baselines import text as text_baseline
from headstart.baselines.text import TfidfLogReg
from headstart.data import load_data, make_splits
from headstart.errors import HeadstartError
from headstart.evaluation.variance import sign_consistency, summarize_runs
from headstart.evaluation.verdict import apply_variance, paired_bootstrap_verdict
from headstart.pair_fitter import PairFitter
from headstart.strategies import base as strategy_base
from headstart.strategies.base import TransferTask
from headstart.study_curve import parse_fractions, run_curve
from headstart.study_splits import split_train_val, stratified_subsample
from headstart.study_variance import check_variance_config, run_variance

WORDS = {"pos": ["great", "fine", "love", "superb"], "neg": ["awful", "bad", "hate", "poor"]}


def _stand_in(task: TransferTask) -> TfidfLogReg:
    """One TF-IDF fit on train, scored on val: cheap, savable, and refittable out-of-fold by the stacker."""
    pipe = text_baseline._pipeline(10.0, None).fit(list(task.train_items), task.y_train)
    val = float((pipe.predict(list(task.val_items)) == task.y_val).mean()) if len(task.y_val) else float("nan")
    return TfidfLogReg(pipe, task.n_classes, 10.0, val)


@pytest.fixture
def stand_in(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setitem(strategy_base.STRATEGIES, "test-stand-in", _stand_in)
    monkeypatch.setitem(strategy_base.DESCRIPTIONS, "test-stand-in", "tf-idf stand-in for tests")
    return "test-stand-in"


def _texts(n: int, seed: int = 0) -> pd.DataFrame:
    """Labels carried by sentiment words; group B's texts are noisier (a planted accuracy gap)."""
    rng = np.random.default_rng(seed)
    rows = []
    filler = ["the", "movie", "plot", "was", "and", "it", "actor", "scene", "film"]
    for i in range(n):
        label = "pos" if i % 2 else "neg"
        group = "A" if i % 3 else "B"
        noise = 0.15 if group == "A" else 0.45
        cue = label if rng.random() > noise else ("neg" if label == "pos" else "pos")
        words = [*list(rng.choice(filler, 6)), str(rng.choice(WORDS[cue]))]
        rng.shuffle(words)
        rows.append({"text": " ".join(words) + f" #{i}", "label": label, "g": group})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def text_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("studies") / "reviews.csv"
    _texts(360).to_csv(path, index=False)
    return path


# ---------------------------------------------------------------------------------------------- helpers


def test_stratified_subsample_is_nested_and_keeps_every_class() -> None:
    y = np.array([0] * 20 + [1] * 8 + [2] * 3)
    idx = np.arange(len(y))
    sets = [set(stratified_subsample(y, idx, f, np.random.default_rng([5, 1]))) for f in (0.1, 0.25, 0.5, 1.0)]
    for small, big in itertools.pairwise(sets):
        assert small <= big
    assert sets[-1] == set(idx)
    first = np.array(sorted(sets[0]))
    assert np.bincount(y[first]).tolist() == [2, 1, 1]  # round(0.1 * n), at least one per class
    tr, va = split_train_val(y, first, 0.2, np.random.default_rng(0))
    assert set(tr) | set(va) == sets[0] and not set(tr) & set(va)
    assert np.bincount(y[va], minlength=3).tolist() == [1, 0, 0]  # singletons stay in train


def test_parse_fractions() -> None:
    assert parse_fractions("1, 0.5,0.1,0.5") == [0.1, 0.5, 1.0]
    assert parse_fractions(None) == [0.1, 0.25, 0.5, 1.0]
    for bad in ("0.5,abc", "0", "1.5", ""):
        with pytest.raises(HeadstartError, match="curve-fractions"):
            parse_fractions(bad)


def test_check_variance_config_messages() -> None:
    y = np.array([0] * 50 + [1] * 4)
    s = make_splits(y, seed=0, test_size=0.25)
    with pytest.raises(HeadstartError, match="class 'b' has 4"):
        check_variance_config(y, s, folds=5, seeds=None, classes=["a", "b"])
    with pytest.raises(HeadstartError, match="at least 2"):
        check_variance_config(y, s, folds=1, seeds=None, classes=["a", "b"])
    s3 = make_splits(y, seed=0, test_size=0.25, labels_per_class=3)
    with pytest.raises(HeadstartError, match="labels per class"):
        check_variance_config(y, s3, folds=3, seeds=None, classes=["a", "b"])
    check_variance_config(y, s, folds=3, seeds=2, classes=["a", "b"])


# ---------------------------------------------------------------------------------------------- verdict rule


def _variance(deltas: list[float]) -> dict[str, Any]:
    runs = [{"fold_or_seed": i, "transfer_accuracy": 0.8 + d, "baseline_accuracy": 0.8} for i, d in enumerate(deltas)]
    return summarize_runs("seeds", len(deltas), runs)


def _verdict(label: str) -> dict[str, Any]:
    y = np.zeros(400, dtype=int)
    good, bad = np.zeros(400, dtype=int), np.ones(400, dtype=int)
    pt, pb = {"helps": (good, bad), "negative-transfer": (bad, good), "no-difference": (good, good)}[label]
    v = paired_bootstrap_verdict(y, pt, pb, n_boot=200).to_dict()
    assert v["label"] == label
    return v


def test_summarize_runs_shape() -> None:
    v = _variance([0.05, -0.01, 0.03])
    assert v["mode"] == "seeds" and v["k"] == 3
    assert set(v["transfer"]) == {"mean", "std"} and set(v["delta"]) == {"mean", "std", "min", "max"}
    assert v["delta"]["min"] == pytest.approx(-0.01) and v["delta"]["max"] == pytest.approx(0.05)
    assert v["delta"]["std"] == pytest.approx(np.std([0.05, -0.01, 0.03], ddof=1))
    assert [set(r) >= {"fold_or_seed", "transfer_accuracy", "baseline_accuracy", "delta"} for r in v["runs"]]
    assert sign_consistency([0.1, 0.0, -0.2]) == {
        "n_runs": 3, "n_positive": 1, "n_negative": 1, "n_tied": 1, "all_positive": False, "all_negative": False,
    }  # fmt: skip
    with pytest.raises(ValueError):
        summarize_runs("bootstrap", 1, [])


def test_variance_rule_downgrades_inconsistent_sign_only() -> None:
    helps = _verdict("helps")
    down = apply_variance(helps, _variance([0.05, -0.01, 0.03]))
    assert down["label"] == "no-difference" and down["variance_check"]["downgraded"]
    assert down["variance_check"]["label_before"] == "helps"
    assert down["sentence"].startswith("No consistent difference") and "not consistent" in down["sentence"]
    kept = apply_variance(helps, _variance([0.05, 0.01, 0.03]))
    assert kept["label"] == "helps" and not kept["variance_check"]["downgraded"]
    assert "the sign is consistent" in kept["sentence"]
    neg = apply_variance(_verdict("negative-transfer"), _variance([-0.05, 0.0]))  # a tie breaks consistency
    assert neg["label"] == "no-difference"
    assert apply_variance(_verdict("negative-transfer"), _variance([-0.05, -0.02]))["label"] == "negative-transfer"
    never_up = apply_variance(_verdict("no-difference"), _variance([0.05, 0.04]))
    assert never_up["label"] == "no-difference" and not never_up["variance_check"]["downgraded"]


# ---------------------------------------------------------------------------------------------- orchestration


def test_curve_and_variance_with_stand_in_strategy(text_csv: Path, stand_in: str) -> None:
    data = load_data(str(text_csv))
    splits = make_splits(data.y, seed=0, labels_per_class=15, max_test=60)
    fitter = PairFitter(data=data, strategy=stand_in, backbone="minilm-l6", baseline="tfidf")
    curve = run_curve(fitter, splits, fractions=[0.1, 1.0], n_seeds=2, seed=0)
    assert [p["fraction"] for p in curve["points"]] == [0.1, 1.0]
    p10, p100 = curve["points"]
    assert p10["n_labeled"] == 4 and p100["n_labeled"] == 30 and p100["labels_per_class"] == 15.0
    for p in curve["points"]:
        assert {"transfer_mean", "transfer_std", "baseline_mean", "baseline_std", "n_seeds"} <= set(p)
        assert p["n_seeds"] == 2 and 0.0 <= p["transfer_mean"] <= 1.0
    assert p100["baseline_mean"] > 0.6 and p100["transfer_mean"] > 0.6
    assert curve["strategy"] == stand_in and curve["baseline"] == "tfidf" and not curve["embeddings_reused"]

    rep = run_variance(fitter, splits, folds=2, seeds=2)  # 2 folds repeated twice
    assert rep["mode"] == "folds" and rep["k"] == 2 and rep["repeats"] == 2 and len(rep["runs"]) == 4
    assert [(r["repeat"], r["fold_or_seed"]) for r in rep["runs"]] == [(0, 0), (0, 1), (1, 0), (1, 1)]
    for r in rep["runs"]:
        assert r["n_labeled"] == 30 and r["n_test"] <= 60  # same label budget and test cap as the run
    seeds = run_variance(fitter, splits, seeds=2, main_result=(0.5, 0.25))
    assert seeds["mode"] == "seeds" and [r["fold_or_seed"] for r in seeds["runs"]] == [0, 1]
    assert seeds["runs"][0]["main_run"] and seeds["runs"][0]["delta"] == pytest.approx(0.25)


def test_fit_run_writes_audit_curve_variance_and_stack(tmp_path: Path, text_csv: Path, stand_in: str) -> None:
    from headstart.pipeline import FitConfig, fit_run, predict_run

    cfg = FitConfig(
        data=str(text_csv),
        out=str(tmp_path / "run"),
        strategy=stand_in,
        baseline="tfidf",
        labels_per_class=20,
        max_test=100,
        group_columns=["g"],
        curve=True,
        curve_fractions=[0.5, 1.0],
        curve_seeds=1,
        folds=2,
        ship="stack",
        progress=False,
    )
    r = fit_run(cfg)
    m = r.metrics
    assert set(m) >= {"audit", "curve", "variance", "stack", "shipped"}
    g = m["audit"]["g"]
    rows = {x["group"]: x for x in g["groups"]}
    assert set(rows) == {"A", "B"} and rows["A"]["n"] + rows["B"]["n"] == m["verdict"]["n_test"]
    assert rows["A"]["transfer"]["accuracy"] > rows["B"]["transfer"]["accuracy"]  # the planted gap
    assert g["change"] in ("widened", "narrowed", "unchanged (within noise)")
    assert len(m["curve"]["points"]) == 2 and m["variance"]["k"] == 2
    assert "variance_check" in m["verdict"] and m["verdict"]["variance_check"]["n_runs"] == 2
    assert m["stack"]["combiner"]["sources"]["transfer"].startswith("out-of-fold")
    assert m["shipped"]["side"] in ("stack", "transfer", "baseline") and m["shipped"]["reason"]
    card = (r.out / "MODEL_CARD.md").read_text()
    assert "Subgroup audit" in card and "`g`" in card
    new = tmp_path / "new.csv"
    pd.DataFrame({"text": ["love it superb", "awful and bad"]}).to_csv(new, index=False)
    pred = predict_run(r.out, str(new), side="stack")
    assert list(pred["prediction"]) == ["pos", "neg"]
    with pytest.raises(HeadstartError, match="positive-class"):
        fit_run(FitConfig(**{**cfg.__dict__, "out": str(tmp_path / "bad"), "positive_class": "maybe"}))
    with pytest.raises(HeadstartError, match="--ship"):
        fit_run(FitConfig(**{**cfg.__dict__, "out": str(tmp_path / "bad2"), "ship": "both"}))


@pytest.mark.slow
def test_curve_reuses_linear_probe_embeddings(tmp_path: Path) -> None:
    """MiniLM linear probe on Rotten Tomatoes: the curve refits only the head on embeddings extracted once."""
    from headstart.pipeline import FitConfig, fit_run

    cfg = FitConfig(
        data="builtin:rotten-tomatoes",
        out=str(tmp_path / "rt"),
        backbone="minilm-l6",
        labels_per_class=16,
        max_test=200,
        curve=True,
        curve_fractions=[0.25, 1.0],
        curve_seeds=2,
        seeds=2,
        progress=False,
    )
    m = fit_run(cfg).metrics
    assert m["curve"]["embeddings_reused"] and m["curve"]["extraction"]["computed"] == 0
    p25, p100 = m["curve"]["points"]
    assert p25["n_labeled"] == 8 and p100["n_labeled"] == 32
    assert p100["transfer_mean"] > 0.6
    assert m["variance"]["mode"] == "seeds" and m["variance"]["runs"][0]["main_run"]
