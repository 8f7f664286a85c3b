"""``--adapt auto``: choose an embedding method and its main hyper-parameter without target labels.

Candidates are source-only (``none``) plus every method of :data:`headstart.adapt.embedding.METHODS` at its
default value; then the leading method's grid. Each candidate is fitted on 80% of the source (labeled) +
the unlabeled target, and scored on the held-out 20% of the source + the target by five skada scorers:

* ``iw``: importance-weighted source accuracy (Sugiyama et al. 2007; kernel density ratio);
* ``dev``: deep embedded validation (You et al. 2019; discriminator-weighted source loss, lower is better);
* ``entropy``: mean prediction entropy on the target (Morerio et al. 2018; lower is better);
* ``snd``: soft neighbourhood density on the target (Saito et al. 2021);
* ``circular``: circular validation (Bruzzone & Marconcini 2009; retrain on target pseudo-labels, score on
  source).

skada signs each so that greater is better. A label-free consistency check comes first: a candidate whose
predicted target class shares move more than ``SHARE_DRIFT_MAX`` (total variation) from source-only's, and
that are not within ``PRIOR_TOLERANCE`` of the target priors estimated by EM from source-only's target
probabilities (:func:`headstart.adapt.labelshift.em_priors`), is out (e.g. per-domain standardisation under
spam's strong label shift, which recentres the target on its majority class and predicts nearly all ham).
The chosen candidate has the best mean rank
over the scorers among the consistent ones. An adapted model ships only if (1) a majority of scorers rank it
above source-only and (2) its accuracy on the held-out source is not more than ``SOURCE_TOLERANCE`` below
source-only's; otherwise source-only ships and ``reason`` says why.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.stats import rankdata

from headstart.adapt.embedding import AUTO_METHODS, METHODS, fit_method

__all__ = ["SCORERS", "Selection", "select_method"]

SOURCE_TOLERANCE = 0.01
PRIOR_TOLERANCE = 0.1
SHARE_DRIFT_MAX = 0.25  # predicted target class shares may move this far (TV) from source-only's
VAL_SHARE = 0.2


def _scorers(seed: int) -> dict[str, Any]:
    from skada.metrics import (
        CircularValidation,
        DeepEmbeddedValidation,
        ImportanceWeightedScorer,
        PredictionEntropyScorer,
        SoftNeighborhoodDensity,
    )

    return {
        "iw": ImportanceWeightedScorer(),
        "dev": DeepEmbeddedValidation(random_state=seed),
        "entropy": PredictionEntropyScorer(),
        "snd": SoftNeighborhoodDensity(),
        "circular": CircularValidation(),
    }


SCORERS = ("iw", "dev", "entropy", "snd", "circular")


@dataclass
class Selection:
    """What ``--adapt auto`` measured and decided (JSON-ready through :meth:`to_dict`)."""

    chosen: str  # "none" or a method name
    value: Any
    ship: bool
    reason: str
    candidates: list[dict[str, Any]] = field(default_factory=list)
    picked_by: dict[str, str] = field(default_factory=dict)  # scorer -> its top candidate

    def to_dict(self) -> dict[str, Any]:
        return {
            "chosen": self.chosen,
            "value": self.value,
            "ship": self.ship,
            "reason": self.reason,
            "picked_by": self.picked_by,
            "candidates": self.candidates,
        }


def _key(c: dict[str, Any]) -> str:
    return c["method"] if c["method"] == "none" else f"{c['method']}[{c['param']}={c['value']}]"


def _score_candidate(method: str, value: Any, data: tuple[np.ndarray, ...], seed: int, C: float) -> dict[str, Any]:
    """The five scores, held-out source accuracy and predicted target shares; a method that fails numerically
    (e.g. NaN features from a degenerate covariance) gets NaN scores, ranks last and cannot ship."""
    try:
        return _score(method, value, data, seed, C)
    except (ValueError, np.linalg.LinAlgError, FloatingPointError) as exc:
        n_classes = int(np.max(data[1])) + 1
        return {
            "method": method,
            "param": METHODS[method].param if method in METHODS else "",
            "value": value,
            "scores": dict.fromkeys(SCORERS, float("nan")),
            "source_val_accuracy": float("nan"),
            "target_shares": np.zeros(n_classes),
            "_proba": np.full((len(data[4]), n_classes), 1.0 / n_classes),
            "failed": f"{type(exc).__name__}: {str(exc).splitlines()[0][:120]}",
        }


def _score(method: str, value: Any, data: tuple[np.ndarray, ...], seed: int, C: float) -> dict[str, Any]:
    Xs_tr, ys_tr, Xs_va, ys_va, Xt = data
    name = "per-domain" if method == "none" else method
    est, _ = fit_method(name, value, Xs_tr, ys_tr, Xt, seed=seed, C=C) if method != "none" else (None, None)
    if est is None:
        est = _source_only(Xs_tr, ys_tr, C)
    X = np.vstack([Xs_va, Xt])
    y = np.r_[ys_va, -np.ones(len(Xt), dtype=np.int64)]
    sd = np.r_[np.ones(len(ys_va), dtype=np.int64), -np.ones(len(Xt), dtype=np.int64)]
    scores: dict[str, float] = {}
    for sname, scorer in _scorers(seed).items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                scores[sname] = float(scorer(est, X, y, sample_domain=sd))
            except (ValueError, KeyError, AttributeError, np.linalg.LinAlgError, ZeroDivisionError):
                # e.g. DEV calls the pipeline's transform without sample_domain, which per-domain steps
                # need: that scorer abstains for this candidate
                scores[sname] = float("nan")
    src_pred = est.predict(Xs_va, sample_domain=np.ones(len(ys_va), dtype=np.int64), allow_source=True)
    proba = np.asarray(est.predict_proba(Xt, sample_domain=-np.ones(len(Xt), dtype=np.int64)))
    param = METHODS[method].param if method in METHODS else ""
    return {
        "method": method,
        "param": param,
        "value": value,
        "scores": scores,
        "source_val_accuracy": float(np.mean(src_pred == ys_va)),
        "target_shares": np.bincount(proba.argmax(1), minlength=proba.shape[1]) / len(proba),
        "_proba": proba,
    }


def _prior_check(cands: list[dict[str, Any]], ys: np.ndarray) -> np.ndarray:
    """True where a candidate's predicted target class shares stay within ``SHARE_DRIFT_MAX`` (total variation)
    of source-only's, or within ``PRIOR_TOLERANCE`` of the EM estimate of the target priors (recorded as
    ``prior_gap``): a method that re-labels a large share of the target wholesale, with no label evidence
    for it, is out (per-domain standardisation under spam's 83% -> 15% ham shift predicts nearly all ham)."""
    from headstart.adapt.labelshift import em_priors

    none = cands[0]
    ps = np.bincount(ys, minlength=none["_proba"].shape[1]) / len(ys)
    prior = em_priors(none["_proba"], ps)
    base = np.asarray(none["target_shares"])
    for c in cands:
        c["prior_gap"] = float(0.5 * np.abs(np.asarray(c["target_shares"]) - prior).sum())
        c["share_drift"] = float(0.5 * np.abs(np.asarray(c["target_shares"]) - base).sum())
    limit = none["prior_gap"] + PRIOR_TOLERANCE
    return np.array([c["share_drift"] <= SHARE_DRIFT_MAX or c["prior_gap"] <= limit for c in cands])


def _public(c: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in c.items() if not k.startswith("_")}
    out["target_shares"] = [round(float(v), 4) for v in c["target_shares"]]
    return out


def _source_only(Xs: np.ndarray, ys: np.ndarray, C: float) -> Any:
    """Source-only in the same skada pipeline form (one scaler fitted on the source, no adapter)."""
    from skada import SelectSource, make_da_pipeline
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    lr = LogisticRegression(C=C, max_iter=300)
    lr.set_score_request(sample_weight=True)
    est = make_da_pipeline(SelectSource(StandardScaler()), lr)
    sd = np.ones(len(ys), dtype=np.int64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(Xs, ys, sample_domain=sd)
    return est


def _rank(cands: list[dict[str, Any]]) -> tuple[np.ndarray, dict[str, str]]:
    """Mean rank over the scorers (1 = best), NaN scores ranked last; and each scorer's top candidate."""
    ranks = []
    picked = {}
    for s in SCORERS:
        vals = np.array([c["scores"].get(s, np.nan) for c in cands], dtype=np.float64)
        vals = np.where(np.isfinite(vals), vals, -np.inf)
        ranks.append(rankdata(-vals, method="average"))
        picked[s] = _key(cands[int(np.argmax(vals))])
    return np.mean(ranks, axis=0), picked


def select_method(
    Xs: np.ndarray,
    ys: np.ndarray,
    Xt: np.ndarray,
    *,
    methods: Sequence[str] | None = None,
    seed: int = 0,
    C: float = 0.1,
    tune: bool = True,
) -> Selection:
    """Rank ``methods`` (default: all) and the leading one's grid with unsupervised scorers; decide shipping."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(ys))
    n_va = max(len(np.unique(ys)), int(VAL_SHARE * len(ys)))
    va, tr = np.sort(order[:n_va]), np.sort(order[n_va:])
    data = (Xs[tr], ys[tr], Xs[va], ys[va], Xt)
    names = list(methods) if methods is not None else list(AUTO_METHODS)
    cands = [_score_candidate("none", None, data, seed, C)]
    cands += [_score_candidate(m, METHODS[m].default, data, seed, C) for m in names]
    mean_rank, _ = _rank(cands)
    ok = _prior_check(cands, ys[tr])
    if tune:
        lead = cands[1 + int(np.argmin(np.where(ok[1:], mean_rank[1:], np.inf)))]["method"]
        cands += [_score_candidate(lead, v, data, seed, C) for v in METHODS[lead].grid[1:]]
        ok = _prior_check(cands, ys[tr])
    mean_rank, picked = _rank(cands)
    for c, r, good in zip(cands, mean_rank, ok, strict=True):
        c["mean_rank"] = float(r)
        c["prior_consistent"] = bool(good)
    eligible = np.where(ok[1:], mean_rank[1:], np.inf)
    best = cands[1 + int(np.argmin(eligible))] if len(cands) > 1 else cands[0]
    none = cands[0]
    valid = [s for s in SCORERS if np.isfinite(best["scores"].get(s, np.nan))]
    none_s = {s: none["scores"].get(s, np.nan) for s in valid}
    above = sum(1 for s in valid if not np.isfinite(none_s[s]) or best["scores"][s] > none_s[s])
    agree = above > len(valid) / 2
    holds = best["source_val_accuracy"] >= none["source_val_accuracy"] - SOURCE_TOLERANCE
    label = _key(best)
    public = [_public(c) for c in cands]
    if not np.isfinite(eligible).any():
        ship, reason = False, "every method moves the predicted target class shares away from the EM estimate"
    elif mean_rank[0] <= eligible.min():
        ship, reason = False, "the scorers rank source-only first: no adaptation ships"
    elif not agree:
        ship, reason = False, f"only {above} of {len(valid)} scorers rank {label} above source-only: source-only ships"
    elif not holds:
        ship, reason = (
            False,
            (
                f"{label} loses on the held-out source ({best['source_val_accuracy']:.3f} vs "
                f"{none['source_val_accuracy']:.3f}): source-only ships"
            ),
        )
    else:
        ship, reason = (
            True,
            (
                f"{above} of {len(valid)} scorers rank {label} above source-only and it holds on the held-out "
                f"source ({best['source_val_accuracy']:.3f} vs {none['source_val_accuracy']:.3f})"
            ),
        )
    return Selection(best["method"], best["value"], ship, reason, public, picked)
