"""Regression targets: task detection, metrics, the MAE verdict on a case with a known answer (a model trained
on shuffled targets), conformal intervals, pickle-free regression baselines, and a diabetes run end to end."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import mean_absolute_error, r2_score

from headstart.baselines.regression import TfidfRidge
from headstart.baselines.tabular import TabularLinear, TreeModel
from headstart.data import load_data, make_splits
from headstart.data.targets import regression_strata, resolve_task
from headstart.errors import HeadstartError
from headstart.evaluation.compare import Arm, Comparison, judge, regression_reference_arms
from headstart.evaluation.metrics import interval_coverage, regression_summary
from headstart.models import load_model


def test_task_detection() -> None:
    rng = np.random.default_rng(0)
    assert resolve_task(["pos", "neg", "pos"], "auto", where="x") == "classification"
    assert resolve_task([str(k) for k in rng.integers(0, 5, 300)], "auto", where="x") == "classification"
    assert resolve_task([f"{v:.2f}" for v in rng.normal(size=300)], "auto", where="x") == "regression"
    assert resolve_task(list(range(300)), "auto", where="x") == "regression"
    with pytest.raises(HeadstartError) as err:
        resolve_task([str(k) for k in rng.integers(0, 15, 300)], "auto", where="t.csv: column 'y'")
    assert "\n" not in str(err.value) and "--task classification or --task regression" in str(err.value)
    with pytest.raises(HeadstartError, match="row 2 has 'high'"):
        resolve_task(["1.5", "high"], "regression", where="t.csv: column 'y'")


def test_text_csv_with_a_numeric_rating_is_regression(tmp_path: Path) -> None:
    words = load_data("builtin:word-pleasantness")
    df = pd.DataFrame({"text": words.items[:400], "label": words.y[:400]})
    df.to_csv(tmp_path / "ratings.csv", index=False)
    data = load_data(tmp_path / "ratings.csv")
    assert data.task == "regression" and data.modality == "text" and data.classes == []
    np.testing.assert_allclose(data.y, words.y[:400])
    model = TfidfRidge.fit(data.items[:300], data.y[:300])
    model.save(tmp_path / "m")
    assert {p.suffix for p in (tmp_path / "m").iterdir()} <= {".json", ".npz"}
    np.testing.assert_allclose(load_model(tmp_path / "m").predict(data.items[300:]), model.predict(data.items[300:]))


def _diabetes_split(test_size: float = 0.2) -> tuple[Any, Any]:
    data = load_data("builtin:diabetes")
    return data, make_splits(regression_strata(data.y), seed=0, test_size=test_size)


def test_summary_matches_sklearn() -> None:
    data, s = _diabetes_split()
    take = lambda idx: [data.items[i] for i in idx]  # noqa: E731
    trees = TreeModel.fit(take(s.train), data.y[s.train], take(s.val), data.y[s.val], 0)
    pred, y = trees.predict(take(s.test)), data.y[s.test]
    m = regression_summary(y, pred)
    assert m["mae"] == pytest.approx(mean_absolute_error(y, pred))
    assert m["r2"] == pytest.approx(r2_score(y, pred))
    assert 0.2 < m["spearman"] <= 1.0 and m["rmse"] >= m["mae"]


def test_mae_verdict_against_a_shuffled_target_control() -> None:
    data, s = _diabetes_split(test_size=0.4)
    take = lambda idx: [data.items[i] for i in idx]  # noqa: E731
    y_tr, y_va, y_te = data.y[s.train], data.y[s.val], data.y[s.test]
    labeled, y_lab = take(s.train) + take(s.val), np.r_[y_tr, y_va]
    real = TabularLinear.fit(labeled, y_lab, 0, seed=0)
    control = TabularLinear.fit(labeled, np.random.default_rng(0).permutation(y_lab), 0, seed=0)
    trees = TreeModel.fit(take(s.train), y_tr, take(s.val), y_va, 0, seed=0)
    test = take(s.test)
    arms = {
        "real": Arm("real", "transfer", "ridge on the real target", real.predict(test)),
        "shuffled": Arm("shuffled", "baseline", "ridge on shuffled targets", control.predict(test)),
    }
    arms.update({a.name: a for a in regression_reference_arms(np.r_[y_tr, y_va], len(y_te))})
    v = judge(Comparison("real", "shuffled"), arms, y_te)
    assert v["metric"] == "absolute error" and np.isfinite(v["a_score"]) and v["ci_low"] < v["ci_high"]
    assert v["label"] == "helps" and v["delta"] > 0, v["sentence"]
    assert judge(Comparison("shuffled", "real"), arms, y_te)["label"] == "negative-transfer"
    # 90% split-conformal half-width from the validation residuals: close to 90% coverage on test
    for model in (real, trees):
        assert 0.75 <= interval_coverage(y_te, model.predict(test), model.halfwidth) <= 1.0


@pytest.mark.slow
def test_diabetes_run_end_to_end(tmp_path: Path) -> None:
    from headstart.config import FitConfig
    from headstart.pipeline import fit_run, predict_run

    result = fit_run(FitConfig(data="builtin:diabetes", out=str(tmp_path / "run"), max_test=150, progress=False))
    m = result.metrics
    assert m["data"]["task"] == "regression" and m["verdict"]["metric"] == "absolute error"
    for side in ("transfer", "baseline"):
        assert np.isfinite(m[side]["mae"]) and np.isfinite(m[side]["interval"]["halfwidth"])
    v = m["verdict"]
    assert v["ci_low"] <= v["delta"] <= v["ci_high"] and v["label"] in ("helps", "no-difference", "negative-transfer")
    assert m["references"]["median"]["mae"] > min(m["transfer"]["mae"], m["baseline"]["mae"])
    # the change in MAE said with its direction, never "MAE -7.2 lower"
    assert re.search(r"MAE \d[\d.e+]* (lower|higher) \(95% CI of the (drop|rise) ", v["sentence"]), v["sentence"]
    assert re.search(r"on validation \(MAE \d+\.\d{3} vs MAE \d+\.\d{3}\)", m["shipped"]["reason"])  # not -MAE
    pred = pd.read_csv(result.out / "predictions.csv")
    assert (pred["lower"] <= pred["prediction"]).all() and (pred["prediction"] <= pred["upper"]).all()
    report = (result.out / "report.html").read_text()
    assert "Residuals by decile" in report and "data:image/png;base64," in report
    assert "regression" in (result.out / "MODEL_CARD.md").read_text()
    rows = pd.DataFrame([result.data.items[i] for i in result.splits.test[:10]])
    rows.to_csv(tmp_path / "new.csv", index=False)
    out = predict_run(result.out, str(tmp_path / "new.csv"))
    np.testing.assert_allclose(out["prediction"].to_numpy(), pred["prediction"].to_numpy()[:10], rtol=1e-6)


@pytest.mark.parametrize(("flag", "value"), [("strategy", "finetune"), ("curve", True), ("ship", "stack")])
def test_regression_refuses_classification_only_options(tmp_path: Path, flag: str, value: Any) -> None:
    from headstart.config import FitConfig
    from headstart.pipeline import fit_run

    cfg = FitConfig(data="builtin:diabetes", out=str(tmp_path / "run"), progress=False, **{flag: value})
    with pytest.raises(HeadstartError) as err:
        fit_run(cfg)
    assert "\n" not in str(err.value) and "regression" in str(err.value)
    assert not (tmp_path / "run").exists()
