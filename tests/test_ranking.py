"""Transferability estimators: closed-form checks, reference values, and real-data sanity (sklearn digits)."""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import pytest
from sklearn.datasets import load_digits
from threadpoolctl import threadpool_limits

from headstart.errors import HeadstartError
from headstart.ranking import (
    h_score,
    knn_cv_accuracy,
    leep,
    linear_probe_cv_accuracy,
    log_evidence,
    logme,
    maximize_evidence,
    nce,
    rank_backbones,
    weighted_kendall_tau,
)


@pytest.fixture(autouse=True, scope="module")
def _single_threaded_blas() -> Iterator[None]:
    """These arrays are tiny; multi-threaded BLAS only thrashes on a shared machine."""
    with threadpool_limits(limits=1):
        yield


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray]:
    x, y = load_digits(return_X_y=True)
    return x.astype(np.float64), y


def dense_log_evidence(f: np.ndarray, t: np.ndarray, alpha: float, beta: float) -> float:
    """Textbook closed form, computed with dense D x D matrices (Bishop PRML eq. 3.86)."""
    n, d = f.shape
    a = alpha * np.eye(d) + beta * f.T @ f
    m = beta * np.linalg.solve(a, f.T @ t)
    sign, logdet = np.linalg.slogdet(a)
    assert sign > 0
    return (
        n / 2 * math.log(beta)
        + d / 2 * math.log(alpha)
        - n / 2 * math.log(2 * math.pi)
        - beta / 2 * float(np.sum((f @ m - t) ** 2))
        - alpha / 2 * float(m @ m)
        - 0.5 * logdet
    )


# ---------------------------------------------------------------------------------------------- LogME
@pytest.mark.parametrize(
    "shape",
    [(60, 8), (15, 40), (30, 30)],
    ids=["N>D", "D>N", "square"],
)
@pytest.mark.parametrize("alpha,beta", [(1.0, 1.0), (0.03, 7.0), (25.0, 0.2)])
def test_log_evidence_matches_dense_closed_form(shape: tuple[int, int], alpha: float, beta: float) -> None:
    rng = np.random.default_rng(1)
    f = rng.normal(size=shape)
    t = f @ rng.normal(size=shape[1]) * 0.3 + rng.normal(size=shape[0])
    assert log_evidence(f, t, alpha, beta) == pytest.approx(dense_log_evidence(f, t, alpha, beta), rel=1e-9)


def test_log_evidence_rank_deficient_features() -> None:
    # duplicated and all-zero columns: rank 5 < D = 8 < N = 50
    rng = np.random.default_rng(2)
    base = rng.normal(size=(50, 5))
    f = np.c_[base, base[:, :2], np.zeros(50)]
    t = (rng.random(50) < 0.4).astype(float)
    for alpha, beta in [(0.5, 2.0), (4.0, 9.0)]:
        assert log_evidence(f, t, alpha, beta) == pytest.approx(dense_log_evidence(f, t, alpha, beta), rel=1e-9)


def test_fixed_point_is_a_stationary_maximum() -> None:
    rng = np.random.default_rng(3)
    f = rng.normal(size=(200, 10))
    t = f @ rng.normal(size=10) + 0.5 * rng.normal(size=200)
    alpha, beta, per_sample = maximize_evidence(f, t, max_iter=500, tol=1e-12)
    best = log_evidence(f, t, alpha, beta)
    assert per_sample == pytest.approx(best / 200, rel=1e-12)
    for fa in (0.5, 0.9, 0.99, 1.01, 1.1, 2.0):
        for fb in (0.5, 0.9, 0.99, 1.0, 1.01, 1.1, 2.0):
            assert log_evidence(f, t, alpha * fa, beta * fb) <= best + 1e-9
    # gradient in log-space vanishes (central differences)
    h = 1e-5
    d_alpha = (log_evidence(f, t, alpha * math.exp(h), beta) - log_evidence(f, t, alpha * math.exp(-h), beta)) / (2 * h)
    d_beta = (log_evidence(f, t, alpha, beta * math.exp(h)) - log_evidence(f, t, alpha, beta * math.exp(-h))) / (2 * h)
    assert abs(d_alpha) < 1e-3 and abs(d_beta) < 1e-3
    # the reference budget (11 steps, tol 1e-3) already lands on the optimum here
    assert maximize_evidence(f, t)[2] == pytest.approx(per_sample, abs=1e-6)


def test_logme_reproduces_reference_implementation(digits: tuple[np.ndarray, np.ndarray]) -> None:
    # Values printed by thuml/LogME `LogME().fit(f, y)` (default fixed-point path) on the same inputs.
    x, y = digits
    assert logme(x, y) == pytest.approx(0.270277, abs=2e-6)
    assert logme(x[:200], y[:200]) == pytest.approx(0.297057, abs=2e-6)
    rng = np.random.default_rng(0)
    f, labels = rng.normal(size=(500, 32)), rng.integers(0, 5, 500)
    assert logme(f, labels) == pytest.approx(-0.612227, abs=1e-5)


def test_logme_informative_features_beat_noise(digits: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = digits
    noise = np.random.default_rng(0).normal(size=x.shape)
    pixels, random = logme(x, y), logme(noise, y)
    assert pixels > random + 0.5
    # D > N regime (the usual small-data case for modern backbones) ranks the same way
    wide_noise = np.random.default_rng(1).normal(size=(100, 300))
    wide_pixels = np.c_[x[:100], np.random.default_rng(2).normal(size=(100, 236)) * 0.01]
    assert logme(wide_pixels, y[:100]) > logme(wide_noise, y[:100])


def test_logme_label_coding_is_irrelevant(digits: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = digits[0][:300], digits[1][:300]
    names = np.array([f"class-{v}" for v in y])
    assert logme(x, names) == pytest.approx(logme(x, y), rel=1e-12)
    assert logme(x.astype(np.float32), y + 100) == pytest.approx(logme(x, y), rel=1e-6)


def test_logme_degenerate_features_stay_finite() -> None:
    y = np.arange(20) % 2
    zero = logme(np.zeros((20, 3)), y)
    # limit alpha -> inf: per class N/2 log(N/n_c) - N/2 - N/2 log(2 pi), here n_c = N/2
    assert zero == pytest.approx(0.5 * math.log(2) - 0.5 - 0.5 * math.log(2 * math.pi), abs=1e-5)
    assert np.isfinite(logme(np.zeros((5, 30)), y[:5]))
    assert logme(np.ones((20, 3)), y) > zero  # a constant column at least fits the class frequency


def test_logme_rejects_bad_input() -> None:
    f = np.zeros((10, 3))
    with pytest.raises(HeadstartError, match="rows"):
        logme(f, np.arange(9) % 2)
    with pytest.raises(HeadstartError, match="at least 2"):
        logme(f, np.zeros(10))
    bad = np.ones((10, 3))
    bad[2, 1] = np.nan
    with pytest.raises(HeadstartError, match="NaN"):
        logme(bad, np.arange(10) % 2)
    with pytest.raises(HeadstartError, match="2-D"):
        logme(np.ones(10), np.arange(10) % 2)


# ---------------------------------------------------------------------------------------------- LEEP / NCE
def test_leep_nce_are_zero_when_source_labels_are_the_targets(digits: tuple[np.ndarray, np.ndarray]) -> None:
    y = digits[1]
    one_hot = np.eye(10)[y]
    assert leep(one_hot, y) == pytest.approx(0.0, abs=1e-12)
    assert nce(y, y) == pytest.approx(0.0, abs=1e-12)
    # any relabelling of the source classes is as good (LEEP/NCE learn P(y|z)) - still the maximum 0
    perm = np.random.default_rng(0).permutation(10)
    assert nce(perm[y], y) == pytest.approx(0.0, abs=1e-12)
    assert leep(np.eye(10)[perm[y]], y) == pytest.approx(0.0, abs=1e-12)
    # a source head with more classes than the target is fine
    assert leep(np.eye(20)[y * 2], y) == pytest.approx(0.0, abs=1e-12)


def test_leep_nce_closed_form_values() -> None:
    y = np.repeat(np.arange(4), 25)  # balanced, 4 classes
    # uninformative source head: LEEP = sum_y p(y) log p(y) = -log 4
    assert leep(np.full((100, 7), 1 / 7), y) == pytest.approx(-math.log(4), rel=1e-12)
    # source label merges pairs of target classes: H(Y|Z) = log 2
    assert nce(y // 2, y) == pytest.approx(-math.log(2), rel=1e-12)
    # constant source label: H(Y|Z) = H(Y) = log 4
    assert nce(np.zeros(100, dtype=int), y) == pytest.approx(-math.log(4), rel=1e-12)


def test_leep_orders_informative_heads(digits: tuple[np.ndarray, np.ndarray]) -> None:
    y = digits[1]
    rng = np.random.default_rng(0)
    sharp = 0.9 * np.eye(10)[y] + 0.1 * rng.dirichlet(np.ones(10), size=len(y))
    noisy = 0.3 * np.eye(10)[y] + 0.7 * rng.dirichlet(np.ones(10), size=len(y))
    random = rng.dirichlet(np.ones(10), size=len(y))
    assert 0.0 > leep(sharp, y) > leep(noisy, y) > leep(random, y)


def test_leep_rejects_logits() -> None:
    with pytest.raises(HeadstartError, match="softmax"):
        leep(np.random.default_rng(0).normal(size=(20, 5)), np.arange(20) % 2)


# ------------------------------------------------------------------------------------------- H-score, proxies
def test_h_score(digits: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = digits
    noise = np.random.default_rng(0).normal(size=x.shape)
    plain = h_score(x, y)
    assert 0.0 < plain <= 9.0 + 1e-9  # tr(cov^-1 cov_between) <= C - 1
    assert plain > h_score(noise, y) + 1.0
    assert h_score(x, y, shrinkage=True) > h_score(noise, y, shrinkage=True)
    # D > N: the shrunk score stays finite and still prefers the informative features
    wide = np.c_[x[:60], np.random.default_rng(1).normal(size=(60, 100))]
    shrunk = h_score(wide, y[:60], shrinkage=True)
    assert np.isfinite(shrunk)
    assert shrunk > h_score(np.random.default_rng(2).normal(size=(60, 164)), y[:60], shrinkage=True)


def test_cv_proxies(digits: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = digits[0][:400], digits[1][:400]
    noise = np.random.default_rng(0).normal(size=x.shape)
    assert knn_cv_accuracy(x, y, k=5, folds=3) > 0.9
    assert knn_cv_accuracy(noise, y, k=5, folds=3) < 0.3
    assert linear_probe_cv_accuracy(x, y, folds=3) > 0.85
    assert linear_probe_cv_accuracy(noise, y, folds=3) < 0.3
    with pytest.raises(HeadstartError, match="rarest class"):
        knn_cv_accuracy(x[:11], np.r_[np.zeros(10), 1])


# ---------------------------------------------------------------------------------------------- ranking
def test_rank_backbones_sorted_by_logme(digits: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = digits[0][:300], digits[1][:300]
    rng = np.random.default_rng(0)
    head = 0.8 * np.eye(10)[y] + 0.2 * rng.dirichlet(np.ones(10), size=300)
    sets = {
        "noise": (rng.normal(size=(300, 64)), None),
        "pixels": (x, head),
        "half-pixels": (x[:, ::2] + rng.normal(size=(300, 32)) * 4, None),
    }
    rows = rank_backbones(sets, y, folds=3)
    assert [r["name"] for r in rows] == ["pixels", "half-pixels", "noise"]
    assert [r["rank"] for r in rows] == [1, 2, 3]
    assert all(rows[i]["logme"] >= rows[i + 1]["logme"] for i in range(2))
    top, last = rows[0], rows[-1]
    assert top["dim"] == 64 and top["n_samples"] == 300
    assert top["leep"] < 0 and top["nce"] == pytest.approx(0.0, abs=1e-12)
    assert math.isnan(last["leep"]) and math.isnan(last["nce"])
    assert top["knn_accuracy"] > last["knn_accuracy"]
    assert top["linear_probe_accuracy"] > last["linear_probe_accuracy"]
    fast = rank_backbones(sets, y, proxies=False)
    assert all(math.isnan(r["knn_accuracy"]) and math.isnan(r["linear_probe_accuracy"]) for r in fast)
    with pytest.raises(HeadstartError, match="rows"):
        rank_backbones({"short": (x[:10], None)}, y)


def test_weighted_kendall_tau() -> None:
    acc = [0.9, 0.8, 0.7, 0.6]
    assert weighted_kendall_tau([4.0, 3.0, 2.0, 1.0], acc) == pytest.approx(1.0)
    assert weighted_kendall_tau([1.0, 2.0, 3.0, 4.0], acc) == pytest.approx(-1.0)
    # a swap at the top costs more than a swap at the bottom
    top_swap = weighted_kendall_tau([3.0, 4.0, 2.0, 1.0], acc)
    bottom_swap = weighted_kendall_tau([4.0, 3.0, 1.0, 2.0], acc)
    assert top_swap < bottom_swap < 1.0
    # mappings are aligned by name; NaN pairs are ignored
    by_name = weighted_kendall_tau({"a": 2.0, "b": 1.0, "c": float("nan")}, {"b": 0.5, "a": 0.9, "c": 0.1})
    assert by_name == pytest.approx(1.0)
    assert math.isnan(weighted_kendall_tau([1.0], [0.5]))
