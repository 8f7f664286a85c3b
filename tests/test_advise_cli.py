"""`headstart advise`: rubric corner cases through the CLI, the callable `headstart.advise`, and the
data-aware advisor's similarity measurement (tiny subsamples, low resolution)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

import headstart
from headstart.cli import app

runner = CliRunner()


def _advise(*args: str) -> dict:
    result = runner.invoke(app, ["advise", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


@pytest.mark.parametrize(
    ("labels", "similarity", "compute", "strategy", "band"),
    [
        ("1", "high", "cpu", "linear-probe", "tiny"),
        ("49", "high", "multi-gpu", "linear-probe", "tiny"),
        ("50", "medium", "single-gpu", "partial", "small"),
        ("50", "medium", "cpu", "linear-probe", "small"),
        ("499", "low", "cpu", "linear-probe", "small"),
        ("500", "high", "single-gpu", "finetune", "medium"),
        ("5000", "low", "cpu", "lora", "medium"),
        ("5001", "low", "multi-gpu", "scratch", "large"),
        ("5001", "low", "single-gpu", "finetune", "large"),
    ],
)
def test_rubric_corners(labels: str, similarity: str, compute: str, strategy: str, band: str) -> None:
    doc = _advise("--labels-per-class", labels, "--similarity", similarity, "--compute", compute)
    assert (doc["strategy"], doc["data_band"]) == (strategy, band)
    from headstart.advise.rubric import fit_command

    assert doc["next_command"] == fit_command(strategy)
    assert doc["reasons"] and doc["risks"]


def test_unlabeled_flag_enables_domain_adaptation() -> None:
    args = ("--labels-per-class", "20", "--similarity", "low", "--compute", "cpu")
    assert _advise(*args)["strategy"] == "linear-probe"
    assert _advise(*args, "--unlabeled")["strategy"] == "domain-adaptation"


def test_rubric_display_has_reasons_risks_and_command() -> None:
    result = runner.invoke(app, ["advise", "--labels-per-class", "30", "--similarity", "high", "--compute", "cpu"])
    assert result.exit_code == 0, result.output
    for text in ("linear-probe", "why", "risks", "headstart fit DATA --strategy linear-probe"):
        assert text in result.output


@pytest.mark.parametrize(
    "args",
    [
        ("--labels-per-class", "10"),  # no similarity, no data
        ("--labels-per-class", "0", "--similarity", "high", "--compute", "cpu"),
        ("--labels-per-class", "10", "--similarity", "very", "--compute", "cpu"),
        ("--labels-per-class", "10", "--similarity", "high", "--compute", "tpu"),
    ],
)
def test_bad_inputs_are_one_line_errors(args: tuple[str, ...]) -> None:
    result = runner.invoke(app, ["advise", *args])
    assert result.exit_code == 2
    assert "error:" in result.output and "Traceback" not in result.output


def test_top_level_advise_is_callable_and_package_still_importable() -> None:
    adv = headstart.advise(600, "high", "single-gpu")
    assert adv.strategy == "finetune"
    assert headstart.advise.rubric.advise  # the subpackage is not shadowed


def test_data_aware_pad_separates_near_from_far_source() -> None:
    """Same domain (disjoint MNIST samples) gives a small PAD; Fashion-MNIST a large one."""
    from headstart.advise import advise_from_data

    kw = {"max_samples": 40, "image_size": 32}
    near = advise_from_data("builtin:mnist5k", "mobilenetv2", "builtin:mnist5k", **kw)
    far = advise_from_data("builtin:mnist5k", "mobilenetv2", "builtin:fashion-mnist", **kw)
    assert near.pad < 0.8 < 1.5 <= far.pad
    assert near.mmd < far.mmd
    assert (near.similarity, far.similarity) == ("high", "low") or near.similarity != far.similarity
    assert near.labels_per_class == far.labels_per_class == 500
    assert far.compute in ("cpu", "single-gpu", "multi-gpu")
    assert far.advice.next_command.startswith("headstart fit builtin:mnist5k --backbone mobilenetv2 --strategy ")
    assert near.reference_kind == "user" and far.confidence in ("low", "medium", "high")


def test_data_aware_cli_prints_measured_inputs() -> None:
    # same sample and resolution as above: the embeddings come from the cache
    result = runner.invoke(
        app,
        ["advise", "builtin:mnist5k", "--source", "builtin:fashion-mnist", "--max-samples", "40", "--image-size", "32"],
    )
    assert result.exit_code == 0, result.output
    for text in (
        "measured inputs",
        "labels per class",
        "similarity",
        "PAD",
        "the call",
        "headstart fit builtin:mnist5k",
    ):
        assert text in result.output
