"""``fewshot-text``: frozen-embedding probe, TF-IDF, or both blended; out-of-fold evidence on the labeled items picks.

Few labeled texts on a CPU: training a transformer (SetFit, contrastive, LoRA) costs minutes, a frozen MiniLM
probe costs seconds but loses to TF-IDF on texts whose label lives in words (spam) and wins where it lives in
meaning (reviews). This strategy fits both cheap models and ships one of (rows of :data:`CANDIDATES`):

- ``blend`` (the default): the sum of both models' centred log-probabilities (a product of experts, no weight
  fitted): never far below the better model, often above both;
- ``probe``: cached frozen embeddings -> standardised logistic regression (C by CV), as ``linear-probe``, on
  the backbone's frozen-probe view (``registry.PROBE_VIEW``: ``minilm-l6`` -> ``minilm-l6-layers``, the same
  weights with layers 4-6 pooled, measured 1-12 points better for probes);
- ``tfidf``: word 1-2-gram + char 2-5-gram TF-IDF -> logistic regression (C by CV), headstart's text baseline.

Choice (labeled items only, train + val; the test split is never seen): out-of-fold predictions of both models
on the same stratified folds. A single model replaces the blend only when it is paired-significantly better
out of fold: (items it gets right that the blend misses) - (the reverse) > ``SWITCH_Z`` x sqrt(their sum)
(a one-sided sign / McNemar test at ~5%). Picking the plain CV argmax instead was measured worse
(benchmarks/results/fewshot.md): with 16-32 labels the fold accuracies are noise, and below chance on weak
signals (leave-out anti-learning), which also made a fitted stacking combiner learn negative weights.
What was measured and why the winner won goes to ``task.notes["fewshot_text"]`` and the model's ``meta.json``.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from headstart.artifacts import model_class, read_meta, register_kind, write_meta
from headstart.backbones import probe_view
from headstart.errors import HeadstartError
from headstart.strategies.base import TransferTask, register_strategy
from headstart.strategies.linear_head import cv_folds, softmax
from headstart.strategies.linear_probe import LinearProbeModel, fit_linear_probe

EPS = 1e-6
# name -> the fitted parts its predictions need; the first row is the default.
CANDIDATES: dict[str, tuple[str, ...]] = {
    "blend": ("probe", "tfidf"),
    "probe": ("probe",),
    "tfidf": ("tfidf",),
}
DEFAULT = next(iter(CANDIDATES))
SWITCH_Z = 1.64  # one-sided ~5%: a single model must beat the blend out of fold by this many standard errors


def centred_logp(p: np.ndarray) -> np.ndarray:
    lp = np.log(np.clip(np.asarray(p, dtype=np.float64), EPS, 1.0))
    return lp - lp.mean(axis=1, keepdims=True)


def blend(p_probe: np.ndarray, p_tfidf: np.ndarray) -> np.ndarray:
    """Softmax of the summed centred log-probabilities (product of the two models' probabilities)."""
    return softmax(centred_logp(p_probe) + centred_logp(p_tfidf))


def _expand(p: np.ndarray, present: np.ndarray, n_classes: int) -> np.ndarray:
    out = np.zeros((len(p), n_classes))
    out[:, present] = p
    return out


@register_kind
class FewshotTextModel:
    """The chosen candidate: the blend of probe and TF-IDF, or one of them."""

    kind: ClassVar[str] = "fewshot-text"

    def __init__(
        self,
        chosen: str,
        probe: Any | None,
        tfidf: Any | None,
        info: dict[str, Any] | None = None,
    ) -> None:
        if chosen not in CANDIDATES:
            raise HeadstartError(f"unknown fewshot-text candidate {chosen!r}; one of: {', '.join(CANDIDATES)}")
        self.chosen, self.probe, self.tfidf = chosen, probe, tfidf
        self.info = info or {}

    @property
    def name(self) -> str:
        backbone = self.probe.backbone if self.probe is not None else self.info.get("backbone", "?")
        return {
            "blend": f"blend of {backbone} probe + TF-IDF",
            "probe": f"{backbone} linear probe",
            "tfidf": "TF-IDF + logistic regression",
        }[self.chosen] + " (chosen by CV)"

    @property
    def val_accuracy(self) -> float:
        return float(self.info.get("cv_accuracy", {}).get(self.chosen, float("nan")))

    def predict_proba(self, items: Sequence[Any]) -> np.ndarray:
        return PREDICT[self.chosen](self, items)

    def save(self, folder: Path) -> None:
        write_meta(folder, self.kind, chosen=self.chosen, parts=list(CANDIDATES[self.chosen]), **self.info)
        if self.probe is not None:
            self.probe.save(folder / "probe")
        if self.tfidf is not None:
            self.tfidf.save(folder / "tfidf")

    @classmethod
    def load(cls, folder: Path) -> FewshotTextModel:
        meta = read_meta(folder)
        chosen = meta.get("chosen")
        if chosen not in CANDIDATES:
            raise HeadstartError(
                f"{folder / 'meta.json'}: 'chosen' must be one of {', '.join(CANDIDATES)}, got {chosen!r}; "
                "re-run `headstart fit`"
            )
        parts = CANDIDATES[chosen]
        probe = LinearProbeModel.load(folder / "probe") if "probe" in parts else None
        tfidf = None
        if "tfidf" in parts:
            tfidf_meta = read_meta(folder / "tfidf")
            tfidf = model_class(folder / "tfidf", tfidf_meta).load(folder / "tfidf")
        info = {k: v for k, v in meta.items() if k not in ("kind", "chosen", "parts")}
        return cls(chosen, probe, tfidf, info)


def _predict_blend(m: FewshotTextModel, items: Sequence[Any]) -> np.ndarray:
    assert m.probe is not None and m.tfidf is not None
    words = centred_logp(m.tfidf.predict_proba(items))

    def summed(logits: np.ndarray, idx: np.ndarray) -> np.ndarray:  # the blend's scores; int8 moves only the probe's
        return centred_logp(softmax(logits)) + words[idx]

    return softmax(m.probe.scores(items, summed))  # = blend(p_probe, p_tfidf), through the probe's precision cascade


PREDICT: dict[str, Callable[[FewshotTextModel, Sequence[Any]], np.ndarray]] = {
    "blend": _predict_blend,
    "probe": lambda m, items: m.probe.predict_proba(items),  # type: ignore[union-attr]
    "tfidf": lambda m, items: m.tfidf.predict_proba(items),  # type: ignore[union-attr]
}


def choose(correct: dict[str, np.ndarray], z: float = SWITCH_Z) -> tuple[str, dict[str, dict[str, int]]]:
    """(candidate, paired counts): the default unless a single model beats it out of fold by ``z`` standard
    errors of the paired difference (the better such model by OOF accuracy wins)."""
    base = correct[DEFAULT]
    paired: dict[str, dict[str, int]] = {}
    best, best_acc = DEFAULT, -1.0
    for name, ok in correct.items():
        if name == DEFAULT:
            continue
        wins, losses = int((ok & ~base).sum()), int((base & ~ok).sum())
        paired[name] = {"wins": wins, "losses": losses}
        if wins - losses > z * np.sqrt(wins + losses) and ok.mean() > best_acc:
            best, best_acc = name, float(ok.mean())
    return best, paired


@register_strategy(
    "fewshot-text",
    "text: blend of frozen-embedding probe and TF-IDF, or one of them if paired-significantly better out of fold",
)
def fit_fewshot_text(task: TransferTask) -> FewshotTextModel:
    from headstart.baselines.text import TfidfLogReg  # function-local: baselines import strategies.linear_head

    if task.modality != "text" or task.target != "classification":
        raise HeadstartError(
            f"strategy fewshot-text needs text classification data (got {task.modality} {task.target}); "
            "use --strategy linear-probe"
        )
    items = list(task.train_items) + list(task.val_items)
    y = np.concatenate([task.y_train, task.y_val])
    weighted = "balanced" if task.options.get("loss") == "weighted" else None
    view = probe_view(task.backbone)  # same weights; timings and notes dicts are shared with ``task``
    probe = fit_linear_probe(dataclasses.replace(task, backbone=view))  # embeds through the cache; C by CV
    t0 = time.perf_counter()
    tfidf = TfidfLogReg.fit(items, y, task.n_classes, seed=task.seed, class_weight=weighted)
    task.timings["fit_tfidf"] = time.perf_counter() - t0
    t1 = time.perf_counter()
    k = cv_folds(y)
    scores: dict[str, float] = {}
    paired: dict[str, dict[str, int]] = {}
    if k >= 2:
        folds = StratifiedKFold(n_splits=k, shuffle=True, random_state=task.seed)
        present = np.unique(y)
        with threadpool_limits(limits=1, user_api="blas"):
            pipe = make_pipeline(
                StandardScaler(), LogisticRegression(C=probe.head.C, max_iter=2000, class_weight=weighted)
            )
            oof_probe = cross_val_predict(pipe, probe.embed(items), y, cv=folds, method="predict_proba")
            oof_tfidf = cross_val_predict(clone(tfidf.pipeline), items, y, cv=folds, method="predict_proba")
        oof = {
            "probe": _expand(oof_probe, present, task.n_classes),
            "tfidf": _expand(oof_tfidf, present, task.n_classes),
        }
        oof["blend"] = blend(oof["probe"], oof["tfidf"])
        correct = {name: oof[name].argmax(1) == y for name in CANDIDATES}
        scores = {name: float(ok.mean()) for name, ok in correct.items()}
        chosen, paired = choose(correct)
        acc = ", ".join(f"{c} {100 * s:.1f}%" for c, s in scores.items())
        if chosen == DEFAULT:
            why = (
                f"{k}-fold out-of-fold accuracy on the {len(y)} labeled texts: {acc}; neither single model beat the "
                f"blend by {SWITCH_Z} standard errors of the paired difference, so the blend ships"
            )
        else:
            why = (
                f"{chosen} beat the blend out of fold ({paired[chosen]['wins']} items won vs "
                f"{paired[chosen]['losses']} lost, > {SWITCH_Z} standard errors; {acc}), so {chosen} ships"
            )
    else:
        chosen, why = DEFAULT, f"too few labels per class for cross-validation ({k} folds): the blend (default)"
    task.timings["select"] = time.perf_counter() - t1
    info = {"backbone": view, "cv_accuracy": scores, "paired": paired, "n_folds": k, "why": why}
    task.notes["fewshot_text"] = {"chosen": chosen, **info}
    parts = CANDIDATES[chosen]
    return FewshotTextModel(chosen, probe if "probe" in parts else None, tfidf if "tfidf" in parts else None, info)
