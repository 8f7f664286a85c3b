"""Tables as data: typed feature columns, one row dict per item, and the row-as-text serialization.

A tabular :class:`LabeledData` holds ``items`` as a list of row dicts ``{column: value}`` where a value is a
float (numeric, boolean as 0/1, date parts), a str (categorical or free text) or None (missing). Lists keep
every split/subset helper working unchanged; :func:`rows_to_frame` turns rows back into a DataFrame.
``data.table`` records ``{"columns": {name: kind}, "dropped": {name: reason}, "text_column": name|None}``.

Column rules (:func:`type_columns`): missing tokens ("", NA, N/A, nan, null, ?) are missing; a column
that is empty in every row or holds one constant value is a one-line error naming it; a column of all-unique
strings (or all-unique whole numbers named like an id or forming a run of consecutive integers) is dropped
with a warning; true/false/yes/no columns are boolean; columns whose every value parses as a number are
numeric; ISO-like dates are expanded to ``<col>_year``, ``<col>_month``, ``<col>_dayofweek``; long free
text (or ``--text-column``) is kind ``text``; anything else is categorical.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from headstart.data.dataset import LabeledData
from headstart.data.targets import resolve_task, to_number
from headstart.data.validate import check_classes
from headstart.errors import HeadstartError

KINDS = ("numeric", "boolean", "categorical", "text")
MISSING = frozenset({"", "na", "n/a", "nan", "null", "?", "nat"})
BOOLEAN = {"true": 1.0, "false": 0.0, "yes": 1.0, "no": 0.0, "t": 1.0, "f": 0.0, "y": 1.0, "n": 0.0}
DATE_PARTS = {"year": "year", "month": "month", "dayofweek": "day_of_week"}  # column suffix -> Timestamp field
_DATE_LIKE = re.compile(r"^\d{4}-\d{1,2}-\d{1,2}([ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?)?$|^\d{1,2}/\d{1,2}/\d{4}$")
_ID_NAME = re.compile(r"(^|_|\b)(id|uuid|key|index|idx)$", re.IGNORECASE)
MIN_ROWS_FOR_ID = 10
TEXT_MIN_MEAN_CHARS = 30


def _clean(value: Any) -> Any:
    """None for a missing value; stripped str for strings; the value otherwise."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    if isinstance(value, str):
        value = value.strip()
        return None if value.lower() in MISSING else value
    return value


def _as_float(value: Any) -> float | None:
    x = to_number(value)
    return None if x is None or math.isnan(x) else x


def _is_whole(values: list[float]) -> bool:
    return all(float(v).is_integer() for v in values)


def _id_like(name: str, present: list[Any], numeric: list[float] | None) -> bool:
    if len(present) < MIN_ROWS_FOR_ID or len(set(map(str, present))) != len(present):
        return False
    if numeric is None:  # all-unique strings: ids unless they read like free text
        return all(isinstance(v, str) and len(v) < 40 and " " not in v for v in present)
    if not _is_whole(numeric):
        return False
    span = max(numeric) - min(numeric) + 1
    return bool(_ID_NAME.search(name)) or span == len(numeric)


def _kind(name: str, values: list[Any], text_column: str | None) -> tuple[str, list[Any]]:
    """(kind, converted values) for one raw column; kind ``drop-id`` for an id-like one."""
    present = [v for v in values if v is not None]
    if name == text_column:
        return "text", [None if v is None else str(v) for v in values]
    if all(isinstance(v, (bool, np.bool_)) for v in present):
        return "boolean", [None if v is None else float(v) for v in values]
    if all(isinstance(v, str) and v.lower() in BOOLEAN for v in present):
        return "boolean", [None if v is None else BOOLEAN[v.lower()] for v in values]
    numbers = [_as_float(v) for v in present]
    if all(x is not None for x in numbers):
        nums = [float(x) for x in numbers if x is not None]
        if _id_like(name, present, nums):
            return "drop-id", []
        return "numeric", [_as_float(v) for v in values]
    if all(isinstance(v, (pd.Timestamp, np.datetime64)) for v in present) or all(
        isinstance(v, str) and _DATE_LIKE.match(v) for v in present
    ):
        return "date", values
    if _id_like(name, present, None):
        return "drop-id", []
    strings = [str(v) for v in present]
    mean_len = sum(map(len, strings)) / max(1, len(strings))
    if mean_len >= TEXT_MIN_MEAN_CHARS and len(set(strings)) > 0.5 * len(strings):
        return "text", [None if v is None else str(v) for v in values]
    return "categorical", [None if v is None else str(v) for v in values]


def _date_parts(name: str, values: list[Any], where: str) -> dict[str, list[Any]]:
    parsed = pd.to_datetime(pd.Series(values, dtype=object), errors="coerce", format="mixed")
    bad = [i for i, v in enumerate(values) if v is not None and pd.isna(parsed.iloc[i])]
    if bad:
        raise HeadstartError(
            f"{where}: column {name!r} row {bad[0] + 1} has {values[bad[0]]!r}, not a date like the others; "
            "fix it or leave it empty"
        )
    return {
        f"{name}_{part}": [None if pd.isna(t) else float(getattr(t, field)) for t in parsed]
        for part, field in DATE_PARTS.items()
    }


def type_columns(
    df: pd.DataFrame, *, where: str, text_column: str | None = None
) -> tuple[dict[str, list[Any]], dict[str, str], dict[str, str], dict[str, str]]:
    """Typed feature columns: (values by column, kind by column, dropped column -> reason, date part ->
    source column).

    Raises a one-line HeadstartError naming a column that is empty in every row or holds one constant value.
    """
    columns: dict[str, list[Any]] = {}
    kinds: dict[str, str] = {}
    dropped: dict[str, str] = {}
    dates: dict[str, str] = {}
    for name in df.columns:
        values = [_clean(v) for v in df[name].tolist()]
        present = [v for v in values if v is not None]
        if not present:
            raise HeadstartError(f"{where}: column {name!r} is empty in every row; drop the column or fill it in")
        if len({str(v) for v in present}) == 1 and len(values) > 1:
            raise HeadstartError(
                f"{where}: column {name!r} holds one constant value ({str(present[0])[:40]!r}) in every row, "
                "which carries no information; drop the column"
            )
        kind, converted = _kind(str(name), values, text_column)
        if kind == "drop-id":
            dropped[str(name)] = "id-like (a different value in every row); dropped"
            continue
        if kind == "date":
            for part, vals in _date_parts(str(name), values, where).items():
                if len({v for v in vals if v is not None}) > 1:
                    columns[part], kinds[part], dates[part] = vals, "numeric", str(name)
            continue
        columns[str(name)], kinds[str(name)] = converted, kind
    if not columns:
        raise HeadstartError(f"{where}: no usable feature columns left ({', '.join(dropped)} dropped); add features")
    return columns, kinds, dropped, dates


def rows_from_columns(columns: dict[str, list[Any]], keep: Sequence[int]) -> list[dict[str, Any]]:
    """One dict per kept row."""
    names = list(columns)
    return [{c: columns[c][i] for c in names} for i in keep]


def as_rows(items: Any) -> list[dict[str, Any]]:
    """Row dicts from a list of dicts or a pandas DataFrame."""
    if isinstance(items, pd.DataFrame):
        return [{str(k): _clean(v) for k, v in r.items()} for r in items.to_dict("records")]
    return list(items)


def rows_to_frame(rows: Sequence[dict[str, Any]] | pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """A DataFrame with exactly ``columns`` (missing keys become None) from row dicts or a DataFrame."""
    if isinstance(rows, pd.DataFrame):
        frame = rows
    else:
        frame = pd.DataFrame.from_records(list(rows)) if len(rows) else pd.DataFrame()
    return frame.reindex(columns=list(columns))


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else f"{value:.6g}"
    return str(value)


def serialize_row(row: dict[str, Any]) -> str:
    """``"col: value; col: value"`` with missing values left out (the row-as-text a text backbone reads)."""
    return "; ".join(f"{k}: {_fmt(v)}" for k, v in row.items() if _clean(v) is not None)


def table_to_labeled(
    df: pd.DataFrame,
    row_ids: list[str],
    *,
    label_column: str,
    where: str,
    provenance: str,
    bad: Callable[[str, str, str], None],
    skipped: list[dict],
    text_column: str | None = None,
    group_columns: Sequence[str] = (),
    exclude: Sequence[str] = (),
    task: str = "auto",
) -> LabeledData:
    """A tabular LabeledData from a DataFrame: label column -> y, every other column (minus groups and
    ``exclude``) -> typed features. ``bad(row_id, reason, advice)`` handles a row without a label."""
    if label_column not in df.columns:
        available = ", ".join(repr(c) for c in df.columns)
        raise HeadstartError(f"{where}: no label column {label_column!r}; pass --label-column with one of: {available}")
    if text_column is not None and text_column not in df.columns:
        available = ", ".join(repr(c) for c in df.columns)
        raise HeadstartError(f"{where}: no column {text_column!r}; pass --text-column with one of: {available}")
    raw_labels = [_clean(v) for v in df[label_column].tolist()]
    task = resolve_task(raw_labels, task, where=f"{where}: column {label_column!r}")
    keep: list[int] = []
    labels: list[Any] = []
    for i, v in enumerate(raw_labels):
        if v is None:
            bad(row_ids[i], f"missing label in column {label_column!r}", "add the label or delete the row")
            continue
        keep.append(i)
        labels.append(to_number(v) if task == "regression" else _label_text(v))
    if not keep:
        raise HeadstartError(f"{where}: no row has a label in column {label_column!r}; fill in the labels")
    features = df.drop(columns=[label_column, *group_columns, *[c for c in exclude if c in df.columns]])
    features = features.iloc[keep].reset_index(drop=True)
    columns, kinds, dropped, dates = type_columns(features, where=where, text_column=text_column)
    groups = {g: np.asarray(df[g].to_numpy(dtype=object)[keep], dtype=object) for g in group_columns}
    table = {"columns": kinds, "dropped": dropped, "dates": dates, "text_column": text_column}
    common: dict[str, Any] = {
        "items": rows_from_columns(columns, range(len(keep))),
        "modality": "tabular",
        "source": where,
        "provenance": provenance,
        "ids": [row_ids[i] for i in keep],
        "groups": groups,
        "skipped": skipped,
        "table": table,
    }
    if task == "regression":
        return LabeledData(y=np.asarray(labels, dtype=np.float64), classes=[], task="regression", **common)
    classes = sorted(set(labels))
    code = {c: j for j, c in enumerate(classes)}
    y = np.asarray([code[v] for v in labels], dtype=np.int64)
    check_classes(y, classes, source=where, label_source=f"column {label_column!r}")
    return LabeledData(y=y, classes=classes, **common)


def _label_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    return str(value)


def lone_text_column(data: LabeledData) -> str | None:
    """The column, where a table's only feature is free text that no --text-column named (a file like
    ``review,sentiment``): it is read as a table, which a user after a text classifier should hear."""
    kinds = data.table.get("columns", {})
    if data.modality != "tabular" or data.table.get("text_column") or len(kinds) != 1:
        return None
    name, kind = next(iter(kinds.items()))
    return str(name) if kind == "text" else None


def lone_text_warning(data: LabeledData) -> str | None:
    name = lone_text_column(data)
    if name is None:
        return None
    return (
        f"{data.source}: the only feature column, {name!r}, is free text and was read as a table (an encoder "
        f"on each serialized row vs trees on word counts); for a text classifier (TF-IDF baseline, --source "
        f"similarity, few-shot text) pass --text-column {name}"
    )


def table_warnings(data: LabeledData) -> list[str]:
    """One line per dropped column (id-like columns), and one for a lone free-text column, for the run's
    warnings."""
    out = [f"{data.source}: column {c!r} {why}" for c, why in data.table.get("dropped", {}).items()]
    lone = lone_text_warning(data)
    return [*out, lone] if lone else out


def _convert(kind: str, value: Any) -> Any:
    v = _clean(value)
    if v is None:
        return None
    if kind == "numeric":
        return _as_float(v)
    if kind == "boolean":
        return BOOLEAN.get(str(v).lower(), _as_float(v))
    return str(v)


def prediction_rows(
    df: pd.DataFrame,
    table: dict[str, Any],
    *,
    where: str,
    ids: Sequence[str] | None = None,
    notes: list[str] | None = None,
) -> list[dict[str, Any]]:
    """Rows of new data typed by the training schema ``table`` (data.table / metrics["data"]["table"]):
    the same kinds, date parts and missing tokens as at fit time; extra columns are ignored.

    A value the schema cannot read (text in a numeric column, a date that does not parse) or a category the
    labeled rows never held is read as missing, as at fit time; ``notes`` collects one line per such column,
    naming a first example by its ``ids`` entry, so that the user is told rather than silently served."""
    kinds: dict[str, str] = table.get("columns", {})
    dates: dict[str, str] = table.get("dates", {})
    seen: dict[str, list[str]] = table.get("categories", {})
    converted: dict[str, list[Any]] = {}
    unread: dict[str, list[int]] = {}
    for name, kind in kinds.items():
        source = dates.get(name, name)
        if source not in df.columns:
            raise HeadstartError(f"{where}: no column {source!r}, which the model was trained on; add it")
        values = [_clean(v) for v in df[source].tolist()]
        if name in dates:
            part = name[len(source) + 1 :]
            parsed = pd.to_datetime(pd.Series(values, dtype=object), errors="coerce", format="mixed")
            converted[name] = [None if pd.isna(t) else float(getattr(t, DATE_PARTS[part])) for t in parsed]
            unread.setdefault(source, _unread(values, converted[name]))  # once per date column
        else:
            converted[name] = [_convert(kind, v) for v in values]
            unread[name] = _unread(values, converted[name])
    if notes is not None:
        name_of = (lambda i: ids[i].rsplit(":", 1)[-1]) if ids is not None else (lambda i: f"row {i + 1}")
        for col, bad in unread.items():
            if bad:
                kind = "a date" if col in dates.values() else f"a {kinds[col]} value"
                notes.append(
                    f"{where}: column {col!r}: {_count(len(bad), 'value')} not read as {kind} (e.g. "
                    f"{df[col].iloc[bad[0]]!r} at {name_of(bad[0])}); read as missing"
                )
        for col, known in seen.items():
            if col not in converted:
                continue
            known_set = set(known)
            new = [i for i, v in enumerate(converted[col]) if v is not None and v not in known_set]
            if new:
                notes.append(
                    f"{where}: column {col!r}: {_count(len(new), 'value')} not in the labeled rows (e.g. "
                    f"{converted[col][new[0]]!r} at {name_of(new[0])}): the model never saw it"
                )
    return rows_from_columns(converted, range(len(df)))


def _unread(raw: list[Any], typed: list[Any]) -> list[int]:
    return [i for i, (v, t) in enumerate(zip(raw, typed, strict=True)) if v is not None and t is None]


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


MAX_SAVED_CATEGORIES = 1000  # a column with more distinct labeled values is not checked at predict time


def seen_categories(data: LabeledData, rows: Sequence[int]) -> dict[str, list[str]]:
    """The categories each categorical column held in the labeled ``rows`` (what predict checks new rows
    against); columns with more than :data:`MAX_SAVED_CATEGORIES` are left out."""
    kinds: dict[str, str] = data.table.get("columns", {})
    items = as_rows(data.items)
    out: dict[str, list[str]] = {}
    for col, kind in kinds.items():
        if kind != "categorical":
            continue
        values = sorted({str(items[i][col]) for i in rows if items[i].get(col) is not None})
        if len(values) <= MAX_SAVED_CATEGORIES:
            out[col] = values
    return out


def row_texts(items: Any) -> list[str]:
    """The text a backbone reads for each row (the rows-as-text arm, ranking, monitoring)."""
    return [serialize_row(r) for r in as_rows(items)]


def typed_rows(df: pd.DataFrame, table: dict[str, Any], *, where: str) -> list[dict[str, Any]]:
    """Rows whose columns already carry the typed names of ``table`` (date parts as ``COL_year`` ...), as
    ``headstart query`` writes them: each value converted to its column's kind."""
    kinds: dict[str, str] = table.get("columns", {})
    missing = [name for name in kinds if name not in df.columns]
    if missing:
        raise HeadstartError(
            f"{where}: no column {missing[0]!r}, which the model was trained on; a table run's to_label.csv "
            "from `headstart query` carries every feature column: keep them"
        )
    converted = {name: [_convert(kind, v) for v in df[name].tolist()] for name, kind in kinds.items()}
    return rows_from_columns(converted, range(len(df)))


def table_summary(data: LabeledData, splits: Any) -> dict[str, Any]:
    """metrics.json ``data`` for a table or a regression target (the schema ``predict`` needs included)."""
    labeled = np.concatenate([splits.train, splits.val])
    out: dict[str, Any] = {
        "source": data.source,
        "provenance": data.provenance,
        "modality": data.modality,
        "task": data.task,
        "classes": data.classes,
        "split_sizes": {"train": len(splits.train), "val": len(splits.val), "test": len(splits.test)},
        "n_items": len(data.y),
        "skipped": data.skipped,
        "table": {**data.table, "categories": seen_categories(data, labeled)} if data.table else data.table,
    }
    if data.task == "regression":
        y = data.y
        out["target"] = {"mean": float(y.mean()), "std": float(y.std()), "min": float(y.min()), "max": float(y.max())}
        out.update({"class_counts": {}, "labeled_class_counts": {}, "imbalance_ratio": 1.0})
        return out
    counts = np.bincount(data.y, minlength=len(data.classes))
    lab = np.bincount(data.y[labeled], minlength=len(data.classes))
    out["class_counts"] = {c: int(n) for c, n in zip(data.classes, counts, strict=True)}
    out["labeled_class_counts"] = {c: int(n) for c, n in zip(data.classes, lab, strict=True)}
    out["imbalance_ratio"] = float(counts.max() / max(1, counts.min()))
    return out
