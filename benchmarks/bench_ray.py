"""Studies on Ray vs in-process: the speed-up of ``--folds`` with 2 Ray workers and Ray's per-task overhead.

    HEADSTART_CACHE=/tmp/me-cache python benchmarks/bench_ray.py [--folds 4] [--labels-per-class 10] \
        [--out benchmarks/results/ray.md]

One process: a local Ray head on loopback with 2 CPUs (``num_cpus=1`` per task, so 2 workers), the same study
run sequentially and on Ray (cold workers, then warm), checked to give identical repetitions. Not a test:
the numbers depend on the machine and on what else runs on it (the load average is printed).
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HEADSTART_PROGRESS", "0")
os.environ["HEADSTART_BASELINE_CACHE"] = "0"  # every executor fits every repetition (no cache hits)


def _noop(shared: int, job: int) -> int:
    return shared + job


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="builtin:digits")
    ap.add_argument("--folds", type=int, default=4)
    ap.add_argument("--labels-per-class", type=int, default=10)
    ap.add_argument("--max-test", type=int, default=200)
    ap.add_argument("--tasks", type=int, default=40, help="trivial tasks timed for the per-task overhead")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "ray.md")
    args = ap.parse_args()

    import ray

    from headstart.config import FitConfig
    from headstart.executors import Executor
    from headstart.pair_fitter import PairFitter
    from headstart.pipeline import fit_run
    from headstart.study_variance import run_variance

    load0 = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        cfg = FitConfig(
            data=args.data,
            out=str(Path(tmp) / "run"),
            labels_per_class=args.labels_per_class,
            max_test=args.max_test,
            progress=False,
        )
        result = fit_run(cfg)
    fitter = PairFitter(
        data=result.data,
        strategy=cfg.strategy,
        backbone=result.metrics["transfer"]["backbone"],
        baseline=cfg.baseline,
        image_size=getattr(result.transfer, "image_size", None),
        options={"loss": cfg.loss, "focal_gamma": cfg.focal_gamma},
        transfer=result.transfer,
    )

    def study(ex: Executor) -> tuple[float, dict[str, Any]]:
        t0 = time.perf_counter()
        out = run_variance(fitter, result.splits, folds=args.folds, executor=ex)
        return time.perf_counter() - t0, out

    run_variance(fitter, result.splits, folds=2)  # warm this process's caches (embeddings, imports) first
    t_seq, v_seq = study(Executor("sequential"))
    import torch
    from threadpoolctl import threadpool_limits

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(1):
        t_seq1, v_seq1 = study(Executor("sequential"))
    torch.set_num_threads(threads)

    t0 = time.perf_counter()
    ray.init(
        num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False, configure_logging=False
    )
    t_init = time.perf_counter() - t0
    try:
        ex = Executor("ray")
        t_cold, v_cold = study(ex)
        t_warm, v_warm = study(ex)
        jobs = list(range(args.tasks))
        ex.map(_noop, jobs, shared=0)  # workers for the no-op exist after this
        t0 = time.perf_counter()
        ex.map(_noop, jobs, shared=0)
        t_tasks = time.perf_counter() - t0
        t0 = time.perf_counter()
        [_noop(0, j) for j in jobs]
        t_inproc = time.perf_counter() - t0
    finally:
        ray.shutdown()
    load1 = os.getloadavg()
    same = v_seq["runs"] == v_cold["runs"] == v_warm["runs"] == v_seq1["runs"]
    n = len(v_seq["runs"])
    per_task_ms = 1000 * (t_tasks - t_inproc) / args.tasks
    lines = [
        "# Studies on Ray: speed-up with 2 workers and per-task overhead",
        "",
        f"`python benchmarks/bench_ray.py --folds {args.folds} --labels-per-class {args.labels_per_class} "
        f"--max-test {args.max_test}` on `{args.data}` ({cfg.strategy}, baseline {cfg.baseline}, seed {cfg.seed}); "
        f"ray {ray.__version__}, Python {platform.python_version()}, {os.cpu_count()} CPU cores.",
        "",
        f"**The machine was shared and not idle**: load average {load0[0]:.1f} before, {load1[0]:.1f} after "
        f"(on {os.cpu_count()} cores, 6 engineers). Speed-ups measured here are lower bounds of what 2 free "
        "cores give.",
        "",
        "| what | wall time | vs sequential |",
        "|---|---:|---:|",
        f"| `--folds {args.folds}` study ({n} fits of transfer head + baseline), sequential | {t_seq:.2f} s | 1.00x |",
        f"| same, sequential with 1 thread (what one Ray task gets) | {t_seq1:.2f} s | {t_seq / t_seq1:.2f}x |",
        f"| same on Ray, 2 workers, cold (worker processes start and import) | {t_cold:.2f} s | "
        f"{t_seq / t_cold:.2f}x |",
        f"| same on Ray, 2 workers, warm (workers reused) | {t_warm:.2f} s | {t_seq / t_warm:.2f}x |",
        f"| `ray.init` of a local head (once per `headstart fit`) | {t_init:.2f} s | |",
        f"| per-task overhead, warm ({args.tasks} no-op tasks) | {per_task_ms:.1f} ms / task | |",
        "",
        f"Repetitions identical to the sequential executor (cold and warm): **{same}**.",
        "",
        f"The sequential executor already uses {threads} threads (torch / BLAS) inside each fit, so on 2 "
        "cores Ray's 2 one-thread workers compete for the same cores; the scheduling gain shows against the "
        "1-thread sequential row.",
        "",
        "Reading: Ray pays off when one repetition costs well above the per-task overhead and the one-off "
        "start-up (head + worker imports of torch/sklearn, a few seconds); the CLI starts a local Ray per "
        "`fit`, so on one 2-core machine the sequential default stays the right choice for small studies. "
        "`--ray-address` points at a running cluster, where the start-up is paid once.",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
