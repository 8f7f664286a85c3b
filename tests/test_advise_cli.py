"""`headstart advise`: rubric corner cases through the CLI, the callable `headstart.advise`, and the
data-aware advisor's similarity measurement (tiny subsamples, low resolution)."""

from __future__ import annotations

import json
from pathlib import Path

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


def test_data_aware_advice_on_a_table_reads_its_columns_and_the_advised_command_runs(tmp_path: Path) -> None:
    """A CSV of feature columns (scikit-learn's wine) with its own label column: the tabular rubric answers,
    nothing is compared with a source domain, and the advised command carries --label-column and runs."""
    import shlex

    from sklearn.datasets import load_wine

    frame = load_wine(as_frame=True).frame.rename(columns={"target": "cultivar"})
    frame["cultivar"] = frame["cultivar"].map({0: "barolo", 1: "grignolino", 2: "barbera"})
    path = tmp_path / "wine.csv"
    frame.to_csv(path, index=False)
    doc = _advise(str(path), "--label-column", "cultivar")
    assert doc["modality"] == "tabular" and doc["similarity"] == "not measured" and doc["pad"] is None
    assert doc["advice"]["rule_id"] == "table-tiny" and doc["labels_per_class"] == 48
    assert doc["advice"]["inputs"]["text_columns"] == []
    command = doc["advice"]["next_command"]
    assert command == f"headstart fit {path} --label-column cultivar --ship baseline"
    shown = runner.invoke(app, ["advise", str(path), "--label-column", "cultivar"])
    assert shown.exit_code == 0 and "free-text columns" in shown.output and "Traceback" not in shown.output
    argv = [*shlex.split(command)[1:], "--out", str(tmp_path / "run")]
    fitted = runner.invoke(app, argv)
    assert fitted.exit_code == 0, fitted.output
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["shipped"]["side"] == "baseline"


def test_data_aware_advice_on_regression_targets_counts_items_and_advises_what_fits_them() -> None:
    """No classes to count: the budget is the labeled items; only the ridge probe (or the baseline) fits a
    regression target, so a rubric pick that trains a classification head is replaced and the risk says why."""
    table = _advise("builtin:diabetes")
    assert table["class_counts"] == {} and table["labels_per_class"] == 442
    assert table["advice"]["next_command"] == "headstart fit builtin:diabetes --ship baseline"
    text = _advise("builtin:word-pleasantness", "--max-samples", "40")
    assert text["class_counts"] == {} and text["labels_per_class"] > 5000
    assert text["advice"]["strategy"] == "linear-probe"
    assert text["advice"]["next_command"].endswith("--strategy linear-probe")
    # no backbone named, none advised: `fit` then probes the layers 4-6 view of the same MiniLM weights, not
    # the last layer the advisor measured with (which the command used to force, 1-12 points worse)
    assert "--backbone" not in text["advice"]["next_command"]
    from headstart.config import FitConfig
    from headstart.data import load_data
    from headstart.run_setup import resolve_backbone

    cfg = FitConfig(data="builtin:word-pleasantness", out="unused", strategy="linear-probe")
    assert resolve_backbone(cfg, load_data("builtin:word-pleasantness"))[0] == "minilm-l6-layers"
    assert any("regression target" in r for r in text["advice"]["risks"])


def test_advise_takes_on_bad_item_and_its_command_keeps_it(tmp_path: Path) -> None:
    """The load error tells the user to pass --on-bad-item skip: advise accepts it and so does its command."""
    import pandas as pd

    from headstart.data import load_data

    rt = load_data("builtin:rotten-tomatoes")
    pick = range(0, 400, 5)
    frame = pd.DataFrame({"review": [rt.items[i] for i in pick], "sentiment": [rt.classes[rt.y[i]] for i in pick]})
    frame.loc[2, "review"] = ""  # an empty review
    frame.to_csv(tmp_path / "rt.csv", index=False)
    args = ["advise", str(tmp_path / "rt.csv"), "--text-column", "review", "--label-column", "sentiment"]
    stopped = runner.invoke(app, args)
    assert stopped.exit_code == 2 and "--on-bad-item skip" in stopped.output
    doc = _advise(*args[1:], "--on-bad-item", "skip", "--max-samples", "40")
    assert " --on-bad-item skip --text-column review --label-column sentiment " in doc["advice"]["next_command"]


def test_a_review_file_with_its_own_column_names_is_advised_as_text_with_its_source(tmp_path: Path) -> None:
    """`review,sentiment` files: without --text-column the lone free-text column is read as a table and a
    warning names the flag; with it, --source is read with the same columns (it used to demand a 'label'
    column) and its similarity is measured."""
    import pandas as pd

    from headstart.data import load_data

    rt = load_data("builtin:rotten-tomatoes")
    df = pd.DataFrame({"review": rt.items[:240], "sentiment": [rt.classes[i] for i in rt.y[:240]]})
    df[:120].to_csv(tmp_path / "target.tsv", sep="\t", index=False)
    df[120:].to_csv(tmp_path / "source.csv", index=False)
    base = ["advise", str(tmp_path / "target.tsv"), "--source", str(tmp_path / "source.csv")]
    res = CliRunner().invoke(app, [*base, "--label-column", "sentiment", "--max-samples", "40"])
    said = " ".join(res.output.split())
    assert res.exit_code == 0, res.output
    assert "the only feature column, 'review', is free text" in said and "pass --text-column review" in said
    res = CliRunner().invoke(
        app, [*base, "--label-column", "sentiment", "--text-column", "review", "--max-samples", "40"]
    )
    said = " ".join(res.output.split())
    assert res.exit_code == 0, res.output
    assert "(text)" in said and "PAD" in said and "user-supplied reference" in said and "free text" not in said
