"""Where independent jobs run: in this process one after the other (``sequential``, the default) or as Ray Core
tasks (``ray``: a local Ray started for the call, or the cluster at ``address``).

A study (``--seeds``, ``--folds``, ``--curve``) or ``headstart rank`` across backbones is a list of independent
jobs ``fn(shared, job)``. ``shared`` (the data set, prepared embeddings) is put into Ray's object store ONCE
and every task reads it from there; what a task has to embed itself goes through the shared on-disk embedding
cache (``HEADSTART_CACHE`` is passed to the workers). Results come back in job order, so a study reads the
same whatever ran it; with the same seeds the numbers are identical (tests/test_executors.py checks it).

Each task asks Ray for one CPU explicitly (``num_cpus=1``; Ray's default of 0 CPUs for actors and 1 for
tasks has surprised people, ray-project/ray#28292), so Ray runs at most as many jobs at once as the node has
cores. Ray is an optional extra: ``pip install 'headstart[ray]'``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from enum import StrEnum
from pathlib import Path
from typing import TypeVar

from headstart.errors import HeadstartError

S = TypeVar("S")
J = TypeVar("J")
R = TypeVar("R")

RAY_EXTRA_HINT = "install it with: pip install 'headstart[ray]'"


class ExecutorKind(StrEnum):
    sequential = "sequential"
    ray = "ray"


def check_executor(kind: str, address: str | None = None) -> str:
    """The normalized executor name; HeadstartError for an unknown one or an address without Ray."""
    raw = kind.value if isinstance(kind, StrEnum) else str(kind)
    allowed = [e.value for e in ExecutorKind]
    if raw not in allowed:
        raise HeadstartError(f"--executor: unknown value {raw!r}; choose one of {', '.join(allowed)}")
    if address and raw != ExecutorKind.ray:
        raise HeadstartError(f"--ray-address {address} needs --executor ray (the executor is {raw})")
    return raw


def ray_available() -> bool:
    try:
        import ray  # noqa: F401
    except ImportError:
        return False
    return True


def worker_env(*, local: bool = True) -> dict[str, str]:
    """Environment for Ray workers: the shared embedding cache, the backend choice, and (for a local Ray)
    where this headstart is imported from, so an un-installed checkout works too. On a cluster the nodes
    need headstart installed and the cache path reachable (a shared file system), or they embed anew."""
    from headstart.features import cache_root

    env = {"HEADSTART_CACHE": str(cache_root().resolve())}
    passed = ("HEADSTART_BACKEND", "HEADSTART_DATA", "HEADSTART_BASELINE_CACHE", "HEADSTART_HEAD_CACHE")
    for name in (*passed, "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        if name in os.environ:
            env[name] = os.environ[name]
    if local:
        src = str(Path(__file__).resolve().parents[1])  # the folder holding the headstart package
        env["PYTHONPATH"] = os.pathsep.join(p for p in (src, os.environ.get("PYTHONPATH", "")) if p)
    return env


class Executor:
    """``with Executor("ray") as ex: ex.map(fn, jobs, shared=...)``; a local Ray started here is shut down on
    exit, an existing connection (``ray.init`` done by the caller) is reused and left open."""

    def __init__(self, kind: str = "sequential", address: str | None = None, *, num_cpus: float = 1.0) -> None:
        self.kind = check_executor(kind, address)
        self.address = address
        self.num_cpus = num_cpus
        self._started_ray = False

    def __enter__(self) -> Executor:
        if self.kind == ExecutorKind.ray:
            self._connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._started_ray:
            import ray

            ray.shutdown()
            self._started_ray = False

    def _connect(self) -> None:
        try:
            import ray
        except ImportError:
            raise HeadstartError(f"--executor ray needs Ray, which is not installed; {RAY_EXTRA_HINT}") from None
        if ray.is_initialized():
            return
        env = worker_env(local=self.address is None)
        try:
            ray.init(
                address=self.address,
                runtime_env={"env_vars": env},
                include_dashboard=False,
                log_to_driver=False,
                configure_logging=False,
            )
        except (ConnectionError, RuntimeError, ValueError) as e:
            where = self.address or "a local Ray"
            raise HeadstartError(f"--executor ray: cannot start or reach {where} ({str(e).splitlines()[0]})") from None
        self._started_ray = True

    def map(self, fn: Callable[[S, J], R], jobs: Sequence[J], *, shared: S) -> list[R]:
        """``[fn(shared, job) for job in jobs]``, in job order, wherever this executor runs them."""
        if self.kind == ExecutorKind.sequential or not jobs:
            return [fn(shared, job) for job in jobs]
        self._connect()
        import ray
        from ray.exceptions import RayTaskError

        task = ray.remote(num_cpus=self.num_cpus, max_retries=0)(fn)
        ref = ray.put(shared)
        env = worker_env(local=self.address is None)
        refs = [task.options(runtime_env={"env_vars": env}).remote(ref, job) for job in jobs]
        try:
            return list(ray.get(refs))
        except RayTaskError as e:  # re-raise what the job raised (a HeadstartError stays a one-line message)
            cause = getattr(e, "cause", None)
            if isinstance(cause, BaseException):
                raise cause from None
            raise


def run_jobs(
    fn: Callable[[S, J], R],
    jobs: Sequence[J],
    *,
    shared: S,
    executor: str = "sequential",
    address: str | None = None,
) -> list[R]:
    """One-shot :meth:`Executor.map` (starts and stops a local Ray when ``executor="ray"`` and none is up)."""
    with Executor(executor, address) as ex:
        return ex.map(fn, jobs, shared=shared)


def describe(kind: str, address: str | None) -> str:
    if kind != ExecutorKind.ray:
        return "sequential"
    return f"ray ({address})" if address else "ray (local)"


__all__ = ["Executor", "ExecutorKind", "check_executor", "describe", "ray_available", "run_jobs", "worker_env"]
