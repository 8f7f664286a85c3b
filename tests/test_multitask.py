"""Multitask runs on real data (COMPAS as text): per-task verdicts, a planted random-label task, missing task
labels, bad label columns, weighting/gradient options, and a save/load round trip."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from headstart.errors import HeadstartError
from headstart.evaluation.compare import KINDS
from headstart.multitask.builtins import FASHION_COARSE
from headstart.multitask.data import MultiLabeledData, TaskLabels
from headstart.multitask.loader import load_multitask
from headstart.multitask.model import MultitaskModel
from headstart.multitask.recipe import MultitaskConfig, fit_multitask

N_ROWS = 900
SMALL = {"labels_per_class": 60, "max_test": 300, "baseline": "tfidf"}


@pytest.fixture(scope="module")
def compas() -> MultiLabeledData:
    try:
        return load_multitask("builtin:compas-text", None)
    except HeadstartError as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def compas_csv(compas: MultiLabeledData, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """900 real COMPAS rows as a CSV with two label columns; 30% of the second task's cells blanked."""
    rng = np.random.default_rng(0)
    rows = np.sort(rng.choice(len(compas), N_ROWS, replace=False))
    t1, t2 = compas.tasks["two_year_recid"], compas.tasks["is_violent_recid"]
    second = np.array([t2.classes[k] for k in t2.y[rows]], dtype=object)
    blank = rng.random(N_ROWS) < 0.3
    second[blank] = ""
    df = pd.DataFrame(
        {
            "text": [compas.data.items[i] for i in rows],
            "recid": [t1.classes[k] for k in t1.y[rows]],
            "violent": second,
        }
    )
    path = tmp_path_factory.mktemp("mt") / "compas.csv"
    df.to_csv(path, index=False)
    return path


def test_unknown_and_duplicate_label_columns_are_clear_errors(compas_csv: Path) -> None:
    with pytest.raises(HeadstartError, match=r"no column 'nope'.*--label-column") as e1:
        load_multitask(compas_csv, ["recid", "nope"])
    with pytest.raises(HeadstartError, match=r"'recid' is given twice") as e2:
        load_multitask(compas_csv, ["recid", "recid"])
    with pytest.raises(HeadstartError, match=r"no task 'nope'; its tasks: fine, coarse"):
        load_multitask("builtin:fashion-mnist", ["fine", "nope"])
    for e in (e1, e2):
        assert "\n" not in str(e.value)


def test_a_table_of_feature_columns_gets_the_one_task_command(tmp_path: Path) -> None:
    from sklearn.datasets import load_wine

    frame = load_wine(as_frame=True).frame
    frame["strong"] = (frame["alcohol"] > 13).map({True: "yes", False: "no"})
    frame.to_csv(tmp_path / "wine.csv", index=False)
    with pytest.raises(HeadstartError, match=r"no 'text' column: pass --text-column COL, or fit one task") as e:
        load_multitask(tmp_path / "wine.csv", ["target", "strong"])
    assert f"headstart fit {tmp_path / 'wine.csv'} --label-column target" in str(e.value)


def test_missing_task_labels_are_masked_not_dropped(compas_csv: Path) -> None:
    m = load_multitask(compas_csv, ["recid", "violent"])
    df = pd.read_csv(compas_csv, keep_default_na=False)
    blank = (df["violent"] == "").to_numpy()
    assert len(m) == N_ROWS  # rows without the second label stay: they count for the first task
    assert 0.25 < blank.mean() < 0.35
    assert np.array_equal(m.tasks["violent"].y < 0, blank)
    r = fit_multitask(m, MultitaskConfig(seed=0, **SMALL))
    Y = m.Y()
    train = r.splits.train
    arms = {(a.task, a.name): a for a in r.arms}
    # the shared model trains on every training item; the second task's single-task model only on its labels
    assert arms[("recid", "multitask")].info["n_train"] == len(train)
    assert arms[("violent", "multitask")].info["n_train_labeled"] == int((Y[train, 1] >= 0).sum())
    assert arms[("violent", "single-task")].info["n_train"] == int((Y[train, 1] >= 0).sum())
    assert arms[("recid", "single-task")].info["n_train"] == len(train)
    # the second task is judged only on test items that have its label, on its true labels
    idx = r.test_idx["violent"]
    assert len(idx) == int((Y[r.splits.test, 1] >= 0).sum()) < len(r.splits.test)
    truth = df["violent"].to_numpy()[idx]
    assert [m.tasks["violent"].classes[k] for k in r.y_test["violent"]] == list(truth)
    for task in ("recid", "violent"):
        for kind in ("sharing", "transfer"):
            v = r.verdict(task, kind)
            assert v["label"] in KINDS[kind] and v["n_test"] == len(r.y_test[task])


def _with_noise_task(m: MultiLabeledData, seed: int) -> MultiLabeledData:
    """The real first task plus a planted second task: the first task's labels shuffled over the items."""
    first = m.tasks[m.primary]
    noise = np.random.default_rng(seed).permutation(first.y)
    return MultiLabeledData(m.data, {"recid": first, "noise": TaskLabels("noise", noise, list(first.classes))})


def test_planted_random_task_never_degrades_the_first_silently(compas: MultiLabeledData) -> None:
    m = _with_noise_task(compas, seed=1)
    r = fit_multitask(m, MultitaskConfig(seed=0, **SMALL))
    sharing = r.verdict("recid", "sharing")
    assert sharing["label"] in KINDS["sharing"]
    text = " ".join(r.warnings)
    if sharing["delta"] < 0:  # any loss on the real task is reported, with its interval
        assert "task 'recid'" in text
    if sharing["label"] == "interference":
        assert "sharing HURTS it" in text
    # the planted task is at chance for every model, and the run says so
    noise_arms = {a.name: a for a in r.arms if a.task == "noise"}
    for name in ("multitask", "single-task"):
        acc = float(np.mean(noise_arms[name].output.argmax(1) == r.y_test["noise"]))
        assert acc < 0.62
    assert "task 'noise': neither the multitask nor the single-task model beats the majority class" in text


@pytest.mark.parametrize(("weighting", "gradients"), [("uncertainty", "pcgrad"), ("dwa", "upgrad")])
def test_weighting_and_gradient_options_train_and_report(
    compas: MultiLabeledData, weighting: str, gradients: str, tmp_path: Path
) -> None:
    r = fit_multitask(compas, MultitaskConfig(seed=0, weighting=weighting, gradients=gradients, **SMALL))
    doc = r.to_metrics()
    assert set(doc["per_task"]) == {"two_year_recid", "is_violent_recid"}
    w = doc["task_weights"]
    assert len(w) == 2 and all(x > 0 for x in w)
    if weighting == "dwa":
        assert abs(sum(w) - 2.0) < 1e-6
    acc = {t: next(a for a in d["arms"] if a["name"] == "multitask")["accuracy"] for t, d in doc["per_task"].items()}
    assert acc["two_year_recid"] > 0.55  # learns the real task (majority share is ~0.5 after the label budget)
    cost = doc["cost"]
    assert cost["multitask"]["trainable"] < cost["single_task_total"]["trainable"]
    # the fitted multitask model saves without pickles and reloads to the same per-task predictions
    model = r.multitask.model
    model.save(tmp_path / "mt")
    back = MultitaskModel.load(tmp_path / "mt")
    items = [compas.data.items[i] for i in r.splits.test[:20]]
    a, b = model.predict_tasks(items), back.predict_tasks(items)
    for t in a:
        np.testing.assert_allclose(a[t], b[t], atol=1e-6)


def test_fashion_coarse_mapping_covers_every_class() -> None:
    assert sorted(set(FASHION_COARSE.values())) == ["bags", "bottoms", "dresses", "footwear", "tops"]
    try:
        m = load_multitask("builtin:fashion-mnist", ["coarse", "fine"])
    except HeadstartError as exc:
        pytest.skip(str(exc))
    assert m.primary == "coarse" and np.array_equal(m.data.y, m.tasks["coarse"].y)
    fine, coarse = m.tasks["fine"], m.tasks["coarse"]
    pairs = {(fine.classes[f], coarse.classes[c]) for f, c in zip(fine.y[:2000], coarse.y[:2000], strict=True)}
    assert all(FASHION_COARSE[f] == c for f, c in pairs)


@pytest.mark.slow
def test_cli_fit_predict_report_and_onnx_export(compas_csv: Path, tmp_path: Path) -> None:
    """`headstart fit` with two --label-column flags, `predict` (one column per task), the report's per-task
    section, and an ONNX export with one output per task at parity with torch."""
    from typer.testing import CliRunner

    from headstart.cli import app

    runner = CliRunner()
    out = tmp_path / "run"
    args = ["fit", str(compas_csv), "--label-column", "recid", "--label-column", "violent", "--out", str(out)]
    res = runner.invoke(app, [*args, "--labels-per-class", "40", "--max-test", "200", "--baseline", "tfidf", "--quiet"])
    assert res.exit_code == 0, res.output
    assert "recid sharing:" in res.output and "violent sharing:" in res.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["kind"] == "multitask" and set(metrics["multitask"]["per_task"]) == {"recid", "violent"}
    assert {c["task"] for c in metrics["comparisons"]} == {"recid", "violent"}
    report = (out / "report.html").read_text()
    assert 'id="multitask"' in report and "could not be rendered" not in report
    new = tmp_path / "new.csv"
    pd.DataFrame(
        {"text": ["age 23, felony charge, Grand Theft, 4 prior offenses", "age 60, misdemeanor charge"]}
    ).to_csv(new, index=False)
    res = runner.invoke(app, ["predict", str(out), str(new), "--out", str(tmp_path / "p.csv")])
    assert res.exit_code == 0, res.output
    pred = pd.read_csv(tmp_path / "p.csv")
    assert {"recid_prediction", "violent_prediction", "p_violent_yes"} <= set(pred.columns) and len(pred) == 2
    res = runner.invoke(app, ["export", str(out), "--quiet"])
    assert res.exit_code == 0, res.output
    rep = json.loads((out / "export" / "export.json").read_text())
    assert rep["tasks"] == ["recid", "violent"] and rep["parity"]["ok"]
    contract = json.loads((out / "export" / "preprocessing.json").read_text())
    assert [o["name"] for o in contract["outputs"]] == ["probabilities_recid", "probabilities_violent"]
    # predict --onnx reads the graph the manifest now lists: the same columns as predict, every task
    res = runner.invoke(app, ["predict", str(out), str(new), "--onnx", "--out", str(tmp_path / "o.csv")])
    assert res.exit_code == 0, res.output
    via_onnx = pd.read_csv(tmp_path / "o.csv")
    assert list(via_onnx.columns) == list(pred.columns)
    shipped = json.loads((out / "metrics.json").read_text())["shipped"]["per_task"]
    for task in ("recid", "violent"):
        if shipped[task] == "multitask":  # a task shipped from scratch is not in the graph (a warning says so)
            np.testing.assert_allclose(via_onnx[f"{task}_confidence"], pred[f"{task}_confidence"], atol=1e-4)


@pytest.mark.slow
def test_per_task_shipping_follows_validation_and_predict_uses_it(tmp_path: Path) -> None:
    """A task where the from-scratch model is at least as good on validation ships from scratch: `predict`
    gives that model's labels for it and the multitask model's for the others; `--ship transfer` forces the
    shared heads everywhere; an edited from-scratch model is refused."""
    from typer.testing import CliRunner

    from headstart.cli import app
    from headstart.data import load_data
    from headstart.models import load_model

    rt = load_data("builtin:rotten-tomatoes")
    idx = np.random.default_rng(0).permutation(len(rt.items))[:500]
    texts = [rt.items[i] for i in idx]
    csv = tmp_path / "items.csv"
    pd.DataFrame(
        {
            "review": texts,
            "sentiment": [rt.classes[rt.y[i]] for i in idx],
            "long": ["long" if len(t) > 110 else "short" for t in texts],  # words and length: TF-IDF's ground
        }
    ).to_csv(csv, index=False)
    new = tmp_path / "new.csv"
    pd.DataFrame({"review": [rt.items[i] for i in range(40)]}).to_csv(new, index=False)
    runner = CliRunner()
    base = ["fit", str(csv), "--text-column", "review", "--label-column", "sentiment", "--label-column", "long"]
    runs = {}
    for ship in ("baseline", "transfer"):
        out = tmp_path / ship
        res = runner.invoke(app, [*base, "--ship", ship, "--out", str(out), "--quiet"])
        assert res.exit_code == 0, res.output
        assert "shipped per task" in res.output
        runs[ship] = out
    metrics = json.loads((runs["baseline"] / "metrics.json").read_text())
    assert metrics["shipped"]["per_task"] == {"sentiment": "scratch", "long": "scratch"}
    assert "from-scratch model ships" in metrics["shipped"]["reason"]
    assert json.loads((runs["transfer"] / "metrics.json").read_text())["shipped"]["per_task"] == {
        "sentiment": "multitask",
        "long": "multitask",
    }
    assert not (runs["transfer"] / "baseline").exists()
    preds = {}
    for ship, out in runs.items():
        res = runner.invoke(app, ["predict", str(out), str(new), "--out", str(tmp_path / f"{ship}.csv")])
        assert res.exit_code == 0, res.output
        preds[ship] = pd.read_csv(tmp_path / f"{ship}.csv")
    words = load_model(runs["baseline"] / "baseline" / "long")
    expected = np.array(["long", "short"])[words.predict_proba(list(pd.read_csv(new).review)).argmax(1)]
    assert (preds["baseline"]["long_prediction"].to_numpy() == expected).all()
    assert (preds["baseline"]["prediction"] == preds["baseline"]["sentiment_prediction"]).all()
    meta = runs["baseline"] / "baseline" / "long" / "meta.json"
    meta.write_text(meta.read_text().replace('"kind"', '"kind" ', 1))  # any edit changes its sha256
    res = runner.invoke(app, ["predict", str(runs["baseline"]), str(new), "--out", str(tmp_path / "x.csv")])
    assert res.exit_code != 0 and "baseline/long/meta.json" in res.output, res.output
