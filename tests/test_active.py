"""Active learning on real data: `query` on a tiny digits run, margin vs random in a small simulation, and
the --add-labels merge that keeps the test split identical."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from headstart.active.add_labels import merge_added_labels
from headstart.active.query import query_run
from headstart.active.select import METHODS, PICK_MEANING, describe_pick, margin_score, select_batch
from headstart.active.simulate import area_under_curve, simulate_curve
from headstart.errors import HeadstartError
from headstart.pipeline import FitConfig, fit_run
from headstart.runinputs import embed_items, open_run


def test_every_method_returns_distinct_items() -> None:
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(3), size=200)
    emb = rng.normal(size=(200, 8))
    for m in METHODS:
        idx, score = select_batch(m, 25, p, emb, labeled_emb=emb[:5], seed=1)
        assert len(set(idx.tolist())) == 25 and len(score) == 25, m
    with pytest.raises(HeadstartError, match="unknown --method"):
        select_batch("bald", 5, p, emb)


def test_the_console_says_what_score_and_rank_mean_for_every_method() -> None:
    """Ranks are pick order, not score order, after the diversity step: the caption says so, per method."""
    assert set(PICK_MEANING) == set(METHODS)
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(2), size=300)
    idx, score = select_batch("margin", 20, p, rng.normal(size=(300, 8)))
    assert np.allclose(score, margin_score(p)[idx]) and not np.all(np.diff(score) <= 0)  # not sorted by score
    assert "pick order" in describe_pick("margin") and "3x budget most uncertain" in describe_pick("margin")
    assert all(len(describe_pick(m)) < 200 for m in METHODS)


def test_uncertainty_batch_is_spread_out() -> None:
    """Twenty copies of the most uncertain item: the diversity step keeps only one of them."""
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(2) * 5, size=100)
    p[:20] = [0.5, 0.5]
    emb = rng.normal(size=(100, 4))
    emb[:20] = emb[0]
    idx, _ = select_batch("margin", 10, p, emb)
    assert np.isin(idx, np.arange(20)).sum() == 1


@pytest.mark.slow
def test_query_writes_to_label_csv_without_labeled_items(digits_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "to_label.csv"
    rep = query_run(digits_run, "builtin:digits", budget=20, method="margin", out=out)
    df = pd.read_csv(out, keep_default_na=False)
    assert list(df.columns) == ["rank", "id", "item", "prediction", "confidence", "score", "label"]
    assert len(df) == 20 and df["id"].is_unique
    ri = open_run(digits_run)
    used = {ri.data.ids[i] for i in np.concatenate([ri.reference, ri.splits.test])}
    assert not used & set(df["id"]) and rep["n_pool"] == len(ri.data.y) - len(used)
    # a person fills in the labels (here: the true ones); the merge adds them to train, test stays identical
    truth = dict(zip(ri.data.ids, ri.data.labels(), strict=True))
    df["label"] = [truth[i] for i in df["id"]]
    df.iloc[-2:, df.columns.get_loc("label")] = ""  # blank rows are skipped
    df.to_csv(out, index=False)
    _, splits = merge_added_labels(ri.data, ri.splits, str(out))
    assert np.array_equal(splits.test, ri.splits.test)
    assert len(splits.train) == len(ri.splits.train) + 18
    df.loc[0, "id"] = ri.data.ids[int(ri.splits.test[0])]
    df.to_csv(out, index=False)
    with pytest.raises(HeadstartError, match="test split"):
        merge_added_labels(ri.data, ri.splits, str(out))


@pytest.mark.slow
def test_margin_beats_random_in_a_small_simulation(digits_run: Path) -> None:
    ri = open_run(digits_run)
    emb = embed_items(ri, ri.data.items)
    unused = np.setdiff1d(np.arange(len(ri.data.y)), np.concatenate([ri.reference, ri.splits.test]))
    auc = {}
    for m in ("random", "margin"):
        auc[m] = np.mean(
            [
                area_under_curve(
                    simulate_curve(
                        emb, ri.data.y, unused, ri.splits.test, m, start_per_class=5, batch=20, rounds=8, seed=s
                    )
                )
                for s in range(3)
            ]
        )
    assert auc["margin"] > auc["random"] + 0.01, auc


@pytest.mark.slow
def test_fit_with_added_labels_keeps_the_test_split_and_reports_the_gain(digits_run: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from headstart.cli import app

    csv = tmp_path / "to_label.csv"
    query_run(digits_run, "builtin:digits", budget=40, method="margin", out=csv)
    ri = open_run(digits_run)
    truth = dict(zip(ri.data.ids, ri.data.labels(), strict=True))
    df = pd.read_csv(csv, keep_default_na=False)
    df["label"] = [truth[i] for i in df["id"]]
    df.to_csv(csv, index=False)
    cfg = FitConfig.from_dict({**ri.config, "out": str(tmp_path / "run2"), "add_labels": str(csv)})
    fit_run(cfg)
    again = open_run(tmp_path / "run2")  # re-applies added_labels.csv kept in the run
    assert np.array_equal(again.splits.test, ri.splits.test)
    assert len(again.splits.train) == len(ri.splits.train) + 40
    res = CliRunner().invoke(app, ["gain", str(digits_run), str(tmp_path / "run2")], terminal_width=80)
    assert res.exit_code == 0, res.output
    assert "gain" in res.output and "points" in res.output


def test_a_table_run_queries_a_new_file_and_refits_with_its_rows(tmp_path: Path) -> None:
    """A CSV table run (wine): to_label.csv carries the rows' feature columns, so a labeler sees the values and
    --add-labels rebuilds the new rows with the run's column kinds (it used to stop with a traceback)."""
    from sklearn.datasets import load_wine

    frame = load_wine(as_frame=True).frame.rename(columns={"target": "cultivar"})
    frame.to_csv(tmp_path / "wine.csv", index=False)
    pool = frame.sample(40, random_state=1).reset_index(drop=True)
    pool.drop(columns=["cultivar"]).to_csv(tmp_path / "pool.csv", index=False)
    base = {"data": str(tmp_path / "wine.csv"), "label_column": "cultivar", "labels_per_class": 10}
    fit_run(FitConfig(**base, out=str(tmp_path / "run"), progress=False))
    csv = tmp_path / "to_label.csv"
    query_run(tmp_path / "run", str(tmp_path / "pool.csv"), budget=5, out=csv)
    df = pd.read_csv(csv, keep_default_na=False)
    assert {"alcohol", "proline"} <= set(df.columns) and df["item"].str.startswith("alcohol: ").all()
    df["label"] = [str(pool["cultivar"][int(i.split("line ")[1]) - 2]) for i in df["id"]]
    df.to_csv(csv, index=False)
    fit_run(FitConfig(**base, out=str(tmp_path / "run2"), add_labels=str(csv), progress=False))
    first, again = open_run(tmp_path / "run"), open_run(tmp_path / "run2")
    assert np.array_equal(again.splits.test, first.splits.test)
    assert len(again.splits.train) == len(first.splits.train) + 5
    added = again.data.items[-5:]
    assert all(isinstance(r, dict) and isinstance(r["alcohol"], float) for r in added)
