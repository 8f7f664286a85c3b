"""How the TF-IDF baseline's C is chosen: CV accuracy vs CV log-loss, on development items only.

The TF-IDF + logistic regression model is both the text baseline of every verdict and one half of the
``fewshot-text`` blend, so its C decides two things: the baseline's accuracy and how loudly TF-IDF speaks in
the blend (a product of experts: a near-chance model that is confident on noise drags the probe down).

Items: for each data set, those in none of the benchmark's test sets (``make_splits`` seeds 0-4, K 8/16/64,
max_test 2000, as ``bench_fewshot.py``); on that pool ``make_splits(seed=100+i, labels_per_class=K,
max_test=1000)`` gives each draw's labeled items and held-out items. Per rule: TF-IDF held-out accuracy and
``fewshot-text`` (what ``--strategy auto`` runs on text without a GPU) held-out accuracy, the strategy itself
with ``headstart.baselines.text.SELECTION`` set to the rule.

    PYTHONPATH=src python benchmarks/bench_tfidf_c_rule.py --datasets rt spam subj --k 8 16 64 --draws 8

Not a test; the write-up is benchmarks/results/c_rule.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HEADSTART_PROGRESS", "0")

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_fewshot import _task, load_dataset, splits_for

RULES = ("cv-accuracy", "cv-log-loss")


def dev_pool(data: Any) -> np.ndarray:
    test: set[int] = set()
    for s in range(5):
        for k in (8, 16, 64):
            test |= set(splits_for(data, k, s).test.tolist())
    return np.array(sorted(set(range(len(data.y))) - test))


def subset(data: Any, idx: np.ndarray) -> Any:
    return dataclasses.replace(
        data,
        items=[data.items[i] for i in idx],
        y=data.y[idx],
        ids=[data.ids[i] for i in idx],
        groups={},
        skipped=[],
    )


def one_draw(data: Any, k: int, seed: int) -> dict[str, Any]:
    import headstart.baselines.text as text
    from headstart.data import make_splits
    from headstart.strategies import get_strategy

    splits = make_splits(data.y, seed=seed, labels_per_class=k, max_test=1000, classes=data.classes)
    test = [data.items[i] for i in splits.test]
    y_test = data.y[splits.test]
    lab = np.concatenate([splits.train, splits.val])
    out: dict[str, Any] = {"n_test": len(y_test)}
    for rule in RULES:
        text.SELECTION = rule
        tfidf = text.TfidfLogReg.fit([data.items[i] for i in lab], data.y[lab], len(data.classes), seed=seed)
        task = _task(data, splits, seed)
        model = get_strategy("fewshot-text")(task)
        out[rule] = {
            "C": tfidf.C,
            "tfidf": float(np.mean(tfidf.predict_proba(test).argmax(1) == y_test)),
            "auto": float(np.mean(model.predict_proba(test).argmax(1) == y_test)),
            "chosen": model.chosen,
        }
    text.SELECTION = "cv-log-loss"
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--datasets", nargs="+", default=["rt", "spam", "subj"])
    ap.add_argument("--k", type=int, nargs="+", default=[8, 16, 64])
    ap.add_argument("--draws", type=int, default=8)
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "tfidf_c_rule.json"))
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    rows: dict[str, Any] = json.loads(Path(args.out).read_text()) if Path(args.out).exists() else {}
    for ds in args.datasets:
        full = load_dataset(ds)
        data = subset(full, dev_pool(full))
        for k in args.k:
            for i in range(args.draws):
                key = f"{ds}:{k}:{100 + i}"
                if key in rows:
                    continue
                t0 = time.perf_counter()
                rows[key] = one_draw(data, k, 100 + i)
                Path(args.out).write_text(json.dumps(rows, indent=1))
                r = rows[key]
                print(
                    key,
                    " ".join(f"{rule}: C={r[rule]['C']:g} tfidf={r[rule]['tfidf']:.3f} auto={r[rule]['auto']:.3f}"
                             f" ({r[rule]['chosen']})" for rule in RULES),
                    f"{time.perf_counter() - t0:.0f}s",
                    flush=True,
                )  # fmt: skip
            summarize(rows, ds, k)


def summarize(rows: dict[str, Any], ds: str, k: int) -> None:
    cells = [v for key, v in rows.items() if key.startswith(f"{ds}:{k}:")]
    parts = []
    for rule in RULES:
        t = 100 * np.mean([c[rule]["tfidf"] for c in cells])
        a = 100 * np.mean([c[rule]["auto"] for c in cells])
        parts.append(f"{rule}: tfidf {t:.1f} auto {a:.1f}")
    d = [100 * (c["cv-log-loss"]["auto"] - c["cv-accuracy"]["auto"]) for c in cells]
    se = np.std(d, ddof=1) / np.sqrt(len(d)) if len(d) > 1 else float("nan")
    print(f"== {ds} K={k} n={len(cells)}: " + "; ".join(parts) + f"; auto diff {np.mean(d):+.2f} (se {se:.2f})")


if __name__ == "__main__":
    main()
