"""New rows to predict, typed by a run's training schema (headstart.data.tabular.prediction_rows)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from headstart.data.tabular import prediction_rows
from headstart.data.unlabeled import TABLE_READERS, _line_ids, _read_table, _suffix
from headstart.errors import HeadstartError


def load_prediction_table(
    source: str, table: dict[str, Any], notes: list[str] | None = None
) -> tuple[list[str], list[dict[str, Any]], Any]:
    """(ids, typed rows, raw DataFrame) of a CSV/TSV/JSONL/Parquet file of new rows (or builtin:NAME);
    ``notes`` collects a line per column with values the training schema cannot read or never saw."""
    if source.startswith("builtin:"):
        from headstart.data.load import load_data

        data = load_data(source)
        return list(data.ids), list(data.items), None
    path = Path(source)
    if not path.is_file() or _suffix(path) not in TABLE_READERS:
        raise HeadstartError(f"{source}: give a .csv, .tsv, .jsonl or .parquet file of rows to predict")
    df, text, sep = _read_table(path)
    ids = _line_ids(path, len(df), text, sep)
    return ids, prediction_rows(df, table, where=source, ids=ids, notes=notes), df
