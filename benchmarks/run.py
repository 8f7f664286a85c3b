"""headstart against the tools users would pick instead, side by side on the same splits, in one command.

    .venv/bin/python benchmarks/run.py               # full benchmark -> BENCHMARKS.md (see benchmarks/README.md)
    .venv/bin/python benchmarks/run.py --quick       # a few minutes: tiny budgets, one seed, small test sets
    .venv/bin/python benchmarks/run.py --seeds-text 0 1 2 --k-text 8 16 64   # a reduced full run

Suites: (1) few-shot text (TF-IDF + LR, SetFit, every registered headstart strategy, ``auto``), (2) images
(pixel LR, small CNN, linear probes per image backbone; negative transfer flagged), (3) feature-extraction
throughput (``benchmarks/bench_extraction.py``, when present), (4) cache reuse (second ``fit_run`` on cached
embeddings). Every measured run happens in a fresh child process (see ``benchmarks/methods.py``); results of
other engineers in ``benchmarks/results/*.md`` are appended under "Other measurements".
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    BENCH_DIR,
    ROOT,
    ChildResult,
    git_state,
    load_average,
    machine_info,
    mark,
    mb,
    md_table,
    mean_std,
    package_versions,
    pct,
    run_child,
    secs,
)

TEXT_DATASETS = ("rotten-tomatoes", "spam")
IMAGE_DATASETS = ("mnist5k", "fashion-mnist", "digits")
IMAGE_BACKBONES = ("mobilenetv2", "efficientnet-lite0")
BASE_TEXT_METHODS = ("tfidf", "setfit", "linear-probe", "auto")
TEXT_LABELS = {"tfidf": "TF-IDF + LR (headstart baseline)", "setfit": "SetFit (defaults)", "auto": "headstart auto"}
EXTRACTION_FUNCTIONS = ("benchmark_section", "run_benchmark", "bench_extraction")  # else its CLI is run
EXTRACTION_QUICK_FLAGS = (
    ("--images", "32"),
    ("--texts", "32"),
    ("--probe-texts", "80"),
    ("--repeat", "1"),
    ("--int8-probe-train", "0"),  # the static int8 CNN probe is tested in tests/test_quantized_backend.py
)
HEADSTART_NOT_STRATEGIES = {"tfidf", "setfit"}
SPEEDUP_TARGETS = {"image": 4.0, "text": 1.5}
# which probe-agreement figure of bench_extraction.py belongs to the backend auto picked for text
AGREEMENT_OF_BACKEND = {
    "torch-bf16": "agreement_bf16_vs_fp32",
    "onnx-int8": "agreement_int8_vs_fp32",
    "onnx-fp32": "agreement_fp32_vs_torch",
}
CACHE_TARGET = 0.05
TIME_RATIO_TARGET = 0.25  # issue 15: <= 0.25x SetFit's wall time
SCRIPT_TARGETS = BENCH_DIR / "results" / "targets.md"  # one row per target measured by its own script

PRESETS: dict[str, dict[str, Any]] = {
    "full": {
        "k_text": [8, 16, 64, 256],
        "seeds_text": [0, 1, 2, 3, 4],
        "k_image": [10, 50, 200],
        "seeds_image": [0, 1, 2],
        "max_test": 2000,
        "cache_k": 16,
        "run_timeout": 900.0,
        "group": "run",
        "strategy_options": {},
        "setfit_args": {},
    },
    "quick": {
        "k_text": [8],
        "seeds_text": [0],
        "k_image": [10],
        "seeds_image": [0],
        "max_test": 100,
        "cache_k": 8,
        "run_timeout": 300.0,
        "group": "dataset",
        # --quick only shows the harness works: training is capped so the whole mode takes minutes
        "strategy_options": {"epochs": 1, "head_epochs": 1, "stage_epochs": 1, "patience": 1},
        "setfit_args": {"max_steps": 2},
    },
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description="Benchmark headstart against TF-IDF, SetFit and from-scratch baselines; write BENCHMARKS.md.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    ap.add_argument("--quick", action="store_true", help="tiny budgets, one seed, 100 test items (a few minutes)")
    ap.add_argument("--out", type=Path, default=ROOT / "BENCHMARKS.md", help="markdown file to write")
    ap.add_argument("--raw", type=Path, default=None, help="raw JSON results (default: <out>.json next to --out)")
    ap.add_argument("--text-datasets", nargs="*", default=list(TEXT_DATASETS), help="builtin text datasets")
    ap.add_argument("--image-datasets", nargs="*", default=list(IMAGE_DATASETS), help="builtin image datasets")
    ap.add_argument("--k-text", type=int, nargs="+", help="labels per class, text (full: 8 16 64 256)")
    ap.add_argument("--seeds-text", type=int, nargs="+", help="seeds, text (full: 0 1 2 3 4)")
    ap.add_argument("--k-image", type=int, nargs="+", help="labels per class, images (full: 10 50 200)")
    ap.add_argument("--seeds-image", type=int, nargs="+", help="seeds, images (full: 0 1 2)")
    ap.add_argument("--max-test", type=int, help="test-set cap per seed (full: 2000)")
    ap.add_argument("--text-methods", nargs="+", help="default: tfidf setfit linear-probe auto + every strategy")
    ap.add_argument("--skip-methods", nargs="+", default=[], help="methods to leave out (e.g. setfit)")
    ap.add_argument("--image-backbones", nargs="+", default=list(IMAGE_BACKBONES))
    ap.add_argument(
        "--run-timeout",
        type=float,
        help="seconds one run (method x k x seed) may take before it is killed and reported as a timeout; "
        "larger k of that method are then skipped (full: 900, quick: 300)",
    )
    ap.add_argument("--suites", nargs="+", default=["text", "image", "extraction", "cache"])
    ap.add_argument("--group", choices=["run", "dataset"], help="one process per (dataset, method, k), or per dataset")
    ap.add_argument(
        "--strategy-options",
        type=json.loads,
        help='JSON options for every headstart strategy (full: {} = defaults; quick: {"epochs": 1, ...})',
    )
    ap.add_argument("--setfit-args", type=json.loads, help="JSON overrides of SetFit's TrainingArguments (full: {})")
    ap.add_argument("--work", type=Path, default=None, help="scratch folder (default: a fresh temp folder)")
    ap.add_argument(
        "--render",
        action="store_true",
        help="run nothing: re-render --out from the raw JSON of the last run (--raw), picking up newer "
        "benchmarks/results/ files (targets.md and the per-script results)",
    )
    ap.add_argument(
        "--update",
        action="store_true",
        help="re-run only --suites and keep every other suite's results from the last run's raw JSON (--raw); "
        "BENCHMARKS.md then names the run each section comes from",
    )
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    preset = PRESETS["quick" if args.quick else "full"]
    for key, value in preset.items():
        if getattr(args, key, None) is None:
            setattr(args, key, value)
    args.mode = "quick" if args.quick else "full"
    if args.raw is None:
        args.raw = args.out.with_suffix(".json")
    return args


# ------------------------------------------------------------------------------------------ planning
def registered_strategies() -> list[str]:
    from headstart.strategies import STRATEGIES

    return sorted(STRATEGIES)


def text_methods(args: argparse.Namespace, notes: list[str]) -> list[str]:
    if args.text_methods:
        methods = list(args.text_methods)
    else:
        strategies = [s for s in registered_strategies() if s != "linear-probe"]
        methods = [*BASE_TEXT_METHODS, *strategies]
    if "setfit" in methods and importlib.util.find_spec("setfit") is None:
        methods.remove("setfit")
        notes.append("SetFit is not installed (`pip install setfit`, the `bench` extra): its rows are missing.")
    return [m for m in methods if m not in args.skip_methods]


def dataset_available(name: str) -> str | None:
    """None when ``builtin:NAME`` can be loaded here, else why not (with the install hint)."""
    from headstart.data.builtin import list_builtins

    for info in list_builtins():
        if info.name == name:
            return None if info.available else info.reason
    return f"unknown builtin dataset {name!r}"


def resolve_auto(dataset: str, ks: list[int], seed: int, max_test: int) -> dict[int, str]:
    """What ``--strategy auto`` picks at each k (the data-aware advisor, cost-guarded, as in ``fit``)."""
    from headstart.advise.auto import choose_strategy
    from headstart.data import load_data, make_splits

    data = load_data(f"builtin:{dataset}")
    out = {}
    for k in ks:
        splits = make_splits(data.y, seed=seed, labels_per_class=k, max_test=max_test, classes=data.classes)
        out[k] = choose_strategy(data, splits, "minilm-l6", seed=seed)[0]
    return out


class Runner:
    """Schedules jobs, one child process each, and collects every row."""

    def __init__(self, args: argparse.Namespace, work: Path) -> None:
        self.args, self.work = args, work
        self.rows: list[dict[str, Any]] = []
        self.children: list[dict[str, Any]] = []
        self.n = 0
        self.cache_base = str(work / "caches")
        self.onnx_dir = str(work / "onnx-shared")

    def say(self, msg: str) -> None:
        print(msg, flush=True)

    def job(self, kind: str, **fields: Any) -> ChildResult:
        self.n += 1
        job = {"id": self.n, "kind": kind, "cache_base": self.cache_base, "onnx_dir": self.onnx_dir, **fields}
        res = run_child(job, self.work / "jobs", run_timeout=self.args.run_timeout, echo=self.say)
        self.children.append(
            {
                "id": self.n,
                "kind": kind,
                **{k: v for k, v in fields.items() if k in ("dataset", "methods", "ks", "seeds", "name")},
                "wall_s": res.wall_s,
                "peak_rss_mb": res.peak_rss_mb,
                "returncode": res.returncode,
                "timed_out": res.timed_out,
            }
        )
        return res

    def classify(self, suite: str, dataset: str, methods: list[str], ks: list[int], seeds: list[int]) -> ChildResult:
        res = self.job(
            "classify",
            dataset=f"builtin:{dataset}",
            methods=methods,
            ks=ks,
            seeds=seeds,
            max_test=self.args.max_test,
            strategy_options=self.args.strategy_options,
            setfit_args=self.args.setfit_args,
        )
        done = {(r["method"], r["k"], r["seed"]) for r in res.rows}
        for r in res.rows:
            r.update(suite=suite, peak_rss_mb=res.peak_rss_mb, process_methods=len(methods))
        self.rows += res.rows
        killed = res.killed_seed or {}
        for k in ks:
            for seed in seeds:
                for m in methods:
                    if (m, k, seed) in done:
                        continue
                    hit = killed.get("method") == m and killed.get("k") == k and killed.get("seed") == seed
                    status = "timeout" if hit else ("not run" if res.timed_out else "crashed")
                    why = (
                        f"killed after {self.args.run_timeout:.0f} s"
                        if hit
                        else ("an earlier run of this process timed out" if res.timed_out else res.stderr_tail[-300:])
                    )
                    self.rows.append(
                        {
                            "suite": suite,
                            "dataset": f"builtin:{dataset}",
                            "k": k,
                            "seed": seed,
                            "method": m,
                            "status": status,
                            "error": why,
                        }
                    )
        return res


def run_suite(
    runner: Runner, suite: str, dataset: str, methods: list[str], ks: list[int], seeds: list[int], group: str
) -> None:
    if group == "dataset":
        t0 = time.perf_counter()
        runner.classify(suite, dataset, methods, ks, seeds)
        runner.say(
            f"  {dataset}: {len(methods)} methods x {len(ks)} k x {len(seeds)} seeds in "
            f"{time.perf_counter() - t0:.0f} s"
        )
        return
    for m in methods:
        for i, k in enumerate(ks):
            t0 = time.perf_counter()
            res = runner.classify(suite, dataset, [m], [k], seeds)
            runner.say(f"  {dataset} {m} k={k}: {time.perf_counter() - t0:.0f} s" + (" (TIMEOUT)" * res.timed_out))
            if res.timed_out:
                for k2 in ks[i + 1 :]:
                    for seed in seeds:
                        runner.rows.append(
                            {
                                "suite": suite,
                                "dataset": f"builtin:{dataset}",
                                "k": k2,
                                "seed": seed,
                                "method": m,
                                "status": "skipped",
                                "error": f"timed out at k={k}",
                            }
                        )
                break


# ------------------------------------------------------------------------------------------ aggregation
def cell(rows: list[dict[str, Any]]) -> dict[str, Any]:
    ok = [r for r in rows if r.get("status") == "ok"]
    acc = mean_std(r["accuracy"] for r in ok)
    f1 = mean_std(r["macro_f1"] for r in ok)
    sec = mean_std(r["seconds"] for r in ok)
    rss = [r["peak_rss_mb"] for r in ok if r.get("peak_rss_mb") is not None]
    statuses: dict[str, int] = {}
    for r in rows:
        if r.get("status") != "ok":
            statuses[r.get("status", "?")] = statuses.get(r.get("status", "?"), 0) + 1
    return {
        "acc": acc,
        "f1": f1,
        "sec": sec,
        "rss": max(rss) if rss else None,
        "n": len(rows),
        "ok": len(ok),
        "statuses": statuses,
        "errors": sorted({str(r.get("error", ""))[:160] for r in rows if r.get("error")}),
    }


def select(rows: list[dict[str, Any]], **kw: Any) -> list[dict[str, Any]]:
    return [r for r in rows if all(r.get(k) == v for k, v in kw.items())]


def status_note(c: dict[str, Any]) -> str:
    parts = [f"{n} {s}" for s, n in c["statuses"].items()]
    if c["errors"] and c["ok"] == 0:
        parts.append(c["errors"][0])
    return "; ".join(parts)


def method_label(m: str, auto_alias: dict[int, str] | None = None, k: int | None = None) -> str:
    if m == "auto" and auto_alias and k in auto_alias:
        return f"headstart auto (= {auto_alias[k]})"
    if m in TEXT_LABELS:
        return TEXT_LABELS[m]
    if m.startswith("linear-probe:"):
        return f"linear probe, {m.split(':', 1)[1]}"
    if m in ("pixel-logreg", "small-cnn"):
        return {"pixel-logreg": "pixel logistic regression (scratch)", "small-cnn": "small CNN (scratch)"}[m]
    return f"headstart {m}"


def text_tables(
    rows: list[dict[str, Any]], dataset: str, methods: list[str], ks: list[int], auto_alias: dict[int, str]
) -> str:
    out = []
    body = []
    for k in ks:
        for m in methods:
            c = cell(select(rows, suite="text", dataset=f"builtin:{dataset}", k=k, method=m))
            if not c["n"]:
                continue
            body.append(
                [
                    k,
                    method_label(m, auto_alias, k),
                    pct(*c["acc"]),
                    pct(*c["f1"]),
                    secs(c["sec"][0]),
                    mb(c["rss"]),
                    f"{c['ok']}/{c['n']}",
                    status_note(c),
                ]
            )
    n_test = sorted({r.get("n_test") for r in rows if r.get("dataset") == f"builtin:{dataset}" and r.get("n_test")})
    out.append(f"Test set: {', '.join(map(str, n_test)) or '?'} items per seed, identical for every k and method.\n")
    out.append(
        md_table(["k/class", "method", "accuracy %", "macro-F1 %", "wall s/run", "peak RSS MB", "runs", "note"], body)
    )
    return "\n".join(out)


def image_tables(rows: list[dict[str, Any]], dataset: str, methods: list[str], ks: list[int]) -> tuple[str, list[str]]:
    body, findings = [], []
    for k in ks:
        cells = {m: cell(select(rows, suite="image", dataset=f"builtin:{dataset}", k=k, method=m)) for m in methods}
        scratch = {m: cells[m]["acc"][0] for m in ("pixel-logreg", "small-cnn") if m in cells and cells[m]["ok"]}
        for m in methods:
            c = cells[m]
            if not c["n"]:
                continue
            flag = ""
            if m.startswith("linear-probe") and c["ok"]:
                losers = [s for s, a in scratch.items() if a > c["acc"][0]]
                if losers:
                    names = " and ".join(method_label(s).replace(" (scratch)", "") for s in losers)
                    best = max(scratch[s] for s in losers)
                    flag = f"**NEGATIVE TRANSFER**: loses to {names} ({100 * (c['acc'][0] - best):+.1f} pp)"
                    findings.append(f"{dataset}, k={k}: {method_label(m)} {pct(*c['acc'])} — {flag.replace('**', '')}")
                elif scratch:
                    flag = f"transfer wins ({100 * (c['acc'][0] - max(scratch.values())):+.1f} pp vs best scratch)"
            if c["ok"] == 0 and c["statuses"]:
                flag = status_note(c)
            body.append(
                [
                    k,
                    method_label(m),
                    pct(*c["acc"]),
                    pct(*c["f1"]),
                    secs(c["sec"][0]),
                    mb(c["rss"]),
                    f"{c['ok']}/{c['n']}",
                    flag,
                ]
            )
    n_test = sorted({r.get("n_test") for r in rows if r.get("dataset") == f"builtin:{dataset}" and r.get("n_test")})
    head = f"Test set: {', '.join(map(str, n_test)) or '?'} items per seed, identical for every k and method.\n\n"
    table = md_table(
        ["k/class", "method", "accuracy %", "macro-F1 %", "wall s/run", "peak RSS MB", "runs", "transfer vs scratch"],
        body,
    )
    return head + table, findings


def few_shot_targets(
    rows: list[dict[str, Any]],
    ks: list[int],
    methods: list[str],
    auto_alias: dict[str, dict[int, str]],
    datasets: list[str],
) -> list[list[str]]:
    """Per dataset and k: headstart (auto, and the best strategy) vs SetFit (and TF-IDF on spam)."""
    out = []
    hs_methods = [m for m in methods if m not in HEADSTART_NOT_STRATEGIES]
    for ds in datasets:
        for k in ks:
            sel = {m: cell(select(rows, suite="text", dataset=f"builtin:{ds}", k=k, method=m)) for m in methods}
            setfit = sel.get("setfit")
            tfidf = sel.get("tfidf")
            refs = {"SetFit": setfit} if ds != "spam" else {"SetFit": setfit, "TF-IDF": tfidf}
            refs = {n: c for n, c in refs.items() if c is not None and c["ok"]}
            if not refs:
                why = "SetFit has no finished run" + (f" ({status_note(setfit)})" if setfit and setfit["n"] else "")
                out.append([ds, str(k), "—", "—", why, "—", "n/a"])
                continue
            ref_name = max(refs, key=lambda n: refs[n]["acc"][0])
            ref = refs[ref_name]
            ok_hs = {m: sel[m] for m in hs_methods if m in sel and sel[m]["ok"]}
            candidates: list[tuple[str, str]] = []
            if "auto" in ok_hs:
                auto_rows = select(rows, suite="text", dataset=f"builtin:{ds}", k=k, method="auto")
                chose = sorted(
                    {r.get("copied_from") or (r.get("detail") or {}).get("auto_chose") for r in auto_rows} - {None}
                )
                candidates.append(("auto", f"headstart auto (= {', '.join(chose) or '?'}; no test peeking)"))
            if ok_hs:
                best = max(ok_hs, key=lambda m: ok_hs[m]["acc"][0])
                candidates.append((best, f"best strategy on test = {best} (optimistic)"))
            for m, label in candidates:
                c = ok_hs[m]
                delta = c["acc"][0] - ref["acc"][0]
                acc_ok = delta >= 0
                time_ratio = None
                if setfit is not None and setfit["ok"] and not math.isnan(setfit["sec"][0]):
                    time_ratio = c["sec"][0] / setfit["sec"][0]
                elif setfit is not None and setfit["statuses"].get("timeout"):
                    time_ratio = 0.0  # SetFit did not finish in the run timeout; see note
                t_ok = None if time_ratio is None else time_ratio <= TIME_RATIO_TARGET
                ref_text = f"{ref_name} {pct(*ref['acc'])}"
                out.append(
                    [
                        ds,
                        str(k),
                        label,
                        f"{pct(*c['acc'])} vs {ref_text} ({100 * delta:+.1f} pp)",
                        f">= {'max(SetFit, TF-IDF)' if ds == 'spam' else 'SetFit'}",
                        "—" if time_ratio is None else f"{time_ratio:.3f} (<= {TIME_RATIO_TARGET})",
                        mark(acc_ok and (t_ok is not False)),
                    ]
                )
    return out


# ------------------------------------------------------------------------------------------ extraction / cache
def _text_precision() -> str:
    try:
        from headstart.backends import TEXT_DEFAULT_PRECISION

        return str(TEXT_DEFAULT_PRECISION)
    except ImportError:
        return "fp32"


def render_extraction(result: dict[str, Any]) -> tuple[str, list[list[str]]]:
    """Tables and targets from bench_extraction.py's JSON (keys read defensively: that script is owned elsewhere)."""
    parts: list[str] = []
    targets: list[list[str]] = []
    img = result.get("images") or {}
    e2e = img.get("end_to_end_img_per_s") or {}
    net = img.get("network_only_img_per_s") or {}
    if e2e:
        parts.append(
            f"Images: MobileNetV2 at {img.get('image_size', '?')} px, {img.get('n_images', '?')} digits, "
            "best of repeats.\n"
        )
        names = sorted(set(e2e) | set(net))
        parts.append(
            md_table(
                ["path", "end to end img/s", "network only img/s"],
                [[n, f"{e2e[n]:.1f}" if n in e2e else "—", f"{net[n]:.1f}" if n in net else "—"] for n in names],
            )
            + "\n"
        )
        base, ours = e2e.get("torch_eager"), e2e.get("headstart_extract_onnx")
        if base and ours:
            got = ours / base
            targets.append(
                [
                    "extraction throughput, images (headstart extract vs plain torch eager)",
                    f"{got:.2f}x",
                    f">= {SPEEDUP_TARGETS['image']}x",
                    mark(got >= SPEEDUP_TARGETS["image"]),
                ]
            )
        frac = img.get("flop_rate_fraction_onnx")
        if frac is not None:
            targets.append(
                [
                    "image network FLOP rate (ONNX fp32) / fp32 matmul rate, same process",
                    f"{100 * frac:.0f}%",
                    ">= 60%",
                    mark(frac >= 0.60),
                ]
            )
    text = result.get("text") or {}
    tps = text.get("texts_per_s") or {}
    if tps:
        prec = _text_precision()
        parts.append(
            f"Text: MiniLM-L6 on {text.get('n_texts', '?')} Rotten Tomatoes snippets; headstart's default "
            f"text precision is {prec}.\n"
        )
        parts.append(md_table(["path", "texts/s"], [[n, f"{v:.1f}"] for n, v in sorted(tps.items())]) + "\n")
        base_name = (
            "sentence_transformers_encode" if "sentence_transformers_encode" in tps else "torch_eager_length_sorted"
        )
        auto = text.get("auto_backend")
        ours = tps.get("headstart_extract_auto") or tps.get(f"onnx_{prec}")
        what = f"headstart extract, auto = {auto}" if "headstart_extract_auto" in tps else f"ONNX {prec}"
        if ours and tps.get(base_name):
            got = ours / tps[base_name]
            targets.append(
                [
                    f"extraction throughput, text ({what} vs {base_name})",
                    f"{got:.2f}x",
                    f">= {SPEEDUP_TARGETS['text']}x",
                    mark(got >= SPEEDUP_TARGETS["text"]),
                ]
            )
        probe = text.get("probe") or {}
        agreement_key = AGREEMENT_OF_BACKEND.get(str(auto), "agreement_fp32_vs_torch")
        if agreement_key in probe:
            agree = float(probe[agreement_key])
            targets.append(
                [
                    f"probe labels on auto's text embeddings ({auto}) = fp32 probe's labels",
                    f"{100 * agree:.2f}%",
                    ">= 99.5%",
                    mark(agree >= 0.995),
                ]
            )
        ceiling = text.get("fraction_of_fp32_ceiling") or {}
        if "headstart_extract_auto" in ceiling:
            parts.append(
                f"Text tokens/s of headstart extract (auto) = {100 * ceiling['headstart_extract_auto']:.0f}% of the "
                "fp32 ceiling (MiniLM-L6 weight-matmul FLOPs per token at the 2048x2048 matmul rate measured in the "
                "same process).\n"
            )
        if probe:
            parts.append(
                "Downstream check (linear probe on each backend's embeddings, same split): "
                + ", ".join(f"{k} {v}" for k, v in probe.items() if k != "accuracy")
                + f"; accuracy {probe.get('accuracy')}.\n"
            )
    parts.append(
        "<details><summary>raw JSON</summary>\n\n```json\n" + json.dumps(result, indent=1)[:8000] + "\n```\n</details>"
    )
    return "\n".join(parts), targets


def extraction_section(runner: Runner, quick: bool, notes: list[str]) -> tuple[str, list[list[str]]]:
    script = BENCH_DIR / "bench_extraction.py"
    if not script.exists():
        return (
            "*Skipped: `benchmarks/bench_extraction.py` does not exist in this checkout (it is being written "
            "with the ONNX Runtime backend).*",
            [],
        )
    res = runner.job(
        "extraction",
        script=str(script),
        functions=list(EXTRACTION_FUNCTIONS),
        quick=quick,
        quick_flags=[list(f) for f in EXTRACTION_QUICK_FLAGS],
    )
    row = next((r for r in res.rows if r.get("method") == "extraction"), None)
    if row is None or row.get("status") != "ok":
        why = (row or {}).get("error") or ("timed out" if res.timed_out else res.stderr_tail[-400:])
        notes.append(f"extraction benchmark failed: {str(why).strip()[:300]}")
        return f"*The extraction benchmark did not finish:* `{str(why).strip()[:400]}`", []
    result = row.get("result")
    text = f"Ran `{row['how']}` in {secs(row['seconds'])} s; same inputs, same process for every path.\n\n"
    if isinstance(result, dict):
        body, targets = render_extraction(result)
        return text + body, targets
    return text + (result if isinstance(result, str) else f"```\n{json.dumps(result, default=str)[:6000]}\n```"), []


def cache_section(runner: Runner, args: argparse.Namespace) -> tuple[str, list[list[str]]]:
    cache = runner.work / "cache-reuse"
    shutil.rmtree(cache, ignore_errors=True)
    cache.mkdir(parents=True)
    (cache / "onnx").symlink_to(Path(runner.onnx_dir).resolve(), target_is_directory=True)
    base = {
        "data": "builtin:rotten-tomatoes",
        "labels_per_class": args.cache_k,
        "seed": 0,
        "max_test": args.max_test,
        "backbone": "minilm-l6",
    }
    runs = [
        ("first fit: linear-probe (empty cache)", {**base, "strategy": "linear-probe"}),
        ("second fit: linear-probe, same settings, new --out", {**base, "strategy": "linear-probe"}),
        (
            "third fit: linear-probe with a class-weighted head (--loss weighted)",
            {**base, "strategy": "linear-probe", "loss": "weighted"},
        ),
    ]
    got = []
    for i, (name, cfg) in enumerate(runs):
        res = runner.job("fit_run", name=name, cache=str(cache), config={**cfg, "out": str(runner.work / f"fit{i}")})
        row = next((r for r in res.rows if r.get("status") == "ok"), None)
        if row is None:
            return f"*Cache-reuse run failed:* `{res.stderr_tail[-400:]}`", [
                ["second fit on cached embeddings", "failed", "<= 5%", "n/a"]
            ]
        got.append((name, row, res))
    (_, r1, _), (_, r2, _), (_, r3, _) = got
    ratio = r2["seconds"] / r1["seconds"]
    ratio_weighted = r3["seconds"] / r1["seconds"]

    def stage(r: dict[str, Any]) -> float:
        return float(r["timing"].get("transfer_fit", 0.0) + r["timing"].get("transfer_predict_test", 0.0))

    stage_ratio = stage(r2) / max(stage(r1), 1e-9)
    stage_ratio_weighted = stage(r3) / max(stage(r1), 1e-9)
    body = [
        [n, secs(r["seconds"]), secs(stage(r)), r["cache"]["computed"], r["cache"]["hits"], mb(c.peak_rss_mb)]
        for n, r, c in got
    ]

    def largest(r: dict[str, Any]) -> str:
        top = sorted(((k, v) for k, v in r["timing"].items() if k != "total"), key=lambda kv: -kv[1])[:5]
        return ", ".join(f"{k} {v:.2f} s" for k, v in top)

    text = (
        f"`fit_run` three times on `builtin:rotten-tomatoes`, {args.cache_k} labels/class, seed 0, "
        f"{args.max_test}-item test cap, MiniLM, one fresh `HEADSTART_CACHE`, each fit in its own process "
        "(times from inside `fit_run`, so interpreter start-up and imports are excluded). Only the linear probe "
        "reads the embedding cache — strategies that update backbone weights cannot reuse frozen embeddings by "
        "construction. The second fit repeats the first into a new folder (what a user does after changing "
        "nothing that matters to the model, e.g. to get a fresh report); the third changes the head's training "
        "objective, which the TF-IDF baseline honours too (class-weighted), so its baseline is rightly "
        "refitted.\n\n"
        + md_table(
            [
                "fit",
                "fit_run s",
                "transfer stage s (fit + predict test)",
                "items embedded",
                "cache hits",
                "peak RSS MB",
            ],
            body,
        )
        + f"\n\nSecond / first: **{100 * ratio:.1f}%** of the whole `fit_run` (baseline, bootstrap verdict, report "
        f"and model card included); {100 * stage_ratio:.1f}% for the transfer stage alone. Third (`--loss "
        f"weighted`) / first: **{100 * ratio_weighted:.1f}%** whole, {100 * stage_ratio_weighted:.1f}% transfer "
        f"stage. Largest stages of the second fit: {largest(r2)}; of the third: {largest(r3)}."
    )
    targets = [
        [
            "second fit on cached embeddings / first (whole fit_run)",
            f"{100 * ratio:.1f}%",
            "<= 5%",
            mark(ratio <= CACHE_TARGET),
        ],
        ["same, transfer stage only", f"{100 * stage_ratio:.1f}%", "<= 5%", mark(stage_ratio <= CACHE_TARGET)],
        [
            "second fit with a new head objective (--loss weighted) / first (whole fit_run)",
            f"{100 * ratio_weighted:.1f}%",
            "<= 5%",
            mark(ratio_weighted <= CACHE_TARGET),
        ],
        [
            "same, transfer stage only",
            f"{100 * stage_ratio_weighted:.1f}%",
            "<= 5%",
            mark(stage_ratio_weighted <= CACHE_TARGET),
        ],
    ]
    return text, targets


def script_targets() -> str:
    """The table of targets measured by the per-area scripts (``benchmarks/results/targets.md``), verbatim."""
    if not SCRIPT_TARGETS.exists():
        return "*None: `benchmarks/results/targets.md` is missing.*"
    body = SCRIPT_TARGETS.read_text().strip()
    return "\n".join(("#" + line) if line.startswith("#") else line for line in body.splitlines())


def other_measurements() -> str:
    folder = BENCH_DIR / "results"
    files = sorted(f for f in folder.glob("*.md") if f != SCRIPT_TARGETS) if folder.exists() else []
    if not files:
        return "*None: `benchmarks/results/` has no `.md` files.*"
    parts = []
    for f in files:
        mtime = time.strftime("%Y-%m-%d %H:%M", time.localtime(f.stat().st_mtime))
        body = f.read_text().strip()
        # demote the section's own headings below ours
        body = "\n".join(("##" + line) if line.startswith("#") else line for line in body.splitlines())
        parts.append(
            f"### {f.stem} (from `benchmarks/results/{f.name}`, file dated {mtime}; not re-measured "
            f"by this run — its provenance note follows)\n\n{body}"
        )
    return "\n\n".join(parts)


# ------------------------------------------------------------------------------------------ report
def render(args: argparse.Namespace, ctx: dict[str, Any]) -> str:
    rows = ctx["rows"]
    L: list[str] = []
    L.append("# headstart benchmarks\n")
    runs = ctx.get("suite_runs") or {}
    if len({(r["date"], r["command"]) for r in runs.values()}) > 1:
        by_run: dict[tuple[str, str, float, str], list[str]] = {}
        for suite, r in runs.items():
            where = f" on {r['cpu']}" if r.get("cpu") else ""  # runs recorded before the CPU was kept: none
            by_run.setdefault((r["date"], r["command"], r["minutes"], where), []).append(suite)
        L.append(
            f"Generated {ctx['date']} ({args.mode} mode) from more than one run of `benchmarks/run.py`; "
            "each suite comes from the run named here (a later `--update` run re-measured its suites and "
            "kept the others as measured; the machines differ, so compare ratios within a suite, not times "
            "across suites). Regenerate with these commands in this order; see `benchmarks/README.md`.\n"
        )
        L += [
            f"- {', '.join(suites)}: {date}{where}, `{cmd}` ({minutes:.1f} min)"
            for (date, cmd, minutes, where), suites in sorted(by_run.items())
        ]
        L.append("")
    else:
        L.append(
            f"Generated {ctx['date']} by `{ctx['command']}` in {ctx['elapsed'] / 60:.1f} min "
            f"({args.mode} mode). Regenerate with the same command; see `benchmarks/README.md`.\n"
        )
    L.append(script_targets() + "\n")
    L.append("## This run\n")
    if args.mode == "quick":
        L.append(
            f"> **Quick mode**: tiny label budgets, one seed, a {args.max_test}-item test set and capped training "
            "(see Settings). These numbers only show "
            "that the harness works; they are not evidence for or against any claim.\n"
        )
    L.append("## Settings\n")
    settings = [
        ["text datasets", ", ".join(args.text_datasets) or "—"],
        ["text labels/class (k)", " ".join(map(str, args.k_text))],
        ["text seeds", " ".join(map(str, args.seeds_text))],
        ["text methods", ", ".join(ctx["text_methods"])],
        ["image datasets", ", ".join(args.image_datasets) or "—"],
        ["image labels/class (k)", " ".join(map(str, args.k_image))],
        ["image seeds", " ".join(map(str, args.seeds_image))],
        ["image methods", ", ".join(ctx["image_methods"])],
        ["test-set cap", f"{args.max_test} per seed (`make_splits(y, seed=s, labels_per_class=k, max_test=...)`)"],
        [
            "run timeout",
            f"{args.run_timeout:.0f} s per run (method x k x seed); a method that times out skips larger k",
        ],
        [
            "process layout",
            {
                "run": "one fresh process per (dataset, method, k), all seeds inside",
                "dataset": "one process per dataset, all methods inside (peak RSS is per process)",
            }[args.group],
        ],
        ["strategy options", json.dumps(args.strategy_options) if args.strategy_options else "defaults"],
        ["SetFit overrides", json.dumps(args.setfit_args) if args.setfit_args else "none (documented defaults)"],
        ["suites", " ".join(args.suites)],
    ]
    L.append(md_table(["setting", "value"], settings) + "\n")
    L.append(
        "How runs are measured: each run starts from an empty embedding cache with headstart's in-memory caches "
        "emptied; **wall s/run** is from before the model is built (weights loaded from disk) to after the "
        "test set is predicted — interpreter start-up, imports and dataset loading are excluded for every "
        "method alike. **Peak RSS** is `ru_maxrss` of the child process (`os.wait4`), which includes Python, "
        "torch and the loaded dataset. Every method sees the same labeled examples (train + val: methods "
        "that early-stop use val for it, the others fit on both) and is scored on the same test items. "
        "`±` is the standard deviation over seeds. The ONNX export of each backbone, a once-per-machine "
        "step, is done before timing and shared (its time is listed under Machine).\n"
    )

    L.append("## Targets (measured / target)\n")
    tgt = ctx["targets"]
    if ctx.get("fewshot_targets"):
        L.append(
            "Few-shot text: accuracy vs the reference at every k, and wall time as a fraction of SetFit's "
            f"(target <= {TIME_RATIO_TARGET}). 'auto' is what `--strategy auto` runs without seeing test data; "
            "'best strategy on test' picks the headstart strategy with the highest mean *test* accuracy, so it "
            "is an optimistic upper bound, not a claim.\n"
        )
        L.append(
            md_table(
                ["dataset", "k", "headstart", "accuracy % (measured)", "target", "time / SetFit", "verdict"],
                ctx["fewshot_targets"],
            )
            + "\n"
        )
    if tgt:
        L.append(md_table(["target", "measured", "target", "verdict"], tgt) + "\n")
    if ctx["missed_notes"]:
        L.append("Where targets are missed:\n")
        L += [f"- {n}" for n in ctx["missed_notes"]]
        L.append("")

    if "text" in args.suites:
        L.append("## 1. Few-shot text\n")
        L.append(
            "TF-IDF word 1-2-gram + char 2-5-gram logistic regression (headstart's baseline class, C by CV); "
            "SetFit with its documented defaults (`TrainingArguments(seed=s)`, oversampled pairs, 1 epoch, "
            "logistic-regression head) on the same packaged all-MiniLM-L6-v2 weights, offline; headstart "
            "`linear-probe`, `auto` and every registered strategy with their defaults. "
            "`auto (= X)`: auto's rule picked X, a strategy also run here, so the row is X's runs.\n"
        )
        for ds in args.text_datasets:
            if ds in ctx["unavailable"]:
                L.append(f"### {ds}\n\n*Skipped: {ctx['unavailable'][ds]}*\n")
                continue
            L.append(f"### builtin:{ds}\n")
            L.append(text_tables(rows, ds, ctx["text_methods"], args.k_text, ctx["auto_alias"].get(ds, {})) + "\n")
    if "image" in args.suites:
        L.append("## 2. Images\n")
        L.append(
            "Pixel logistic regression and the small CNN (early stopping on val) are headstart's from-scratch "
            "baselines; the linear probes are frozen ImageNet backbones at 96 px (headstart's default for "
            "images <= 64 px) with a logistic-regression head. A probe whose mean accuracy is below a scratch "
            "model's is flagged **NEGATIVE TRANSFER** — a finding, not a bug. k larger than a class's "
            "labeled pool is skipped.\n"
        )
        for ds in args.image_datasets:
            if ds in ctx["unavailable"]:
                L.append(f"### {ds}\n\n*Skipped: {ctx['unavailable'][ds]}*\n")
                continue
            table, _ = image_tables(rows, ds, ctx["image_methods"], args.k_image)
            L.append(f"### builtin:{ds}\n\n{table}\n")
        if ctx["findings"]:
            L.append("Negative-transfer cells:\n")
            L += [f"- {f}" for f in ctx["findings"]]
            L.append("")
    if "extraction" in args.suites:
        L.append("## 3. Feature-extraction throughput\n")
        L.append(ctx["extraction_text"] + "\n")
    if "cache" in args.suites:
        L.append("## 4. Cache reuse\n")
        L.append(ctx["cache_text"] + "\n")
    L.append("## Machine\n")
    m = ctx["machine"]
    L.append(
        md_table(
            ["", ""],
            [
                ["CPU", f"{m['cpu']} ({m['usable_cores']} usable of {m['logical_cores']} logical cores)"],
                ["memory", f"{m['memory_gib']} GiB"],
                ["OS", m["platform"]],
                ["load average (1/5/15 min) at start", ctx["load_start"]],
                ["load average at end", ctx["load_end"]],
                ["git", ctx["git"]],
                ["one-time ONNX exports (shared, not in run times)", ctx["warmup"] or "—"],
            ],
        )
        + "\n"
    )
    L.append(
        "Load average well above the core count means other processes shared the CPUs and every time "
        "above is inflated by them.\n"
    )
    L.append("## Package versions\n")
    L.append(md_table(["package", "version"], sorted(ctx["versions"].items())) + "\n")
    if ctx["notes"]:
        L.append("## Notes\n")
        L += [f"- {n}" for n in ctx["notes"]]
        L.append("")
    L.append("## Other measurements\n")
    L.append(other_measurements() + "\n")
    L.append(f"Raw per-run results: `{ctx['raw_name']}`.\n")
    return "\n".join(L)


SUITES = ("text", "image", "extraction", "cache")


def _targets_by_suite(raw: dict[str, Any]) -> dict[str, list[list[str]]]:
    """A raw JSON's target rows per suite; runs written before the rows were tagged list extraction's first."""
    if "targets_by_suite" in raw:
        return dict(raw["targets_by_suite"])
    rows = list(raw.get("targets", []))
    cut = next((i for i, r in enumerate(rows) if "second fit" in r[0]), len(rows))
    return {"extraction": rows[:cut], "cache": rows[cut:]}


def merge_previous(args: argparse.Namespace, ctx: dict[str, Any], previous: dict[str, Any]) -> argparse.Namespace:
    """``--update``: this run's suites replace theirs in ``previous``; the other suites' rows, sections, targets
    and settings are kept as measured, with the date and command of the run they come from."""
    ps = previous["settings"]
    kept = [s for s in ps["suites"] if s not in args.suites]
    runs = previous.get("suite_runs") or {
        s: {
            "date": previous["date"],
            "command": previous["command"],
            "minutes": round(previous["elapsed"] / 60, 1),
            "cpu": previous.get("machine", {}).get("cpu"),
        }
        for s in ps["suites"]
    }
    ctx["suite_runs"] = {s: runs[s] for s in kept} | ctx["suite_runs"]
    ctx["rows"] = [r for r in previous["rows"] if r.get("suite") in kept] + ctx["rows"]
    by_suite = {s: t for s, t in _targets_by_suite(previous).items() if s in kept} | ctx["targets_by_suite"]
    ctx["targets_by_suite"] = by_suite
    ctx["targets"] = [t for s in SUITES for t in by_suite.get(s, [])]
    for key in ("extraction_text", "cache_text"):
        if key.split("_")[0] in kept:
            ctx[key] = previous.get(key, "")
    if "text" in kept:
        ctx["text_methods"], ctx["auto_alias"] = previous["text_methods"], previous["auto_alias"]
    if "image" in kept:
        ctx["image_methods"] = previous["image_methods"]
    ctx["unavailable"] = previous.get("unavailable", {}) | ctx["unavailable"]
    ctx["notes"] += [n for n in previous.get("notes", []) if n not in ctx["notes"]]
    ctx["warmup"] = "; ".join(w for w in (previous.get("warmup", ""), ctx["warmup"]) if w)
    merged = argparse.Namespace(**vars(args))
    for key in ("text_datasets", "k_text", "seeds_text", "skip_methods", "setfit_args") if "text" in kept else ():
        setattr(merged, key, ps[key])
    for key in ("image_datasets", "k_image", "seeds_image", "image_backbones") if "image" in kept else ():
        setattr(merged, key, ps[key])
    if {"text", "image"} & set(kept):
        for key in ("max_test", "run_timeout", "group", "strategy_options"):
            setattr(merged, key, ps[key])
    merged.suites = [s for s in SUITES if s in kept or s in args.suites]
    return merged


def missed_notes(fewshot: list[list[str]], targets: list[list[str]]) -> list[str]:
    out = []
    for r in fewshot:
        if r[-1] == "**missed**":
            out.append(f"{r[0]} k={r[1]}, {r[2]}: {r[3]}; time / SetFit {r[5]}.")
    for r in targets:
        if r[-1] == "**missed**":
            out.append(f"{r[0]}: measured {r[1]}, target {r[2]}.")
    return out


def rerender(args: argparse.Namespace) -> int:
    """Re-render ``args.out`` from the raw JSON of the last run: same run figures, newer per-script results."""
    if not args.raw.exists():
        print(f"error: {args.raw} not found: run the benchmark first (without --render)", file=sys.stderr)
        return 2
    raw = json.loads(args.raw.read_text())
    settings = raw.pop("settings")
    raw.pop("children", None)
    saved = argparse.Namespace(**settings)
    saved.out, saved.raw = Path(settings["out"]), Path(settings["raw"])
    args.out.write_text(render(saved, raw))
    print(f"re-rendered {args.out} from {args.raw} (run of {raw.get('date')})")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.render:
        return rerender(args)
    if args.worker:
        from methods import main as worker_main

        worker_main(args.worker)
        return 0
    t_start = time.perf_counter()
    previous: dict[str, Any] = {}
    if args.update:
        if not args.raw.exists():
            print(
                f"error: --update needs the last run's {args.raw}: run the benchmark once without it", file=sys.stderr
            )
            return 2
        previous = json.loads(args.raw.read_text())
        if previous["settings"].get("mode") != args.mode:
            print(
                f"error: --update: the last run was in {previous['settings'].get('mode')} mode, this one is "
                f"{args.mode}; sections of different modes are not mixed",
                file=sys.stderr,
            )
            return 2
    work = args.work or Path(tempfile.mkdtemp(prefix="headstart-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    notes: list[str] = []
    ctx: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "command": " ".join(["python benchmarks/run.py", *(argv if argv is not None else sys.argv[1:])]),
        "machine": machine_info(),
        "versions": package_versions(),
        "git": git_state(),
        "load_start": load_average(),
        "notes": notes,
        "targets": [],
        "targets_by_suite": {},
        "findings": [],
        "auto_alias": {},
        "unavailable": {},
        "extraction_text": "",
        "cache_text": "",
        "warmup": "",
    }
    runner = Runner(args, work)
    say: Callable[[str], None] = runner.say
    say(f"headstart benchmark ({args.mode}); scratch folder {work}")
    for ds in [*args.text_datasets, *args.image_datasets]:
        why = dataset_available(ds)
        if why:
            ctx["unavailable"][ds] = why
            notes.append(f"builtin:{ds} is not available on this machine: {why}")
    text_ds = [d for d in args.text_datasets if d not in ctx["unavailable"]] if "text" in args.suites else []
    image_ds = [d for d in args.image_datasets if d not in ctx["unavailable"]] if "image" in args.suites else []
    ctx["text_methods"] = text_methods(args, notes)
    ctx["image_methods"] = [
        m
        for m in ["pixel-logreg", "small-cnn", *(f"linear-probe:{b}" for b in args.image_backbones)]
        if m not in args.skip_methods
    ]

    # once-per-machine ONNX exports, shared by every run and timed separately
    pairs = []
    if text_ds or "cache" in args.suites:
        pairs.append(("minilm-l6", "builtin:rotten-tomatoes"))
    if image_ds:
        pairs += [(b, f"builtin:{image_ds[-1]}") for b in args.image_backbones]
    if pairs:
        say("warm-up: one-time ONNX export of the backbones")
        res = runner.job("warmup", pairs=pairs)
        ctx["warmup"] = "; ".join(
            f"{r['method'].split(':')[1]} {secs(r['seconds'])} s ({r.get('backend')})" for r in res.rows
        )

    if text_ds:
        say("suite 1: few-shot text")
        methods = list(ctx["text_methods"])
        for ds in text_ds:
            run_methods = list(methods)
            if "auto" in methods:
                alias = resolve_auto(ds, args.k_text, args.seeds_text[0], args.max_test)
                alias = {k: v for k, v in alias.items() if v in methods}
                ctx["auto_alias"][ds] = alias
                if args.group == "run":
                    # auto is run only at the k where its choice is not already run; else its rows are copies
                    run_methods.remove("auto")
                    rest = [k for k in args.k_text if k not in alias]
                    if rest:
                        run_suite(runner, "text", ds, ["auto"], rest, args.seeds_text, "run")
            run_suite(runner, "text", ds, run_methods, args.k_text, args.seeds_text, args.group)
            for k, chosen in ctx["auto_alias"].get(ds, {}).items():
                if args.group == "dataset":
                    continue  # auto ran in the same process; no copies needed
                for r in select(runner.rows, suite="text", dataset=f"builtin:{ds}", k=k, method=chosen):
                    runner.rows.append({**r, "method": "auto", "copied_from": chosen})
    if image_ds:
        say("suite 2: images")
        for ds in image_ds:
            run_suite(runner, "image", ds, ctx["image_methods"], args.k_image, args.seeds_image, args.group)
    if "extraction" in args.suites:
        say("suite 3: feature-extraction throughput")
        ctx["extraction_text"], t = extraction_section(runner, args.mode == "quick", notes)
        ctx["targets"] += t
        ctx["targets_by_suite"]["extraction"] = t
    if "cache" in args.suites:
        say("suite 4: cache reuse")
        ctx["cache_text"], t = cache_section(runner, args)
        ctx["targets"] += t
        ctx["targets_by_suite"]["cache"] = t

    rows = runner.rows
    ctx["rows"] = rows
    ctx["elapsed"] = time.perf_counter() - t_start
    ctx["suite_runs"] = {
        s: {
            "date": ctx["date"],
            "command": ctx["command"],
            "minutes": round(ctx["elapsed"] / 60, 1),
            "cpu": ctx["machine"]["cpu"],
        }
        for s in args.suites
    }
    if args.update:
        args = merge_previous(args, ctx, previous)
        rows = ctx["rows"]
        text_ds = [d for d in args.text_datasets if d not in ctx["unavailable"]] if "text" in args.suites else []
        image_ds = [d for d in args.image_datasets if d not in ctx["unavailable"]] if "image" in args.suites else []
    ctx["fewshot_targets"] = few_shot_targets(rows, args.k_text, ctx["text_methods"], ctx["auto_alias"], text_ds)
    ctx["missed_notes"] = missed_notes(ctx["fewshot_targets"], ctx["targets"])
    for ds in image_ds:
        ctx["findings"] += image_tables(rows, ds, ctx["image_methods"], args.k_image)[1]
    errors = [r for r in rows if r.get("status") in ("error", "crashed")]
    if errors:
        notes.append(
            f"{len(errors)} runs failed; first: {errors[0]['method']} on {errors[0]['dataset']} "
            f"k={errors[0]['k']}: {str(errors[0].get('error'))[:300]}"
        )
    ctx["load_end"] = load_average()
    ctx["elapsed"] = time.perf_counter() - t_start
    ctx["raw_name"] = args.raw.name
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.raw.write_text(
        json.dumps(
            {k: v for k, v in ctx.items() if k != "notes"}
            | {
                "notes": notes,
                "children": runner.children,
                "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
            },
            indent=1,
            default=str,
        )
    )
    args.out.write_text(render(args, ctx))
    say(f"wrote {args.out} and {args.raw} in {ctx['elapsed'] / 60:.1f} min")
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
