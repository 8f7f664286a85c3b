"""Domain-adaptation benchmark: source-only, each embedding method, the unsupervised choice and the target
oracle (linear probe on all target-pool labels), per seed; the share of the source-only -> oracle gap closed.

    PYTHONPATH=src python benchmarks/bench_adapt.py [--pairs mnist,spam,adult] [--seeds 3]
        -> benchmarks/results/adapt.md
    PYTHONPATH=src python benchmarks/bench_adapt.py --deep partial --pairs mnist --seeds 1 [--first-seed 1]
        -> one row per seed appended to benchmarks/results/adapt_deep.md (source-only vs DANN vs CDAN vs
           self-training, the same strategy and backbone; slow on a CPU: run one seed per call)
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np

from headstart.adapt.domains import load_domain
from headstart.adapt.embedding import METHODS
from headstart.adapt.run import AdaptConfig, adapt_run, embed_domains, split_target
from headstart.io import atomic_write_text
from headstart.strategies.linear_head import fit_linear_head

PAIRS = {
    "mnist": ("builtin:mnist5k-8x8", "builtin:digits"),
    "spam": ("builtin:spam@folder=easy-ham-1,spam-1", "builtin:spam@folder=hard-ham-1,spam-2"),
    "adult": ("builtin:adult@sex=Male", "builtin:adult@sex=Female"),
}
OUT = Path(__file__).parent / "results" / "adapt.md"
OUT_DEEP = Path(__file__).parent / "results" / "adapt_deep.md"


def _oracle(target, cfg: AdaptConfig) -> float:  # type: ignore[no-untyped-def]
    test, pool, _ = split_target(target.y, cfg)
    from headstart.adapt.run import _take

    emb = embed_domains(
        cfg.backbone or {"text": "minilm-l6", "image": "mobilenetv2"}[target.modality],
        96 if target.modality == "image" else None,
        {"pool": _take(target.items, pool), "test": _take(target.items, test)},
    )
    head = fit_linear_head(emb["pool"], target.y[pool], target.n_classes, seed=cfg.seed)
    return float(np.mean(head.predict_proba(emb["test"]).argmax(1) == target.y[test]))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", default="mnist,spam,adult")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--max-source", type=int, default=2000)
    ap.add_argument("--max-test", type=int, default=600)
    ap.add_argument("--deep", default=None, help="partial / finetune / lora: the deep methods instead")
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--image-size", type=int, default=32)
    ap.add_argument("--max-unlabeled", type=int, default=500)
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    if args.deep:
        deep_main(args)
        return
    lines = [
        "# Domain adaptation on embeddings (linear probe; source-only vs each method vs target oracle)",
        "",
        f"max source {args.max_source}, max target test {args.max_test}, seeds 0..{args.seeds - 1}; "
        "gap closed = (method - source-only) / (oracle - source-only); * = verdict `adaptation hurts`.",
        "",
        "| pair | seed | source-only | " + " | ".join(METHODS) + " | unsupervised choice (ships?) | oracle | s |",
        "|---|---|---|" + "---|" * len(METHODS) + "---|---|---|",
    ]
    gaps: dict[str, dict[str, list[float]]] = {}
    for pair in args.pairs.split(","):
        src_spec, tgt_spec = PAIRS[pair]
        source, target = load_domain(src_spec), load_domain(tgt_spec)
        for seed in range(args.seeds):
            t0 = time.perf_counter()
            cfg = AdaptConfig(methods=list(METHODS), seed=seed, max_source=args.max_source,
                              max_test=args.max_test, shift_perm=50)  # fmt: skip
            r = adapt_run(source, target, cfg)
            oracle = _oracle(target, cfg)
            h = r.hindsight
            so = h["source_only"]
            hurts = {v["a"] for v in r.verdicts if v["label"] == "adaptation hurts"}
            cells = []
            for m in METHODS:
                acc = h["accuracy"][f"adapted[{m}]"]
                gap = (acc - so) / (oracle - so) if oracle > so else float("nan")
                gaps.setdefault(pair, {}).setdefault(m, []).append(gap)
                cells.append(f"{100 * acc:.1f} ({100 * gap:+.0f}%){'*' if f'adapted[{m}]' in hurts else ''}")
            choice = f"{h['chosen']} ({'yes' if r.shipped != 'source-only' else 'no'})"
            lines.append(f"| {pair} | {seed} | {100 * so:.1f} | " + " | ".join(cells)
                         + f" | {choice} | {100 * oracle:.1f} | {time.perf_counter() - t0:.0f} |")  # fmt: skip
            print(lines[-1], flush=True)
    lines += ["", "Mean share of the gap closed:", ""]
    for pair, by in gaps.items():
        lines.append(f"- {pair}: " + ", ".join(f"{m} {100 * np.nanmean(v):+.0f}%" for m, v in by.items()))
    atomic_write_text(OUT, "\n".join(lines) + "\n")
    print(f"wrote {OUT}")


def deep_main(args: argparse.Namespace) -> None:
    """One row per (pair, seed): source-only and each deep method with the same strategy, appended to OUT_DEEP."""
    from headstart.adapt.deep import DEEP_METHODS
    from headstart.adapt.deep_run import deep_adapt_run

    head = [
        f"# Deep domain adaptation (--strategy {args.deep}; mobilenetv2, test accuracy on the target)",
        "",
        "| pair | seed | settings | source-only | " + " | ".join(DEEP_METHODS) + " | choice (ships?) | s |",
        "|---|---|---|---|" + "---|" * len(DEEP_METHODS) + "---|---|",
    ]
    lines = OUT_DEEP.read_text().splitlines() if OUT_DEEP.exists() else head
    for pair in args.pairs.split(","):
        source, target = (load_domain(s) for s in PAIRS[pair])
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            t0 = time.perf_counter()
            cfg = AdaptConfig(methods=["auto"], strategy=args.deep, seed=seed, max_source=args.max_source,
                              max_test=args.max_test, max_unlabeled=args.max_unlabeled, image_size=args.image_size,
                              options={"epochs": args.epochs}, shift_perm=50)  # fmt: skip
            r = deep_adapt_run(source, target, cfg)
            h = r.hindsight
            hurts = {v["a"] for v in r.verdicts if v["label"] == "adaptation hurts"}
            helps = {v["a"] for v in r.verdicts if v["label"] == "adaptation helps"}
            cells = []
            for m in DEEP_METHODS:
                name = f"adapted[{m}]"
                mark = "*" if name in hurts else "+" if name in helps else ""
                cells.append(f"{100 * h['accuracy'][name]:.1f}{mark}")
            settings = f"{args.max_source} src, {args.max_unlabeled} unl, {args.image_size}px, {args.epochs} ep"
            choice = f"{h['chosen']} ({'yes' if r.shipped != 'source-only' else 'no'})"
            lines.append(f"| {pair} | {seed} | {settings} | {100 * h['source_only']:.1f} | " + " | ".join(cells)
                         + f" | {choice} | {time.perf_counter() - t0:.0f} |")  # fmt: skip
            print(lines[-1], flush=True)
    atomic_write_text(OUT_DEEP, "\n".join(lines) + "\n")
    print(f"wrote {OUT_DEEP} (+ = adaptation helps, * = adaptation hurts)")


if __name__ == "__main__":
    main()
