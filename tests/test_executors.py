"""Studies and ranking on Ray (headstart.executors): a local Ray head on loopback, started here, must give the
same numbers as the sequential executor, and its workers must read the shared embedding cache."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from headstart.config import FitConfig
from headstart.errors import HeadstartError
from headstart.executors import Executor, check_executor, ray_available, run_jobs


def test_check_executor_messages() -> None:
    assert check_executor("sequential") == "sequential"
    assert check_executor("ray", "127.0.0.1:6379") == "ray"
    with pytest.raises(HeadstartError, match="choose one of sequential, ray"):
        check_executor("dask")
    with pytest.raises(HeadstartError, match="needs --executor ray"):
        check_executor("sequential", "127.0.0.1:6379")
    with pytest.raises(HeadstartError, match="--executor"):
        FitConfig(data="builtin:digits", out="x", executor="threads").validate()


needs_ray = pytest.mark.skipif(not ray_available(), reason="Ray is not installed: pip install 'headstart[ray]'")


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    import ray

    ray.init(
        num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False, configure_logging=False
    )
    try:
        yield
    finally:
        ray.shutdown()


@needs_ray
def test_run_jobs_on_ray_keeps_job_order_and_job_errors(local_ray: None) -> None:
    def _scaled(shared: int, job: int) -> int:  # local: Ray ships it by value to the workers
        if job < 0:
            raise HeadstartError(f"job {job}: negative")
        return shared * job

    jobs = [5, 1, 4, 2, 3]
    assert (
        run_jobs(_scaled, jobs, shared=10, executor="ray") == run_jobs(_scaled, jobs, shared=10) == [50, 10, 40, 20, 30]
    )
    with pytest.raises(HeadstartError, match="job -1: negative"):
        run_jobs(_scaled, [1, -1], shared=10, executor="ray")


@needs_ray
@pytest.mark.slow
def test_seeds_study_on_ray_matches_sequential(tmp_path: Path, local_ray: None) -> None:
    from headstart.pair_fitter import PairFitter
    from headstart.pipeline import fit_run
    from headstart.study_variance import run_variance

    cfg = FitConfig(
        data="builtin:digits",
        out=str(tmp_path / "run"),
        baseline="pixel-logreg",
        labels_per_class=5,
        max_test=100,
        seeds=3,
        progress=False,
    )
    result = fit_run(cfg)
    sequential = result.metrics["variance"]["runs"]
    fitter = PairFitter(
        data=result.data,
        strategy="linear-probe",
        backbone="mobilenetv2",
        baseline="pixel-logreg",
        image_size=result.transfer.image_size,  # type: ignore[attr-defined]
        options={"loss": "ce", "focal_gamma": 2.0},
        transfer=result.transfer,
    )
    v = result.metrics["verdict"]
    with Executor("ray") as ex:
        on_ray = run_variance(
            fitter, result.splits, seeds=3, main_result=(v["transfer_accuracy"], v["baseline_accuracy"]), executor=ex
        )
    assert len(sequential) == 3 and sum(r["main_run"] for r in sequential) == 1
    assert on_ray["runs"] == sequential  # every accuracy of every repetition, exactly
    assert len({r["baseline_accuracy"] for r in sequential}) > 1  # the repetitions really differ


@needs_ray
@pytest.mark.slow
def test_rank_on_ray_reads_the_shared_cache_and_matches_sequential(local_ray: None) -> None:
    from headstart.data import load_data
    from headstart.ranking.rank import rank_data

    data = load_data("builtin:digits")
    names = ["mobilenetv2", "efficientnet-lite0"]
    seq = rank_data(data, names, labels_per_class=8, proxies=False)
    par = rank_data(data, names, labels_per_class=8, proxies=False, executor="ray")
    timing = ("seconds", "extract_seconds", "score_seconds", "cache_hits", "computed")

    def strip(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{k: v for k, v in r.items() if k not in timing} for r in rows]

    assert [r["name"] for r in par] == [r["name"] for r in seq]
    for a, b in zip(strip(seq), strip(par), strict=True):
        assert a.keys() == b.keys()
        for k in a:
            if isinstance(a[k], float):
                np.testing.assert_allclose(a[k], b[k], rtol=1e-6, err_msg=k)  # float32 kernels: 1 thread there, 2 here
            else:
                assert a[k] == b[k], k
    assert all(r["computed"] == 0 and r["cache_hits"] == 80 for r in par)  # the workers read the driver's cache
