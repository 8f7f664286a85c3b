"""The CLI on bad input: one line naming the file/row/column and what to do, exit code 2, no traceback,
and nothing half-written."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from headstart.cli import app

runner = CliRunner()


def _fit(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["fit", *args, "--quiet"])
    return result.exit_code, result.output


def _assert_clean_error(code: int, output: str, *needles: str) -> None:
    assert code == 2, output
    assert "Traceback" not in output
    text = " ".join(output.split())
    for n in needles:
        assert n in text, output


def _image_folder(root: Path, n: int = 4) -> Path:
    rng = np.random.default_rng(0)
    for cls in ("cat", "dog"):
        (root / cls).mkdir(parents=True)
        for i in range(n):
            Image.fromarray(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)).save(root / cls / f"{i}.png")
    return root


@pytest.mark.parametrize(
    ("content", "args", "needles"),
    [
        ("text,label\nfine,a\ngood,b\nbad,a\nok,b\n", ["--text-column", "review"], ["'review'", "'text', 'label'"]),
        ("text,label\nfine,a\n,b\nbad,a\nok,b\nmeh,b\n", [], ["line 3", "empty"]),
        ("text,label\nfine,a\ngood,a\nbad,a\n", [], ["only one class"]),
        ("text,label\nfine,a\ngood,a\nbad,a\nlonely,b\n", [], ["'b'", "1"]),
    ],
    ids=["missing-column", "empty-text", "single-class", "class-with-one-example"],
)
def test_bad_tables(tmp_path: Path, content: str, args: list[str], needles: list[str]) -> None:
    csv = tmp_path / "reviews.csv"
    csv.write_text(content)
    out = tmp_path / "run"
    code, output = _fit(str(csv), "--out", str(out), *args)
    _assert_clean_error(code, output, "reviews.csv", *needles)
    assert not out.exists() and not (tmp_path / "run.partial").exists()


def test_non_utf8_file(tmp_path: Path) -> None:
    csv = tmp_path / "latin.csv"
    csv.write_bytes("text,label\ncaf\xe9,a\nbien,b\n".encode("latin-1"))
    code, output = _fit(str(csv), "--out", str(tmp_path / "run"))
    _assert_clean_error(code, output, "latin.csv", "UTF-8")


def test_corrupt_image_errors_then_skip_lists_it(tmp_path: Path) -> None:
    root = _image_folder(tmp_path / "photos", n=6)
    (root / "cat" / "broken.png").write_bytes(b"not a png at all")
    code, output = _fit(str(root), "--out", str(tmp_path / "run"))
    _assert_clean_error(code, output, "broken.png")
    assert not (tmp_path / "run").exists()
    result = runner.invoke(
        app,
        ["fit", str(root), "--out", str(tmp_path / "run"), "--on-bad-item", "skip", "--image-size", "32", "--quiet"],
    )
    assert result.exit_code == 0, result.output
    import json

    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    skipped = metrics["data"]["skipped"]
    assert len(skipped) == 1 and "broken.png" in skipped[0]["id"]


def test_empty_folder_and_unknown_builtin_and_missing_file(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    _assert_clean_error(*_fit(str(tmp_path / "empty"), "--out", str(tmp_path / "r1")), "empty")
    _assert_clean_error(*_fit("builtin:nope", "--out", str(tmp_path / "r2")), "builtin:nope", "digits")
    _assert_clean_error(*_fit(str(tmp_path / "missing.csv"), "--out", str(tmp_path / "r3")), "missing.csv")


def test_unknown_strategy_backbone_and_modality_mismatch(tmp_path: Path) -> None:
    root = _image_folder(tmp_path / "photos")
    _assert_clean_error(*_fit(str(root), "--strategy", "magic", "--out", str(tmp_path / "r1")), "magic")
    _assert_clean_error(*_fit(str(root), "--backbone", "resnet9000", "--out", str(tmp_path / "r2")), "resnet9000")
    _assert_clean_error(*_fit(str(root), "--backbone", "minilm-l6", "--out", str(tmp_path / "r3")), "minilm-l6", "text")


def test_existing_out_is_not_clobbered(tmp_path: Path) -> None:
    root = _image_folder(tmp_path / "photos")
    out = tmp_path / "run"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    _assert_clean_error(*_fit(str(root), "--out", str(out)), "already exists", "--overwrite")
    assert (out / "keep.txt").read_text() == "mine"


def test_predict_on_missing_run_and_backbones_table(tmp_path: Path) -> None:
    result = runner.invoke(app, ["predict", str(tmp_path / "nope"), "x.csv"])
    _assert_clean_error(result.exit_code, result.output, "no such run directory")
    result = runner.invoke(app, ["backbones"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for name in ("minilm-l6", "mobilenetv2", "efficientnet-lite0", "Apache-2.0", "b03531047ffacf1e"):
        assert name in result.output


def test_text_csv_fit_then_predict_new_file(tmp_path: Path) -> None:
    from headstart.data import load_data

    data = load_data("builtin:rotten-tomatoes")
    rng = np.random.default_rng(1)
    idx = rng.choice(len(data.y), 160, replace=False)
    import pandas as pd

    df = pd.DataFrame({"review": [data.items[i] for i in idx], "sentiment": np.array(data.classes)[data.y[idx]]})
    df.iloc[:120].to_csv(tmp_path / "reviews.csv", index=False)
    df.iloc[120:][["review"]].to_csv(tmp_path / "new.csv", index=False)
    out = tmp_path / "run"
    result = runner.invoke(
        app,
        [
            "fit",
            str(tmp_path / "reviews.csv"),
            "--text-column",
            "review",
            "--label-column",
            "sentiment",
            "--out",
            str(out),
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    assert any(w in result.output for w in ("helps", "no-difference", "negative-transfer"))
    result = runner.invoke(app, ["predict", str(out), str(tmp_path / "new.csv"), "--out", str(tmp_path / "p.csv")])
    assert result.exit_code == 0, result.output
    preds = pd.read_csv(tmp_path / "p.csv")
    assert len(preds) == 40 and set(preds["prediction"]) <= {"fresh", "rotten"}
    assert {"p_fresh", "p_rotten"} <= set(preds.columns)


def test_help_names_every_registered_strategy_and_starts_without_torch() -> None:
    """`--help` and usage errors must not import torch (6 s on 2 cores); the names it lists come from
    config.BUILTIN_STRATEGIES, which must match what headstart.strategies registers."""
    import subprocess
    import sys

    from headstart.config import BUILTIN_STRATEGIES
    from headstart.strategies import STRATEGIES

    assert sorted(BUILTIN_STRATEGIES) == sorted(STRATEGIES)
    probe = "import sys, headstart, headstart.cli; print(sorted(m for m in ('torch', 'sklearn') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
    result = CliRunner().invoke(app, ["fit", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0 and all(f" {name}," in result.output for name in BUILTIN_STRATEGIES)


def test_an_interrupted_fit_names_its_own_resume_command(capsys: pytest.CaptureFixture[str]) -> None:
    """Ctrl-C during `fit` prints the run's real --out in the resume command; elsewhere, no resume advice."""
    import typer

    from headstart.cli._app import friendly

    def fit(out: str) -> None:
        raise KeyboardInterrupt

    def predict(out: str) -> None:
        raise KeyboardInterrupt

    for fn in (fit, predict):
        with pytest.raises(typer.Exit) as stop:
            friendly(fn)(out="runs/rt16")
        assert stop.value.exit_code == 130
    said = " ".join(capsys.readouterr().err.split())
    assert "runs/rt16.partial" in said and "`headstart fit --resume --out runs/rt16`" in said
    assert said.count("--resume") == 1 and "<out>" not in said
