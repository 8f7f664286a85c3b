"""Arms and paired comparisons: the contract every kind of run (transfer, adaptation, multitask) is judged by.

An **arm** is one model fitted on a named training set and scored on the run's shared test items. A
**comparison** names two arms (the candidate ``a`` and what a user would do instead, ``b``) and the kind of
question it answers, which only decides the words of the verdict:

============  ===================  ==============  ======================
kind          a better             within noise    a worse
============  ===================  ==============  ======================
transfer      ``helps``            no-difference   ``negative-transfer``
adaptation    ``adaptation helps`` no-difference   ``adaptation hurts``
sharing       ``sharing helps``    no-difference   ``interference``
generaliz.    ``alignment helps``  no-difference   ``alignment hurts``
============  ===================  ==============  ======================

:func:`judge` scores every test item for both arms (1/0 correct for classification, minus the absolute
error for regression), takes a paired bootstrap CI of the mean difference (:func:`paired_bootstrap_ci`), and
adds an exact McNemar test on the discordant pairs (classification): with fewer than
``MIN_DISCORDANT`` discordant pairs, or under ``MIN_TEST`` test items, the verdict is marked underpowered and
says to repeat it with ``--seeds``/``--folds``. Every run also carries two **reference** arms, the
majority-class (prior) predictor and a stratified-random one (:func:`reference_arms`); when neither side of a
comparison beats the majority class beyond its CI, the sentence says so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats
from sklearn.metrics import balanced_accuracy_score

HEADLINES = {"helps": "Transfer helps", "negative-transfer": "Negative transfer"}
KINDS: dict[str, tuple[str, str, str]] = {
    "transfer": ("helps", "no-difference", "negative-transfer"),
    "adaptation": ("adaptation helps", "no-difference", "adaptation hurts"),
    "sharing": ("sharing helps", "no-difference", "interference"),
    "generalization": ("alignment helps", "no-difference", "alignment hurts"),
}
MIN_DISCORDANT = 10
MIN_TEST = 100
SMALL_TEST_SET = 1000
IMBALANCED = 1.5  # largest / smallest test class count above which balanced accuracy joins the sentence


@dataclass
class Arm:
    """One model scored on the run's shared test items.

    ``output`` is ``[n_test, n_classes]`` probabilities for classification, ``[n_test]`` values for regression.
    ``role`` is one of transfer, baseline, reference, source-only, adapted, target-only, pooled, multitask,
    single-task. ``val_score`` is measured on labeled (never test) items.
    """

    name: str
    role: str
    model_name: str
    output: np.ndarray
    task: str = "main"
    val_score: float = float("nan")
    trained_on: str = ""
    model: Any = None  # the FittedModel (None for references)
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def is_regression(self) -> bool:
        return self.output.ndim == 1

    def predictions(self) -> np.ndarray:
        return self.output if self.is_regression else self.output.argmax(1)


@dataclass(frozen=True)
class Comparison:
    """``a`` (the candidate) against ``b`` (what a user would do instead), on the same test items."""

    a: str
    b: str
    kind: str = "transfer"  # a key of KINDS
    task: str = "main"

    @property
    def name(self) -> str:
        suffix = "" if self.task == "main" else f" [{self.task}]"
        return f"{self.a} vs {self.b}{suffix}"


MULTINOMIAL_MAX_VALUES = 8  # distinct per-item differences up to which the bootstrap draws counts


def per_item_scores(arm: Arm, y_true: np.ndarray) -> np.ndarray:
    """1/0 correctness (classification) or minus absolute error (regression) per test item."""
    if arm.is_regression:
        return -np.abs(np.asarray(arm.output, dtype=np.float64) - np.asarray(y_true, dtype=np.float64))
    return (arm.output.argmax(1) == np.asarray(y_true)).astype(np.float64)


def paired_bootstrap_ci(
    diff: np.ndarray, *, n_boot: int = 5000, confidence: float = 0.95, seed: int = 0
) -> tuple[float, float]:
    """Percentile CI of ``mean(diff)`` over resamples of the items (the same resample for both models).

    When ``diff`` takes few distinct values (paired 0/1 correctness gives -1, 0, +1), a resample's mean depends
    only on how many items of each value it drew, so the counts are drawn from the multinomial they follow:
    the same bootstrap distribution in O(n_boot) instead of O(n_boot * n)."""
    diff = np.asarray(diff, dtype=np.float64)
    n = len(diff)
    if n == 0:
        raise ValueError("empty test set")
    rng = np.random.default_rng(seed)
    alpha = (1.0 - confidence) / 2.0
    values, counts = np.unique(diff, return_counts=True)
    if len(values) <= MULTINOMIAL_MAX_VALUES:
        draws = rng.multinomial(n, counts / n, size=n_boot)
        lo, hi = np.quantile(draws @ values / n, [alpha, 1.0 - alpha])
        return float(lo), float(hi)
    boots = np.empty(n_boot)
    chunk = max(1, 2_000_000 // n)
    for start in range(0, n_boot, chunk):
        stop = min(n_boot, start + chunk)
        idx = rng.integers(0, n, size=(stop - start, n))
        boots[start:stop] = diff[idx].mean(axis=1)
    lo, hi = np.quantile(boots, [alpha, 1.0 - alpha])
    return float(lo), float(hi)


def mcnemar_exact(correct_a: np.ndarray, correct_b: np.ndarray) -> tuple[float, int, int]:
    """Exact (binomial) McNemar p-value on the discordant pairs: (p, a right & b wrong, a wrong & b right)."""
    a_only = int(np.sum((correct_a > 0) & (correct_b <= 0)))
    b_only = int(np.sum((correct_a <= 0) & (correct_b > 0)))
    if a_only + b_only == 0:
        return 1.0, 0, 0
    return float(stats.binomtest(a_only, a_only + b_only, 0.5).pvalue), a_only, b_only


def reference_arms(y_train: np.ndarray, n_test: int, n_classes: int, *, seed: int = 0) -> list[Arm]:
    """The majority-class (prior) and stratified-random predictors, fitted on the labeled items only."""
    counts = np.bincount(np.asarray(y_train), minlength=n_classes).astype(np.float64)
    prior = counts / counts.sum()
    majority = np.zeros((n_test, n_classes))
    majority[:, int(counts.argmax())] = 1.0
    rng = np.random.default_rng(seed)
    draws = rng.choice(n_classes, size=n_test, p=prior)
    stratified = np.eye(n_classes)[draws]
    return [
        Arm(
            "majority",
            "reference",
            "majority class (always the largest labeled class)",
            majority,
            val_score=float(prior.max()),
            trained_on="labeled class counts",
        ),
        Arm(
            "stratified",
            "reference",
            "stratified random guess (labeled class shares)",
            stratified,
            val_score=float(np.sum(prior**2)),
            trained_on="labeled class counts",
        ),
    ]


def regression_reference_arms(y_train: np.ndarray, n_test: int) -> list[Arm]:
    """The regression counterpart of the majority class: always predict the labeled median."""
    med = float(np.median(np.asarray(y_train, dtype=np.float64)))
    return [
        Arm("median", "reference", "median of the labeled targets", np.full(n_test, med), trained_on="labeled targets")
    ]


def _score_text(arm: Arm, y: np.ndarray, imbalanced: bool) -> str:
    if arm.is_regression:
        return f"MAE {float(np.mean(np.abs(arm.output - y))):.4g}"
    acc = float(np.mean(arm.output.argmax(1) == y))
    text = f"{100 * acc:.1f}%"
    if imbalanced:
        text += f" (balanced {100 * float(balanced_accuracy_score(y, arm.output.argmax(1))):.1f}%)"
    return text


def judge(
    comparison: Comparison,
    arms: Mapping[str, Arm],
    y_true: np.ndarray,
    *,
    seed: int = 0,
    n_boot: int = 5000,
    confidence: float = 0.95,
    reference: str | None = None,
) -> dict[str, Any]:
    """The verdict of one comparison as a JSON-ready dict (label, delta, CI, tests, sentence, warnings).

    ``delta`` is accuracy(a) - accuracy(b) for classification and MAE(b) - MAE(a) for regression, so a
    positive delta always means ``a`` is better. ``reference`` names the majority-class arm to check both
    sides against (default: ``"majority"`` or ``"median"`` when present).
    """
    a, b = arms[comparison.a], arms[comparison.b]
    y = np.asarray(y_true)
    sa, sb = per_item_scores(a, y), per_item_scores(b, y)
    diff = sa - sb
    lo, hi = paired_bootstrap_ci(diff, n_boot=n_boot, confidence=confidence, seed=seed)
    better, same, worse = KINDS[comparison.kind]
    label = better if lo > 0 else worse if hi < 0 else same
    n = len(y)
    regression = a.is_regression
    out: dict[str, Any] = {
        "comparison": comparison.name,
        "kind": comparison.kind,
        "task": comparison.task,
        "a": a.name,
        "b": b.name,
        "a_model": a.model_name,
        "b_model": b.model_name,
        "metric": "absolute error" if regression else "accuracy",
        "a_score": float(-sa.mean()) if regression else float(sa.mean()),
        "b_score": float(-sb.mean()) if regression else float(sb.mean()),
        "delta": float(diff.mean()),
        "ci_low": lo,
        "ci_high": hi,
        "confidence": confidence,
        "n_test": n,
        "n_boot": n_boot,
    }
    warnings: list[str] = []
    if not regression:
        p, a_only, b_only = mcnemar_exact(sa, sb)
        out.update({"mcnemar_p": p, "a_only_correct": a_only, "b_only_correct": b_only})
        underpowered = (a_only + b_only) < MIN_DISCORDANT or n < MIN_TEST
        if underpowered:
            warnings.append(
                f"{comparison.name}: underpowered ({a_only + b_only} discordant test items, {n} test items, exact "
                f"McNemar p = {p:.2f}); repeat with --seeds 5 or --folds 5 before trusting this verdict"
            )
    else:
        underpowered = n < MIN_TEST // 2
    out["underpowered"] = bool(underpowered)
    if n < SMALL_TEST_SET:
        warnings.append(
            f"The test set has only {n} examples (< {SMALL_TEST_SET}): the confidence interval is wide; "
            "collect more labeled test data for a sharper verdict."
        )
    counts = np.bincount(y.astype(np.int64)) if not regression else np.array([1])
    counts = counts[counts > 0]
    imbalanced = not regression and counts.max() / counts.min() >= IMBALANCED
    if imbalanced:
        out["a_balanced_accuracy"] = float(balanced_accuracy_score(y, a.predictions()))
        out["b_balanced_accuracy"] = float(balanced_accuracy_score(y, b.predictions()))
    ref_name = reference or next((r for r in ("majority", "median") if r in arms), None)
    beats_reference = None
    if ref_name is not None and ref_name not in (a.name, b.name):
        sr = per_item_scores(arms[ref_name], y)
        beats = {}
        for arm, s in ((a, sa), (b, sb)):
            r_lo, _ = paired_bootstrap_ci(s - sr, n_boot=n_boot, confidence=confidence, seed=seed + 1)
            beats[arm.name] = bool(r_lo > 0)
        beats_reference = beats
        out["reference"] = {
            "arm": ref_name,
            "score": float(-sr.mean()) if regression else float(sr.mean()),
            "beaten_by": beats,
        }
    pts = _delta_text(out, regression)
    ta, tb = _score_text(a, y, imbalanced), _score_text(b, y, imbalanced)
    head = HEADLINES.get(label, label.capitalize()) if label != same else "No detectable difference"
    if label == better:
        sentence = f"{head}: {a.model_name} reached {ta} vs {tb} for {b.model_name}, {pts} on {n} test examples."
    elif label == worse:
        sentence = (
            f"{head}: {a.model_name} reached {ta}, WORSE than {b.model_name} at {tb}, {pts} on {n} test examples. "
            f"Do not ship {a.name}; use {b.name} or try another backbone/strategy."
        )
    else:
        sentence = (
            f"{head}: {a.model_name} {ta} vs {b.model_name} {tb}, {pts} on {n} test examples; "
            "the interval includes zero."
        )
    if beats_reference is not None and not any(beats_reference.values()):
        ref = arms[ref_name]  # type: ignore[index]
        what = "predicting the median" if regression else "guessing the largest class"
        sentence += (
            f" Neither model beats {what} ({_score_text(ref, y, imbalanced)}) beyond its confidence interval: "
            "collect more labels before trusting either."
        )
    out["label"] = label
    out["sentence"] = sentence
    out["warnings"] = warnings
    return out


def _delta_text(v: Mapping[str, Any], regression: bool) -> str:
    if regression:  # delta = baseline MAE - transfer MAE; said as the change in the transfer model's MAE
        if v["delta"] >= 0:
            return f"MAE {v['delta']:.4g} lower (95% CI of the drop {v['ci_low']:+.4g} to {v['ci_high']:+.4g})"
        return f"MAE {-v['delta']:.4g} higher (95% CI of the rise {-v['ci_high']:+.4g} to {-v['ci_low']:+.4g})"
    return f"{100 * v['delta']:+.1f} points (95% CI {100 * v['ci_low']:+.1f} to {100 * v['ci_high']:+.1f})"


def judge_all(
    comparisons: Sequence[Comparison],
    arms: Sequence[Arm],
    y_true: np.ndarray | Mapping[str, np.ndarray],
    *,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """:func:`judge` for every comparison. ``y_true`` may map task name -> targets (multitask runs)."""

    def task_arms(task: str) -> dict[str, Arm]:
        # arm names are unique within a task (a multitask run has a "single-task" arm per task); reference
        # arms are the task's own, else the run-wide ones (task "main")
        own = {a.name: a for a in arms if a.task == task}
        shared = {a.name: a for a in arms if a.role == "reference" and a.task == "main" and a.name not in own}
        return {**shared, **own}

    for c in comparisons:
        for side in (c.a, c.b):
            if side not in task_arms(c.task):
                raise KeyError(f"comparison {c.name!r} names arm {side!r}, which the run does not have")
    out = []
    for c in comparisons:
        y = y_true[c.task] if isinstance(y_true, Mapping) else y_true
        out.append(judge(c, task_arms(c.task), y, seed=seed))
    return out


def arm_summary(arm: Arm, y_true: np.ndarray, classes: Sequence[str] | None = None) -> dict[str, Any]:
    """What metrics.json records per arm (scores on the shared test items + provenance)."""
    y = np.asarray(y_true)
    doc: dict[str, Any] = {
        "name": arm.name,
        "role": arm.role,
        "model": arm.model_name,
        "task": arm.task,
        "trained_on": arm.trained_on,
        "val_score": arm.val_score,
        **arm.info,
    }
    if arm.is_regression:
        err = np.asarray(arm.output, dtype=np.float64) - y.astype(np.float64)
        doc.update({"mae": float(np.mean(np.abs(err))), "rmse": float(np.sqrt(np.mean(err**2)))})
    else:
        pred = arm.output.argmax(1)
        doc.update(
            {"accuracy": float(np.mean(pred == y)), "balanced_accuracy": float(balanced_accuracy_score(y, pred))}
        )
    return doc
