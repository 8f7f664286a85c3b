"""The run directory under faults: a lock per --out, overwrite that never half-deletes, no .partial taken for a
finished run, resume as printed, a failed baseline that keeps the transfer result."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

import headstart.pipeline as pipeline
import headstart.run_arms as run_arms
from headstart.cli import app
from headstart.config import FitConfig
from headstart.errors import HeadstartError
from headstart.rundir import RunDir, load_run

runner = CliRunner()
FAST = ["--labels-per-class", "5", "--max-test", "100", "--quiet"]


def _cli(*args: str) -> tuple[int, str]:
    r = runner.invoke(app, list(args))
    return r.exit_code, r.output


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "digits"
    code, text = _cli("fit", "builtin:digits", *FAST, "--out", str(out))
    assert code == 0, text
    return out


def test_second_fit_on_a_locked_out_fails_at_once_naming_the_pid(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with RunDir.open(out):
        code, text = _cli("fit", "builtin:digits", *FAST, "--out", str(out), "--overwrite")
    assert code == 2 and f"pid {os.getpid()}" in text and "in use" in text, text


def test_overwrite_keeps_the_old_run_when_the_new_one_fails(finished: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = (finished / "metrics.json").read_bytes()

    def boom(*_a: object, **_k: object) -> None:
        raise RuntimeError("killed mid-training")

    monkeypatch.setattr(pipeline, "fit_transfer", boom)
    with pytest.raises(RuntimeError):
        pipeline.fit_run(
            FitConfig(
                data="builtin:digits",
                out=str(finished),
                labels_per_class=5,
                max_test=100,
                overwrite=True,
                progress=False,
            )
        )
    assert (finished / "metrics.json").read_bytes() == before
    load_run(finished)


def test_partial_folder_is_refused_even_with_a_metrics_file(finished: Path, tmp_path: Path) -> None:
    fake = tmp_path / "x.partial"
    fake.mkdir()
    (fake / "metrics.json").write_text((finished / "metrics.json").read_text())
    (fake / "config.json").write_text((finished / "config.json").read_text())
    with pytest.raises(HeadstartError, match="unfinished run"):
        load_run(fake)
    code, text = _cli("predict", str(fake), "builtin:digits", "--out", str(tmp_path / "p.csv"))
    assert code == 2 and "unfinished run" in text


@pytest.mark.parametrize("bad", ["metrics.json", "config.json"])
def test_damaged_json_in_a_run_is_one_line(finished: Path, tmp_path: Path, bad: str) -> None:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(finished, copy)
    (copy / bad).write_text("{not json")
    code, text = _cli("predict", str(copy), "builtin:digits", "--out", str(tmp_path / "p.csv"))
    assert code == 2 and bad in text and "Traceback" not in text


def test_out_that_is_a_file_fails_before_training(tmp_path: Path) -> None:
    f = tmp_path / "afile"
    f.write_text("x")
    code, text = _cli("fit", "builtin:digits", *FAST, "--out", str(f), "--overwrite")
    assert code == 2 and "existing file" in text
    assert f.read_text() == "x"


def test_unwritable_out_is_one_line_before_training() -> None:
    """/proc refuses new folders even to root (CI runs as root, so a chmod-ed folder would not do)."""
    code, text = _cli("fit", "builtin:digits", *FAST, "--out", "/proc/headstart-test/run")
    assert code == 2 and "cannot write" in text and "Traceback" not in text, text


def test_predict_out_that_is_a_folder_is_one_line(finished: Path, tmp_path: Path) -> None:
    code, text = _cli("predict", str(finished), "builtin:digits", "--out", str(tmp_path))
    assert code == 2 and "is a folder" in text


def test_failed_baseline_keeps_the_transfer_result(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_vocabulary(*_a: object, **_k: object) -> None:
        raise ValueError("empty vocabulary; perhaps the documents only contain stop words")

    monkeypatch.setattr(run_arms, "cached_fit_baseline", no_vocabulary)
    r = pipeline.fit_run(
        FitConfig(data="builtin:digits", out=str(tmp_path / "r"), labels_per_class=5, max_test=100, progress=False)
    )
    assert r.metrics["baseline"]["failed"].startswith("empty vocabulary")
    assert r.metrics["baseline"]["name"] == "majority class"
    assert any("baseline failed" in w for w in r.metrics["warnings"])
    assert (r.out / "metrics.json").exists() and (r.out / "model").exists()


def test_resume_as_printed_needs_only_the_run_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "run"
    real = pipeline.fit_scratch

    def interrupted(*_a: object, **_k: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline, "fit_scratch", interrupted)
    code, text = _cli("fit", "builtin:digits", *FAST, "--out", str(out))
    assert code == 130 and (tmp_path / "run.partial" / "config.json").exists()
    code, text = _cli("predict", str(out), "builtin:digits")
    assert code == 2 and f"headstart fit --resume --out {out}" in text
    monkeypatch.setattr(pipeline, "fit_scratch", real)
    code, text = _cli("fit", "--resume", "--out", str(out), "--quiet")
    assert code == 0, text
    assert json.loads((out / "config.json").read_text())["labels_per_class"] == 5
    assert not (tmp_path / "run.partial").exists()


def test_ids_name_the_physical_line_when_fields_span_lines(tmp_path: Path) -> None:
    from headstart.data import load_data
    from headstart.data.unlabeled import load_unlabeled

    f = tmp_path / "t.csv"
    f.write_text('text,label\n"first\nstill first",a\nsecond,b\n\n"third\n\nmore",a\nfourth,b\n', encoding="utf-8")
    ids, _ = load_unlabeled(str(f), modality="text")
    assert ids == ["t.csv:line 2", "t.csv:line 4", "t.csv:line 6", "t.csv:line 9"]
    assert [i.rsplit("/", 1)[-1] for i in load_data(str(f)).ids] == ids


def test_predict_carries_input_columns(finished: Path, tmp_path: Path) -> None:
    import pandas as pd

    from headstart.pipeline import predict_run

    with pytest.raises(HeadstartError, match="tables only"):
        predict_run(finished, "builtin:digits", keep_columns=["x"])
    assert len(pd.read_csv(finished / "predictions.csv")) == 100
