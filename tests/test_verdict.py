"""The paired bootstrap verdict flips exactly when the interval leaves zero."""

import numpy as np

from headstart.evaluation import classification_summary, paired_bootstrap_verdict


def _preds(y: np.ndarray, acc: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    wrong = rng.random(len(y)) > acc
    return np.where(wrong, (y + 1) % 3, y)


def test_verdict_labels_follow_the_interval() -> None:
    y = np.random.default_rng(0).integers(0, 3, 2000)
    good, bad = _preds(y, 0.9, 1), _preds(y, 0.7, 2)
    assert paired_bootstrap_verdict(y, good, bad).label == "helps"
    assert paired_bootstrap_verdict(y, bad, good).label == "negative-transfer"
    same = paired_bootstrap_verdict(y, good, good)
    assert same.label == "no-difference" and same.ci_low == same.ci_high == 0.0


def test_small_gap_on_small_test_set_is_no_difference_and_warns() -> None:
    y = np.random.default_rng(0).integers(0, 3, 200)
    a, b = _preds(y, 0.80, 1), _preds(y, 0.78, 2)
    v = paired_bootstrap_verdict(y, a, b)
    assert v.label == "no-difference"
    assert v.ci_low < v.delta < v.ci_high
    assert any("only 200 examples" in w for w in v.warnings)
    assert "No detectable difference" in v.sentence


def test_interval_is_paired_narrower_than_unpaired() -> None:
    """Pairing removes the shared difficulty of examples: two nearly identical models get a tight CI."""
    y = np.random.default_rng(0).integers(0, 3, 1000)
    a = _preds(y, 0.8, 1)
    b = a.copy()
    b[:10] = (y[:10] + 2) % 3  # b differs from a on 10 examples only
    v = paired_bootstrap_verdict(y, a, b)
    assert v.ci_high - v.ci_low < 0.02


def test_classification_summary_fields() -> None:
    y = np.array([0, 0, 1, 1, 2, 2])
    proba = np.eye(3)[[0, 1, 1, 1, 2, 0]] * 0.9 + 0.1 / 3
    s = classification_summary(y, proba, ["a", "b", "c"])
    assert s["accuracy"] == 4 / 6
    assert s["per_class"]["b"]["recall"] == 1.0 and s["per_class"]["b"]["precision"] == 2 / 3
    assert s["confusion_matrix"][0] == [1, 1, 0]
    assert 0 <= s["ece"] <= 1 and len(s["reliability"]) == 10
