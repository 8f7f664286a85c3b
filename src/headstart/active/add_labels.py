"""Merge newly labeled items (``headstart fit ... --add-labels labeled.csv``) into a run's training pool while
the test split stays identical, so the next run's verdict is comparable with the previous one.

The file is the ``to_label.csv`` that ``headstart query`` wrote, with its ``label`` column filled in (rows
left blank are ignored). A row whose ``id`` is an item of the data set is moved into the training split (with
the label from the file); any other row is a new item (``item``: the text, or an image path) appended to the
data. Imports nothing above ``headstart.data``.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from headstart.data import LabeledData, Splits
from headstart.errors import HeadstartError

REQUIRED = ("id", "item", "label")


def read_added_labels(path: str) -> pd.DataFrame:
    p = Path(path)
    if not p.is_file():
        raise HeadstartError(f"{path}: file not found (give the to_label.csv you filled in)")
    try:
        df = pd.read_csv(p, dtype=str, keep_default_na=False)
    except Exception as exc:  # pandas parse errors
        raise HeadstartError(f"{path}: cannot be read as CSV ({type(exc).__name__})") from None
    for col in REQUIRED:
        if col not in df.columns:
            raise HeadstartError(f"{path}: no column {col!r}; expected the columns of to_label.csv (id, item, label)")
    df = df[df["label"].str.strip() != ""]
    if not len(df):
        raise HeadstartError(f"{path}: no row has a label; fill in the label column")
    return df


def merge_added_labels(
    data: LabeledData, splits: Splits, extra_source: str, *, rebuild: bool = False
) -> tuple[LabeledData, Splits]:
    """(data with any new items appended, splits with the labeled rows added to train; test unchanged).

    ``rebuild=True`` re-applies a merge recorded in a run folder (``splits.json`` already holds the indices).
    """
    df = read_added_labels(extra_source)
    index = {c: i for i, c in enumerate(data.classes)}
    pos = {x: i for i, x in enumerate(data.ids)}
    test = set(int(i) for i in splits.test)
    y = data.y.copy()
    moved, new_items, new_y, new_ids = [], [], [], []
    for r, row in enumerate(df.itertuples(index=False), start=2):
        label = str(row.label).strip()
        if label not in index:
            raise HeadstartError(
                f"{extra_source}:line {r}: label {label!r} is not a class of this run ({', '.join(data.classes)})"
            )
        i = pos.get(str(row.id))
        if i is not None:
            if i in test:
                raise HeadstartError(f"{extra_source}:line {r}: {row.id} is in the test split; it cannot be trained on")
            y[i] = index[label]
            moved.append(i)
        else:
            if isinstance(data.items, np.ndarray):
                raise HeadstartError(
                    f"{extra_source}:line {r}: {row.id} is not an item of {data.source}; new images for an "
                    "array data set are not supported (label items of the data set itself)"
                )
            if not str(row.item).strip():
                raise HeadstartError(f"{extra_source}:line {r}: empty item; give the text or image path")
            new_items.append(str(row.item))
            new_y.append(index[label])
            new_ids.append(f"{Path(extra_source).name}:line {r}")
    n0 = len(data.y)
    if new_items and data.modality == "tabular":  # rebuild the rows from the feature columns query wrote
        from headstart.data.tabular import typed_rows

        fresh = df[[str(i) not in pos for i in df["id"]]]
        new_items = typed_rows(fresh, data.table, where=extra_source)
    if new_items:
        assert isinstance(data.items, list)
        data = replace(
            data,
            items=[*data.items, *new_items],
            y=np.concatenate([y, np.asarray(new_y, dtype=np.int64)]),
            ids=[*data.ids, *new_ids],
            groups={
                k: np.concatenate([np.asarray(v), np.full(len(new_items), "", dtype=object)])
                for k, v in data.groups.items()
            },
        )
    else:
        data = replace(data, y=y)
    if rebuild:
        return data, splits
    add = np.asarray(moved + list(range(n0, n0 + len(new_items))), dtype=np.int64)
    train = np.concatenate([splits.train, np.setdiff1d(add, np.concatenate([splits.train, splits.val]))])
    val = splits.val
    return data, replace(splits, train=train, val=val, n_items=len(data.y))
