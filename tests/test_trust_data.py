"""Data loading never accepts silently what it cannot interpret: conflicting duplicates are reported (and reach
fit's warnings), "1.0" and "1" are one class, duplicate header columns and list-valued text are refused; texts
without words (single characters, emoji) still get a TF-IDF baseline."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from headstart.cli import app
from headstart.data import load_data
from headstart.errors import HeadstartError

runner = CliRunner()


def _rows(pairs: list[tuple[str, str]]) -> str:
    return "text,label\n" + "".join(f"{t},{lab}\n" for t, lab in pairs)


def test_numeric_looking_labels_are_one_class(tmp_path: Path) -> None:
    f = tmp_path / "num.csv"
    f.write_text(_rows([("good", "1.0"), ("fine", "1"), ("bad", "0"), ("awful", "0.0"), ("ok", "1.00"), ("meh", "0")]))
    d = load_data(str(f))
    assert d.classes == ["0", "1"] and d.class_counts() == {"0": 3, "1": 3}
    g = tmp_path / "words.csv"  # non-numeric labels are untouched
    g.write_text(_rows([("a", "v1.0"), ("b", "v1"), ("c", "v1.0"), ("d", "v1")]))
    assert load_data(str(g)).classes == ["v1", "v1.0"]


def test_conflicting_duplicates_are_warned(tmp_path: Path) -> None:
    f = tmp_path / "dups.csv"
    f.write_text(_rows([("same words", "pos"), ("other", "neg"), ("same words", "neg"), ("more", "pos")]))
    d = load_data(str(f))
    assert len(d.warnings) == 1
    assert "line 2" in d.warnings[0] and "line 4" in d.warnings[0] and "different labels" in d.warnings[0]
    assert d.subset([0, 1]).warnings == d.warnings
    ok = tmp_path / "ok.csv"
    ok.write_text(_rows([("same words", "pos"), ("other", "neg"), ("same words", "pos"), ("more", "neg")]))
    assert load_data(str(ok)).warnings == []


@pytest.mark.parametrize(
    ("name", "content", "needle"),
    [
        ("dup.csv", "text,label,label\na,x,y\nb,y,x\nc,x,y\nd,y,x\n", "column 'label' appears twice"),
        ("dup.tsv", "text\ttext\tlabel\na\tb\tx\nc\td\ty\n", "column 'text' appears twice"),
        ("dup.jsonl", '{"text": "a", "label": "x", "label": "y"}\n', "line 1: key 'label' appears twice"),
    ],
)
def test_duplicate_columns_are_refused(tmp_path: Path, name: str, content: str, needle: str) -> None:
    f = tmp_path / name
    f.write_text(content)
    with pytest.raises(HeadstartError, match=needle):
        load_data(str(f))


def test_a_list_column_is_not_text(tmp_path: Path) -> None:
    f = tmp_path / "lists.parquet"
    pd.DataFrame({"text": [["a", "b"], ["c"]] * 4, "label": ["x", "y"] * 4}).to_parquet(f)
    with pytest.raises(HeadstartError, match=r"row 1: column 'text' holds a ndarray, not a text"):
        load_data(str(f))


@pytest.mark.slow
def test_fit_on_emoji_and_single_characters_finishes_and_shows_conflicts(tmp_path: Path) -> None:
    pairs = [(c, "happy") for c in "😀😃😄😁😆😊🙂🤗😍🥰ab"] + [(c, "sad") for c in "😢😭😞😔😟🙁☹😩😫😿cd"]
    pairs.append(("a", "sad"))  # conflicts with ("a", "happy")
    f = tmp_path / "emoji.csv"
    f.write_text(_rows(pairs), encoding="utf-8")
    out = tmp_path / "run"
    result = runner.invoke(app, ["fit", str(f), "--out", str(out), "--backbone", "minilm-l6", "--baseline", "tfidf"])
    assert result.exit_code == 0, result.output
    assert "different labels" in " ".join(result.output.split())
    m = json.loads((out / "metrics.json").read_text())
    assert m["baseline"]["name"].startswith("TF-IDF")
    assert any("different labels" in w for w in m["warnings"])


def test_texts_to_predict_with_a_null_are_a_one_line_error(tmp_path: Path) -> None:
    """A JSON null (or a missing cell) in the text column of a file to predict names its line instead of a
    traceback; a number there is a text like any other."""
    from headstart.data.unlabeled import load_unlabeled

    odd = tmp_path / "odd.jsonl"
    odd.write_text('{"review": "fine film"}\n{"review": null}\n', encoding="utf-8")
    with pytest.raises(HeadstartError, match=r"odd.jsonl: line 2 has an empty 'review'"):
        load_unlabeled(str(odd), modality="text", text_column="review")
    ok = tmp_path / "ok.jsonl"
    ok.write_text('{"review": "fine film"}\n{"review": 5}\n', encoding="utf-8")
    assert load_unlabeled(str(ok), modality="text", text_column="review")[1] == ["fine film", "5"]


def test_predict_skips_unreadable_images_only_when_asked(digits_run: Path, tmp_path: Path) -> None:
    """A folder with one broken image: one-line error naming it by default; `--on-bad-item skip` predicts the
    readable ones and lists the one it left out."""
    import numpy as np
    from PIL import Image

    folder = tmp_path / "new"
    (folder / "a").mkdir(parents=True)
    digits = load_data("builtin:digits")
    for i in range(3):
        Image.fromarray(np.asarray(digits.items[i], dtype=np.uint8)).save(folder / "a" / f"{i}.png")
    (folder / "broken.png").write_bytes(b"not a png")
    out = tmp_path / "p.csv"
    res = runner.invoke(app, ["predict", str(digits_run), str(folder), "--out", str(out)])
    assert res.exit_code != 0 and "broken.png: cannot decode image" in res.output.replace("\n", "")
    assert not out.exists()
    res = runner.invoke(app, ["predict", str(digits_run), str(folder), "--out", str(out), "--on-bad-item", "skip"])
    assert res.exit_code == 0, res.output
    flat = res.output.replace("\n", "")  # the console wraps long paths
    assert "skipped 1:" in flat and "broken.png" in flat
    pred = pd.read_csv(out)
    assert len(pred) == 3 and not pred.id.str.contains("broken").any()
