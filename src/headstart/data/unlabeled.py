"""Unlabeled inputs for ``predict``: a table with a text column, an image folder (any depth), one image, or a
built-in dataset (its labels are ignored)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from headstart.errors import HeadstartError

TABLE_READERS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".json": "jsonl", ".parquet": "parquet"}


def _suffix(path: Path) -> str:
    """``.csv`` for ``x.csv`` and ``x.csv.gz``."""
    name = path.name.lower()
    return Path(name[:-3]).suffix if name.endswith(".gz") else path.suffix.lower()


def _read_table(path: Path) -> tuple[Any, str | None, str]:
    """(DataFrame, the decoded text of a CSV/TSV or None, its separator)."""
    import pandas as pd

    kind = TABLE_READERS[_suffix(path)]
    try:
        if kind in ("csv", "tsv"):  # the reader `fit` uses: .gz, a BOM, ';' separators
            import io

            from headstart.data.table_files import _csv_separator, read_utf8

            text = read_utf8(path, str(path))
            sep = _csv_separator(text) if kind == "csv" else "\t"
            return pd.read_csv(io.StringIO(text), sep=sep, keep_default_na=False), text, sep
        if kind == "jsonl":
            return pd.read_json(path, lines=True, encoding="utf-8"), None, ""
        return pd.read_parquet(path), None, ""
    except HeadstartError:
        raise
    except UnicodeDecodeError as e:
        raise HeadstartError(f"{path}: not UTF-8 (byte {e.start}); re-save the file as UTF-8") from None
    except Exception as e:  # pandas/pyarrow parse errors
        raise HeadstartError(f"{path}: cannot be read as {kind} ({type(e).__name__}: {e})".splitlines()[0]) from None


def load_unlabeled(
    source: str,
    *,
    modality: str,
    text_column: str | None = None,
    with_table: bool = False,
    skipped: list[tuple[str, str]] | None = None,
) -> Any:
    """(ids, items) for prediction; ``with_table=True`` adds the input table (None for images) as a third value.

    An unreadable image or an empty text is a one-line error naming it, unless ``skipped`` is a list: the
    item is then left out and ``(id, reason)`` appended to it (``predict --on-bad-item skip``).
    """
    ids, items, table = _load(source, modality=modality, text_column=text_column, skipped=skipped)
    return (ids, items, table) if with_table else (ids, items)


def _line_ids(path: Path, n: int, text: str | None = None, sep: str = ",") -> list[str]:
    from headstart.data.locate import csv_record_lines

    if _suffix(path) in (".csv", ".tsv") and text is not None:
        lines = csv_record_lines(text, sep)
        if len(lines) == n:
            return [f"{path.name}:line {ln}" for ln in lines]
    if path.suffix.lower() in (".jsonl", ".json"):
        return [f"{path.name}:line {i + 1}" for i in range(n)]
    return [f"{path.name}:row {i + 1}" for i in range(n)]


def _load(
    source: str, *, modality: str, text_column: str | None, skipped: list[tuple[str, str]] | None
) -> tuple[list[str], list[Any], Any]:
    if source.startswith("builtin:"):
        from headstart.data import load_data

        data = load_data(source)
        return list(data.ids), list(data.items), None
    path = Path(source)
    if not path.exists():
        raise HeadstartError(f"{source}: file or folder not found")
    if modality == "image":
        if path.is_file():
            return [str(path)], [str(path)], None
        from headstart.data.images import IMAGE_EXTENSIONS, is_image_path

        files = sorted(p for p in path.rglob("*") if p.is_file() and is_image_path(p.name))
        if not files:
            raise HeadstartError(f"{source}: no {'/'.join(IMAGE_EXTENSIONS)} images found in this folder")
        from headstart.data.images import ImageDecodeError, read_image

        kept = []
        for f in files:
            try:
                read_image(str(f))  # names the file if it is unreadable
            except ImageDecodeError as e:
                if skipped is None:
                    raise
                skipped.append((str(f), e.reason))
                continue
            kept.append(str(f))
        if not kept:
            raise HeadstartError(f"{source}: none of the {len(files)} image files could be decoded")
        return kept, kept, None
    if _suffix(path) not in TABLE_READERS:
        raise HeadstartError(f"{source}: unsupported file type; give a .csv, .tsv, .jsonl or .parquet file")
    df, text, sep = _read_table(path)
    col = text_column or "text"
    if col not in df.columns:
        raise HeadstartError(
            f"{source}: no column {col!r}; available: {', '.join(map(str, df.columns))} (pass --text-column)"
        )
    raw = df[col].tolist()
    ids = _line_ids(path, len(raw), text, sep)
    bad = [i for i, v in enumerate(raw) if v is None or (isinstance(v, float) and math.isnan(v)) or not str(v).strip()]
    if bad and skipped is None:  # a JSON null or a missing cell arrives as None / NaN, not as text
        where = ids[bad[0]].split(":", 1)[1]
        raise HeadstartError(
            f"{source}: {where} has an empty {col!r}; fill it or drop the row, or pass --on-bad-item skip"
        )
    if bad:
        assert skipped is not None
        skipped.extend((ids[i], f"empty {col!r}") for i in bad)
        dropped = set(bad)
        keep = [i for i in range(len(raw)) if i not in dropped]
        ids, raw, df = [ids[i] for i in keep], [raw[i] for i in keep], df.iloc[keep].reset_index(drop=True)
    return ids, [str(v) for v in raw], df
