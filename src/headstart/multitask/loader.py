"""``load_multitask``: a table with several label columns, or a multitask builtin, as MultiLabeledData."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from headstart.data.labeled import _BadItems, _text_value, build_labeled, label_to_str
from headstart.data.table_files import TABLE_EXTENSIONS, _pick_column, _read_table
from headstart.errors import HeadstartError
from headstart.multitask.builtins import load_multitask_builtin
from headstart.multitask.data import MultiLabeledData, TaskLabels, check_label_columns, encode_task


def load_multitask(
    source: str | os.PathLike[str],
    label_columns: Sequence[str] | None,
    *,
    text_column: str | None = None,
    group_columns: Sequence[str] = (),
    on_bad_item: str = "error",
) -> MultiLabeledData:
    """A table with one text column and several label columns, or a multitask builtin (``label_columns``
    chooses its tasks; None: all of them). The first column is the primary task (required on every row)."""
    display = os.fspath(source)
    if isinstance(source, str) and source.startswith("builtin:"):
        if text_column is not None:
            raise HeadstartError(f"{display}: --text-column applies only to tables; drop it")
        return load_multitask_builtin(source.split(":", 1)[1], label_columns, group_columns=group_columns)
    cols = check_label_columns(label_columns or [], display)
    path = Path(source)
    if not path.exists():
        raise HeadstartError(f"{display}: file or folder not found; check the path")
    name = path.name.lower()
    ext = Path(name[:-3]).suffix if name.endswith(".gz") else path.suffix.lower()
    if path.is_dir() or ext not in TABLE_EXTENSIONS:
        raise HeadstartError(
            f"{display}: several --label-columns need a CSV/TSV/JSONL/Parquet table (one column per task); "
            "image folders and .npz hold one label per item"
        )
    return _load_table(path, display, ext, cols, text_column, list(group_columns), _BadItems(on_bad_item))


def _load_table(
    path: Path,
    display: str,
    ext: str,
    label_columns: list[str],
    text_column: str | None,
    group_columns: list[str],
    bad: _BadItems,
) -> MultiLabeledData:
    df, row_ids = _read_table(path, display, ext)
    columns = [str(c) for c in df.columns]
    df.columns = columns  # type: ignore[assignment]
    if len(df) == 0:
        raise HeadstartError(f"{display}: no data rows (only a header); add labeled rows")
    if text_column is None and "text" not in [c.strip().lower() for c in columns]:
        first = label_columns[0]
        raise HeadstartError(
            f"{display}: a multitask run trains one text backbone for every task and reads a text column; this "
            f"table has no 'text' column: pass --text-column COL, or fit one task at a time on the feature "
            f"columns (headstart fit {display} --label-column {first})"
        )
    tcol = _pick_column(columns, text_column, "text", "--text-column", display)
    for lcol in label_columns:
        _pick_column(columns, lcol, lcol, "--label-column", display)
        if lcol == tcol:
            raise HeadstartError(f"{display}: text and label are both column {tcol!r}; pass different columns")
    for g in group_columns:
        if g not in columns:
            raise HeadstartError(f"{display}: no group column {g!r}; available columns: {', '.join(columns)}")
    primary = label_columns[0]
    keep: list[int] = []
    texts: list[str] = []
    for i, t in enumerate(df[tcol].tolist()):
        text = _text_value(t)
        if not text.strip():
            bad.bad(row_ids[i], f"empty text in column {tcol!r}", "fill in the text or delete the row")
            continue
        if label_to_str(df[primary].iloc[i]) is None:
            bad.bad(
                row_ids[i],
                f"missing label in column {primary!r} (the primary task: splits are stratified on it)",
                "add the label, delete the row, or list another column first",
            )
            continue
        keep.append(i)
        texts.append(text)
    if not keep:
        raise HeadstartError(f"{display}: every row was skipped as bad ({len(bad.skipped)}); fix the file")
    raw = {c: [label_to_str(v) for v in df[c].to_numpy(dtype=object)[keep]] for c in label_columns}
    data = build_labeled(
        texts,
        [str(v) for v in raw[primary]],
        modality="text",
        source=display,
        provenance=f"user file {path.resolve()}",
        ids=[row_ids[i] for i in keep],
        groups={g: df[g].to_numpy(dtype=object)[keep] for g in group_columns},
        skipped=bad.skipped,
        label_source=f"column {primary!r}",
    )
    tasks = {c: encode_task(c, raw[c], source=display, label_source=f"column {c!r}") for c in label_columns}
    tasks[primary] = TaskLabels(primary, data.y.copy(), list(data.classes), f"column {primary!r}")
    return MultiLabeledData(data, tasks)
