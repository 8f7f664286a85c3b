"""Active-learning simulation: labels hidden, revealed on query; accuracy vs labels per method vs random.

    PYTHONPATH=src python benchmarks/bench_active.py            # -> benchmarks/results/active.md
    PYTHONPATH=src python benchmarks/bench_active.py --quick    # one seed, one data set, 4 rounds

For each data set a seeded pool (default 2000 items) and a disjoint test set (default 1000) are drawn; the
learner is the linear probe's model (standardized cached embeddings -> logistic regression, fixed C), started
from 8 labels per class; each round a method picks a batch (16 for binary, 32 otherwise) from the pool with
:func:`headstart.active.select.select_batch`, the batch's labels are revealed, and the probe is refit.
Reported: test accuracy vs labels (mean of 3 seeds), area under the curve (mean accuracy over the rounds),
and the labels a method needs to reach random sampling's accuracy at the largest budget (target: <= 60% of
random's labels on >= 2 of 3 data sets).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import BENCH_DIR, git_state, load_average, machine_info, md_table

from headstart.active.simulate import C as SIM_C

DATASETS = {  # name -> (backbone, batch size, rounds)
    "rotten-tomatoes": ("minilm-l6", 16, 12),
    "fashion-mnist": ("mobilenetv2", 32, 10),
    "spam": ("minilm-l6", 16, 12),
}
METHODS = ("random", "margin", "entropy", "least-confidence", "badge", "coreset")
START_PER_CLASS = 8
TARGET_SHARE = 0.6


def embed_subset(name: str, n_pool: int, n_test: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, int]:
    """(embeddings, labels, n_classes) of a seeded pool+test subsample, through the shared embedding cache."""
    from headstart.backbones import load_backbone
    from headstart.data import load_data
    from headstart.features import default_image_size, extract

    data = load_data(f"builtin:{name}")
    backbone = DATASETS[name][0]
    rng = np.random.default_rng(np.random.SeedSequence([seed, 99]))
    idx = rng.choice(len(data.y), min(len(data.y), n_pool + n_test), replace=False)
    items = data.items[idx] if isinstance(data.items, np.ndarray) else [data.items[i] for i in idx]
    encoder = load_backbone(backbone, image_size=default_image_size(data, backbone))
    emb, stats = extract(encoder, items, progress=False)
    print(f"{name}: {len(idx)} items embedded ({stats.cache_hits} from cache, {stats.seconds:.0f}s)", flush=True)
    return emb, data.y[idx], data.n_classes


def simulate(
    emb: np.ndarray, y: np.ndarray, k: int, method: str, *, seed: int, n_pool: int, batch: int, rounds: int
) -> list[tuple[int, float]]:
    """(labels, test accuracy) after the start set and after each round (first ``n_pool`` items = pool)."""
    from headstart.active.simulate import simulate_curve

    n = min(n_pool, len(y) // 2)
    return simulate_curve(
        emb,
        y,
        np.arange(n),
        np.arange(n, len(y)),
        method,
        start_per_class=START_PER_CLASS,
        batch=batch,
        rounds=rounds,
        seed=seed,
    )


def labels_to_reach(curve: list[tuple[int, float]], target: float) -> int | None:
    for n, acc in curve:
        if acc >= target - 1e-9:
            return n
    return None


def summarize(curves: dict[str, list[list[tuple[int, float]]]]) -> dict[str, dict[str, Any]]:
    mean = {
        m: [(c[0][i][0], float(np.mean([s[i][1] for s in c]))) for i in range(len(c[0]))] for m, c in curves.items()
    }
    target_n, target_acc = mean["random"][-1]
    out = {}
    for m, cur in mean.items():
        reach = labels_to_reach(cur, target_acc)
        out[m] = {
            "curve": cur,
            "auc": float(np.mean([a for _, a in cur])),
            "final": cur[-1][1],
            "reach": reach,
            "share": None if reach is None else reach / target_n,
            "sd_final": float(np.std([s[-1][1] for s in curves[m]])),
        }
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", nargs="+", default=list(DATASETS))
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--pool", type=int, default=2000)
    ap.add_argument("--test", type=int, default=1000)
    ap.add_argument("--embed-only", action="store_true", help="only warm the embedding cache")
    ap.add_argument("--rounds-scale", type=float, default=1.0, help="multiply every data set's number of rounds")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default=str(BENCH_DIR / "results" / "active.md"))
    a = ap.parse_args(argv)
    if a.quick:
        a.datasets, a.seeds = a.datasets[:1], 1
    t0 = time.time()
    sections, verdicts = [], {}
    for name in a.datasets:
        emb, y, k = embed_subset(name, a.pool, a.test)
        if a.embed_only:
            continue
        _, batch, rounds = DATASETS[name]
        rounds = 4 if a.quick else round(rounds * a.rounds_scale)
        curves: dict[str, list[list[tuple[int, float]]]] = {}
        for m in METHODS:
            curves[m] = [
                simulate(emb, y, k, m, seed=s, n_pool=a.pool, batch=batch, rounds=rounds) for s in range(a.seeds)
            ]
            print(f"  {name} {m}: final {curves[m][0][-1]}", flush=True)
        summ = summarize(curves)
        best = min((m for m in METHODS if m != "random"), key=lambda m: (summ[m]["share"] or 9, -summ[m]["auc"]))
        verdicts[name] = (best, summ[best]["share"])
        budgets = [n for n, _ in summ["random"]["curve"]]
        rows = [
            [
                m,
                f"{100 * s['auc']:.1f}",
                f"{100 * s['final']:.1f} ± {100 * s['sd_final']:.1f}",
                "-" if s["reach"] is None else f"{s['reach']} ({100 * s['share']:.0f}%)",
            ]
            for m, s in summ.items()
        ]
        curve_rows = [[m, *(f"{100 * a_:.1f}" for _, a_ in s["curve"])] for m, s in summ.items()]
        sections.append(
            f"### {name} ({k} classes, {DATASETS[name][0]} embeddings, batch {batch}, pool {a.pool}, "
            f"test {a.test})\n\n"
            + md_table(["method", "AUC (mean acc, %)", "final acc (%)", "labels to reach random's final"], rows)
            + "\n\nAccuracy (%) vs labels:\n\n"
            + md_table(["method", *map(str, budgets)], curve_rows)
        )
    if a.embed_only:
        return 0
    hits = sum(1 for _, share in verdicts.values() if share is not None and share <= TARGET_SHARE)
    summary = "\n".join(
        f"- {n}: best {b} reaches random's final accuracy with "
        + ("never within the budget" if s is None else f"{100 * s:.0f}% of its labels")
        for n, (b, s) in verdicts.items()
    )
    text = (
        "# Active learning: accuracy vs labels (simulation)\n\n"
        f"{__doc__.split(chr(10) + chr(10), 2)[2].strip()}\n\n"
        f"Seeds: {a.seeds}; rounds x{a.rounds_scale:g}; C = {SIM_C}; wall time {time.time() - t0:.0f} s; "
        f"load {load_average()}; "
        f"{machine_info().get('cpu', '')}; git {git_state()}\n\n"
        f"**Target** (best method <= {100 * TARGET_SHARE:.0f}% of random's labels on >= 2 of 3 sets): "
        f"{'met' if hits >= 2 else 'NOT met'} ({hits} of {len(verdicts)})\n\n{summary}\n\n"
        + "\n\n".join(sections)
        + "\n"
    )
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
