"""Trust boundary of a run folder: nothing read from it executes code (no pickle/joblib, checkpoints are
safetensors), every artifact is checked against manifest.json, damaged files give one line, and
metrics.json is strict JSON (no bare NaN)."""

from __future__ import annotations

import json
import pickle
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from headstart.baselines.text import TfidfLogReg
from headstart.cli import app
from headstart.data import load_data, make_splits
from headstart.errors import HeadstartError
from headstart.io import atomic_write_json, atomic_write_npz
from headstart.models import load_model
from headstart.pipeline import FitConfig, fit_run, predict_run
from headstart.strategies.linear_head import LinearHead
from headstart.training.checkpoint import load_checkpoint, save_checkpoint

runner = CliRunner()
SRC = Path(__file__).resolve().parents[1] / "src"


class _Plant:
    """Unpickling this creates ``marker`` (what a crafted pipeline.joblib / checkpoint.pt would do)."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (self.marker, "w"))


@pytest.fixture(scope="module")
def text_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("trust") / "text"
    cfg = FitConfig(
        data="builtin:rotten-tomatoes",
        out=str(out),
        backbone="minilm-l6",
        labels_per_class=10,
        max_test=60,
        baseline="tfidf",
        ship="baseline",
        progress=False,
    )
    return fit_run(cfg).out


def _copy(run: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "run"
    shutil.copytree(run, dst)
    return dst


def _clean_error(args: list[str], *needles: str) -> str:
    result = runner.invoke(app, args)
    text = " ".join(result.output.split())
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    for n in needles:
        assert n in text, result.output
    return text


def test_no_pickle_anywhere_in_src() -> None:
    hits = subprocess.run(["grep", "-rn", "-E", "joblib|pickle", str(SRC)], capture_output=True, text=True).stdout
    # the only mentions left are the refusals (np.load's allow_pickle=False and its error message) and docs
    code = [h for h in hits.splitlines() if "allow_pickle" not in h and "pickles)" not in h and '"""' not in h]
    assert not [h for h in code if "import" in h or ".load(" in h or ".dump(" in h], code


def test_tfidf_round_trip_predicts_identically(tmp_path: Path) -> None:
    d = load_data("builtin:rotten-tomatoes")
    s = make_splits(d.y, seed=0, labels_per_class=15, max_test=150)
    lab = np.concatenate([s.train, s.val])
    model = TfidfLogReg.fit([d.items[i] for i in lab], d.y[lab], len(d.classes))
    test = [d.items[i] for i in s.test]
    before = model.predict_proba(test)
    model.save(tmp_path)
    assert {p.name for p in tmp_path.iterdir()} == {"meta.json", "vocabulary.json", "weights.npz"}
    loaded = load_model(tmp_path)
    assert np.abs(loaded.predict_proba(test) - before).max() < 1e-9
    assert loaded.C == model.C and loaded.val_accuracy == model.val_accuracy


@pytest.mark.parametrize("texts", [["a", "b", "c", "d"] * 3, ["😀", "😢", "😀😀", "😢😢"] * 3], ids=["chars", "emoji"])
def test_tfidf_survives_texts_without_words(texts: list[str], tmp_path: Path) -> None:
    y = np.array([0, 1] * (len(texts) // 2))
    model = TfidfLogReg.fit(texts, y, 2)  # used to raise "empty vocabulary" after training the transfer side
    assert model.branches == ("char",)
    model.save(tmp_path)
    assert np.abs(load_model(tmp_path).predict_proba(texts) - model.predict_proba(texts)).max() < 1e-9
    with pytest.raises(HeadstartError, match="no words and no characters"):
        TfidfLogReg.fit(["", " ", "", " "], np.array([0, 1, 0, 1]), 2)


@pytest.mark.slow
def test_a_planted_pickle_never_runs(text_run: Path, tmp_path: Path) -> None:
    run = _copy(text_run, tmp_path)
    marker = tmp_path / "PWNED"
    for name in ("baseline/pipeline.joblib", "baseline/pipeline.pkl", "model/checkpoint.pt"):
        (run / name).write_bytes(pickle.dumps(_Plant(marker)))
    pickle.loads((run / "baseline/pipeline.joblib").read_bytes())  # the plant works ...
    assert marker.exists()
    marker.unlink()
    data = tmp_path / "new.csv"
    data.write_text('text\nwhat a wonderful film\n"a dull, lifeless mess"\n')
    for side in ("baseline", "transfer"):
        result = runner.invoke(app, ["predict", str(run), str(data), "--side", side, "--out", str(tmp_path / "p.csv")])
        assert result.exit_code == 0, result.output
    _clean_error(["export", str(run), "--side", "baseline"], "not exported to ONNX")
    assert predict_run(run, str(data), side="baseline")["prediction"].notna().all()
    assert not marker.exists()  # ... but loading the run never unpickled it


def test_a_crafted_checkpoint_runs_no_code(tmp_path: Path) -> None:
    marker = tmp_path / "PWNED"
    ckpt = tmp_path / "checkpoint.safetensors"
    torch.save({"model": _Plant(marker)}, ckpt)  # what the old loader (weights_only=False) would have executed
    with pytest.raises(HeadstartError, match="not a headstart checkpoint"):
        load_checkpoint(ckpt)
    assert not marker.exists()
    net = torch.nn.Linear(3, 2)
    opt = torch.optim.AdamW(net.parameters())
    net(torch.randn(4, 3)).sum().backward()
    opt.step()
    state = {"model": net.state_dict(), "optimizer": opt.state_dict(), "best": float("inf"), "rng": np.arange(3)}
    save_checkpoint(ckpt, state)
    back = load_checkpoint(ckpt)
    opt.load_state_dict(back["optimizer"])  # integer parameter ids survive the JSON round trip
    assert back["best"] == float("inf") and back["rng"].tolist() == [0, 1, 2]
    assert all(torch.equal(back["model"][k], v) for k, v in net.state_dict().items())


@pytest.mark.slow
@pytest.mark.parametrize("edit", ["negate-head", "meta-json", "truncate-head", "metrics-json", "no-manifest"])
def test_edited_artifacts_are_refused(text_run: Path, tmp_path: Path, edit: str) -> None:
    run = _copy(text_run, tmp_path)
    head = run / "model" / "head.npz"
    if edit == "negate-head":
        with np.load(head) as z:
            arrays = {k: z[k] for k in z.files}
        arrays["W"] = -arrays["W"]
        atomic_write_npz(head, **arrays)
        needle = "model/head.npz: changed"
    elif edit == "meta-json":
        meta = json.loads((run / "baseline" / "meta.json").read_text())
        meta["C"] = 1e-6
        (run / "baseline" / "meta.json").write_text(json.dumps(meta))
        needle = "baseline/meta.json: changed"
    elif edit == "truncate-head":
        head.write_bytes(head.read_bytes()[:100])
        needle = "model/head.npz: changed"
    elif edit == "metrics-json":
        (run / "metrics.json").write_text('{"shipped": {"side": "transfer"}, ')
        needle = "metrics.json: changed"
    else:
        (run / "manifest.json").unlink()
        needle = "manifest.json: missing"
    text = _clean_error(["predict", str(run), "builtin:rotten-tomatoes", "--out", str(tmp_path / "p.csv")], needle)
    assert "re-run `headstart fit`" in text
    _clean_error(["report", str(run), "--no-open"], needle)


@pytest.mark.slow
def test_a_model_folder_added_after_fit_is_refused(text_run: Path, tmp_path: Path) -> None:
    run = _copy(text_run, tmp_path)
    shutil.copytree(run / "baseline", run / "stack")
    _clean_error(["predict", str(run), "builtin:rotten-tomatoes", "--side", "stack"], "stack: not listed")


def test_damaged_files_give_one_line_without_a_manifest(tmp_path: Path) -> None:
    """The loaders themselves (under the manifest) name the file: truncated npz, broken JSON."""
    head = LinearHead(np.ones((2, 3)), np.zeros(2), np.zeros(3), np.ones(3), 1.0, 0.5)
    atomic_write_npz(tmp_path / "head.npz", **head.arrays())
    assert np.array_equal(LinearHead.read(tmp_path / "head.npz").W, head.W)
    (tmp_path / "head.npz").write_bytes((tmp_path / "head.npz").read_bytes()[:200])
    with pytest.raises(HeadstartError, match=r"head\.npz: unreadable .*truncated"):
        LinearHead.read(tmp_path / "head.npz")
    (tmp_path / "meta.json").write_text("{not json")
    with pytest.raises(HeadstartError, match=r"meta\.json: not valid JSON"):
        load_model(tmp_path)


def test_json_is_strict_nan_and_infinity_become_null(tmp_path: Path) -> None:
    obj = {"a": float("nan"), "b": [np.float32("inf"), {"c": -np.inf}], "d": np.array([1.0, np.nan]), "e": 1.5}
    atomic_write_json(tmp_path / "m.json", obj)
    text = (tmp_path / "m.json").read_text()
    assert "NaN" not in text and "Infinity" not in text
    doc = json.loads(text, parse_constant=lambda c: pytest.fail(f"bare {c} in JSON"))
    assert doc == {"a": None, "b": [None, {"c": None}], "d": [1.0, None], "e": 1.5}


@pytest.mark.slow
def test_a_real_metrics_json_is_strict(text_run: Path) -> None:
    text = (text_run / "metrics.json").read_text()
    json.loads(text, parse_constant=lambda c: pytest.fail(f"bare {c} in metrics.json"))
    assert (text_run / "manifest.json").exists()
