"""The arm/comparison core on real runs: references on every run, the majority-class sentence, typed config
errors before any data is loaded, the model card of a baseline-shipped run, every advised command runs."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from headstart.cli import app
from headstart.config import FitConfig
from headstart.errors import HeadstartError
from headstart.evaluation.compare import Arm, Comparison, judge, mcnemar_exact, reference_arms
from headstart.pipeline import fit_run

runner = CliRunner()


def _cli(*args: str) -> tuple[int, str]:
    r = runner.invoke(app, list(args))
    return r.exit_code, r.output


# ------------------------------------------------------------------------------------------- config errors
@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["builtin:digits", "--loss", "bogus"], "--loss"),
        (["builtin:rotten-tomatoes", "--loss", "bogus"], "--loss"),
        (["builtin:digits", "--ship", "sometimes"], "--ship"),
        (["builtin:digits", "--strategy", "linear-probe", "--epochs", "3"], "not used by strategy linear-probe"),
        (["builtin:digits", "--strategy", "contrastive", "--unfreeze", "2"], "not used by strategy contrastive"),
        (["builtin:digits", "--strategy", "nope"], "unknown strategy"),
        (["builtin:digits", "--val-size", "1.5"], "--val-size"),
        (["builtin:digits", "--image-size", "4"], "--image-size"),
        (["builtin:digits", "--folds", "1"], "--folds"),
    ],
)
def test_bad_settings_fail_in_one_line_before_loading_and_leave_nothing(
    tmp_path: Path, args: list[str], needle: str
) -> None:
    out = tmp_path / "run"
    code, text = _cli("fit", *args, "--out", str(out), "--quiet")
    assert code == 2, text
    assert needle in text and "Traceback" not in text
    assert not out.exists() and not (tmp_path / "run.partial").exists()


def test_unknown_strategy_option_from_python_is_an_error() -> None:
    with pytest.raises(HeadstartError, match="warmup_typo"):
        FitConfig(data="x", out="y", strategy="finetune", options={"warmup_typo": 3}).validate()


def test_version_flag() -> None:
    code, text = _cli("--version")
    assert code == 0 and text.startswith("headstart ")


# ------------------------------------------------------------------------------------------- judge
def test_mcnemar_counts_discordant_pairs() -> None:
    a = np.array([1, 1, 1, 1, 1, 0, 1, 1])
    b = np.array([0, 0, 0, 0, 0, 0, 1, 1])
    p, a_only, b_only = mcnemar_exact(a, b)
    assert (a_only, b_only) == (5, 0) and p == pytest.approx(0.0625)


def test_few_discordant_pairs_are_flagged_underpowered() -> None:
    """40 items, 5 discordant (all for a): the bootstrap alone calls it; the verdict must say underpowered."""
    y = np.zeros(40, dtype=int)
    y[20:] = 1
    pa = np.eye(2)[y]
    wrong = y.copy()
    wrong[:5] = 1
    pb = np.eye(2)[wrong]
    arms = {a.name: a for a in [Arm("transfer", "transfer", "t", pa), Arm("scratch", "baseline", "b", pb)]}
    v = judge(Comparison("transfer", "scratch"), arms, y)
    assert v["underpowered"] and v["mcnemar_p"] == pytest.approx(0.0625)
    assert any("underpowered" in w and "--seeds" in w for w in v["warnings"])


def test_reference_arms_predict_the_labeled_majority() -> None:
    y = np.array([0, 0, 0, 1, 2])
    maj, strat = reference_arms(y, 10, 3)
    assert (maj.output.argmax(1) == 0).all() and maj.val_score == pytest.approx(0.6)
    assert strat.output.shape == (10, 3)


# ------------------------------------------------------------------------------------------- real runs
@pytest.mark.slow
def test_every_run_carries_majority_reference_and_baseline_card(tmp_path: Path) -> None:
    out = tmp_path / "digits"
    code, text = _cli("fit", "builtin:digits", "--labels-per-class", "10", "--out", str(out), "--quiet")
    assert code == 0, text
    assert "majority" in text and "stratified" in text and "negative-t" in text
    m = json.loads((out / "metrics.json").read_text())
    assert {a["name"] for a in m["arms"]} == {"transfer", "scratch", "majority", "stratified"}
    assert m["references"]["majority"]["accuracy"] < 0.2  # ten balanced classes
    assert m["comparisons"][0]["comparison"] == "transfer vs scratch"
    assert m["transfer"]["selection"] == "cv" and m["baseline"]["selection"] == "val"
    assert m["shipped"]["side"] == "baseline"
    card = (out / "MODEL_CARD.md").read_text()
    front = yaml.safe_load(card.split("---")[1])
    assert "base_model" not in front and front["license"] == "other"
    assert front["model-index"][0]["name"].startswith("headstart-scratch-small-cnn")
    assert "trained from scratch" in card and "did not ship" in card
    report = (out / "report.html").read_text()
    assert 'id="arms"' in report and "majority class" in report


@pytest.mark.slow
def test_neither_beats_the_majority_class_on_imbalanced_real_data(tmp_path: Path) -> None:
    """Adult (76% earn <= 50K) with 4 labels per class: balanced few-shot models fall below the majority class."""
    r = fit_run(
        FitConfig(data="builtin:adult", out=str(tmp_path / "adult"), labels_per_class=4, max_test=600, progress=False)
    )
    v = r.metrics["verdict"]
    assert v["reference"]["arm"] == "majority"
    assert not any(v["reference"]["beaten_by"].values()), v["reference"]
    assert "Neither model beats guessing the largest class" in v["sentence"]
    assert "balanced" in v["sentence"]  # imbalanced test classes: balanced accuracy joins the verdict line
    assert r.metrics["shipped"]["beats_majority"] is False
    assert "neither model beats guessing the majority class" in r.metrics["shipped"]["reason"]


# ------------------------------------------------------------------------------------------- advisor commands
def _advised_commands() -> list[str]:
    from headstart.advise.rubric import fit_command
    from headstart.advise.rubric_rows import RUBRIC

    return sorted({fit_command(row.strategy) for row in RUBRIC})


def _npz_subset(spec: str, n: int, where: Path) -> str:
    """``n`` items of a builtin image set, drawn with seed 0, written as an .npz of uint8 images and labels."""
    import numpy as np

    from headstart.data import load_data

    data = load_data(spec)
    keep = np.random.default_rng(0).permutation(len(data.y))[:n]
    path = where / f"{spec.split(':')[1]}-{n}.npz"
    np.savez(path, X=np.asarray(data.items)[keep], y=np.asarray(data.classes)[data.y[keep]])
    return str(path)


@pytest.mark.slow
@pytest.mark.parametrize("command", _advised_commands())
def test_every_command_the_advisor_can_print_runs(tmp_path: Path, command: str) -> None:
    args = shlex.split(command)[2:]  # drop "headstart fit"
    names = {"DATA": "builtin:digits", "SOURCE": "builtin:digits"}
    if "SOURCE" in args:
        # a real shift (MNIST digits cut to 8x8 -> sklearn digits), 400 source and 600 target items as .npz
        # files: the command and every `--adapt auto` candidate run as advised, at a fraction of the cost of
        # the full 1797-item sets
        names = {
            "DATA": _npz_subset("builtin:digits", 600, tmp_path),
            "SOURCE": _npz_subset("builtin:mnist5k-8x8", 400, tmp_path),
        }
    args = [names.get(a, a) for a in args]
    extra = ["--labels-per-class", "5", "--max-test", "100", "--image-size", "32", "--quiet"]
    if "--strategy" in args and "linear-probe" not in args:
        extra += ["--epochs", "1"]
    code, text = _cli("fit", *args, *extra, "--out", str(tmp_path / "run"))
    assert code == 0, f"`{command}` failed: {text}"


def test_estimator_predict_before_fit_is_not_fitted_error() -> None:
    from sklearn.exceptions import NotFittedError

    from headstart import TransferClassifier

    with pytest.raises(NotFittedError):
        TransferClassifier().predict(["a film"])
    assert TransferClassifier().__sklearn_tags__().input_tags.two_d_array is False


@pytest.mark.slow
def test_audit_prints_the_largest_error_rate_gap(tmp_path: Path) -> None:
    code, text = _cli(
        "fit",
        "builtin:adult",
        "--labels-per-class",
        "20",
        "--max-test",
        "300",
        "--group-column",
        "sex",
        "--out",
        str(tmp_path / "a"),
        "--quiet",
    )
    assert code == 0, text
    assert "audit sex: largest accuracy gap" in text
    assert "FPR gap" in text or "FNR gap" in text, text
