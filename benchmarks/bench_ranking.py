"""Does transferability ranking predict what a backbone reaches, and how much cheaper is it than fine-tuning?

Zoo, for every target task: the packaged ImageNet backbones (mobilenetv2, efficientnet-lite0), their random-init
controls (``NAME:random``, planted negatives) and small backbones pretrained here on a real *source* set
(MobileNetV2 trained from scratch with headstart's ``finetune`` strategy, ``from_scratch``, on
``--pretrain-per-class`` labels/class of builtin:fashion-mnist and builtin:mnist5k, then saved as safetensors
and registered with :func:`headstart.backbones.register_image_backbone`, the route a user's own network takes).
A candidate pretrained on the target's own data set is left out for that target.

* rank: ``headstart.ranking.rank.rank_data`` on ``--rank-per-class`` labels/class: LogME, LEEP, NCE,
  H-score, k-NN and linear-probe CV accuracy, with the time it took;
* truth (a), linear probe: embed ``--train-per-class`` labels/class and a disjoint test set, standardised
  L2 logistic regression, test accuracy;
* truth (b), fine-tuning: headstart's ``finetune`` strategy (whole network, layer-wise LR decay, LP-FT head
  init, its documented defaults) for ``--ft-epochs`` epochs on the same training items, early-stopping
  checkpoint chosen on ``--val-per-class`` disjoint validation labels/class, test accuracy; the same budget
  for every candidate.

Reported: weighted Kendall tau (``scipy.stats.weightedtau`` via ``headstart.ranking``) of each score vs each
truth across the candidates, per task, and the time ratio rank-all / fine-tune-all. The embedding cache is off
(``cache=False``) for ranking and the probe; fine-tuning runs against an empty embedding cache in a temp
folder. ONNX graphs of the pinned backbones are exported in an untimed warm-up (a one-off per backbone).

    python benchmarks/bench_ranking.py --quick          # smoke: 1 task, 48 px, tiny sizes
    python benchmarks/bench_ranking.py                  # 3 tasks at 96 px
    python benchmarks/bench_ranking.py --from-json benchmarks/results/ranking.json   # re-render the tables
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

os.environ.setdefault("HEADSTART_PROGRESS", "0")

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from headstart.backbones import load_backbone, register_image_backbone, save_image_backbone
from headstart.data import LabeledData, load_data
from headstart.features import extract
from headstart.io import atomic_write_json, atomic_write_text
from headstart.ranking import weighted_kendall_tau
from headstart.ranking.rank import rank_data, stratified_subsample
from headstart.strategies import TransferTask, get_strategy

PACKAGED = ("mobilenetv2", "efficientnet-lite0", "mobilenetv2:random", "efficientnet-lite0:random")
SOURCES = ("fashion-mnist", "mnist5k")  # source sets the own backbones are pretrained on
SCORES = ("logme", "leep", "nce", "h_score", "knn_accuracy", "linear_probe_accuracy")
TRUTHS = ("probe", "finetune")
TAU_TARGET, RATIO_TARGET = 0.75, 0.02


def own_name(source: str) -> str:
    return f"mnv2-{source}"


def _take(data: LabeledData, idx: np.ndarray) -> Any:
    return data.items[idx] if isinstance(data.items, np.ndarray) else [data.items[i] for i in idx]


def _task(data: LabeledData, tr: np.ndarray, va: np.ndarray, backbone: str, size: int, seed: int, **opt: Any) -> Any:
    return TransferTask(
        train_items=_take(data, tr),
        y_train=data.y[tr],
        val_items=_take(data, va),
        y_val=data.y[va],
        classes=data.classes,
        modality=data.modality,
        backbone=backbone,
        seed=seed,
        image_size=size,
        progress=False,
        options={"patience": 100, **opt},
    )


def _reuse(folder: Path) -> list[dict[str, Any]] | None:
    """The own backbones recorded in ``folder/pretrained.json``, registered again, if all files still match."""
    meta = folder / "pretrained.json"
    if not meta.is_file():
        return None
    own = json.loads(meta.read_text())
    if any(not (folder / f"{o['name']}.safetensors").is_file() for o in own):
        return None
    for o in own:  # the recorded sha256 is checked by register_image_backbone
        register_image_backbone(
            o["name"], folder / f"{o['name']}.safetensors", source_domain=o["source"], license="MIT", sha256=o["sha256"]
        )
        print(f"reused {o['name']} from {folder} (pretrained in {o['seconds']:.0f}s, val acc {o['val_accuracy']:.3f})")
    return [{**o, "reused": True} for o in own]


def pretrain_sources(args: argparse.Namespace, folder: Path) -> list[dict[str, Any]]:
    """Train MobileNetV2 from scratch on each source set (headstart's finetune strategy), save, register."""
    reused = _reuse(folder)
    if reused is not None:
        return reused
    out = []
    for source in SOURCES:
        data = load_data(f"builtin:{source}")
        tr = stratified_subsample(data.y, args.pretrain_per_class, args.seed + 10)
        rest = np.setdiff1d(np.arange(len(data.y)), tr)
        va = rest[stratified_subsample(data.y[rest], 20, args.seed + 11)]
        t0 = time.perf_counter()
        task = _task(data, tr, va, "mobilenetv2:random", args.image_size, args.seed, from_scratch=True)
        task.options["epochs"] = args.pretrain_epochs
        fitted = get_strategy("finetune")(task)
        path = save_image_backbone(
            folder / f"{own_name(source)}.safetensors", fitted.model.encoder.body, fitted.model.head
        )
        seconds = time.perf_counter() - t0
        spec = register_image_backbone(
            own_name(source),
            path,
            source_domain=f"builtin:{source}, {len(tr)} labeled images, {args.pretrain_epochs} epochs from scratch",
            license="MIT",
        )
        out.append(
            {
                "name": own_name(source),
                "source": f"builtin:{source}",
                "n_train": len(tr),
                "epochs": args.pretrain_epochs,
                "val_accuracy": fitted.val_accuracy,
                "seconds": seconds,
                "sha256": spec.sha256,
            }
        )
        print(f"pretrained {own_name(source)}: val acc {fitted.val_accuracy:.3f} ({seconds:.0f}s)", flush=True)
    atomic_write_json(folder / "pretrained.json", out)
    return out


def zoo_for(target: str, own: list[dict[str, Any]]) -> list[str]:
    """Packaged + controls + own backbones, minus the one pretrained on the target's own data set."""
    return list(PACKAGED) + [o["name"] for o in own if o["source"] != target]


def linear_probe_truth(
    name: str, data: LabeledData, train_idx: np.ndarray, test_idx: np.ndarray, size: int, seed: int
) -> tuple[float, float]:
    """(test accuracy, seconds) of a linear probe trained on ``train_idx`` of ``data`` with ``name``."""
    t0 = time.perf_counter()
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        enc = load_backbone(name, image_size=size)
    emb, _ = extract(enc, _take(data, np.r_[train_idx, test_idx]), cache=False, progress=False)
    x_tr, x_te = emb[: len(train_idx)], emb[len(train_idx) :]
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(x_tr, data.y[train_idx])
    acc = float(np.mean(clf.predict(x_te) == data.y[test_idx]))
    return acc, time.perf_counter() - t0


def finetune_truth(
    name: str, data: LabeledData, tr: np.ndarray, va: np.ndarray, te: np.ndarray, args: argparse.Namespace
) -> tuple[float, float, float]:
    """(test accuracy, best val accuracy, seconds) of headstart's ``finetune`` strategy with a fixed budget."""
    t0 = time.perf_counter()
    task = _task(data, tr, va, name, args.image_size, args.seed, epochs=args.ft_epochs)
    fitted = get_strategy("finetune")(task)
    proba = fitted.predict_proba(_take(data, te))
    acc = float(np.mean(np.argmax(proba, axis=1) == data.y[te]))
    return acc, float(fitted.val_accuracy), time.perf_counter() - t0


def run_task(target: str, own: list[dict[str, Any]], args: argparse.Namespace) -> dict[str, Any]:
    data = load_data(target)
    zoo = zoo_for(target, own)
    rng = np.random.default_rng(args.seed)
    # disjoint test set first; train / val for the truths and the ranking subsample from the rest
    te = np.sort(rng.choice(len(data.y), size=min(args.test_size, len(data.y) // 3), replace=False))
    pool = np.setdiff1d(np.arange(len(data.y)), te)
    tr = pool[stratified_subsample(data.y[pool], args.train_per_class, args.seed)]
    rest = np.setdiff1d(pool, tr)
    va = rest[stratified_subsample(data.y[rest], args.val_per_class, args.seed + 2)]
    rank_idx = pool[stratified_subsample(data.y[pool], args.rank_per_class, args.seed + 1)]
    sub = data.subset(rank_idx)
    # untimed warm-up: export/cache the ONNX graphs of the pinned backbones (a one-off per backbone)
    warm = sub.subset(stratified_subsample(sub.y, 2, args.seed))
    rank_data(warm, zoo, labels_per_class=None, image_size=args.image_size, cache=False, seed=args.seed, proxies=False)
    # timed twice: the closed-form scores alone (LogME, H-score, LEEP, NCE), then with the two CV proxies
    fast = rank_data(
        sub, zoo, labels_per_class=None, image_size=args.image_size, cache=False, seed=args.seed, proxies=False
    )
    rows = rank_data(sub, zoo, labels_per_class=None, image_size=args.image_size, cache=False, seed=args.seed)
    by_name = {r["name"]: r for r in rows}
    fast_seconds = {r["name"]: r["seconds"] for r in fast}
    truth: dict[str, dict[str, float]] = {t: {} for t in TRUTHS}
    seconds: dict[str, dict[str, float]] = {t: {} for t in TRUTHS}
    ft_val: dict[str, float] = {}
    for name in zoo:
        truth["probe"][name], seconds["probe"][name] = linear_probe_truth(
            name, data, tr, te, args.image_size, args.seed
        )
        truth["finetune"][name], ft_val[name], seconds["finetune"][name] = finetune_truth(name, data, tr, va, te, args)
        print(
            f"  {target} {name}: LogME {by_name[name]['logme']:.3f} ({fast_seconds[name]:.1f}s) | "
            f"probe {truth['probe'][name]:.3f} ({seconds['probe'][name]:.1f}s) | "
            f"finetune {truth['finetune'][name]:.3f} ({seconds['finetune'][name]:.1f}s)",
            flush=True,
        )
    taus = {t: {s: weighted_kendall_tau({n: by_name[n][s] for n in zoo}, truth[t]) for s in SCORES} for t in TRUTHS}
    usable = {s: sum(1 for n in zoo if not math.isnan(by_name[n][s])) for s in SCORES}
    n_controls = sum(1 for n in zoo if n.endswith(":random"))
    return {
        "source": target,
        "zoo": zoo,
        "rows": rows,
        "truth": truth,
        "seconds": seconds,
        "finetune_val_accuracy": ft_val,
        "taus": taus,
        "usable": usable,
        "rank_seconds": sum(by_name[n]["seconds"] for n in zoo),
        "rank_fast_seconds": sum(fast_seconds.values()),
        "rank_fast_by_name": fast_seconds,
        "rank_extract_seconds": sum(by_name[n]["extract_seconds"] for n in zoo),
        "probe_total_seconds": sum(seconds["probe"].values()),
        "finetune_total_seconds": sum(seconds["finetune"].values()),
        "n_rank": len(rank_idx),
        "n_train": len(tr),
        "n_val": len(va),
        "n_test": len(te),
        "controls_last_by_logme": all(r["control"] for r in rows[-n_controls:]),
    }


def _f(v: float | None, digits: int = 3) -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{digits}f}"


# Hand-written reading of the last full run (the figures above it are computed from the JSON).
NOTES: list[str] = [
    "* One run of all 3 targets (2026-12-02, AMD EPYC, load 1-2; a 2-minute logistic-regression "
    "micro-benchmark ran beside the pretraining, not the timed ranking or fine-tuning). One seed. "
    "Fine-tuning now gets the `finetune` strategy's documented image default, 10 epochs (the previous run "
    "gave it 2: a toy budget that made ranking look costlier, 5.3%, and fine-tuning's truth noisier). With "
    "5-6 candidates per target the weighted tau is coarse: one swapped pair moves it by 0.1-0.3.",
    "* Why LogME's tau vs fine-tuning is 0.58, not >= 0.75: (1) the random-init controls fine-tune to chance "
    "(0.09-0.12) with the `finetune` recipe (backbone LR 1e-4, BatchNorm at its random-init statistics) while "
    "a linear probe on the same frozen random features reaches 0.64-0.91, so every score that measures how "
    "linearly usable the features are ranks them above the weakly pretrained own backbones, which fine-tune "
    "to 0.51-0.84; (2) the two ImageNet backbones are near-ties after fine-tuning (0.948 / 0.920 on digits, "
    "0.907 / 0.900 on mnist5k, 0.762 / 0.775 on fashion-mnist, 400 test items) and LogME orders them the other "
    "way on two of three targets. Without the controls (3-4 candidates) LogME's tau is 0.52 / 0.18 / 1.00.",
    "* Against the linear probe's accuracy the best score is k-NN CV accuracy (tau 0.70), a CV proxy at 15% of "
    "the fine-tune-all time; LogME 0.49. LEEP and NCE are defined only for candidates with a source head.",
    "* Time: the closed-form scores cost 1-4 s per pinned candidate (ONNX Runtime extraction of the rank "
    "subsample + LogME/H-score/LEEP/NCE) and ~7 s per random control (unpinned, so torch extraction): 1.8% "
    "of fine-tuning every candidate for 10 epochs; the two CV proxies (5-fold k-NN and logistic regression "
    "on 1280-d features) cost ~8x more (14.9%). H-score is computed in the span of the samples (~30x faster "
    "than two 1280 x 1280 pseudo-inverses, same value).",
    "* The previous run (2 fine-tuning epochs, Intel machine) gave LogME tau 0.72 vs fine-tuning and 5.3%: "
    "the longer, documented budget moved the own backbones up (digits: mnv2-mnist5k 0.60 -> 0.84), which "
    "is where LogME's order disagrees most.",
]


def _best_score(results: list[dict[str, Any]], truth: str) -> tuple[str, float]:
    """The score with the best mean tau among those defined for every candidate (LEEP/NCE skip the controls)."""
    full = [s for s in SCORES if all(r["usable"][s] == len(r["zoo"]) for r in results)]
    means = {s: float(np.nanmean([r["taus"][truth][s] for r in results])) for s in full}
    best = max(means, key=lambda s: -math.inf if math.isnan(means[s]) else means[s])
    return best, means[best]


def write_markdown(res: dict[str, Any]) -> str:
    meta, results, own = res["meta"], res["tasks"], res["pretrained"]
    lines = [
        "# Transferability ranking vs. linear-probe and fine-tuning accuracy",
        "",
        f"`{meta['command']}` on {meta['machine']}, {meta['cores']} CPU cores (shared), torch {meta['torch']}; "
        f"image size {meta['image_size']} px; seed {meta['seed']}; wall time {meta['wall_seconds']:.0f}s; "
        f"load average {meta['load_start']} at start, {meta['load_end']} at end.",
        "",
        f"Zoo per target: {', '.join(PACKAGED)} (`:random` = same architecture, random init: planted negative "
        f"controls) + own MobileNetV2s pretrained here from scratch on a source set (below), registered with "
        "`headstart.backbones.register_image_backbone` (safetensors, sha256-pinned); the one pretrained on the "
        f"target's own data set is left out. Ranking scores {meta['rank_per_class']} labels/class. Truths, on "
        f"{meta['train_per_class']} training labels/class and a disjoint test set: (a) linear probe "
        "(standardised L2 logistic regression on frozen embeddings), (b) headstart's `finetune` strategy "
        f"(whole network, layer-wise LR decay, LP-FT head init, documented defaults) for {meta['ft_epochs']} "
        f"epochs, best epoch chosen on {meta['val_per_class']} validation labels/class, same budget for every "
        "candidate. Embedding cache off for ranking and probe; fine-tuning against an empty cache.",
        "",
        "## Own pretrained backbones",
        "",
        "| name | source | train images | epochs | source val acc. | pretrain s |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {o['name']} | {o['source']} | {o['n_train']} | {o['epochs']} | {_f(o['val_accuracy'])} | "
        f"{o['seconds']:.0f} |"
        for o in own
    ]
    for truth, label in (("finetune", "fine-tuned test accuracy"), ("probe", "linear-probe test accuracy")):
        lines += [
            "",
            f"## Weighted Kendall tau: score vs. {label}",
            "",
            "| task | n | " + " | ".join(SCORES) + " |",
            "|---" * (len(SCORES) + 2) + "|",
        ]
        for r in results:
            cells = " | ".join(
                f"{_f(r['taus'][truth][s], 2)}" + ("" if r["usable"][s] == len(r["zoo"]) else f" (n={r['usable'][s]})")
                for s in SCORES
            )
            lines.append(f"| {r['source']} | {len(r['zoo'])} | {cells} |")
        mean = " | ".join(_f(float(np.nanmean([r["taus"][truth][s] for r in results])), 2) for s in SCORES)
        lines.append(f"| **mean** | | {mean} |")
    lines += [
        "",
        "n = candidates; (n=k): only k have that score (LEEP/NCE need a source classifier head: the random "
        "controls have none).",
        "",
        "## Time: rank every candidate vs. fit every candidate",
        "",
        "| task | rank: LogME, LEEP, NCE, H (s) | + CV proxies (s) | probe all (s) | fine-tune all (s) "
        "| rank / fine-tune | rank + proxies / fine-tune | controls last by LogME |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r['source']} | {r['rank_fast_seconds']:.1f} | {r['rank_seconds']:.1f} | "
            f"{r['probe_total_seconds']:.1f} | {r['finetune_total_seconds']:.1f} | "
            f"{r['rank_fast_seconds'] / r['finetune_total_seconds']:.1%} | "
            f"{r['rank_seconds'] / r['finetune_total_seconds']:.1%} | "
            f"{'yes' if r['controls_last_by_logme'] else 'NO'} |"
        )
    tot_rank = sum(r["rank_fast_seconds"] for r in results)
    tot_full = sum(r["rank_seconds"] for r in results)
    tot_ft = sum(r["finetune_total_seconds"] for r in results)
    lines.append(
        f"| **all** | {tot_rank:.1f} | {tot_full:.1f} | | {tot_ft:.1f} | {tot_rank / tot_ft:.1%} | "
        f"{tot_full / tot_ft:.1%} | |"
    )
    lines += ["", "## Per candidate", ""]
    for r in results:
        lines += [
            f"### {r['source']} (rank on {r['n_rank']}; fit on {r['n_train']} train / {r['n_val']} val; "
            f"{r['n_test']} test)",
            "",
            "| backbone | LogME | LEEP | NCE | H-score | k-NN CV | probe CV | probe test | fine-tune test "
            "| rank s | probe s | fine-tune s |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for row in r["rows"]:
            n = row["name"]
            lines.append(
                f"| {n} | {_f(row['logme'])} | {_f(row['leep'])} | {_f(row['nce'])} | {_f(row['h_score'], 2)} | "
                f"{_f(row['knn_accuracy'])} | {_f(row['linear_probe_accuracy'])} | {_f(r['truth']['probe'][n])} | "
                f"{_f(r['truth']['finetune'][n])} | {r['rank_fast_by_name'][n]:.1f} | {r['seconds']['probe'][n]:.1f} | "
                f"{r['seconds']['finetune'][n]:.1f} |"
            )
        lines.append("")
    logme_ft = float(np.nanmean([r["taus"]["finetune"]["logme"] for r in results]))
    logme_pr = float(np.nanmean([r["taus"]["probe"]["logme"] for r in results]))
    best_ft, best_ft_tau = _best_score(results, "finetune")
    ratio = tot_rank / tot_ft
    ok_tau = max(logme_ft, best_ft_tau) >= TAU_TARGET
    lines += [
        "## Reading",
        "",
        f"* **Target** (issue 15 §4): LogME or the best score tau >= {TAU_TARGET} at <= {RATIO_TARGET:.0%} of the "
        f"fine-tune-all time. Measured: LogME mean tau {logme_ft:.2f} vs fine-tuning ({logme_pr:.2f} vs the "
        f"probe); best score defined for every candidate vs fine-tuning {best_ft} ({best_ft_tau:.2f}); ranking "
        f"with the closed-form scores took "
        f"{ratio:.1%} of the fine-tune-all time ({tot_full / tot_ft:.1%} with the CV proxies) -> tau "
        f"{'met' if ok_tau else 'MISSED'}, time {'met' if ratio <= RATIO_TARGET else 'MISSED'}.",
    ]
    for r in results:
        fails = [s for s in SCORES if not r["taus"]["finetune"][s] >= TAU_TARGET]
        ft, pr = r["truth"]["finetune"], r["truth"]["probe"]
        top = r["rows"][0]["name"]
        controls = ", ".join(f"{n} {ft[n]:.2f} / {pr[n]:.2f}" for n in r["zoo"] if n.endswith(":random"))
        lines.append(
            f"* {r['source']}: LogME tau {_f(r['taus']['finetune']['logme'], 2)} (fine-tune) / "
            f"{_f(r['taus']['probe']['logme'], 2)} (probe); below {TAU_TARGET} vs fine-tuning: "
            f"{', '.join(fails) or 'none'}. LogME's first pick {top} fine-tunes to {ft[top]:.2f}; best fine-tuned "
            f"{max(ft, key=ft.__getitem__)} {max(ft.values()):.2f}, best probe {max(pr, key=pr.__getitem__)} "
            f"{max(pr.values()):.2f}; controls (fine-tune / probe): {controls}."
        )
    lines += NOTES
    return "\n".join(lines) + "\n"


def _load() -> str:
    try:
        return " / ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def _result(
    args: argparse.Namespace,
    argv: list[str] | None,
    own: list[dict[str, Any]],
    results: list[dict[str, Any]],
    load_start: str,
    t0: float,
) -> dict[str, Any]:
    meta = {
        "command": "python benchmarks/bench_ranking.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "machine": platform.machine(),
        "cores": os.cpu_count(),
        "torch": torch.__version__,
        "wall_seconds": time.perf_counter() - t0,
        "load_start": load_start,
        "load_end": _load(),
        **{
            k: getattr(args, k)
            for k in (
                "image_size",
                "seed",
                "rank_per_class",
                "train_per_class",
                "val_per_class",
                "test_size",
                "ft_epochs",
                "pretrain_per_class",
                "pretrain_epochs",
            )
        },
    }
    return {"meta": meta, "pretrained": own, "tasks": results}


def merge_results(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """One result from runs of the same settings on different tasks (e.g. run side by side)."""
    meta = dict(parts[0]["meta"])
    for other in parts[1:]:
        m = other["meta"]
        meta["command"] += f"` and `{m['command']}"
        meta["wall_seconds"] = max(meta["wall_seconds"], m["wall_seconds"])
        meta["load_end"] = m["load_end"]
    tasks = [t for part in parts for t in part["tasks"]]
    return {"meta": meta, "pretrained": parts[0]["pretrained"], "tasks": tasks}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="smoke run: 1 task, 48 px, tiny sizes")
    p.add_argument("--tasks", default=None, help="comma-separated builtin names (targets)")
    p.add_argument("--rank-per-class", type=int, default=None)
    p.add_argument("--train-per-class", type=int, default=None)
    p.add_argument("--val-per-class", type=int, default=None)
    p.add_argument("--test-size", type=int, default=None)
    p.add_argument("--image-size", type=int, default=None)
    p.add_argument("--ft-epochs", type=int, default=None, help="fine-tuning epochs for every candidate")
    p.add_argument("--pretrain-per-class", type=int, default=None, help="source labels/class for own backbones")
    p.add_argument("--pretrain-epochs", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--keep-dir",
        type=Path,
        default=None,
        help="keep the own backbones here (pretrained.json + safetensors, onnx/ graphs); reused if present",
    )
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "ranking.md")
    p.add_argument(
        "--from-json", default=None, help="re-render the markdown from raw JSON results (comma-separated: merged)"
    )
    args = p.parse_args(argv)
    if args.from_json is not None:
        res = merge_results([json.loads(Path(f).read_text()) for f in args.from_json.split(",")])
        if "," in args.from_json:
            atomic_write_json(args.out.with_suffix(".json"), res)
        md = write_markdown(res)
        atomic_write_text(args.out, md)
        print(md)
        return 0
    quick = {
        "tasks": "digits",
        "rank_per_class": 5,
        "train_per_class": 8,
        "val_per_class": 3,
        "test_size": 60,
        "image_size": 48,
        "ft_epochs": 1,
        "pretrain_per_class": 10,
        "pretrain_epochs": 1,
    }
    full = {
        "tasks": "digits,mnist5k,fashion-mnist",
        "rank_per_class": 15,
        "train_per_class": 20,
        "val_per_class": 10,
        "test_size": 400,
        "image_size": 96,
        "ft_epochs": 2,
        "pretrain_per_class": 200,
        "pretrain_epochs": 3,
    }
    for k, v in (quick if args.quick else full).items():
        if getattr(args, k, None) is None:
            setattr(args, k, v)
    torch.set_num_threads(max(1, min(4, os.cpu_count() or 1)))
    load_start, t0 = _load(), time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-ranking-") as tmp:
        os.environ["HEADSTART_CACHE"] = str(Path(tmp) / "cache")  # empty embedding cache
        keep = args.keep_dir or Path(tmp)
        if (keep / "onnx").is_dir():  # graphs exported from exactly these weights (keyed by their sha256)
            shutil.copytree(keep / "onnx", Path(tmp) / "cache" / "onnx", dirs_exist_ok=True)
        own = pretrain_sources(args, keep)
        results: list[dict[str, Any]] = []
        for name in args.tasks.split(","):
            print(f"task builtin:{name}", flush=True)
            results.append(run_task(f"builtin:{name}", own, args))
            # after every task, so an interrupted run keeps what it measured
            atomic_write_json(args.out.with_suffix(".json"), _result(args, argv, own, results, load_start, t0))
    res = _result(args, argv, own, results, load_start, t0)
    atomic_write_json(args.out.with_suffix(".json"), res)
    md = write_markdown(res)
    atomic_write_text(args.out, md)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
