"""Domain-adaptation benchmark: source-only, each embedding method, the unsupervised choice and the target
oracle (linear probe on all target-pool labels), per seed; the share of the source-only -> oracle gap closed.

    PYTHONPATH=src python benchmarks/bench_adapt.py [--pairs mnist,spam,adult] [--seeds 3]
        -> benchmarks/results/adapt.md
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
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
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


if __name__ == "__main__":
    main()
