"""Does transferability ranking predict linear-probe accuracy, and how much cheaper is it than fitting?

For every target task and every backbone of the offline zoo (packaged ImageNet backbones plus their
random-init controls):

* rank: ``headstart.ranking.rank.rank_data`` on a stratified subsample (``--rank-per-class`` labels per
  class): LogME, LEEP, NCE, H-score, k-NN and linear-probe CV accuracy, with the time it took;
* fit (ground truth): embed ``--train-per-class`` labels per class and a disjoint held-out test set, train
  the linear probe (standardised L2 logistic regression) and measure test accuracy, with the time it took.

Reported: the weighted Kendall tau (``scipy.stats.weightedtau``, as in the LogME paper) between each score
and the test accuracy across backbones, per task, and the time ratio rank / fit. The embedding cache is
disabled (``cache=False``) so both timings are honest compute.

    python benchmarks/bench_ranking.py --quick          # 2 tasks, 48 px, a few minutes on 2 CPU cores
    python benchmarks/bench_ranking.py                  # 3 tasks at fit's resolution (96 px)
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

os.environ.setdefault("HEADSTART_PROGRESS", "0")

from headstart.backbones import load_backbone
from headstart.data import load_data
from headstart.features import default_image_size, extract
from headstart.ranking import weighted_kendall_tau
from headstart.ranking.rank import rank_data, stratified_subsample

ZOO = ("mobilenetv2", "efficientnet-lite0", "mobilenetv2:random", "efficientnet-lite0:random")
SCORES = ("logme", "leep", "nce", "h_score", "knn_accuracy", "linear_probe_accuracy")


def linear_probe_truth(
    name: str, data: Any, train_idx: np.ndarray, test_idx: np.ndarray, image_size: int | None, seed: int
) -> tuple[float, float]:
    """(test accuracy, seconds) of a linear probe trained on ``train_idx`` of ``data`` with ``name``."""
    t0 = time.perf_counter()
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        enc = load_backbone(name, image_size=default_image_size(data, name, image_size))
    items = [data.items[i] for i in np.r_[train_idx, test_idx]]
    emb, _ = extract(enc, items, cache=False, progress=False)
    x_tr, x_te = emb[: len(train_idx)], emb[len(train_idx) :]
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(x_tr, data.y[train_idx])
    acc = float(np.mean(clf.predict(x_te) == data.y[test_idx]))
    return acc, time.perf_counter() - t0


def run_task(source: str, args: argparse.Namespace) -> dict[str, Any]:
    data = load_data(source)
    rng = np.random.default_rng(args.seed)
    # disjoint test set first, then the ranking subsample and the probe's training set from the rest
    test_idx = np.sort(rng.choice(len(data.y), size=min(args.test_size, len(data.y) // 3), replace=False))
    pool = np.setdiff1d(np.arange(len(data.y)), test_idx)
    train_idx = pool[stratified_subsample(data.y[pool], args.train_per_class, args.seed)]
    rank_idx = pool[stratified_subsample(data.y[pool], args.rank_per_class, args.seed + 1)]
    sub = type(data)(
        items=data.items[rank_idx] if isinstance(data.items, np.ndarray) else [data.items[i] for i in rank_idx],
        y=data.y[rank_idx],
        classes=data.classes,
        modality=data.modality,
        source=data.source,
        provenance=data.provenance,
        ids=[data.ids[i] for i in rank_idx],
        groups={},
        skipped=[],
    )
    rows = rank_data(sub, list(ZOO), labels_per_class=None, image_size=args.image_size, cache=False, seed=args.seed)
    by_name = {r["name"]: r for r in rows}
    truth: dict[str, float] = {}
    fit_seconds: dict[str, float] = {}
    for name in ZOO:
        truth[name], fit_seconds[name] = linear_probe_truth(name, data, train_idx, test_idx, args.image_size, args.seed)
        print(f"  {source} {name}: probe test acc {truth[name]:.3f} ({fit_seconds[name]:.1f}s)", flush=True)
    taus = {s: weighted_kendall_tau({n: by_name[n][s] for n in ZOO}, truth) for s in SCORES}
    usable = {s: sum(1 for n in ZOO if not math.isnan(by_name[n][s])) for s in SCORES}
    rank_s = sum(by_name[n]["seconds"] for n in ZOO)
    fit_s = sum(fit_seconds.values())
    return {
        "source": source,
        "rows": rows,
        "truth": truth,
        "fit_seconds": fit_seconds,
        "taus": taus,
        "usable": usable,
        "rank_seconds": rank_s,
        "fit_total_seconds": fit_s,
        "n_rank": len(rank_idx),
        "n_train": len(train_idx),
        "n_test": len(test_idx),
        "control_last_by_logme": all(r["control"] for r in rows[-2:]),
    }


def _f(v: float, digits: int = 3) -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{digits}f}"


def write_markdown(results: list[dict[str, Any]], args: argparse.Namespace, wall: float) -> str:
    size = args.image_size or "fit default (96 px for these small images)"
    lines = [
        "# Transferability ranking vs. linear-probe accuracy",
        "",
        f"`python benchmarks/bench_ranking.py{' --quick' if args.quick else ''}` on {platform.machine()}, "
        f"{os.cpu_count()} CPU cores (shared), torch {torch.__version__}; image size {size}; seed {args.seed}; "
        f"wall time {wall:.0f}s.",
        "",
        f"Zoo: {', '.join(ZOO)} (`:random` = same architecture, random init: planted negative controls). "
        f"Ranking scores {args.rank_per_class} labels/class; ground truth = test accuracy of a linear probe "
        f"trained on {args.train_per_class} labels/class, tested on a disjoint held-out set. "
        "Embedding cache off for both, so timings are compute.",
        "",
        "## Weighted Kendall tau (score vs. probe test accuracy, across backbones)",
        "",
        "| task | " + " | ".join(SCORES) + " | rank time | fit time | rank / fit | controls last (LogME) |",
        "|---" * (len(SCORES) + 5) + "|",
    ]
    for r in results:
        taus = " | ".join(f"{_f(r['taus'][s], 2)} (n={r['usable'][s]})" for s in SCORES)
        lines.append(
            f"| {r['source']} | {taus} | {r['rank_seconds']:.1f}s | {r['fit_total_seconds']:.1f}s | "
            f"{r['rank_seconds'] / r['fit_total_seconds']:.2f} | {'yes' if r['control_last_by_logme'] else 'NO'} |"
        )
    mean_tau = {s: np.nanmean([r["taus"][s] for r in results]) for s in SCORES}
    lines.append("| **mean** | " + " | ".join(_f(float(mean_tau[s]), 2) for s in SCORES) + " | | | | |")
    lines += [
        "",
        "n = backbones with that score (LEEP/NCE need a source classifier head, so random controls have none: "
        "with n=2 the tau is just +1 or -1).",
        "",
        "## Per backbone",
        "",
    ]
    for r in results:
        lines += [
            f"### {r['source']} (rank on {r['n_rank']}, probe on {r['n_train']} train / {r['n_test']} test)",
            "",
            "| backbone | LogME | LEEP | NCE | H-score | k-NN CV | probe CV | probe test acc. | rank s | fit s |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for row in r["rows"]:
            n = row["name"]
            lines.append(
                f"| {n} | {_f(row['logme'])} | {_f(row['leep'])} | {_f(row['nce'])} | {_f(row['h_score'], 2)} | "
                f"{_f(row['knn_accuracy'])} | {_f(row['linear_probe_accuracy'])} | {_f(r['truth'][n])} | "
                f"{row['seconds']:.1f} | {r['fit_seconds'][n]:.1f} |"
            )
        lines.append("")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="2 tasks, 48 px images, small subsamples")
    p.add_argument("--tasks", default=None, help="comma-separated builtin names")
    p.add_argument("--rank-per-class", type=int, default=None)
    p.add_argument("--train-per-class", type=int, default=None)
    p.add_argument("--test-size", type=int, default=None)
    p.add_argument("--image-size", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "ranking.md")
    args = p.parse_args(argv)
    quick = {"tasks": "digits,mnist5k", "rank_per_class": 10, "train_per_class": 30, "test_size": 300, "image_size": 48}
    full = {"tasks": "digits,mnist5k,fashion-mnist", "rank_per_class": 30, "train_per_class": 100, "test_size": 1000}
    for k, v in (quick if args.quick else full).items():
        if getattr(args, k, None) is None:
            setattr(args, k, v)
    torch.set_num_threads(max(1, min(4, os.cpu_count() or 1)))
    t0 = time.perf_counter()
    results = []
    for name in args.tasks.split(","):
        print(f"task builtin:{name}", flush=True)
        results.append(run_task(f"builtin:{name}", args))
    md = write_markdown(results, args, time.perf_counter() - t0)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(md)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
