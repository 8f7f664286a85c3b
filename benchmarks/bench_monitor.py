"""Drift detection power vs sample size on two real shifts, and the false-alarm rate without shift.

    PYTHONPATH=src python benchmarks/bench_monitor.py      # -> benchmarks/results/monitor.md

Runs (tiny, seeded): a MNIST-5k linear probe (MobileNetV2, 10 labels/class) and a spam linear probe
(MiniLM-L6, 20 labels/class), both shipped as the transfer side. Shifts: MNIST-5k -> scikit-learn's 8x8
digits (another source of the same classes), and spam -> only the "hard-ham-1" folder (a sub-population the
run saw rarely). No shift: unused items of the run's own data set. For each sample size, ``--resamples``
draws of new items go through :func:`headstart.monitor.monitor.monitor_arrays` (200 permutations); reported:
the share of draws flagged by each test and by the combined rule (any test at alpha/3), and the CBPE
estimate next to the realized accuracy.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import BENCH_DIR, git_state, load_average, md_table

SIZES = (50, 100, 200, 500)


def _run(data: str, lpc: int, out: Path) -> Any:
    from headstart.pipeline import FitConfig, fit_run
    from headstart.runinputs import open_run

    fit_run(
        FitConfig(
            data=data,
            out=str(out),
            labels_per_class=lpc,
            max_test=300,
            baseline="auto" if "spam" in data else "pixel-logreg",
            ship="transfer",
            progress=False,
        )
    )
    return open_run(out)


def scenarios(work: Path, held: int) -> list[dict[str, Any]]:
    from headstart.data import load_data
    from headstart.monitor.monitor import reference_indices
    from headstart.runinputs import embed_items

    out = []
    for data, lpc, shift_name, shift in (
        ("builtin:mnist5k", 10, "MNIST-5k -> digits (8x8)", "builtin:digits"),
        ("builtin:spam", 20, "spam -> hard-ham-1 folder only", "hard-ham-1"),
    ):
        t0 = time.time()
        ri = _run(data, lpc, work / data.split(":")[1])
        ref = reference_indices(ri)
        base = {
            "ref_emb": embed_items(ri, ri.items(ref)),
            "p_ref": ri.model.predict_proba(ri.items(ri.splits.test)),
            "y_ref": ri.data.y[ri.splits.test],
            "classes": ri.classes,
        }
        used = np.concatenate([ri.reference, ri.splits.test])
        free = np.setdiff1d(np.arange(len(ri.data.y)), used)
        if shift.startswith("builtin:"):
            d = load_data(shift)
            items, y = d.items, np.array([ri.classes.index(d.classes[c]) for c in d.y])
        else:
            folder = ri.data.groups["folder"]
            pick = free[np.asarray(folder)[free] == shift]
            items, y = ri.items(pick), ri.data.y[pick]
        rng = np.random.default_rng(0)
        same = np.sort(rng.choice(free, min(held, len(free)), replace=False))
        for name, its, ys in (
            (shift_name, items, y),
            (f"{data[8:]}: no shift (unused items)", ri.items(same), ri.data.y[same]),
        ):
            out.append(
                {
                    **base,
                    "name": name,
                    "emb": embed_items(ri, its),
                    "p": ri.model.predict_proba(its),
                    "y": ys,
                    "shift": "no shift" not in name,
                }
            )
        print(f"{data}: run + embeddings in {time.time() - t0:.0f}s", flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    from headstart.monitor.monitor import monitor_arrays

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--resamples", type=int, default=20)
    ap.add_argument("--held", type=int, default=600, help="unused items embedded for the no-shift draws")
    ap.add_argument("--out", default=str(BENCH_DIR / "results" / "monitor.md"))
    a = ap.parse_args(argv)
    t0 = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        scen = scenarios(Path(tmp), a.held)
    rows = []
    for s in scen:
        for n in SIZES:
            if n > len(s["y"]):
                rows.append([s["name"], n, "-", "-", "-", "-", f"(only {len(s['y'])} items)"])
                continue
            rng = np.random.default_rng(n)
            flags = {"embedding": 0, "output": 0, "class_shares": 0, "any": 0}
            est, real = [], []
            for r in range(a.resamples):
                i = rng.choice(len(s["y"]), n, replace=False)
                doc = monitor_arrays(
                    s["ref_emb"],
                    s["emb"][i],
                    s["p_ref"],
                    s["p"][i],
                    s["y_ref"],
                    s["classes"],
                    y_new=s["y"][i],
                    seed=r,
                    n_perm=200,
                    n_boot=50,
                )
                for k in ("embedding", "output", "class_shares"):
                    flags[k] += doc["tests"][k]["p_value"] < doc["level_per_test"]
                flags["any"] += doc["drift"]
                est.append(doc["performance"]["estimate"])
                real.append(doc["performance"]["realized_accuracy"])
            rate = {k: v / a.resamples for k, v in flags.items()}
            rows.append(
                [
                    s["name"],
                    n,
                    *(f"{100 * rate[k]:.0f}%" for k in ("embedding", "output", "class_shares", "any")),
                    f"{100 * np.mean(est):.1f} / {100 * np.mean(real):.1f}",
                ]
            )
        print(f"  {s['name']} done", flush=True)
    text = (
        "# Drift detection: power vs sample size, false-alarm rate\n\n"
        f"{__doc__.split(chr(10) + chr(10), 2)[2].strip()}\n\n"
        f"{a.resamples} draws per cell; alpha 0.05 overall (0.0167 per test); wall time {time.time() - t0:.0f} s; "
        f"load {load_average()}; git {git_state()}\n\n"
        "Rows with a shift: detection rate (power). Rows without: false-alarm rate (target <= 5% for 'any').\n\n"
        + md_table(
            [
                "new data",
                "n",
                "MMD (emb.)",
                "KS (probs)",
                "class shares",
                "any (drift)",
                "CBPE est. / realized acc (%)",
            ],
            rows,
        )
        + "\n"
    )
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
