"""``load_data``: the one entry point for builtins, image folders, tables and .npz files. It sits above the
file loaders (:mod:`headstart.data.table_files`, :mod:`headstart.data.image_folder`,
:mod:`headstart.data.arrays`) and the builtins (:mod:`headstart.data.builtin`), which all build on
:mod:`headstart.data.labeled`."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from headstart.data.arrays import _load_npz
from headstart.data.builtin import load_builtin
from headstart.data.dataset import LabeledData
from headstart.data.image_folder import _load_image_folder
from headstart.data.labeled import _BadItems
from headstart.data.table_files import TABLE_EXTENSIONS, _load_table
from headstart.errors import HeadstartError

SUPPORTED_HINT = (
    "use a folder of images (one subfolder per class), .csv, .tsv, .jsonl, .parquet or .npz, or builtin:NAME"
)


def load_data(
    source: str | os.PathLike[str],
    *,
    text_column: str | None = None,
    label_column: str | None = None,
    group_columns: Sequence[str] = (),
    on_bad_item: str = "error",
    modality: str | None = None,
    task: str = "auto",
) -> LabeledData:
    """Load ``builtin:NAME``, an image folder (one subfolder per class), a CSV/TSV/JSONL/Parquet table
    (text and label columns, or feature columns: ``modality="tabular"``, the default when there is no text
    column) or an .npz with arrays X and y. ``task`` is auto, classification or regression
    (headstart.data.targets). Bad items raise HeadstartError, or are dropped and recorded in ``skipped``
    with ``on_bad_item="skip"``."""
    if modality not in (None, "text", "tabular", "image"):
        raise HeadstartError(f"unknown --modality {modality!r}; choose text, image or tabular")
    bad = _BadItems(on_bad_item)
    group_columns = [group_columns] if isinstance(group_columns, str) else list(group_columns)
    display = os.fspath(source)
    if isinstance(source, str) and source.startswith("builtin:"):
        _no_columns(display, text_column, label_column)
        return load_builtin(source.split(":", 1)[1], group_columns=group_columns)
    path = Path(source)
    if not path.exists():
        hint = " (builtins are named builtin:NAME)" if ":" not in display and "/" not in display else ""
        raise HeadstartError(f"{display}: file or folder not found; check the path{hint}")
    if path.is_dir():
        _no_columns(display, text_column, label_column)
        if group_columns:
            raise HeadstartError(f"{display}: image folders have no columns for group_columns; drop them")
        return _load_image_folder(path, display, bad)
    name = path.name.lower()
    ext = Path(name[:-3]).suffix if name.endswith(".gz") else path.suffix.lower()
    if ext == ".npz" and not name.endswith(".gz"):
        _no_columns(display, text_column, label_column)
        if group_columns:
            raise HeadstartError(f"{display}: .npz files have no group columns; use from_arrays(groups=...)")
        return _load_npz(path, display, bad)
    if ext in TABLE_EXTENSIONS and not (name.endswith(".gz") and ext in (".parquet", ".pq")):
        return _load_table(
            path,
            display,
            ext,
            text_column=text_column,
            label_column=label_column,
            group_columns=group_columns,
            bad=bad,
            modality=modality,
            task=task,
        )
    shown_ext = path.suffix or "(no extension)"
    raise HeadstartError(f"{display}: unsupported file type {shown_ext}; {SUPPORTED_HINT}")


def _no_columns(display: str, text_column: str | None, label_column: str | None) -> None:
    if text_column is not None or label_column is not None:
        raise HeadstartError(
            f"{display}: --text-column/--label-column apply only to CSV/TSV/JSONL/Parquet tables; drop them"
        )
