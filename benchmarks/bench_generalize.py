"""Domain-generalization benchmark: leave-one-domain-out accuracy of every arm (pooled, aligned[per-domain],
aligned[coral], scratch, majority) per held-out domain, mean and spread over seeds (the seed draws the items kept
per domain and the CV folds), and the count of aligned-vs-pooled verdicts per label.

    PYTHONPATH=src python benchmarks/bench_generalize.py [--cases adult-table,spam,digits] [--seeds 3]
        -> benchmarks/results/generalize.md
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from pathlib import Path

import numpy as np

from headstart.adapt.generalize import GeneralizeConfig, generalize
from headstart.adapt.generalize_output import load_domains
from headstart.io import atomic_write_text

SPAM_RELEASES = "easy-ham-1=release-1,hard-ham-1=release-1,spam-1=release-1,easy-ham-2=release-2,spam-2=release-2"
# name -> (DATA, --domain-column, --domain-map, --source files)
CASES: dict[str, tuple[str | None, str | None, str | None, tuple[str, ...]]] = {
    "adult-table": ("builtin:adult-table", "race", None, ()),
    "adult-text": ("builtin:adult", "race", None, ()),
    "spam": ("builtin:spam", "folder", SPAM_RELEASES, ()),
    "digits": (None, None, None, ("builtin:digits", "builtin:mnist5k-8x8")),
}
OUT = Path(__file__).parent / "results" / "generalize.md"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", default="adult-table,spam,digits")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--max-per-domain", type=int, default=1000)
    args = ap.parse_args()
    head = f"Seeds {args.seeds}; at most {args.max_per_domain} items per domain; accuracy % mean (sd)."
    lines = ["# Domain generalization (leave-one-domain-out)", "", head, ""]
    for case in args.cases.split(","):
        data, column, dmap, sources = CASES[case]
        loaded, domains, col = load_domains(data, column, sources, domain_map=dmap)
        per: dict[tuple[str, str], list[float]] = {}
        verdicts: Counter[str] = Counter()
        t0 = time.perf_counter()
        for seed in range(args.seeds):
            cfg = GeneralizeConfig(max_per_domain=args.max_per_domain, seed=seed)
            r = generalize(loaded, domains, cfg, column=col)
            for row in r.table()["rows"]:
                for arm, acc in row.items():
                    if arm not in ("domain", "n_test"):
                        per.setdefault((row["domain"], arm), []).append(100 * acc)
            verdicts.update(f"{c['a']}: {c['label']}" for d in r.domains for c in d["comparisons"])
        arms = list(dict.fromkeys(a for _, a in per))
        lines += [f"## {case} ({col}; {time.perf_counter() - t0:.0f} s)", "",
                  "| held out | " + " | ".join(arms) + " |", "|---" * (len(arms) + 1) + "|"]  # fmt: skip
        for dom in dict.fromkeys(d for d, _ in per):
            cells = [
                f"{np.mean(per[dom, a]):.1f} ({np.std(per[dom, a]):.1f})" if (dom, a) in per else "-" for a in arms
            ]
            lines.append(f"| {dom} | " + " | ".join(cells) + " |")
        lines += [
            "",
            "Verdicts over domains x seeds: " + "; ".join(f"{k} {v}" for k, v in sorted(verdicts.items())),
            "",
        ]
        print("\n".join(lines[-(len(per) // len(arms) + 6) :]), flush=True)
    atomic_write_text(OUT, "\n".join(lines) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
