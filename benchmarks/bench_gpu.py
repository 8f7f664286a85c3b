"""CUDA check of the fine-tuning strategies: seconds per epoch and peak GPU memory with mixed precision
(bf16 autocast) vs fp32 on the same GPU, and a CPU anchor on the same machine, plus one end-to-end
``fit_run`` on CUDA. Not a test: run it on a machine with a GPU (the device tool), e.g.

    PYTHONPATH=src python benchmarks/bench_gpu.py --out /tmp/gpu

Writes ``gpu.md`` and ``gpu.json`` into ``--out``; the lead merges the table into BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path
from typing import Any

import torch

CASES = [  # backbone, image size, strategy
    ("mobilenetv2", 224, "partial"),
    ("mobilenetv2", 224, "finetune"),
    ("mobilenetv2", 224, "lora"),
    ("efficientnet-lite0", 224, "finetune"),
]
MODES = ("cuda-bf16", "cuda-fp32")


def one(backbone: str, size: int, strategy: str, mode: str, epochs: int) -> dict[str, Any]:
    from headstart.data import load_data, make_splits
    from headstart.strategies import TransferTask, get_strategy

    data = load_data("builtin:digits")
    s = make_splits(data.y, seed=0, labels_per_class=64, classes=data.classes)
    device = "cpu" if mode == "cpu" else "cuda"
    task = TransferTask(
        train_items=data.items[s.train],
        y_train=data.y[s.train],
        val_items=data.items[s.val],
        y_val=data.y[s.val],
        classes=data.classes,
        modality="image",
        backbone=backbone,
        image_size=size,
        progress=False,
        options={"epochs": epochs, "patience": 100, "device": device, "amp": mode == "cuda-bf16", "batch_size": 64},
    )
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    model = get_strategy(strategy)(task)
    if device == "cuda":
        torch.cuda.synchronize()
    total = time.perf_counter() - t0
    hist = getattr(model, "history", []) or []
    test = data.items[s.test]
    proba = model.predict_proba(test)
    acc = float((proba.argmax(1) == data.y[s.test]).mean())
    return {
        "backbone": backbone,
        "size": size,
        "strategy": strategy,
        "mode": mode,
        "epochs": len(hist),
        "fit_s": total,
        "s_per_epoch": total / max(1, len(hist)),
        "test_accuracy": acc,
        "peak_gpu_mb": torch.cuda.max_memory_allocated() / 2**20 if device == "cuda" else None,
        "train_items": len(s.train),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="/tmp/gpu")
    ap.add_argument("--epochs", type=int, default=3)
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    assert torch.cuda.is_available(), "needs a CUDA device"
    rows = []
    for backbone, size, strategy in CASES:
        for mode in MODES:
            rows.append(one(backbone, size, strategy, mode, args.epochs))
            print(json.dumps(rows[-1]), flush=True)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    rows.append(one("mobilenetv2", 224, "finetune", "cpu", 1))
    print(json.dumps(rows[-1]), flush=True)

    from headstart.pipeline import FitConfig, fit_run

    t0 = time.perf_counter()
    r = fit_run(
        FitConfig(
            data="builtin:digits",
            out=str(out / "run-finetune"),
            strategy="finetune",
            labels_per_class=64,
            image_size=96,
            progress=False,
            overwrite=True,
        )
    )
    e2e = {
        "fit_run_s": time.perf_counter() - t0,
        "verdict": r.metrics["verdict"]["label"],
        "transfer_accuracy": r.metrics["transfer"]["accuracy"],
        "baseline_accuracy": r.metrics["baseline"]["accuracy"],
        "cka": r.metrics["notes"].get("cka"),
        "report": (r.out / "report.html").exists(),
    }
    print(json.dumps(e2e), flush=True)

    gpu = torch.cuda.get_device_name(0)
    lines = [
        f"## Fine-tuning on CUDA ({gpu}, torch {torch.__version__}, {platform.python_version()})",
        "",
        "`benchmarks/bench_gpu.py`: builtin:digits, 64 labels per class (512 train), 224 px, batch 64, "
        f"{args.epochs} epochs; seconds per epoch include the linear-probe head init and model build; "
        "cpu row = the same machine's CPU, 1 epoch.",
        "",
        "| backbone | strategy | mode | s / epoch | peak GPU MB | test acc. |",
        "|---|---|---|---|---|---|",
    ]
    for r_ in rows:
        mem = f"{r_['peak_gpu_mb']:.0f}" if r_["peak_gpu_mb"] is not None else "-"
        lines.append(
            f"| {r_['backbone']} | {r_['strategy']} | {r_['mode']} | {r_['s_per_epoch']:.2f} | {mem} "
            f"| {100 * r_['test_accuracy']:.1f}% |"
        )
    lines += ["", f"End-to-end `fit_run` (finetune, 96 px) on CUDA: {e2e}", ""]
    (out / "gpu.md").write_text("\n".join(lines))
    (out / "gpu.json").write_text(json.dumps({"rows": rows, "e2e": e2e}, indent=1))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
