"""`headstart rank` / rank_data: a planted random-init control must rank last on a real task."""

from __future__ import annotations

import json
import math
from pathlib import Path

from typer.testing import CliRunner

from headstart.cli import app
from headstart.ranking.rank import candidate_backbones, rank_data, stratified_subsample


def test_random_control_ranks_last_on_digits() -> None:
    rows = rank_data("builtin:digits", ["mobilenetv2", "mobilenetv2:random"], labels_per_class=8, image_size=32)
    assert [r["name"] for r in rows] == ["mobilenetv2", "mobilenetv2:random"]
    assert [r["rank"] for r in rows] == [1, 2]
    best, control = rows
    assert control["control"] and not best["control"]
    assert best["n_samples"] == control["n_samples"] == 80
    assert math.isfinite(best["leep"]) and math.isfinite(best["nce"])  # ImageNet head -> LEEP/NCE
    assert math.isnan(control["leep"])  # no source head for random init
    assert all(r["seconds"] > 0 for r in rows)


def test_rank_cli_reuses_cached_embeddings() -> None:
    # same subsample and resolution as above: the pretrained backbone's embeddings are cache hits
    result = runner_invoke(
        "rank",
        "builtin:digits",
        "--backbones",
        "mobilenetv2",
        "--labels-per-class",
        "8",
        "--image-size",
        "32",
        "--json",
    )
    rows = json.loads(result)
    # every key must hit after a reload, including keys that end in NUL bytes (numpy "S16" used to drop them)
    assert rows[0]["name"] == "mobilenetv2" and rows[0]["cache_hits"] == 80
    assert rows[0]["cache_hits"] + rows[0]["computed"] == 80


def runner_invoke(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_rank_cli_rejects_wrong_modality() -> None:
    result = CliRunner().invoke(app, ["rank", "builtin:digits", "--backbones", "minilm-l6"])
    assert result.exit_code == 2 and "is for text" in result.output


def test_candidates_and_subsample() -> None:
    names, _ = candidate_backbones("image", controls=True)
    assert "mobilenetv2" in names and "mobilenetv2:random" in names
    import numpy as np

    y = np.array([0] * 30 + [1] * 5)
    idx = stratified_subsample(y, 10, seed=0)
    assert np.bincount(y[idx]).tolist() == [10, 5]


def test_rank_cli_on_a_table_ranks_text_backbones_on_its_rows_and_refuses_a_numeric_target(tmp_path: Path) -> None:
    """A CSV of feature columns: the rows are serialized as `fit`'s rows-as-text arm reads them, the text
    backbones are scored, and the advised command keeps --label-column. A regression target is one line."""
    from sklearn.datasets import load_wine

    frame = load_wine(as_frame=True).frame.rename(columns={"target": "cultivar"})
    frame.to_csv(tmp_path / "wine.csv", index=False)
    args = ("rank", str(tmp_path / "wine.csv"), "--label-column", "cultivar", "--backbones", "minilm-l6")
    rows = json.loads(runner_invoke(*args, "--json"))
    assert [r["name"] for r in rows] == ["minilm-l6"] and rows[0]["n_samples"] == 178
    assert rows[0]["linear_probe_accuracy"] > 0.6  # 3 cultivars: chance is 0.40
    shown = " ".join(runner_invoke(*args).split())  # the console folds long lines at 80 columns
    assert f"next: headstart fit {tmp_path / 'wine.csv'} --label-column cultivar --backbone minilm-l6" in shown
    numeric = CliRunner().invoke(app, ["rank", "builtin:diabetes"])
    assert numeric.exit_code == 2 and "this target is numeric" in numeric.output


def test_rank_table_keeps_every_figure_whole_at_80_columns() -> None:
    """Nine columns and a control's long name: no column is cropped at 80 columns (the time column, last,
    used to lose its unit), and no line is wider."""
    args = ["rank", "builtin:digits", "--controls", "--labels-per-class", "8"]
    out = CliRunner().invoke(app, args, env={"COLUMNS": "80"})
    assert out.exit_code == 0, out.output
    lines = out.output.splitlines()
    rows = [ln for ln in lines if ln.strip()[:1].isdigit() and "%" in ln]
    assert len(rows) >= 3 and all(ln.rstrip().endswith(("s", "s*")) for ln in rows), rows
    assert max(len(ln) for ln in lines) <= 80
