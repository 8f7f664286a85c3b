"""One repetition of a study: fit transfer + baseline on index sets of one dataset and score both on a test set.

:class:`PairFitter` is shared by the curve and the variance study. For the linear probe it extracts the
embeddings of every item any repetition needs ONCE (through the on-disk cache) and each repetition only refits
the logistic-regression head; other strategies are refit through their registered function, and baselines
through :func:`headstart.baseline_cache.cached_fit_baseline`. :meth:`PairFitter.fit_eval_all` runs the
repetitions on an executor (here, or on other processes / a Ray cluster).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from headstart.artifacts import FittedModel
from headstart.baseline_cache import cached_fit_baseline
from headstart.data import LabeledData
from headstart.executors import Executor
from headstart.strategies import TransferTask, get_strategy
from headstart.study_splits import _take


@dataclass
class PairResult:
    transfer_accuracy: float
    baseline_accuracy: float
    baseline_name: str
    pred_transfer: np.ndarray
    pred_baseline: np.ndarray


@dataclass
class PairFitter:
    """Fit transfer + baseline on index sets of one dataset and score both on a test index set."""

    data: LabeledData
    strategy: str
    backbone: str
    baseline: str
    image_size: int | None = None
    options: dict[str, Any] = field(default_factory=dict)
    transfer: FittedModel | None = None  # the run's transfer model: its encoder is reused for the probe
    progress: bool = False
    _emb_index: np.ndarray | None = None
    _emb: np.ndarray | None = None

    @property
    def reuses_embeddings(self) -> bool:
        return self._emb is not None or (self.strategy == "linear-probe" and hasattr(self.transfer, "embed"))

    def portable(self) -> PairFitter:
        """A copy to ship to other processes: without the run's transfer model (its encoder stays here), with
        the prepared embeddings, without progress bars."""
        return replace(self, transfer=None, progress=False)

    def fit_eval_all(self, jobs: Sequence[PairJob], executor: Executor | None = None) -> list[PairResult]:
        """:meth:`fit_eval` of every ``(train, val, test, seed)`` job, in order, on ``executor``."""
        if executor is None or executor.kind == "sequential":
            return [self.fit_eval(*job) for job in jobs]
        return executor.map(_fit_eval_job, jobs, shared=self.portable())

    def prepare(self, idx: np.ndarray) -> dict[str, Any]:
        """Extract (through the cache) the embeddings of every item in ``idx`` once; returns extraction stats."""
        if not self.reuses_embeddings:
            return {}
        from headstart.features import extract

        uniq = np.unique(np.asarray(idx, dtype=np.int64))
        t: Any = self.transfer
        items = _take(self.data.items, uniq)
        if hasattr(t, "texts") and hasattr(t, "inner"):  # a table's rows-as-text model: serialize, then embed
            items, t = t.texts(items), t.inner
        encoder = t.feature_encoder() if hasattr(t, "feature_encoder") else t.encoder()
        emb, stats = extract(encoder, items, progress=self.progress)
        self._emb_index, self._emb = uniq, emb
        return stats.to_dict()

    def _embeddings(self, idx: np.ndarray) -> np.ndarray:
        assert self._emb_index is not None and self._emb is not None
        pos = np.searchsorted(self._emb_index, idx)
        if np.any(pos >= len(self._emb_index)) or np.any(
            self._emb_index[np.minimum(pos, len(self._emb_index) - 1)] != idx
        ):
            missing = np.setdiff1d(idx, self._emb_index)
            raise RuntimeError(f"{len(missing)} items were not prepared")
        return self._emb[pos]

    def fit_eval(self, train: np.ndarray, val: np.ndarray, test: np.ndarray, seed: int) -> PairResult:
        d = self.data
        y_test = d.y[test]
        task = TransferTask(
            train_items=_take(d.items, train),
            y_train=d.y[train],
            val_items=_take(d.items, val),
            y_val=d.y[val],
            classes=d.classes,
            modality=d.modality,
            backbone=self.backbone,
            seed=seed,
            image_size=self.image_size,
            progress=self.progress,
            options=dict(self.options),
        )
        if self.reuses_embeddings:
            from headstart.strategies.linear_head import fit_linear_head

            lab = np.concatenate([train, val])
            head = fit_linear_head(
                self._embeddings(lab),
                d.y[lab],
                len(d.classes),
                seed=seed,
                class_weight="balanced" if self.options.get("loss") == "weighted" else None,
            )
            p_t = head.predict_proba(self._embeddings(test))
        elif d.modality == "tabular":  # as fit_run does: the strategy reads the rows serialized as text
            from headstart.strategies.row_text import fit_row_text

            p_t = fit_row_text(task, self.strategy).predict_proba(_take(d.items, test))
        else:
            model = get_strategy(self.strategy)(task)
            p_t = model.predict_proba(_take(d.items, test))
        base, _ = cached_fit_baseline(self.baseline, task)
        p_b = base.predict_proba(_take(d.items, test))
        pt, pb = p_t.argmax(1), p_b.argmax(1)
        return PairResult(float((pt == y_test).mean()), float((pb == y_test).mean()), str(base.name), pt, pb)


PairJob = tuple[np.ndarray, np.ndarray, np.ndarray, int]  # train, val, test indices; seed


def _fit_eval_job(fitter: PairFitter, job: PairJob) -> PairResult:
    return fitter.fit_eval(*job)
