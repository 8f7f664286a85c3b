"""Suite-wide settings: no progress bars, no network, an isolated embedding cache per test session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HEADSTART_PROGRESS", "0")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _pin_xdist_worker_to_its_own_cores() -> None:
    """Under `pytest -n N`, worker i runs on its own share of the cores, set before torch or ONNX Runtime load.

    Both size their thread pools from the CPU affinity mask, so each worker runs as if on an N-times smaller
    machine. Unpinned, two workers' OpenMP pools on two cores spin against each other: measured here, the
    small CNN's training step went from 120 ms on one thread to 300 ms on two next to one busy process.
    """
    worker, count = os.environ.get("PYTEST_XDIST_WORKER", ""), os.environ.get("PYTEST_XDIST_WORKER_COUNT", "")
    if not (worker.startswith("gw") and count.isdigit()) or not hasattr(os, "sched_setaffinity"):
        return
    cores = sorted(os.sched_getaffinity(0))
    index, n = int(worker[2:]), int(count)
    if n < 2 or len(cores) < n:
        return
    share = cores[index * len(cores) // n : (index + 1) * len(cores) // n]
    os.sched_setaffinity(0, share)
    os.environ["OMP_NUM_THREADS"] = str(len(share))


_pin_xdist_worker_to_its_own_cores()


@pytest.fixture(scope="session", autouse=True)
def _session_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Every test session starts with an empty embedding cache (tests that measure reuse make their own)."""
    os.environ["HEADSTART_CACHE"] = str(tmp_path_factory.mktemp("headstart-cache"))
    os.environ["HEADSTART_KEY_FILE"] = str(tmp_path_factory.mktemp("headstart-key") / "cache.key")


def _small_probe_run(tmp_path_factory: pytest.TempPathFactory, data: str, labels_per_class: int) -> Path:
    """A finished linear-probe run on a small real set (read-only for the tests that share it)."""
    from headstart.pipeline import FitConfig, fit_run

    out = tmp_path_factory.mktemp("shared-run") / "run"
    cfg = FitConfig(
        data=data,
        out=str(out),
        labels_per_class=labels_per_class,
        max_test=200,
        baseline="pixel-logreg",
        ship="transfer",
        progress=False,
    )
    fit_run(cfg)
    return out


@pytest.fixture(scope="session")
def digits_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """builtin:digits, 5 labels per class, 200 test items; tests must not write into it."""
    return _small_probe_run(tmp_path_factory, "builtin:digits", 5)


@pytest.fixture(scope="session")
def mnist_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """builtin:mnist5k, 10 labels per class, 200 test items; tests must not write into it."""
    return _small_probe_run(tmp_path_factory, "builtin:mnist5k", 10)
