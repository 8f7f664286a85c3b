"""Table files as labeled data: CSV/TSV (optionally .gz), JSONL and Parquet.

Reads a table into a DataFrame with one locator per row (``file:line N`` or ``file:row N``), refusing what
would be ambiguous (duplicate header columns, duplicate JSON keys, non-UTF-8 bytes), picks the text and label
columns, and builds labeled texts from them; a table of feature columns (no text column) is handed to
:func:`headstart.data.tabular.table_to_labeled`.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from headstart.data.dataset import LabeledData
from headstart.data.labeled import _BadItems, _text_value, build_labeled, label_to_str
from headstart.data.locate import csv_record_lines
from headstart.errors import HeadstartError

TABLE_EXTENSIONS = (".csv", ".tsv", ".tab", ".jsonl", ".ndjson", ".parquet", ".pq")


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


def _csv_separator(text: str) -> str:
    """``;`` when the header row has semicolons and no comma (spreadsheets in many locales save so), else ``,``."""
    header = text.lstrip("\ufeff").split("\n", 1)[0]
    return ";" if ";" in header and "," not in header else ","


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
        sep = _csv_separator(text) if ext == ".csv" else "\t"
        _refuse_duplicate_header(next(csv.reader(io.StringIO(text), delimiter=sep), []), display)
        try:
            df = pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False, na_filter=False)
        except (pd.errors.ParserError, ValueError) as exc:
            msg = " ".join(str(exc).split())
            raise HeadstartError(f"{display}: cannot parse as {ext[1:].upper()} ({msg}); fix that line") from None
        lines = csv_record_lines(text, sep)  # physical lines: a quoted field may span several
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
