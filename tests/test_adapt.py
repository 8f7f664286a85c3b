"""Domain adaptation on real data: MNIST-5k (8x8) -> sklearn digits helps, a planted no-shift case does not,
class mismatches are one-line errors, unlabeled targets are accepted."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from headstart.adapt.domains import align_classes, load_domain, parse_class_map
from headstart.adapt.run import AdaptConfig, adapt_run
from headstart.adapt.shift import measure_shift
from headstart.data import load_data
from headstart.errors import HeadstartError


@pytest.fixture(scope="module")
def digits():  # type: ignore[no-untyped-def]
    return load_data("builtin:digits")


@pytest.mark.slow
def test_adaptation_helps_mnist_to_digits(digits) -> None:  # type: ignore[no-untyped-def]
    source = load_data("builtin:mnist5k-8x8")
    cfg = AdaptConfig(methods=["per-domain"], max_source=2000, max_test=600, shift_perm=50)
    r = adapt_run(source, digits, cfg)
    (v,) = r.verdicts
    assert v["kind"] == "adaptation" and v["a"] == "adapted[per-domain]" and v["b"] == "source-only"
    assert v["label"] == "adaptation helps", v["sentence"]
    assert r.shift["before"]["mmd_p"] < 0.05
    assert 0.5 < r.shift["before"]["pad"] < 1.95  # graded, not saturated
    assert r.shift["after"]["mmd"] < r.shift["before"]["mmd"]
    assert set(r.per_class["source-only"]) == set(digits.classes)
    assert {"before", "after"} <= set(r.projection)


@pytest.mark.slow
def test_same_distribution_gives_no_difference(digits) -> None:  # type: ignore[no-untyped-def]
    perm = np.random.default_rng(0).permutation(len(digits))
    source, target = digits.subset(perm[:900]), digits.subset(perm[900:])
    r = adapt_run(source, target, AdaptConfig(methods=["per-domain"], max_test=450, shift_perm=50))
    assert r.verdicts[0]["label"] == "no-difference", r.verdicts[0]["sentence"]
    assert r.shift["before"]["pad"] < 0.4


def test_class_mismatch_is_one_line_error(digits) -> None:  # type: ignore[no-untyped-def]
    source = digits.subset(np.flatnonzero(digits.y != 9))
    source.classes = [c if c != "8" else "eight" for c in source.classes]
    with pytest.raises(HeadstartError) as e:
        align_classes(source, digits)
    msg = str(e.value)
    assert "\n" not in msg and "only in source: eight" in msg and "only in target: 8" in msg
    y = align_classes(source, digits.subset(np.flatnonzero(digits.y != 9)), parse_class_map("eight=8"))
    assert np.array_equal(y, source.y)
    with pytest.raises(HeadstartError, match="old=new"):
        parse_class_map("eight")


def test_domain_filter_selects_group_values() -> None:
    adult = load_domain("builtin:adult@sex=Female")
    assert len(adult) > 1000 and set(np.unique(adult.groups["sex"]).tolist()) == {"Female"}
    with pytest.raises(HeadstartError, match="values present"):
        load_domain("builtin:adult@sex=Nobody")


def test_unlabeled_folder_and_csv_are_accepted(digits, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from PIL import Image

    from headstart.data.unlabeled import load_unlabeled

    folder = tmp_path / "new"
    folder.mkdir()
    for i in range(120):
        Image.fromarray(np.asarray(digits.items[i])).save(folder / f"{i:03d}.png")
    _, items = load_unlabeled(str(folder), modality="image")
    r = adapt_run(digits.subset(np.arange(300, 900)), None, AdaptConfig(methods=["per-domain"], shift_perm=20),
                  unlabeled=items)  # fmt: skip
    assert r.verdicts == [] and r.y_test is None  # no target labels: no verdict, indicators only
    assert "mmd" in r.shift["before"] and r.selection is not None
    csv = tmp_path / "new.csv"
    csv.write_text("text\nfree money now\nmeeting at noon\n")
    ids, texts = load_unlabeled(str(csv), modality="text")
    assert texts == ["free money now", "meeting at noon"] and len(ids) == 2


def test_shift_is_graded_on_pixels(digits) -> None:  # type: ignore[no-untyped-def]
    px = np.asarray(digits.items, dtype=np.float64).reshape(len(digits), -1)
    mn = load_data("builtin:mnist5k-8x8")
    pm = np.asarray(mn.items[:1000], dtype=np.float64).reshape(1000, -1)
    perm = np.random.default_rng(0).permutation(len(px))
    near = measure_shift(px[perm[:900]], px[perm[900:]], n_perm=50)
    far = measure_shift(pm, px, n_perm=50)
    assert near["mmd_p"] > 0.05 and far["mmd_p"] < 0.05
    assert near["pad"] < 0.4 < far["pad"] < 1.95
    assert far["domain_accuracy_ci"][0] > 0.5 > near["domain_accuracy_ci"][0]


def test_report_section_renders_a_real_run(digits, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from headstart.report.adaptation import adaptation_section, projection_png

    perm = np.random.default_rng(1).permutation(len(digits))
    r = adapt_run(digits.subset(perm[:700]), digits.subset(perm[700:]),
                  AdaptConfig(methods=["per-domain"], max_test=300, shift_perm=20))  # fmt: skip
    png = projection_png(r.projection, tmp_path / "proj.png")
    assert png.stat().st_size > 1000
    page = adaptation_section(r.metrics(), plot="proj.png")
    assert "adapted[per-domain] vs source-only" in page and "Ships:" in page


def test_fit_adapt_without_source_is_a_one_line_error(tmp_path: Path) -> None:
    """`--adapt M` needs `--source`; the full `fit TARGET --source SOURCE --adapt M` run folder is checked by
    tests/test_advise_shift.py, which runs the advisor's own command."""
    from typer.testing import CliRunner

    from headstart.cli import app

    res = CliRunner().invoke(app, ["fit", "builtin:digits", "--adapt", "coral", "--out", str(tmp_path / "x")])
    assert res.exit_code == 2 and "need --source" in res.output


def test_fit_source_reads_both_csvs_with_the_given_label_column(tmp_path: Path) -> None:
    """`fit TARGET --source SOURCE --label-column COL`: both files are read with COL (the source used to be
    read with the default 'label' and stopped); wine split by alcohol is the shift."""
    from sklearn.datasets import load_wine
    from typer.testing import CliRunner

    from headstart.cli import app

    frame = load_wine(as_frame=True).frame.rename(columns={"target": "cultivar"})
    frame[frame.alcohol < 13].to_csv(tmp_path / "low.csv", index=False)
    frame[frame.alcohol >= 13].to_csv(tmp_path / "high.csv", index=False)
    argv = ["fit", str(tmp_path / "high.csv"), "--source", str(tmp_path / "low.csv"), "--label-column", "cultivar"]
    result = CliRunner().invoke(app, [*argv, "--adapt", "coral", "--out", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["kind"] == "adaptation" and metrics["data"]["classes"] == ["0", "1", "2"]
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["label_column"] == "cultivar"


@pytest.mark.parametrize("method", ["per-domain", "coral", "sa", "kmm", "ot", "self-training", "prior-em"])
def test_every_method_predicts_as_one_saved_linear_head(digits, method: str) -> None:  # type: ignore[no-untyped-def]
    """Each embedding method's target-side prediction is affine + softmax, so the adapted model saves as a frozen
    backbone + linear head (no pickled pipeline) that gives the study's own probabilities on its test items."""
    from headstart.adapt.embedding import METHODS, fit_method, linear_head_of, predict_target
    from headstart.adapt.run import embed_domains

    source = load_data("builtin:mnist5k-8x8")
    perm = np.random.default_rng(0).permutation(len(digits))
    parts = {"s": list(source.items[:600]), "t": list(digits.items[perm[:300]])}
    emb = embed_domains("mobilenetv2", 32, parts)
    est, _ = fit_method(method, METHODS[method].default, emb["s"], source.y[:600], emb["t"])
    head = linear_head_of(est, emb["t"], C=0.1, val_score=0.5)
    assert head is not None
    np.testing.assert_allclose(head.predict_proba(emb["t"]), predict_target(est, emb["t"]), atol=1e-4)


def test_a_non_affine_pipeline_is_not_saved_as_a_head(digits) -> None:  # type: ignore[no-untyped-def]
    """The check is real: a pipeline that squares its features is refused (None), not saved wrong."""
    from headstart.adapt.embedding import linear_head_of

    X = np.random.default_rng(0).normal(size=(200, 16))

    class Squares:
        def predict_proba(self, A: np.ndarray, sample_domain: np.ndarray) -> np.ndarray:
            z = (A**2).sum(1) - 16.0
            p = 1 / (1 + np.exp(-z))
            return np.c_[1 - p, p]

    assert linear_head_of(Squares(), X, C=0.1, val_score=0.5) is None


def test_text_adaptation_run_ships_a_model_predict_uses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`fit TARGET --source SOURCE --adapt ...` on review CSVs (short reviews -> long ones) saves what it
    ships; `predict` on the target's test rows gives that arm's accuracy; an edited head is refused."""
    import pandas as pd
    from typer.testing import CliRunner

    from headstart.cli import app

    rt = load_data("builtin:rotten-tomatoes")
    idx = np.random.default_rng(0).permutation(len(rt.items))[:900]
    frame = pd.DataFrame({"review": [rt.items[i] for i in idx], "sentiment": [rt.classes[rt.y[i]] for i in idx]})
    long = frame.review.str.len() > 110
    frame[~long].to_csv(tmp_path / "short.csv", index=False)
    frame[long].to_csv(tmp_path / "long.csv", index=False)
    run = tmp_path / "run"
    argv = ["fit", str(tmp_path / "long.csv"), "--source", str(tmp_path / "short.csv"), "--text-column", "review"]
    res = CliRunner().invoke(app, [*argv, "--label-column", "sentiment", "--adapt", "coral,self-training",
                                   "--out", str(run), "--quiet"])  # fmt: skip
    assert res.exit_code == 0, res.output
    metrics = json.loads((run / "metrics.json").read_text())
    shipped = metrics["adaptation"]["shipped"]
    arm = next(a for a in metrics["adaptation"]["arms"] if a["name"] == shipped)
    assert (run / "model" / "head.npz").exists()  # source-only or an adapted arm: whichever shipped
    out = tmp_path / "p.csv"
    res = CliRunner().invoke(app, ["predict", str(run), str(tmp_path / "long.csv"), "--out", str(out)])
    assert res.exit_code == 0, res.output
    pred = pd.read_csv(out)
    target = pd.read_csv(tmp_path / "long.csv")
    assert len(pred) == len(target) and set(pred.prediction) <= {"fresh", "rotten"}
    # every target row, test split included: within a few points of the arm's test accuracy
    assert abs((pred.prediction == target.sentiment).mean() - arm["accuracy"]) < 0.08
    res = CliRunner().invoke(app, ["export", str(run), "--quiet"])  # parity checked on the target's items
    assert res.exit_code == 0, res.output
    res = CliRunner().invoke(app, ["predict", str(run), str(tmp_path / "long.csv"), "--onnx", "--out", str(out)])
    assert res.exit_code == 0, res.output
    onnx = pd.read_csv(out)
    # the plain predict ran what `auto` picks here (bf16 text on AMX / AVX512-BF16 CPUs): the same labels, and
    # confidences within bf16's rounding; the torch fp32 reference the export's parity check uses: exact
    assert (onnx.prediction == pred.prediction).mean() >= 0.99
    np.testing.assert_allclose(onnx.confidence, pred.confidence, atol=0.02)
    monkeypatch.setenv("HEADSTART_BACKEND", "torch")
    fp32 = tmp_path / "fp32.csv"
    res = CliRunner().invoke(app, ["predict", str(run), str(tmp_path / "long.csv"), "--out", str(fp32)])
    assert res.exit_code == 0, res.output
    monkeypatch.delenv("HEADSTART_BACKEND")
    np.testing.assert_allclose(onnx.confidence, pd.read_csv(fp32).confidence, atol=1e-4)
    for cmd in (["monitor", str(run), str(tmp_path / "long.csv")], ["query", str(run), str(tmp_path / "long.csv")]):
        res = CliRunner().invoke(app, cmd)  # they need a fit run's splits: one line saying so, no traceback
        assert res.exit_code != 0 and "domain-adaptation study" in res.output and "Traceback" not in res.output
    (run / "model" / "head.npz").write_bytes((run / "model" / "head.npz").read_bytes() + b"\0")
    res = CliRunner().invoke(app, ["predict", str(run), str(tmp_path / "long.csv"), "--out", str(out)])
    assert res.exit_code != 0 and "head.npz" in res.output, res.output
