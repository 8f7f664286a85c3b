"""CPU cost of the fine-tuning strategies: CPU seconds per epoch and peak memory, per strategy and backbone.

Not a test: run it by hand and paste the table into BENCHMARKS.md (written to benchmarks/results/finetune.md).

    .venv/bin/python benchmarks/bench_finetune.py [--epochs 2] [--threads 1] [--out benchmarks/results/finetune.md]

Each (backbone, strategy) runs in its own process so the peak resident memory (ru_maxrss) is its own.
Text: builtin:rotten-tomatoes, 64 labels per class (102 train / 26 val). Images: builtin:digits, 64 labels per
class (512 train / 128 val) at 96 px (headstart's default for tiny images).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

CASES = [
    ("minilm-l6", "builtin:rotten-tomatoes", None, "linear-probe"),
    ("minilm-l6", "builtin:rotten-tomatoes", None, "partial"),
    ("minilm-l6", "builtin:rotten-tomatoes", None, "lora"),
    ("minilm-l6", "builtin:rotten-tomatoes", None, "finetune"),
    ("mobilenetv2", "builtin:digits", 96, "linear-probe"),
    ("mobilenetv2", "builtin:digits", 96, "partial"),
    ("mobilenetv2", "builtin:digits", 96, "lora"),
    ("mobilenetv2", "builtin:digits", 96, "finetune"),
    ("efficientnet-lite0", "builtin:digits", 96, "partial"),
    ("efficientnet-lite0", "builtin:digits", 96, "finetune"),
]


def child(backbone: str, data_name: str, image_size: int | None, strategy: str, epochs: int) -> dict[str, object]:
    import resource

    import torch

    from headstart.data import load_data, make_splits
    from headstart.strategies import TransferTask, get_strategy

    data = load_data(data_name)
    s = make_splits(data.y, seed=0, labels_per_class=64, classes=data.classes)

    def take(idx: object) -> object:
        return data.items[idx] if not isinstance(data.items, list) else [data.items[i] for i in idx]  # type: ignore[index]

    task = TransferTask(
        train_items=take(s.train),  # type: ignore[arg-type]
        y_train=data.y[s.train],
        val_items=take(s.val),  # type: ignore[arg-type]
        y_val=data.y[s.val],
        classes=data.classes,
        modality=data.modality,
        backbone=backbone,
        image_size=image_size,
        progress=False,
        options={"epochs": epochs, "patience": 100},
    )
    import headstart.strategies.finetune as ft

    train_cpu = [0.0, 0]
    real_train = ft.train

    def timed_train(*a: object, **k: object) -> object:  # CPU seconds spent inside the training loop only
        c = time.process_time()
        result = real_train(*a, **k)  # type: ignore[arg-type]
        train_cpu[0] += time.process_time() - c
        train_cpu[1] += len(result.history)
        return result

    ft.train = timed_train  # type: ignore[assignment]
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    c0, w0 = time.process_time(), time.perf_counter()
    get_strategy(strategy)(task)
    cpu, wall = time.process_time() - c0, time.perf_counter() - w0
    epochs_run = max(1, int(train_cpu[1]))
    per_epoch_wall = task.timings.get("train_per_epoch")
    return {
        "backbone": backbone,
        "strategy": strategy,
        "n_train": len(s.train),
        "threads": torch.get_num_threads(),
        "cpu_s_per_epoch": train_cpu[0] / epochs_run if strategy != "linear-probe" else cpu,
        "wall_s_per_epoch": per_epoch_wall if per_epoch_wall is not None else wall,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "rss_before_mb": rss0 / 1024,
        "trainable_share": task.notes.get("trainable_params", {}).get("share", 0.0),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "finetune.md"))
    ap.add_argument("--only", default="", help="comma-separated backbone names")
    ap.add_argument("--child", default="")
    args = ap.parse_args()
    if args.child:
        b, d, size, st = json.loads(args.child)
        print(json.dumps(child(b, d, size, st, args.epochs)))
        return
    rows = []
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "HEADSTART_PROGRESS": "0"}
    for case in CASES:
        if args.only and case[0] not in args.only.split(","):
            continue
        cmd = [sys.executable, __file__, "--epochs", str(args.epochs), "--child", json.dumps(case)]
        p = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        if p.returncode != 0:
            print(f"{case}: failed\n{p.stderr[-2000:]}", file=sys.stderr)
            continue
        row = json.loads(p.stdout.strip().splitlines()[-1])
        print(row, file=sys.stderr)
        rows.append(row)
    lines = [
        "## Fine-tuning cost per strategy and backbone (CPU)",
        "",
        f"`benchmarks/bench_finetune.py --epochs {args.epochs} --threads {args.threads}` on "
        f"{platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores (shared machine: wall times are contended; CPU seconds are the steadier number). "
        "Text: rotten-tomatoes, 64 labels/class; images: digits, 64 labels/class at 96 px. "
        "Per epoch = one pass over the training split + validation; linear-probe: the whole fit (embedding + head).",
        "",
        "| backbone | strategy | train items | trainable share | CPU s / epoch | wall s / epoch | peak RSS (MB) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['backbone']} | {r['strategy']} | {r['n_train']} | {100 * float(r['trainable_share']):.1f}% "
            f"| {float(r['cpu_s_per_epoch']):.1f} | {float(r['wall_s_per_epoch']):.1f} "
            f"| {float(r['peak_rss_mb']):.0f} |"
        )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
