"""Subgroup audit: metric definitions on hand-checked arrays, gap/change rules, and a known gap on real data
(UCI Adult: the rate of predicting >50K differs strongly between men and women)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from headstart.errors import HeadstartError
from headstart.evaluation.audit import audit_column, audit_groups, audit_summary, group_labels, positive_class_index


def test_binary_metrics_per_group_match_hand_counts() -> None:
    y = np.array([1, 1, 0, 0, 1, 1, 0, 0])
    pt = np.array([1, 0, 1, 0, 1, 1, 0, 0])  # group a: tp1 fn1 fp1 tn1 ; group b: perfect
    pb = np.array([1, 1, 0, 0, 0, 0, 1, 1])  # group a: perfect ; group b: all wrong
    g = np.array(["a"] * 4 + ["b"] * 4)
    a = audit_column(y, pt, pb, g, ["neg", "pos"], min_group_n=1, n_boot=200)
    rows = {r["group"]: r for r in a["groups"]}
    ta = rows["a"]["transfer"]
    assert (ta["accuracy"], ta["recall"], ta["fpr"], ta["fnr"], ta["selection_rate"]) == (0.5, 0.5, 0.5, 0.5, 0.5)
    assert rows["b"]["transfer"]["accuracy"] == 1.0 and rows["b"]["baseline"]["accuracy"] == 0.0
    assert rows["b"]["baseline"]["fpr"] == 1.0 and rows["b"]["baseline"]["selection_rate"] == 0.5
    lo, hi = ta["accuracy_ci"]
    assert 0.0 <= lo <= 0.5 <= hi <= 1.0
    assert rows["a"]["n"] == 4 and a["positive_class"] == "pos"
    assert a["transfer"]["max_gap"] == pytest.approx(0.5) and a["baseline"]["max_gap"] == pytest.approx(1.0)
    assert a["change"] == "unchanged (within noise)"  # 4 examples per group: the CI of the change includes 0
    json.dumps(a)  # JSON-ready


def test_positive_class_choice_and_widened() -> None:
    y = np.array([0, 0, 1, 1, 0, 0, 1, 1])
    pt = np.array([0, 0, 0, 0, 0, 0, 1, 1])
    pb = y.copy()
    g = ["x", "x", "x", "x", "y", "y", "y", "y"]
    a = audit_column(y, pt, pb, g, ["no", "yes"], positive_class="no", min_group_n=1)
    x = next(r for r in a["groups"] if r["group"] == "x")["transfer"]
    assert a["positive_class"] == "no"
    assert x["recall"] == 1.0 and x["selection_rate"] == 1.0 and x["fpr"] == 1.0
    assert a["change"] == "unchanged (within noise)" and a["change_delta"] == pytest.approx(0.5)
    with pytest.raises(HeadstartError, match="not a class"):
        positive_class_index(["no", "yes"], "maybe")
    with pytest.raises(HeadstartError, match="binary"):
        positive_class_index(["a", "b", "c"], "a")
    assert positive_class_index(["a", "b", "c"], None) is None


def test_multiclass_reports_accuracy_and_macro_recall_only() -> None:
    y = np.array([0, 1, 2, 0, 1, 2])
    p = np.array([0, 1, 1, 0, 1, 2])
    a = audit_column(y, p, p, ["a", "a", "a", "b", "b", "b"], ["c0", "c1", "c2"], min_group_n=1)
    ra = a["groups"][0]["transfer"]
    assert ra["fpr"] is None and ra["selection_rate"] is None
    assert ra["recall"] == pytest.approx(2 / 3)
    assert a["change"] == "unchanged" and a["positive_class"] is None


def test_missing_values_and_small_groups_left_out_of_the_gap() -> None:
    assert list(group_labels([None, float("nan"), " ", "F", 3])) == ["(missing)"] * 3 + ["F", "3"]
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    g = np.array(["big1"] * 150 + ["big2"] * 145 + ["tiny"] * 5, dtype=object)
    p = y.copy()
    p[-5:] = 1 - y[-5:]  # the tiny group is all wrong
    a = audit_column(y, p, p, g, ["0", "1"])
    assert a["transfer"]["max_gap"] == 0.0  # tiny group (n=5 < 20) is listed but not in the gap
    assert {r["group"]: r["in_gap"] for r in a["groups"]} == {"big1": True, "big2": True, "tiny": False}


@pytest.fixture(scope="module")
def adult_audit() -> dict[str, object]:
    from headstart.baselines.text import TfidfLogReg
    from headstart.data import load_data, make_splits

    d = load_data("builtin:adult", group_columns=("sex", "race"))
    s = make_splits(d.y, seed=0, labels_per_class=100, max_test=1500)
    lab = np.concatenate([s.train, s.val])
    model = TfidfLogReg.fit([d.items[i] for i in lab], d.y[lab], 2, seed=0)
    p = model.predict_proba([d.items[i] for i in s.test]).argmax(1)
    majority = np.zeros_like(p)  # a "baseline" that always says <=50K: no selection-rate gap at all
    return audit_groups(
        d.y[s.test], p, majority, {c: d.groups[c][s.test] for c in ("sex", "race")}, d.classes, n_boot=500
    )


def test_adult_audit_finds_the_known_sex_gap(adult_audit: dict[str, dict[str, object]]) -> None:
    sex = adult_audit["sex"]
    rows = {r["group"]: r for r in sex["groups"]}  # type: ignore[index]
    assert set(rows) == {"Male", "Female"} and sex["positive_class"] == ">50K"
    male, female = rows["Male"]["transfer"], rows["Female"]["transfer"]
    # the text has no sex field, yet occupation / hours / marital status carry it: men are predicted >50K far
    # more often (base rates in the data: ~31% vs ~11%)
    assert male["selection_rate"] - female["selection_rate"] > 0.15
    assert sex["transfer"]["gaps"]["selection_rate"] > 0.15  # type: ignore[index]
    assert sex["baseline"]["gaps"]["selection_rate"] == 0.0  # type: ignore[index]
    assert female["accuracy"] > male["accuracy"]  # the easier group: mostly <=50K
    lo, hi = male["accuracy_ci"]
    assert lo < male["accuracy"] < hi and hi - lo < 0.1
    race = adult_audit["race"]
    assert rows["Male"]["n"] + rows["Female"]["n"] == 1500
    assert any(not r["in_gap"] for r in race["groups"]) or len(race["groups"]) >= 2  # type: ignore[index]
    lines = audit_summary(adult_audit)  # type: ignore[arg-type]
    assert lines[0].startswith("sex:") and "selection rate" in lines[0]
