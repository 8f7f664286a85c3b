"""load_data: one entry point for image folders, text tables, .npz arrays, builtins and Python arrays."""

from __future__ import annotations

import csv
import gzip
import io
import json
import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from headstart.data.dataset import LabeledData
from headstart.data.images import IMAGE_EXTENSIONS, ImageDecodeError, is_image_path, read_image
from headstart.data.locate import csv_record_lines
from headstart.data.validate import check_classes, conflicting_duplicates
from headstart.errors import HeadstartError

ON_BAD_ITEM = ("error", "skip")
TABLE_EXTENSIONS = (".csv", ".tsv", ".tab", ".jsonl", ".ndjson", ".parquet", ".pq")
SUPPORTED_HINT = (
    "use a folder of images (one subfolder per class), .csv, .tsv, .jsonl, .parquet or .npz, or builtin:NAME"
)


class _BadItems:
    """Either raises on a bad item or records it in ``skipped``."""

    def __init__(self, on_bad_item: str) -> None:
        if on_bad_item not in ON_BAD_ITEM:
            raise HeadstartError(f"on_bad_item must be 'error' or 'skip', got {on_bad_item!r}")
        self.skip = on_bad_item == "skip"
        self.skipped: list[dict] = []

    def bad(self, item_id: str, reason: str, advice: str) -> None:
        if not self.skip:
            raise HeadstartError(f"{item_id}: {reason}; {advice}, or pass --on-bad-item skip")
        self.skipped.append({"id": item_id, "reason": reason})


_DECIMAL = re.compile(r"[+-]?\d+\.\d*")


def label_to_str(value: Any) -> str | None:
    """Normalize a raw label to its class name; None when missing (None, NaN, empty string)."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    if isinstance(value, str):
        value = value.strip()
        if _DECIMAL.fullmatch(value):  # "1.0" and "1" are one class, as they are when the column is numeric
            return label_to_str(float(value))
        return value or None
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        if math.isnan(value):
            return None
        return str(int(value)) if float(value).is_integer() else str(float(value))
    return str(value).strip() or None


def _text_value(value: Any) -> str:
    if value is None or value is pd.NA:
        return ""
    if isinstance(value, float) and math.isnan(value):
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return value if isinstance(value, str) else str(value)


def build_labeled(
    items: list[Any] | np.ndarray,
    labels: Sequence[str],
    *,
    modality: str,
    source: str,
    provenance: str,
    ids: list[str],
    groups: Mapping[str, Sequence[Any] | np.ndarray] | None = None,
    skipped: list[dict] | None = None,
    classes: Sequence[str] | None = None,
    label_source: str | None = None,
) -> LabeledData:
    """Encode string labels (classes sorted as strings unless given), check the classes, build LabeledData."""
    class_list = sorted(set(labels)) if classes is None else list(classes)
    code = {c: i for i, c in enumerate(class_list)}
    y = np.fromiter((code[lab] for lab in labels), dtype=np.int64, count=len(labels))
    check_classes(y, class_list, source=source, label_source=label_source)
    warnings = conflicting_duplicates(items, labels, ids) if modality == "text" else []
    return LabeledData(
        items=items,
        y=y,
        classes=class_list,
        modality=modality,
        source=source,
        provenance=provenance,
        ids=ids,
        groups={k: np.asarray(v, dtype=object) for k, v in (groups or {}).items()},
        skipped=list(skipped or []),
        warnings=warnings,
    )


# ---------------------------------------------------------------------------------------------- text tables


def read_utf8(path: Path, display: str) -> str:
    """Read a (optionally .gz) file as UTF-8; HeadstartError with the byte offset if it is not UTF-8."""
    try:
        raw = path.read_bytes()
        if path.suffix.lower() == ".gz":
            raw = gzip.decompress(raw)
    except (OSError, EOFError) as exc:
        raise HeadstartError(f"{display}: cannot read file ({exc}); check the file and its permissions") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        where = " (after decompression)" if path.suffix.lower() == ".gz" else ""
        raise HeadstartError(
            f"{display}: not valid UTF-8 at byte {exc.start}{where} (byte 0x{raw[exc.start]:02x}); "
            "re-save the file as UTF-8 (e.g. iconv -f latin1 -t utf-8)"
        ) from None


def _refuse_duplicate_header(header: list[str], display: str) -> None:
    seen: set[str] = set()
    for name in (h.strip() for h in header):
        if name in seen:
            raise HeadstartError(
                f"{display}: column {name!r} appears twice in the header; rename or delete one of them "
                "(which one holds the data is ambiguous)"
            )
        seen.add(name)


def _unique_keys(pairs: list[tuple[str, Any]], display: str, lineno: int) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    for k in keys:
        if keys.count(k) > 1:
            raise HeadstartError(f"{display}:line {lineno}: key {k!r} appears twice in one object; keep one")
    return dict(pairs)


def _read_table(path: Path, display: str, ext: str) -> tuple[pd.DataFrame, list[str]]:
    """Read a text table into a DataFrame plus one locator per row."""
    if ext in (".csv", ".tsv", ".tab"):
        text = read_utf8(path, display)
        if not text.strip():
            raise HeadstartError(f"{display}: file is empty; add a header row and labeled rows")
        sep = "," if ext == ".csv" else "\t"
        _refuse_duplicate_header(next(csv.reader(io.StringIO(text), delimiter=sep), []), display)
        try:
            df = pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False, na_filter=False)
        except (pd.errors.ParserError, ValueError) as exc:
            msg = " ".join(str(exc).split())
            raise HeadstartError(f"{display}: cannot parse as {ext[1:].upper()} ({msg}); fix that line") from None
        lines = csv_record_lines(path, sep)  # physical lines: a quoted field may span several
        if len(lines) != len(df):
            lines = [i + 2 for i in range(len(df))]
        return df, [f"{display}:line {ln}" for ln in lines]
    if ext in (".jsonl", ".ndjson"):
        text = read_utf8(path, display)
        records: list[dict[str, Any]] = []
        ids: list[str] = []
        for lineno, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line, object_pairs_hook=lambda pairs, n=lineno: _unique_keys(pairs, display, n))
            except json.JSONDecodeError as exc:
                raise HeadstartError(
                    f"{display}:line {lineno}: invalid JSON ({exc.msg} at column {exc.colno}); "
                    "fix or remove that line (one JSON object per line)"
                ) from None
            if not isinstance(obj, dict):
                raise HeadstartError(
                    f'{display}:line {lineno}: expected a JSON object like {{"text": ..., "label": ...}}, '
                    f"got {type(obj).__name__}"
                )
            records.append(obj)
            ids.append(f"{display}:line {lineno}")
        if not records:
            raise HeadstartError(f"{display}: file has no JSON lines; add one object per line")
        return pd.DataFrame.from_records(records), ids
    try:
        df = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises many types for corrupt files
        msg = " ".join(str(exc).split())[:200]
        raise HeadstartError(f"{display}: cannot read as Parquet ({msg}); re-export the file") from None
    return df, [f"{display}:row {i + 1}" for i in range(len(df))]


def _pick_column(columns: list[str], requested: str | None, default: str, flag: str, display: str) -> str:
    available = ", ".join(repr(c) for c in columns) or "(none)"
    if requested is not None:
        if requested in columns:
            return requested
        raise HeadstartError(
            f"{display}: no column {requested!r}; available columns: {available}; pass {flag} with one of them"
        )
    if default in columns:
        return default
    matches = [c for c in columns if c.strip().lower() == default]
    if len(matches) == 1:
        return matches[0]
    raise HeadstartError(f"{display}: no {default!r} column; pass {flag} with one of: {available}")


def _load_table(
    path: Path,
    display: str,
    ext: str,
    *,
    text_column: str | None,
    label_column: str | None,
    group_columns: Sequence[str],
    bad: _BadItems,
    modality: str | None = None,
    task: str = "auto",
) -> LabeledData:
    df, row_ids = _read_table(path, display, ext)
    columns = [str(c) for c in df.columns]
    df.columns = pd.Index(columns)
    if len(df) == 0:
        raise HeadstartError(f"{display}: no data rows (only a header); add labeled rows")
    if modality == "tabular" or (modality is None and text_column is None and "text" not in columns):
        from headstart.data.tabular import table_to_labeled

        lcol = _pick_column(columns, label_column, "label", "--label-column", display)
        return table_to_labeled(
            df, row_ids, label_column=lcol, where=display, provenance=f"user file {path.resolve()}", bad=bad.bad,
            skipped=bad.skipped, text_column=text_column, group_columns=group_columns, task=task,
        )  # fmt: skip
    tcol = _pick_column(columns, text_column, "text", "--text-column", display)
    lcol = _pick_column(columns, label_column, "label", "--label-column", display)
    if tcol == lcol:
        raise HeadstartError(f"{display}: text and label are both column {tcol!r}; pass different columns")
    for g in group_columns:
        if g not in columns:
            available = ", ".join(repr(c) for c in columns)
            raise HeadstartError(f"{display}: no group column {g!r}; available columns: {available}")
    texts_raw = df[tcol].tolist()
    labels_raw = df[lcol].tolist()
    keep: list[int] = []
    texts: list[str] = []
    labels: list[str] = []
    from headstart.data.targets import resolve_task

    regression = resolve_task(labels_raw, task, where=f"{display}: column {lcol!r}") == "regression"
    for i, (t, lab) in enumerate(zip(texts_raw, labels_raw, strict=True)):
        if isinstance(t, list | tuple | dict | np.ndarray):
            raise HeadstartError(
                f"{row_ids[i]}: column {tcol!r} holds a {type(t).__name__}, not a text; "
                "pass a column of strings (join the list into one text first)"
            )
        text = _text_value(t)
        label = label_to_str(lab)
        if not text.strip():
            bad.bad(row_ids[i], f"empty text in column {tcol!r}", "fill in the text or delete the row")
            continue
        if label is None:
            bad.bad(row_ids[i], f"missing label in column {lcol!r}", "add the label or delete the row")
            continue
        keep.append(i)
        texts.append(text)
        labels.append(label)
    if not keep:
        raise HeadstartError(f"{display}: every row was skipped as bad ({len(bad.skipped)}); fix the file")
    groups = {g: np.asarray(df[g].to_numpy(dtype=object)[keep], dtype=object) for g in group_columns}
    if regression:
        return LabeledData(
            texts, np.asarray([float(v) for v in labels]), [], "text", display, f"user file {path.resolve()}",
            [row_ids[i] for i in keep], groups=groups, skipped=bad.skipped, task="regression",
        )  # fmt: skip
    return build_labeled(
        texts,
        labels,
        modality="text",
        source=display,
        provenance=f"user file {path.resolve()}",
        ids=[row_ids[i] for i in keep],
        groups=groups,
        skipped=bad.skipped,
        label_source=f"column {lcol!r}",
    )


# ---------------------------------------------------------------------------------------------- images


def _hidden(path: Path, root: Path) -> bool:
    return any(part.startswith(".") or part == "__MACOSX" for part in path.relative_to(root).parts)


def _load_image_folder(root: Path, display: str, bad: _BadItems) -> LabeledData:
    subdirs = sorted(p for p in root.iterdir() if p.is_dir() and not _hidden(p, root))
    exts = " ".join(IMAGE_EXTENSIONS)
    if not subdirs:
        if any(p.is_file() and is_image_path(p.name) for p in root.iterdir()):
            raise HeadstartError(
                f"{display}: images must sit in one subfolder per class ({display}/<class>/<image>); "
                "move them into class folders"
            )
        raise HeadstartError(
            f"{display}: folder is empty (no class subfolders with {exts} images); "
            "put one subfolder per class inside it"
        )
    items: list[str] = []
    ids: list[str] = []
    labels: list[str] = []
    classes = [d.name for d in subdirs]
    for d in subdirs:
        files = sorted(p for p in d.rglob("*") if p.is_file() and is_image_path(p.name) and not _hidden(p, root))
        for p in files:
            shown = f"{display.rstrip('/')}/{p.relative_to(root).as_posix()}"
            try:
                read_image(p, locator=shown)
            except ImageDecodeError as exc:
                bad.bad(shown, exc.reason, "re-save or remove the file")
                continue
            items.append(str(p.resolve()))
            ids.append(shown)
            labels.append(d.name)
    if not items and not bad.skipped:
        raise HeadstartError(
            f"{display}: no images ({exts}) found in its class subfolders; add images or check the path"
        )
    return build_labeled(
        items,
        labels,
        modality="image",
        source=display,
        provenance=f"user image folder {root.resolve()}",
        ids=ids,
        skipped=bad.skipped,
        classes=sorted(classes),
        label_source="one class per subfolder",
    )


def _image_array(X: np.ndarray, where: str) -> np.ndarray:
    """Check/convert an image stack to uint8 (N,H,W) or (N,H,W,3)."""
    if X.ndim == 4 and X.shape[3] == 1:
        X = X[..., 0]
    if X.ndim == 4 and X.shape[3] == 4:
        X = X[..., :3]
    if not (X.ndim == 3 or (X.ndim == 4 and X.shape[3] == 3)):
        hint = ""
        if X.ndim == 2 and math.isqrt(X.shape[1]) ** 2 == X.shape[1]:
            side = math.isqrt(X.shape[1])
            hint = f" (flat pixels? reshape to (N, {side}, {side}))"
        raise HeadstartError(
            f"{where}: X has shape {X.shape}; expected images (N, H, W) or (N, H, W, 3) as uint8, or texts{hint}"
        )
    if X.dtype == np.uint8:
        return X
    if np.issubdtype(X.dtype, np.integer) and X.size and X.min() >= 0 and X.max() <= 255:
        return X.astype(np.uint8)
    raise HeadstartError(
        f"{where}: image array has dtype {X.dtype}; convert it to uint8 0-255 "
        "(e.g. (X * 255).round().astype('uint8') for floats in [0, 1])"
    )


# ---------------------------------------------------------------------------------------------- arrays


def _labels_list(y: Any, n: int, where: str) -> list[Any]:
    if isinstance(y, np.ndarray):
        values = y.reshape(-1).tolist() if y.ndim <= 1 else None
        if values is None:
            raise HeadstartError(f"{where}: y has shape {y.shape}; expected one label per item (N,)")
    elif isinstance(y, pd.Series):
        values = y.tolist()
    elif isinstance(y, (str, bytes)) or not isinstance(y, Iterable):
        raise HeadstartError(f"{where}: y must be a sequence of labels, got {type(y).__name__}")
    else:
        values = list(y)
    if len(values) != n:
        raise HeadstartError(f"{where}: X has {n} items but y has {len(values)} labels; pass one label per item")
    return values


def _finish_arrays(
    items_all: list[Any] | np.ndarray,
    y_values: list[Any],
    *,
    modality: str,
    source: str,
    provenance: str,
    ids_all: list[str],
    groups: Mapping[str, Any] | None,
    bad: _BadItems,
    check_paths: bool = False,
) -> LabeledData:
    n = len(items_all)
    group_arrays: dict[str, np.ndarray] = {}
    for name, values in (groups or {}).items():
        arr = np.asarray(list(values), dtype=object)
        if len(arr) != n:
            raise HeadstartError(f"{source}: group {name!r} has {len(arr)} values for {n} items; pass one each")
        group_arrays[name] = arr
    keep: list[int] = []
    labels: list[str] = []
    for i in range(n):
        label = label_to_str(y_values[i])
        if modality == "text":
            if not _text_value(items_all[i]).strip():
                bad.bad(ids_all[i], "empty text", "fill in the text or drop the item")
                continue
        elif check_paths:
            try:
                read_image(items_all[i], locator=ids_all[i])
            except ImageDecodeError as exc:
                bad.bad(ids_all[i], exc.reason, "re-save or remove the file")
                continue
        if label is None:
            bad.bad(ids_all[i], "missing label", "add the label or drop the item")
            continue
        keep.append(i)
        labels.append(label)
    if not keep:
        raise HeadstartError(f"{source}: no usable items (all {n} were bad or empty); check X and y")
    if isinstance(items_all, np.ndarray):
        items: list[Any] | np.ndarray = items_all if len(keep) == n else items_all[np.asarray(keep)]
    elif modality == "text":
        items = [_text_value(items_all[i]) for i in keep]
    else:
        items = [str(items_all[i]) for i in keep]
    return build_labeled(
        items,
        labels,
        modality=modality,
        source=source,
        provenance=provenance,
        ids=[ids_all[i] for i in keep],
        groups={k: v[keep] for k, v in group_arrays.items()},
        skipped=bad.skipped,
    )


def _load_npz(path: Path, display: str, bad: _BadItems) -> LabeledData:
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except ValueError as exc:
        if "allow_pickle" in str(exc):
            raise HeadstartError(
                f"{display}: holds object arrays (pickles), which are not loaded; save texts as "
                "np.array(texts, dtype=str) and labels as str or int"
            ) from None
        raise HeadstartError(f"{display}: cannot read as .npz ({exc}); re-save with numpy.savez") from None
    except (OSError, EOFError) as exc:
        raise HeadstartError(f"{display}: cannot read as .npz ({exc}); re-save with numpy.savez") from None
    keys = {k.lower(): k for k in arrays}
    if "x" not in keys or "y" not in keys:
        found = ", ".join(repr(k) for k in arrays) or "(none)"
        raise HeadstartError(
            f"{display}: needs arrays named 'X' and 'y'; found {found}; re-save with savez(X=..., y=...)"
        )
    X, y = arrays[keys["x"]], arrays[keys["y"]]
    ids = [f"{display}:index {i}" for i in range(len(X))]
    y_values = _labels_list(y, len(X), display)
    if X.dtype.kind in "US":
        texts = [x.decode("utf-8", errors="replace") if isinstance(x, bytes) else str(x) for x in X.reshape(-1)]
        if len(texts) != len(y_values):
            raise HeadstartError(f"{display}: X must be a 1-D array of texts, got shape {X.shape}")
        return _finish_arrays(
            texts,
            y_values,
            modality="text",
            source=display,
            provenance=f"user file {path.resolve()}",
            ids_all=ids,
            groups=None,
            bad=bad,
        )
    images = _image_array(X, display)
    return _finish_arrays(
        images,
        y_values,
        modality="image",
        source=display,
        provenance=f"user file {path.resolve()}",
        ids_all=ids,
        groups=None,
        bad=bad,
    )


def _looks_like_image_paths(values: list[Any]) -> bool:
    if all(isinstance(v, os.PathLike) for v in values):
        return True
    return all(isinstance(v, str) and "\n" not in v and len(v) < 1024 and is_image_path(v.strip()) for v in values)


def from_arrays(
    X: Sequence[Any] | np.ndarray,
    y: Sequence[Any] | np.ndarray,
    *,
    modality: str | None = None,
    source: str = "arrays",
    provenance: str = "Python arrays passed to headstart",
    groups: Mapping[str, Sequence[Any] | np.ndarray] | None = None,
    on_bad_item: str = "error",
) -> LabeledData:
    """Build LabeledData from texts, image paths, or a uint8 image array (N,H,W[,C]) and labels.

    The modality is guessed (arrays -> image; strings that all end in an image extension -> image paths;
    other strings -> text) unless ``modality`` is given. Image paths are decoded once to catch bad files.
    """
    bad = _BadItems(on_bad_item)
    if modality is not None and modality not in ("text", "image"):
        raise HeadstartError(f"modality must be 'text' or 'image', got {modality!r}")
    if isinstance(X, pd.Series):
        X = X.tolist()
    if isinstance(X, np.ndarray) and X.dtype.kind not in "USO":
        images = _image_array(X, source)
        ids = [f"{source}[{i}]" for i in range(len(images))]
        return _finish_arrays(
            images,
            _labels_list(y, len(images), source),
            modality="image",
            source=source,
            provenance=provenance,
            ids_all=ids,
            groups=groups,
            bad=bad,
        )
    if isinstance(X, (str, bytes)) or not isinstance(X, Iterable):
        raise HeadstartError(f"{source}: X must be a list of texts or image paths, or an image array")
    values = list(X.reshape(-1)) if isinstance(X, np.ndarray) else list(X)
    if not values:
        raise HeadstartError(f"{source}: X is empty; pass at least two labeled items per class")
    y_values = _labels_list(y, len(values), source)
    if all(isinstance(v, np.ndarray) for v in values):
        shapes = {v.shape for v in values}
        if len(shapes) > 1:
            raise HeadstartError(
                f"{source}: image arrays have different shapes {sorted(shapes)[:3]}; resize them to one "
                "size or save them as files and pass the paths"
            )
        images = _image_array(np.stack(values), source)
        ids = [f"{source}[{i}]" for i in range(len(images))]
        return _finish_arrays(
            images,
            y_values,
            modality="image",
            source=source,
            provenance=provenance,
            ids_all=ids,
            groups=groups,
            bad=bad,
        )
    kind = modality or ("image" if _looks_like_image_paths(values) else "text")
    if kind == "image":
        paths = [str(v) for v in values]
        return _finish_arrays(
            paths,
            y_values,
            modality="image",
            source=source,
            provenance=provenance,
            ids_all=paths,
            groups=groups,
            bad=bad,
            check_paths=True,
        )
    ids = [f"{source}[{i}]" for i in range(len(values))]
    return _finish_arrays(
        values,
        y_values,
        modality="text",
        source=source,
        provenance=provenance,
        ids_all=ids,
        groups=groups,
        bad=bad,
    )


# ---------------------------------------------------------------------------------------------- dispatch
