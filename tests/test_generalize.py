"""Domain generalization on real data (Adult census as a table, domains = race, sex, or the rows' source file):
the leave-one-domain-out table and verdicts land in the run folder, bad domain settings are one-line errors, and a
planted case (domains drawn at random from one distribution) gives no-difference for alignment vs pooled."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from headstart.adapt.generalize import GeneralizeConfig, domain_values, generalize
from headstart.adapt.generalize_output import load_domains, run_generalization
from headstart.cli import app
from headstart.data import load_data
from headstart.errors import HeadstartError
from headstart.rundir import load_run

RACES = ["Amer-Indian-Eskimo", "Asian-Pac-Islander", "Black", "Other", "White"]


@pytest.mark.slow
def test_cli_writes_the_per_domain_table_and_verdicts(tmp_path: Path) -> None:
    out = tmp_path / "dg"
    args = ["generalize", "builtin:adult-table", "--domain-column", "race", "--holdout-domain", "Black"]
    res = CliRunner().invoke(app, [*args, "--max-per-domain", "150", "--align", "per-domain", "--out", str(out)])
    assert res.exit_code == 0, res.output
    config, metrics = load_run(out)  # manifest verified
    assert config["kind"] == metrics["kind"] == "generalization"
    g = metrics["generalization"]
    assert [r["domain"] for r in g["table"]["rows"]] == RACES
    for row in g["table"]["rows"]:
        assert {"pooled", "aligned[per-domain]", "scratch", "majority"} <= set(row)
        assert row["n_test"] == min(150, g["domain_counts"][row["domain"]])
    assert g["headline"] == "Black" and g["domain_column"] == "race"
    black = next(d for d in g["domains"] if d["domain"] == "Black")
    assert black["validation"] == "leave-one-training-domain-out"
    kinds = {c["comparison"]: c["kind"] for c in metrics["comparisons"]}
    assert kinds == {"aligned[per-domain] vs pooled": "generalization"}  # tables: no transfer question
    assert metrics["comparisons"][0]["label"] in ("alignment helps", "no-difference", "alignment hurts")
    assert metrics["comparisons"] == black["comparisons"] and metrics["arms"] == black["arms"]
    # the pooled model is a real model: it beats guessing the largest class on the held-out White rows
    white = next(r for r in g["table"]["rows"] if r["domain"] == "White")
    assert white["pooled"] > white["majority"]
    page = (out / "report.html").read_text()
    assert "Domain generalization" in page and all(r in page for r in RACES)
    assert "leave-one-domain-out" in res.output and "Black" in res.output
    # predict explains why there is no model and advises the fit that serves a new domain; that command runs
    # (here with a label budget appended, to keep the suite short: the full table takes minutes)
    res = CliRunner().invoke(app, ["predict", str(out), "builtin:adult-table", "--out", str(tmp_path / "p.csv")])
    assert res.exit_code != 0 and "recommends" in res.output
    flat = res.output.replace("\n", "")
    cmd = flat.split("`")[1].split()
    assert cmd[:3] == ["headstart", "fit", "builtin:adult-table"], flat
    cmd[cmd.index("--out") + 1] = str(tmp_path / cmd[cmd.index("--out") + 1])
    res = CliRunner().invoke(app, [*cmd[1:], "--labels-per-class", "20", "--max-test", "200", "--quiet"])
    assert res.exit_code == 0, res.output


def test_source_files_are_domains_and_holding_one_out_trains_on_the_other(tmp_path: Path) -> None:
    sources = ["builtin:adult-table@sex=Female", "builtin:adult-table@sex=Male"]
    cfg = GeneralizeConfig(methods=("per-domain", "coral"), baseline="none", max_per_domain=200)
    doc = run_generalization(None, tmp_path / "dg", sources=sources, cfg=cfg)
    g = doc["generalization"]
    assert [r["domain"] for r in g["table"]["rows"]] == sources
    assert all(d["validation"].startswith("stratified") for d in g["domains"])  # one training domain each time
    assert {c["comparison"] for c in doc["comparisons"]} == {
        "aligned[per-domain] vs pooled",
        "aligned[coral] vs pooled",
    }
    saved = json.loads((tmp_path / "dg" / "metrics.json").read_text())
    assert saved["generalization"]["headline"] in sources
    # random folds of the one training domain cannot show what alignment does to an unseen domain: not validated,
    # and the recommendation stays with pooled
    assert g["recommended"] == "pooled" and "one training domain" in g["recommend_reason"]
    assert all(a["val_score"] is None for a in saved["arms"] if a["name"].startswith("aligned"))


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--domain-column", "colour"], "no group column 'colour'"),
        (["--domain-column", "race", "--holdout-domain", "Martian"], "'Martian' is not a domain; domains: Amer"),
        (["--holdout-domain", "Black"], "--holdout-domain needs --domain-column"),
        (["--domain-column", "race", "--baseline", "tfidf"], "--baseline tfidf is for text data"),
    ],
)
def test_bad_domain_settings_are_one_line_errors(tmp_path: Path, args: list[str], needle: str) -> None:
    res = CliRunner().invoke(app, ["fit", "builtin:adult-table", *args, "--out", str(tmp_path / "x")])
    assert res.exit_code == 2, res.output
    assert needle in res.output and "Traceback" not in res.output
    assert len(res.output.strip().splitlines()) <= 2  # one message (rich may wrap it once)
    assert not (tmp_path / "x").exists() and not (tmp_path / "x.partial").exists()


def test_one_domain_only_and_bad_maps_are_refused() -> None:
    data = load_domain_only_women()
    with pytest.raises(HeadstartError, match="one domain only"):
        domain_values(data, "sex")
    with pytest.raises(HeadstartError, match="not value=domain"):
        load_domains("builtin:adult-table", "race", domain_map="White")
    with pytest.raises(HeadstartError, match="names Martian"):
        load_domains("builtin:adult-table", "race", domain_map="Martian=x")
    merged = load_domains("builtin:adult-table", "race", domain_map="Other=minority,Amer-Indian-Eskimo=minority")[1]
    assert sorted(set(merged.tolist())) == ["Asian-Pac-Islander", "Black", "White", "minority"]


def load_domain_only_women():  # type: ignore[no-untyped-def]
    from headstart.adapt.domains import load_domain

    return load_domain("builtin:adult-table@sex=Female", group_columns=["sex"])


def test_planted_random_domains_give_no_difference_for_alignment() -> None:
    """Domains drawn at random from one distribution: per-domain statistics are the same up to noise, so
    standardising each domain on its own can neither help nor hurt: no-difference on every held-out domain.
    (CORAL is not asserted: on these one-hot rows its noisy covariance re-colouring costs ~1-2.5 points with no
    shift at all, measured in one of six cells beyond the CI; the verdict reports that, it is not a bug.)"""
    data = load_data("builtin:adult-table")
    rng = np.random.default_rng(0)
    data = data.subset(rng.choice(len(data.y), size=1500, replace=False))
    domains = rng.choice(np.array(["a", "b", "c"], dtype=object), size=len(data.y))
    r = generalize(data, domains, GeneralizeConfig(methods=("per-domain",), baseline="none"), column="planted")
    labels = {d["domain"]: c["label"] for d in r.domains for c in d["comparisons"]}
    assert set(labels) == {"a", "b", "c"}
    assert set(labels.values()) == {"no-difference"}, labels
    assert all(abs(c["delta"]) < 0.03 for d in r.domains for c in d["comparisons"])


def test_recommendation_names_scratch_when_the_pooled_model_lost_to_it_on_held_out_domains() -> None:
    from headstart.adapt.generalize import _scratch_override

    def block(label: str) -> dict[str, Any]:
        other = {"kind": "generalization", "a": "aligned[coral]", "b": "pooled", "label": "alignment hurts"}
        return {"comparisons": [other, {"kind": "transfer", "a": "pooled", "b": "scratch", "label": label}]}

    lost = [block("negative-transfer"), block("negative-transfer")]
    rec, why = _scratch_override(lost, "pooled", "no alignment beat it")
    assert rec == "scratch" and "2 of 2 held-out domains" in why and "without it: pooled" in why
    assert _scratch_override([block("negative-transfer"), block("no-difference")], "pooled", "r")[0] == "scratch"
    assert _scratch_override([block("negative-transfer"), block("helps")], "pooled", "r")[0] == "pooled"
    assert _scratch_override([block("no-difference")] * 3, "aligned[coral]", "r")[0] == "aligned[coral]"
    assert _scratch_override([{"comparisons": []}], "pooled", "r")[0] == "pooled"  # tables: no scratch question
