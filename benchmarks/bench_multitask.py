"""Multitask vs single-task vs scratch on every built-in multitask set (linear-probe strategy).

For each set, label budget and seed: one split (stratified on the primary task, as ``headstart fit``), the
embeddings of every item computed once into the cache (not timed: every arm reads them), then

- the multitask MLP probe once per ``--task-weighting`` / ``--gradients`` option,
- one single-task MLP probe per task (same backbone, architecture, hyper-parameters, epoch budget),
- one from-scratch baseline per task (``fit_baseline``),

each timed (wall seconds) with its peak resident-memory increase (RSS sampled every 5 ms), all scored on the
same test items; the sharing verdict (paired bootstrap, ``headstart.evaluation.compare``) is taken per seed.

    PYTHONPATH=src .venv/bin/python benchmarks/bench_multitask.py            # ~10 min on 2 busy cores
    PYTHONPATH=src .venv/bin/python benchmarks/bench_multitask.py --quick    # one seed, one budget

Writes benchmarks/results/multitask.md (and .json). Not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("HEADSTART_PROGRESS", "0")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import load_average, machine_info

from headstart.backbones import load_backbone
from headstart.baselines import fit_baseline
from headstart.data import make_splits
from headstart.evaluation.compare import Arm, Comparison, judge
from headstart.features import default_image_size, extract
from headstart.multitask.fit import FitSpec, fit_heads, warm_up
from headstart.multitask.loader import load_multitask
from headstart.strategies.base import TransferTask

RESULTS = Path(__file__).resolve().parent / "results"
# set -> (backbone, baseline, label budgets per class of the primary task)
SETS: dict[str, tuple[str, str, tuple[int, int]]] = {
    "fashion-mnist": ("mobilenetv2", "pixel-logreg", (10, 50)),
    "compas-text": ("minilm-l6", "tfidf", (50, 200)),
    "adult": ("minilm-l6", "tfidf", (50, 200)),
}
OPTIONS = (("equal", "sum"), ("uncertainty", "sum"), ("dwa", "sum"), ("equal", "pcgrad"), ("equal", "upgrad"))
DEFAULT = "equal+sum"


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def measured(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    """(result, wall seconds, peak RSS increase in MB) of ``fn()``."""
    base, peak, done = _rss_mb(), [0.0], threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _rss_mb())
            time.sleep(0.005)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    t0 = time.perf_counter()
    out = fn()
    dt = time.perf_counter() - t0
    done.set()
    th.join()
    return out, dt, max(0.0, max(peak[0], _rss_mb()) - base)


def _take(items: Any, idx: np.ndarray) -> Any:
    return items[idx] if isinstance(items, np.ndarray) else [items[i] for i in idx]


def run_cell(name: str, mdata: Any, budget: int, seed: int, max_test: int) -> dict[str, Any]:
    backbone, baseline, _ = SETS[name]
    data, Y, names = mdata.data, mdata.Y(), mdata.names
    splits = make_splits(data.y, seed=seed, labels_per_class=budget, max_test=max_test, classes=data.classes)
    image_size = default_image_size(data, backbone)
    encoder = load_backbone(backbone, image_size=image_size)
    every = np.concatenate([splits.train, splits.val, splits.test])
    extract(encoder, _take(data.items, every), progress=False)  # the shared cache warm-up (not timed)
    warm_up()
    tr, va, te = splits.train, splits.val, splits.test
    tasks = {n: mdata.tasks[n].classes for n in names}
    test_items = _take(data.items, te)
    cell: dict[str, Any] = {"set": name, "budget": budget, "seed": seed, "n_train": len(tr), "n_val": len(va)}
    cell["n_test"] = {n: int((Y[te, j] >= 0).sum()) for j, n in enumerate(names)}

    def fit(spec: FitSpec, chosen: list[int]) -> tuple[Any, float, float]:
        keep_tr = tr[(Y[tr][:, chosen] >= 0).any(1)]
        keep_va = va[(Y[va][:, chosen] >= 0).any(1)]
        sub = {names[j]: tasks[names[j]] for j in chosen}
        return measured(
            lambda: fit_heads(
                spec, sub, _take(data.items, keep_tr), Y[keep_tr][:, chosen], _take(data.items, keep_va),
                Y[keep_va][:, chosen], encoder=encoder,
            )
        )  # fmt: skip

    outputs: dict[str, dict[str, np.ndarray]] = {}
    cell["fits"] = {}
    for weighting, gradients in OPTIONS:
        key = f"{weighting}+{gradients}"
        spec = FitSpec(backbone, "linear-probe", data.modality, image_size, seed, weighting, gradients)
        f, dt, mb = fit(spec, list(range(len(names))))
        outputs[key] = f.model.predict_tasks(test_items)
        cell["fits"][key] = {"seconds": dt, "peak_mb": mb, "trainable": f.params["trainable"]}
    spec = FitSpec(backbone, "linear-probe", data.modality, image_size, seed)
    outputs["single-task"], outputs["scratch"] = {}, {}
    for j, n in enumerate(names):
        f, dt, mb = fit(spec, [j])
        outputs["single-task"][n] = f.model.predict_tasks(test_items)[n]
        cell["fits"][f"single-task {n}"] = {"seconds": dt, "peak_mb": mb, "trainable": f.params["trainable"]}
        ltr, lva = tr[Y[tr, j] >= 0], va[Y[va, j] >= 0]
        task = TransferTask(
            train_items=_take(data.items, ltr), y_train=Y[ltr, j], val_items=_take(data.items, lva),
            y_val=Y[lva, j], classes=tasks[n], modality=data.modality, backbone=backbone, seed=seed,
            image_size=image_size, progress=False,
        )  # fmt: skip
        (model, _), dt, mb = measured(lambda task=task: fit_baseline(baseline, task))
        outputs["scratch"][n] = model.predict_proba(test_items)
        cell["fits"][f"scratch {n}"] = {"seconds": dt, "peak_mb": mb}
    cell["accuracy"], cell["sharing"] = {}, {}
    for j, n in enumerate(names):
        mask = Y[te, j] >= 0
        y = Y[te[mask], j]
        acc = {k: float(np.mean(v[n][mask].argmax(1) == y)) for k, v in outputs.items()}
        cell["accuracy"][n] = acc
        arms = {
            k: Arm(k, "multitask" if "+" in k else k, k, outputs[k][n][mask], task=n)
            for k in [o for o in outputs if "+" in o] + ["single-task"]
        }
        cell["sharing"][n] = {
            k: judge(Comparison(k, "single-task", kind="sharing", task=n), arms, y, seed=seed)["label"]
            for k in arms
            if k != "single-task"
        }
    st = sum(cell["fits"][f"single-task {n}"]["seconds"] for n in names)
    cell["single_task_seconds"] = st
    cell["time_ratio"] = {k: cell["fits"][k]["seconds"] / st for k in cell["fits"] if "+" in k}
    return cell


def _ms(values: list[float], pct: bool = True) -> str:
    a = np.asarray(values, dtype=float)
    s = 100.0 if pct else 1.0
    return f"{s * a.mean():.1f}±{s * a.std():.1f}" if len(a) > 1 else f"{s * a.mean():.1f}"


def render(cells: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    lines = [
        "# Multitask vs single-task vs scratch (built-in multitask sets, linear-probe)",
        "",
        f"Measured {meta['date']} on {meta['machine']}; load average (1/5/15 min) {meta['load_before']} before, "
        f"{meta['load_after']} after; total {meta['seconds']:.0f} s. Command: `{meta['command']}`.",
        "",
        "Multitask = one shared MLP probe (Linear(D,256)+GELU on standardized frozen embeddings) with one head per "
        "task; single-task = the same net with one head per task, trained alone, same hyper-parameters and epoch "
        "budget; scratch = the from-scratch baseline per task. Budget = labels per class of the primary task "
        "(the other tasks' label counts follow). Accuracy in % on the same test items, mean±std over seeds. "
        "`sharing` counts seeds by paired verdict (helps / no-difference / interference) of the multitask option "
        "against single-task. Time = wall seconds of one fit (embeddings precomputed once, shared by all arms); "
        "ratio = multitask fit / sum of the single-task fits; peak = resident-memory increase during the fit "
        "(near zero where the allocator reuses memory freed by an earlier fit: every probe is under 1 MB of "
        "weights, and the frozen backbone, loaded once, dominates memory for every arm alike).",
        "",
    ]
    groups: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for c in cells:
        groups.setdefault((c["set"], c["budget"]), []).append(c)
    target_hits = []
    for (name, budget), cs in groups.items():
        tasks = list(cs[0]["accuracy"])
        keys = [f"{w}+{g}" for w, g in OPTIONS]
        lines += [
            f"## {name}, {budget} labels per class of `{tasks[0]}` ({len(cs)} seeds, "
            f"{cs[0]['n_train']} train + {cs[0]['n_val']} val, test {cs[0]['n_test']})",
            "",
            "| task | scratch | single-task | " + " | ".join(keys) + " |",
            "|---|---:|---:|" + "---:|" * len(keys),
        ]
        ok_all = True
        for t in tasks:
            accs = {k: [c["accuracy"][t][k] for c in cs] for k in ["scratch", "single-task", *keys]}
            lines.append(f"| {t} | " + " | ".join(_ms(accs[k]) for k in ["scratch", "single-task", *keys]) + " |")
            ok_all &= bool(np.mean(accs[DEFAULT]) >= np.mean(accs["single-task"]))
        lines.append("| sharing (h/n/i) | | | " + " | ".join(
            "<br>".join(
                f"{t}: {sum(c['sharing'][t][k] == 'sharing helps' for c in cs)}/"
                f"{sum(c['sharing'][t][k] == 'no-difference' for c in cs)}/"
                f"{sum(c['sharing'][t][k] == 'interference' for c in cs)}"
                for t in tasks
            )
            for k in keys
        ) + " |")  # fmt: skip
        lines.append(
            "| fit seconds (ratio) | "
            + _ms([sum(c["fits"][f"scratch {t}"]["seconds"] for t in tasks) for c in cs], False)
            + " | "
            + _ms([c["single_task_seconds"] for c in cs], False)
            + " | "
            + " | ".join(
                f"{_ms([c['fits'][k]['seconds'] for c in cs], False)} "
                f"({np.mean([c['time_ratio'][k] for c in cs]):.2f}x)"
                for k in keys
            )
            + " |"
        )
        lines.append(
            "| peak MB | "
            + _ms([max(c["fits"][f"scratch {t}"]["peak_mb"] for t in tasks) for c in cs], False)
            + " | "
            + _ms([max(c["fits"][f"single-task {t}"]["peak_mb"] for t in tasks) for c in cs], False)
            + " | "
            + " | ".join(_ms([c["fits"][k]["peak_mb"] for c in cs], False) for k in keys)
            + " |"
        )
        ratio = float(np.mean([c["time_ratio"][DEFAULT] for c in cs]))
        hit = ok_all and ratio <= 0.6
        target_hits.append(hit)
        lines += [
            "",
            f"Target (default {DEFAULT}: multitask >= single-task on every task, mean over seeds, at <= 0.6x the "
            f"single-task fits' time): {'MET' if hit else 'not met'} (time ratio {ratio:.2f}x).",
            "",
        ]
    lines.append(
        f"**Overall target (met on at least one set and budget): {'MET' if any(target_hits) else 'NOT MET'}** "
        f"({sum(target_hits)} of {len(target_hits)} set/budget groups)."
    )
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sets", nargs="*", default=list(SETS))
    ap.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2])
    ap.add_argument("--max-test", type=int, default=1000)
    ap.add_argument("--quick", action="store_true", help="one seed, the smaller budget only")
    ap.add_argument("--out", type=Path, default=RESULTS / "multitask.md")
    args = ap.parse_args()
    seeds = args.seeds[:1] if args.quick else args.seeds
    t0, load_before = time.perf_counter(), load_average()
    cells = []
    for name in args.sets:
        mdata = load_multitask(f"builtin:{name}", None)
        budgets = SETS[name][2][:1] if args.quick else SETS[name][2]
        for budget in budgets:
            for seed in seeds:
                t1 = time.perf_counter()
                cells.append(run_cell(name, mdata, budget, seed, args.max_test))
                print(f"{name} budget {budget} seed {seed}: {time.perf_counter() - t1:.1f}s", flush=True)
    info = machine_info()
    meta = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{info.get('cpu', '?')}, {info.get('usable_cores', '?')} usable cores",
        "load_before": load_before,
        "load_after": load_average(),
        "seconds": time.perf_counter() - t0,
        "command": " ".join(["benchmarks/bench_multitask.py", *sys.argv[1:]]),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(render(cells, meta))
    args.out.with_suffix(".json").write_text(json.dumps({"meta": meta, "cells": cells}, indent=1))
    print(args.out.read_text())


if __name__ == "__main__":
    main()
