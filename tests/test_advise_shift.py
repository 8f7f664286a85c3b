"""The data-aware advisor's graded shift call on real data: MNIST-5k (8x8) vs digits is a larger shift than two
disjoint halves of digits, the former recommends adaptation with a command that runs, the latter does not."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from headstart.advise import advise_from_data
from headstart.advise.graded import shift_call
from headstart.cli import app

KW = {"max_samples": 150, "image_size": 32}


@pytest.fixture(scope="module")
def calls():  # type: ignore[no-untyped-def]
    near = advise_from_data("builtin:digits", "mobilenetv2", "builtin:digits", **KW)
    far = advise_from_data("builtin:digits", "mobilenetv2", "builtin:mnist5k-8x8", **KW)
    return near, far


def test_mnist_to_digits_is_graded_larger_than_digits_halves(calls) -> None:  # type: ignore[no-untyped-def]
    near, far = calls
    assert far.shift["domain_accuracy"] > near.shift["domain_accuracy"] + 0.1
    assert far.shift["mmd"] > near.shift["mmd"]
    assert far.shift["significant"] and far.shift["mmd_p"] < 0.05
    assert near.shift["call"] == "none" and near.similarity == "high"
    assert far.shift["call"] in ("moderate", "large")
    assert 0.0 < far.shift["pad"] < 1.99  # graded, unlike the full-capacity PAD
    lo, hi = far.shift["domain_accuracy_ci"]
    assert lo <= far.shift["domain_accuracy"] <= hi


def test_adaptation_is_advised_only_for_a_real_shift(calls) -> None:  # type: ignore[no-untyped-def]
    near, far = calls
    assert near.adaptation is None
    assert far.adaptation == "headstart fit builtin:digits --source builtin:mnist5k-8x8 --adapt auto"


@pytest.mark.slow
def test_advised_adaptation_command_runs(calls, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _, far = calls
    """The advised command runs, with one cheap method instead of the full auto ranking (test_arms runs
    `--adapt auto`); it is also the check that `headstart fit TARGET --source SOURCE --adapt M` (the adaptation
    issue's interface) writes a locked run folder like any other, with its verdict and report."""
    from headstart.rundir import load_run

    command = far.adaptation.replace("--adapt auto", "--adapt per-domain")
    out = tmp_path / "r"
    result = CliRunner().invoke(app, [*command.split()[1:], "--out", str(out)])
    assert result.exit_code == 0, result.output
    config, metrics = load_run(out)  # manifest verified
    assert config["kind"] == "adaptation" and metrics["comparisons"][0]["kind"] == "adaptation"
    assert metrics["comparisons"][0]["label"] == "adaptation helps"
    page = (out / "report.html").read_text()
    assert 'id="arms"' in page or "id='arms'" in page


def test_shift_call_is_none_for_one_distribution(calls) -> None:  # type: ignore[no-untyped-def]
    import numpy as np

    x = np.random.default_rng(0).normal(size=(400, 16))
    out = shift_call(x[:200], x[200:], n_perm=100)
    assert out["call"] == "none" and not out["significant"]
