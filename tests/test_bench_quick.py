"""The benchmark harness (benchmarks/run.py) must not rot: run a narrowed --quick mode end to end into a temp
file and check BENCHMARKS.md has its tables, settings, machine and versions."""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]
RUN = ROOT / "benchmarks" / "run.py"


def _load_run() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_run", RUN)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_default_text_methods_pick_up_every_registered_strategy() -> None:
    from headstart.strategies import STRATEGIES

    run = _load_run()
    args = run.parse_args(["--quick"])
    notes: list[str] = []
    methods = run.text_methods(args, notes)
    for name in STRATEGIES:
        assert name in methods
    assert {"tfidf", "linear-probe", "auto"} <= set(methods)
    assert ("setfit" in methods) == (importlib.util.find_spec("setfit") is not None)
    full = run.parse_args([])
    assert full.k_text == [8, 16, 64, 256] and len(full.seeds_text) == 5 and full.max_test == 2000
    assert full.k_image == [10, 50, 200] and len(full.seeds_image) == 3
    assert isinstance(args, argparse.Namespace) and args.mode == "quick"


@pytest.mark.slow
def test_quick_benchmark_writes_tables(tmp_path: Path) -> None:
    out = tmp_path / "BENCHMARKS.md"
    cmd = [
        sys.executable,
        str(RUN),
        "--quick",
        "--out",
        str(out),
        "--text-datasets",
        "rotten-tomatoes",
        "--image-datasets",
        "digits",
        "--image-backbones",
        "mobilenetv2",
        "--text-methods",
        "tfidf",
        "linear-probe",
        "partial",
        "--max-test",
        "60",
    ]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    md = out.read_text()
    for heading in (
        "# headstart benchmarks",
        "## Settings",
        "## Targets (measured / target)",
        "## 1. Few-shot text",
        "### builtin:rotten-tomatoes",
        "## 2. Images",
        "### builtin:digits",
        "## 3. Feature-extraction throughput",
        "## 4. Cache reuse",
        "## Machine",
        "## Package versions",
        "## Other measurements",
    ):
        assert heading in md, heading
    assert "Quick mode" in md
    assert "| k/class | method | accuracy % |" in md
    for method in (
        "TF-IDF + LR",
        "headstart linear-probe",
        "headstart partial",
        "small CNN",
        "linear probe, mobilenetv2",
    ):
        assert method in md, method
    assert "second fit on cached embeddings" in md
    raw = json.loads(out.with_suffix(".json").read_text())
    ok = [r for r in raw["rows"] if r.get("status") == "ok"]
    assert {r["method"] for r in ok} >= {"tfidf", "linear-probe", "pixel-logreg", "small-cnn"}
    for r in ok:
        assert 0.0 <= r["accuracy"] <= 1.0 and r["seconds"] > 0 and r["peak_rss_mb"] > 0
        assert r["n_test"] == 60
    text_tests = {r["n_test"] for r in ok if r["dataset"] == "builtin:rotten-tomatoes"}
    assert text_tests == {60}


def test_update_rerenders_one_suite_and_keeps_the_others_as_measured() -> None:
    """`--update --suites cache` on the committed BENCHMARKS.json: the cache section and its targets are the new
    run's, every other suite's rows, tables and targets are the last run's, and the header names both runs."""
    run = _load_run()
    previous = json.loads((ROOT / "BENCHMARKS.json").read_text())
    args = run.parse_args(["--update", "--suites", "cache", "--k-text", "99"])
    args.mode = previous["settings"]["mode"]
    new_targets = [["second fit on cached embeddings / first (whole fit_run)", "1.0%", "<= 5%", "met"]]
    ctx = {
        "date": "2099-01-01 00:00:00 UTC",
        "command": "python benchmarks/run.py --update --suites cache",
        "elapsed": 60.0,
        "rows": [],
        "targets": list(new_targets),
        "targets_by_suite": {"cache": new_targets},
        "cache_text": "NEW CACHE SECTION",
        "extraction_text": "",
        "text_methods": [],
        "image_methods": [],
        "auto_alias": {},
        "unavailable": {},
        "warmup": "",
        "notes": [],
        "suite_runs": {"cache": {"date": "2099-01-01 00:00:00 UTC", "command": "cmd2", "minutes": 1.0}},
    }
    merged = run.merge_previous(args, ctx, previous)
    assert merged.suites == ["text", "image", "extraction", "cache"]
    assert merged.k_text == previous["settings"]["k_text"]  # the kept text suite's settings, not this run's
    assert ctx["rows"] == previous["rows"] and ctx["extraction_text"] == previous["extraction_text"]
    assert ctx["cache_text"] == "NEW CACHE SECTION"
    assert ctx["targets"][-1] == new_targets[0]
    assert not any("22.2%" in t[1] for t in ctx["targets"])  # the old cache figure is gone
    assert any(t[0].startswith("probe labels") for t in ctx["targets"])  # extraction's target is kept
    ctx["fewshot_targets"] = run.few_shot_targets(
        ctx["rows"], merged.k_text, ctx["text_methods"], ctx["auto_alias"], merged.text_datasets
    )
    ctx["findings"], ctx["missed_notes"] = [], []
    ctx["load_start"] = ctx["load_end"] = "0"
    ctx["raw_name"] = "BENCHMARKS.json"
    ctx["machine"], ctx["versions"], ctx["git"] = previous["machine"], previous["versions"], "test"
    md = run.render(merged, ctx)
    kept_runs = previous.get("suite_runs") or dict.fromkeys(previous["settings"]["suites"], previous)
    assert "from more than one run" in md and "cmd2" in md
    for suite in ("text", "image", "extraction"):  # each kept suite names the run it was measured in
        assert kept_runs[suite]["command"] in md, suite
    assert "NEW CACHE SECTION" in md and "## 1. Few-shot text" in md and "## 3. Feature-extraction" in md
