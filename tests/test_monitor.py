"""`headstart monitor` on real data: a tiny MNIST-5k run flags handwritten digits from another source
(scikit-learn's 8x8 digits) and stays quiet on its own unused items."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from headstart.evaluation.mmd import mmd_test
from headstart.monitor.monitor import monitor_arrays, monitor_run, reference_indices
from headstart.runinputs import embed_items, open_run


def test_mmd_permutation_test_separates_shifted_gaussians() -> None:
    rng = np.random.default_rng(0)
    same = mmd_test(rng.normal(size=(80, 5)), rng.normal(size=(80, 5)), n_perm=200)
    moved = mmd_test(rng.normal(size=(80, 5)), rng.normal(0.6, 1, size=(80, 5)), n_perm=200)
    assert same["p_value"] > 0.05
    assert moved["p_value"] < 0.01


def test_mmd_on_text_embeddings_is_quiet_without_shift_and_flags_longer_snippets() -> None:
    """384-d MiniLM embeddings, 300 reference items: same-pool draws must not alarm (a PCA fitted on the reference
    alone alarmed in 20 of 20), the longest quarter of the snippets must."""
    from headstart.backbones import load_backbone
    from headstart.data import load_data
    from headstart.features import extract

    d = load_data("builtin:rotten-tomatoes")
    pick = np.random.default_rng(0).choice(len(d.y), 1100, replace=False)
    emb, _ = extract(load_backbone("minilm-l6"), [d.items[i] for i in pick], progress=False)
    ref, pool = emb[:300], emb[300:]
    rng = np.random.default_rng(1)
    alarms = sum(
        mmd_test(ref, pool[rng.choice(len(pool), 200, replace=False)], n_perm=200, seed=r)["p_value"] < 0.05
        for r in range(20)
    )
    assert alarms <= 3  # P(>= 4 of 20 | exact 5% test) = 1.6%
    lengths = np.array([len(d.items[i]) for i in pick])
    longest = np.argsort(lengths)[-200:]
    others = np.setdiff1d(np.arange(len(pick)), longest)[:300]
    assert mmd_test(emb[others], emb[longest], n_perm=200)["p_value"] < 0.01


@pytest.mark.slow
def test_monitor_flags_digits_against_a_mnist_run(mnist_run: Path, tmp_path: Path) -> None:
    doc = monitor_run(mnist_run, "builtin:digits", chunk_size=300, out=tmp_path, max_items=600)
    assert doc["drift"]
    assert doc["tests"]["embedding"]["p_value"] < 0.01
    assert doc["tests"]["output"]["p_value"] < 0.01
    assert len(doc["chunks"]) == 2 and all(c["drift"] for c in doc["chunks"])
    perf = doc["performance"]
    assert perf["realized_accuracy"] < perf["test_accuracy"] - 0.2  # digits carry labels: the loss is real
    saved = json.loads((tmp_path / "monitor.json").read_text())
    assert saved["n_new"] == 600
    html = (tmp_path / "monitor.html").read_text()
    assert "Shift detected" in html and "data:image/png;base64," in html


@pytest.mark.slow
def test_monitor_false_alarm_rate_on_held_out_items(mnist_run: Path) -> None:
    """20 resamples of 150 unused MNIST-5k items (same distribution): at most 1 alarm (<= 5%)."""
    ri = open_run(mnist_run)
    used = np.concatenate([ri.splits.train, ri.splits.val, ri.splits.test])
    unused = np.setdiff1d(np.arange(len(ri.data.y)), used)
    held = np.random.default_rng(1).choice(unused, 900, replace=False)
    ref = reference_indices(ri)
    ref_emb = embed_items(ri, ri.items(ref))
    held_emb = embed_items(ri, ri.items(held))
    p_held = ri.model.predict_proba(ri.items(held))
    test = ri.splits.test
    p_test, y_test = ri.model.predict_proba(ri.items(test)), ri.data.y[test]
    rng = np.random.default_rng(2)
    alarms, estimates = 0, []
    for r in range(20):
        pick = rng.choice(len(held), 150, replace=False)
        doc = monitor_arrays(
            ref_emb,
            held_emb[pick],
            p_test,
            p_held[pick],
            y_test,
            ri.classes,
            y_new=ri.data.y[held[pick]],
            seed=r,
            n_perm=200,
            n_boot=50,
        )
        alarms += doc["drift"]
        estimates.append(doc["performance"]["estimate"] - doc["performance"]["realized_accuracy"])
    assert alarms <= 1
    assert abs(float(np.mean(estimates))) < 0.08  # CBPE is roughly unbiased without shift


def test_monitor_and_query_read_a_table_run_with_its_own_column_kinds(tmp_path: Path) -> None:
    """A CSV table run (scikit-learn's wine, classes in file order): new rows without a label column are read
    with the run's column kinds, embedded as the rows-as-text arm reads them, and the class-sorted first 30
    rows raise the alarm while a shuffled sample of the same table does not."""
    import pandas as pd
    from sklearn.datasets import load_wine

    from headstart.active.query import query_run
    from headstart.pipeline import FitConfig, fit_run

    frame = load_wine(as_frame=True).frame.rename(columns={"target": "cultivar"})
    frame.to_csv(tmp_path / "wine.csv", index=False)
    run = tmp_path / "run"
    fit_run(FitConfig(data=str(tmp_path / "wine.csv"), label_column="cultivar", out=str(run), progress=False))
    rows = frame.drop(columns=["cultivar"])
    rows.head(30).to_csv(tmp_path / "first.csv", index=False)
    rows.sample(40, random_state=1).to_csv(tmp_path / "sample.csv", index=False)
    moved = monitor_run(run, str(tmp_path / "first.csv"), out=tmp_path / "m1")
    same = monitor_run(run, str(tmp_path / "sample.csv"), out=tmp_path / "m2")
    assert moved["drift"] and moved["tests"]["embedding"]["p_value"] < 0.01
    assert not same["drift"] and same["tests"]["embedding"]["p_value"] > 0.2
    picked = query_run(run, str(tmp_path / "sample.csv"), budget=5, out=tmp_path / "to_label.csv")
    assert len(pd.read_csv(tmp_path / "to_label.csv")) == 5 and picked
