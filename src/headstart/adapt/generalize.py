"""Domain generalization: labeled data from several domains, a domain to serve that has no labels at training.

Leave-one-domain-out: each domain is held out in turn and every arm is scored on its items
(``headstart.evaluation.compare``):

* ``pooled`` (ERM): the linear probe on the pooled training domains' features (embeddings from the shared cache
  for text and images; the tabular linear encoding for tables), L2 strength chosen by leave-one-training-domain-out
  accuracy (stratified CV when only one training domain is left);
* ``aligned[M]``: each alignment method M of :data:`ALIGNERS`, a skada pipeline where every training domain is
  standardised on its own statistics and the held-out domain on its own *unlabeled* statistics at test time
  (``per-domain``), plus CORAL re-colouring of the training domains onto the held-out one (``coral``);
* ``scratch``: the classical baseline (TF-IDF, pixels, trees) on the pooled training domains;
* the ``majority`` / ``stratified`` references.

Comparisons per held-out domain: ``aligned[M] vs pooled`` (kind ``generalization``: the DG verdict) and, for text
and images, ``pooled vs scratch`` (kind ``transfer``). Validation never touches the held-out domain's labels:
the probe's C and each arm's ``val_score`` come from leave-one-*training*-domain-out. With one training domain
left (two domains in all) C comes from stratified 3-fold CV and alignment is not validated at all (random folds
of one domain share its statistics, so they cannot show what alignment does to an unseen domain), and
``recommended`` stays ``pooled``; it becomes ``scratch`` when the pooled model is ``negative-transfer`` against
the from-scratch baseline on at least half of the held-out domains (and ``helps`` on none). The headline is the
domain the user names (``holdout``), else the domain where ``pooled`` is worst.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from headstart.data import LabeledData
from headstart.errors import HeadstartError
from headstart.evaluation.compare import Arm, Comparison, arm_summary, judge_all, reference_arms

__all__ = [
    "ALIGNERS",
    "GeneralizeConfig",
    "GeneralizeResult",
    "check_study",
    "domain_values",
    "generalize",
    "parse_domain_map",
]

Echo = Callable[[str], None]
CS = (0.01, 0.1, 1.0)
MAX_ITER = 500
MIN_DOMAIN_ITEMS = 5
LOTDO = "leave-one-training-domain-out"


def _lr(C: float) -> LogisticRegression:
    return LogisticRegression(C=C, max_iter=MAX_ITER)


def _per_domain(C: float) -> Any:
    from skada import PerDomain, make_da_pipeline

    return make_da_pipeline(PerDomain(StandardScaler()), _lr(C))


def _coral(C: float) -> Any:
    from skada import CORALAdapter, PerDomain, make_da_pipeline

    return make_da_pipeline(PerDomain(StandardScaler()), CORALAdapter(reg="auto"), _lr(C))


@dataclass(frozen=True)
class Aligner:
    name: str
    label: str
    build: Callable[[float], Any]


ALIGNERS: dict[str, Aligner] = {
    a.name: a
    for a in (
        Aligner("per-domain", "each domain standardised on its own statistics", _per_domain),
        Aligner("coral", "per-domain standardisation + CORAL onto the held-out domain", _coral),
    )
}


@dataclass
class GeneralizeConfig:
    """Settings of one leave-one-domain-out study (``methods``: names of :data:`ALIGNERS`)."""

    methods: tuple[str, ...] = tuple(ALIGNERS)
    holdout: str | None = None
    backbone: str | None = None
    image_size: int | None = None
    baseline: str = "auto"
    max_per_domain: int | None = 1000
    seed: int = 0
    progress: bool = False


@dataclass
class GeneralizeResult:
    domains: list[dict[str, Any]]  # one per held-out domain: name, n_test, arms (summaries), comparisons
    headline: str
    headline_reason: str
    arms: list[Arm]  # the headline domain's arms (scored on its items)
    verdicts: list[dict[str, Any]]
    y_test: np.ndarray
    classes: list[str]
    column: str
    recommended: str
    recommend_reason: str
    counts: dict[str, int]
    timing: dict[str, float] = field(default_factory=dict)

    def table(self) -> dict[str, Any]:
        """Rows: domains; columns: arms; cells: accuracy on that held-out domain."""
        columns: list[str] = []
        for d in self.domains:
            columns += [a["name"] for a in d["arms"] if a["name"] not in columns]
        rows = [
            {"domain": d["domain"], "n_test": d["n_test"], **{a["name"]: a["accuracy"] for a in d["arms"]}}
            for d in self.domains
        ]
        return {"columns": columns, "rows": rows}

    def metrics(self) -> dict[str, Any]:
        """The JSON-ready ``generalization`` block of metrics.json."""
        return {
            "domain_column": self.column,
            "domain_counts": self.counts,
            "headline": self.headline,
            "headline_reason": self.headline_reason,
            "recommended": self.recommended,
            "recommend_reason": self.recommend_reason,
            "table": self.table(),
            "domains": self.domains,
            "timing": self.timing,
        }


def parse_domain_map(text: str | None) -> dict[str, str]:
    """``"a=x,b=x,c=y"`` -> {a: x, b: x, c: y} (merges raw column values into domains)."""
    out: dict[str, str] = {}
    for pair in (text or "").split(","):
        if not pair.strip():
            continue
        old, eq, new = pair.partition("=")
        if not eq or not old.strip() or not new.strip():
            raise HeadstartError(f"--domain-map: {pair!r} is not value=domain; write e.g. --domain-map a=2002,b=2002")
        out[old.strip()] = new.strip()
    return out


def domain_values(data: LabeledData, column: str, domain_map: Mapping[str, str] | None = None) -> np.ndarray:
    """The domain of every item (column values, renamed by ``domain_map``); one-line errors for a missing
    column, an empty value or fewer than two domains."""
    if column not in data.groups:
        have = ", ".join(repr(g) for g in data.groups) or "none"
        raise HeadstartError(f"--domain-column {column!r}: {data.source} has no such column loaded; columns: {have}")
    raw = [str(v).strip() if v is not None else "" for v in data.groups[column]]
    mapping = dict(domain_map or {})
    unknown = sorted(set(mapping) - set(raw))
    if unknown:
        seen = ", ".join(sorted(set(raw))[:12])
        raise HeadstartError(f"--domain-map names {', '.join(unknown)}, not values of {column!r} (values: {seen})")
    values = np.asarray([mapping.get(v, v) for v in raw], dtype=object)
    empty = [i for i, v in enumerate(values) if v in ("", "nan", "None")]
    if empty:
        raise HeadstartError(
            f"{data.ids[empty[0]]}: empty {column!r} ({len(empty)} items without a domain); fill or drop them"
        )
    names = sorted(set(values.tolist()))
    if len(names) < 2:
        raise HeadstartError(
            f"--domain-column {column!r}: one domain only ({names[0]}); leave-one-domain-out needs two or more"
        )
    return values


def _cap(domains: np.ndarray, cap: int | None, seed: int) -> np.ndarray:
    """Indices kept: at most ``cap`` random items per domain (sorted)."""
    rng = np.random.default_rng(seed)
    keep = []
    for d in sorted(set(domains.tolist())):
        members = np.flatnonzero(domains == d)
        keep.append(members if cap is None or len(members) <= cap else rng.choice(members, cap, replace=False))
    return np.sort(np.concatenate(keep))


def _take(items: Any, idx: np.ndarray) -> Any:
    return items[idx] if isinstance(items, np.ndarray) else [items[i] for i in idx]


def _features(data: LabeledData, cfg: GeneralizeConfig, echo: Echo) -> Callable[[np.ndarray], np.ndarray]:
    """``features(train_idx) -> X`` for every item: embeddings (one pass through the cache) or, for tables, the
    linear encoding fitted on the training rows only."""
    if data.modality == "tabular":
        from headstart.baselines.table_features import TableEncoder

        rows = list(data.items)
        return lambda tr: TableEncoder.fit([rows[i] for i in tr]).linear_matrix(rows)
    from headstart.adapt.run import embed_domains
    from headstart.features import default_image_size

    backbone = cfg.backbone or {"text": "minilm-l6", "image": "mobilenetv2"}[data.modality]
    size = cfg.image_size if cfg.image_size is not None else default_image_size(data, backbone)
    echo(f"embedding {len(data.y)} items with {backbone}")
    X = embed_domains(backbone, size, {"all": data.items}, progress=cfg.progress)["all"]
    return lambda _tr: X


def _fit_aligned(name: str, C: float, X: np.ndarray, y: np.ndarray, dom: np.ndarray, Xt: np.ndarray, n: int) -> Any:
    """Fit aligner ``name`` on training rows (domain ids 1..k) + the target rows' statistics; target probabilities."""
    ids = {d: i + 1 for i, d in enumerate(sorted(set(dom.tolist())))}
    sd = np.r_[np.asarray([ids[d] for d in dom], dtype=np.int64), -np.ones(len(Xt), dtype=np.int64)]
    est = ALIGNERS[name].build(C)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", UserWarning)
        est.fit(np.vstack([X, Xt]), np.r_[y, -np.ones(len(Xt), dtype=np.int64)], sample_domain=sd)
        proba = est.predict_proba(Xt, sample_domain=-np.ones(len(Xt), dtype=np.int64))
    present = np.unique(y)
    out = np.zeros((len(Xt), n))
    out[:, present] = proba
    return out


def _inner_folds(y: np.ndarray, dom: np.ndarray, seed: int) -> tuple[list[tuple[np.ndarray, np.ndarray]], str]:
    """Leave-one-training-domain-out splits; stratified k-fold when one training domain is left."""
    names = sorted(set(dom.tolist()))
    if len(names) >= 2:
        folds = [(np.flatnonzero(dom != d), np.flatnonzero(dom == d)) for d in names]
        return [f for f in folds if len(np.unique(y[f[0]])) >= 2], LOTDO
    from sklearn.model_selection import StratifiedKFold

    k = int(min(3, np.bincount(y)[np.bincount(y) > 0].min()))
    if k < 2:
        return [], "none (a class with one item)"
    skf = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    return list(skf.split(np.zeros(len(y)), y)), f"stratified {k}-fold (one training domain)"


def _probe_acc(C: float, X: np.ndarray, y: np.ndarray, tr: np.ndarray, va: np.ndarray) -> float:
    from sklearn.pipeline import make_pipeline

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        pipe = make_pipeline(StandardScaler(), _lr(C)).fit(X[tr], y[tr])
    return float(np.mean(pipe.predict(X[va]) == y[va]))


def _one_domain(
    held: str, X: np.ndarray, data: LabeledData, dom: np.ndarray, cfg: GeneralizeConfig, echo: Echo
) -> tuple[list[Arm], list[Comparison], dict[str, Any]]:
    """Every arm with domain ``held`` held out, scored on its items."""
    from headstart.strategies.linear_head import fit_linear_head

    y, n = data.y, data.n_classes
    tr, te = np.flatnonzero(dom != held), np.flatnonzero(dom == held)
    if len(np.unique(y[tr])) < 2:
        raise HeadstartError(f"holding out {held!r} leaves one class only in the other domains; merge domains")
    Xtr, ytr, dtr, Xte = X[tr], y[tr], dom[tr], X[te]
    folds, how = _inner_folds(ytr, dtr, cfg.seed)
    with threadpool_limits(limits=1, user_api="blas"):
        cv = {C: float(np.mean([_probe_acc(C, Xtr, ytr, a, b) for a, b in folds])) if folds else np.nan for C in CS}
        C = max(CS, key=lambda c: (np.nan_to_num(cv[c], nan=-1.0), -abs(np.log10(c))))
        head = fit_linear_head(Xtr, ytr, n, seed=cfg.seed, Cs=(C,))
        domains_tr = ", ".join(sorted(set(dtr.tolist())))
        probe = "linear probe" if data.modality != "tabular" else "logistic regression on the table encoding"
        arms = [
            Arm(
                "pooled",
                "pooled",
                f"{probe} on the pooled training domains",
                head.predict_proba(Xte),
                val_score=cv[C],
                trained_on=f"{len(tr)} labeled items of {domains_tr}",
                info={"C": C},
            )
        ]
        lotdo = how == LOTDO  # alignment is only validated where a training domain can play the unseen one
        for m in cfg.methods:
            val = [
                float(np.mean(_fit_aligned(m, C, Xtr[a], ytr[a], dtr[a], Xtr[b], n).argmax(1) == ytr[b]))
                for a, b in (folds if lotdo else [])
            ]
            arms.append(
                Arm(
                    f"aligned[{m}]",
                    "adapted",
                    f"{ALIGNERS[m].label}, {probe}",
                    _fit_aligned(m, C, Xtr, ytr, dtr, Xte, n),
                    val_score=float(np.mean(val)) if val else np.nan,
                    trained_on=f"{len(tr)} labeled items of {domains_tr} + {len(te)} unlabeled of {held}",
                    info={"method": m, "C": C},
                )
            )
    comparisons = [Comparison(a.name, "pooled", kind="generalization") for a in arms if a.role == "adapted"]
    if cfg.baseline != "none":
        arms.append(_scratch(data, tr, te, cfg))
        if data.modality != "tabular":
            comparisons.append(Comparison("pooled", "scratch", kind="transfer"))
    arms += reference_arms(ytr, len(te), n, seed=cfg.seed)
    info = {"validation": how, "C": C, "cv_accuracy_by_C": {str(c): v for c, v in cv.items()}}
    return arms, comparisons, info


def _scratch(data: LabeledData, tr: np.ndarray, te: np.ndarray, cfg: GeneralizeConfig) -> Arm:
    """The classical baseline on the pooled training domains (20% of them for its validation)."""
    from sklearn.model_selection import train_test_split

    from headstart.baselines import fit_baseline
    from headstart.strategies.base import TransferTask

    y = data.y
    counts = np.bincount(y[tr])
    strat = y[tr] if counts[counts > 0].min() >= 2 else None
    fit_i, val_i = train_test_split(tr, test_size=0.2, random_state=cfg.seed, stratify=strat)
    task = TransferTask(_take(data.items, fit_i), y[fit_i], _take(data.items, val_i), y[val_i], list(data.classes),
                        data.modality, backbone="", seed=cfg.seed, progress=False)  # fmt: skip
    model, rep = fit_baseline(cfg.baseline, task)
    return Arm("scratch", "baseline", f"{model.name} (from scratch, pooled training domains)",
               np.asarray(model.predict_proba(_take(data.items, te)), dtype=np.float64),
               val_score=float(getattr(model, "val_accuracy", np.nan)), trained_on=f"{len(tr)} labeled items",
               info={"candidates": rep.get("candidates", {})})  # fmt: skip


def check_study(data: LabeledData, domains: np.ndarray, cfg: GeneralizeConfig) -> list[str]:
    """The sorted domain names; one-line errors for an unknown method, baseline or holdout, or a tiny domain."""
    for m in cfg.methods:
        if m not in ALIGNERS:
            raise HeadstartError(f"--align: unknown method {m!r}; choose from {', '.join(ALIGNERS)}")
    if cfg.baseline != "none":
        from headstart.baselines import check_baseline

        check_baseline(cfg.baseline, data.modality)
    names = sorted(set(domains.tolist()))
    if cfg.holdout is not None and cfg.holdout not in names:
        raise HeadstartError(f"--holdout-domain {cfg.holdout!r} is not a domain; domains: {', '.join(names)}")
    small = [d for d in names if np.sum(domains == d) < MIN_DOMAIN_ITEMS]
    if small:
        raise HeadstartError(
            f"domain {small[0]!r} has {int(np.sum(domains == small[0]))} items (< {MIN_DOMAIN_ITEMS}); merge it "
            "with --domain-map or drop it"
        )
    for held in names:
        if len(np.unique(data.y[domains != held])) < 2:
            raise HeadstartError(f"holding out {held!r} leaves one class only in the other domains; merge domains")
    return names


def _scratch_override(blocks: list[dict[str, Any]], recommended: str, reason: str) -> tuple[str, str]:
    """``scratch`` when the pooled model lost to the from-scratch baseline (``negative-transfer``) on at least
    half of the held-out domains and beat it on none: those held-out domains are this study's evidence of how
    each model does on a domain it never saw, which is what the recommendation is for."""
    labels = [
        c["label"]
        for b in blocks
        for c in b["comparisons"]
        if c.get("kind") == "transfer" and c.get("a") == "pooled" and c.get("b") == "scratch"
    ]
    lost = labels.count("negative-transfer")
    if not labels or "helps" in labels or 2 * lost < len(labels):
        return recommended, reason
    return "scratch", (
        f"the from-scratch baseline beat the pooled model on {lost} of {len(labels)} held-out domains "
        f"(negative-transfer); without it: {recommended}, {reason}"
    )


def generalize(
    data: LabeledData, domains: np.ndarray, cfg: GeneralizeConfig, *, column: str = "domain", echo: Echo | None = None
) -> GeneralizeResult:
    """Leave-one-domain-out over every domain; the headline domain's arms and verdicts on top."""
    say = echo or (lambda _s: None)
    t0 = time.perf_counter()
    names = check_study(data, domains, cfg)
    keep = _cap(domains, cfg.max_per_domain, cfg.seed)
    data, dom = data.subset(keep), domains[keep]
    counts = {d: int(np.sum(dom == d)) for d in names}
    features = _features(data, cfg, say)
    timing = {"features": time.perf_counter() - t0}
    blocks, kept = [], {}
    for held in names:
        t1 = time.perf_counter()
        say(f"held out {held} ({counts[held]} items): pooled, {', '.join(cfg.methods)}, scratch")
        X = features(np.flatnonzero(dom != held)).astype(np.float64)
        arms, comps, info = _one_domain(held, X, data, dom, cfg, say)
        y_te = data.y[dom == held]
        verdicts = judge_all(comps, arms, y_te, seed=cfg.seed)
        summaries = [arm_summary(a, y_te, data.classes) for a in arms]
        blocks.append({"domain": held, "n_test": len(y_te), **info, "arms": summaries, "comparisons": verdicts})
        kept[held] = (arms, verdicts, y_te)
        timing[f"domain {held}"] = time.perf_counter() - t1
    if cfg.holdout is not None:
        headline, why = cfg.holdout, "named with --holdout-domain"
    else:
        acc = {b["domain"]: next(a["accuracy"] for a in b["arms"] if a["name"] == "pooled") for b in blocks}
        headline = min(acc, key=acc.__getitem__)
        why = f"the domain where the pooled model is worst ({100 * acc[headline]:.1f}%)"
    arms, verdicts, y_te = kept[headline]
    pooled = next(a for a in arms if a.name == "pooled")
    aligned = [a for a in arms if a.role == "adapted"]
    how = blocks[names.index(headline)]["validation"]
    best = max(aligned, key=lambda a: np.nan_to_num(a.val_score, nan=-1.0)) if aligned else None
    if how != LOTDO:
        recommended = "pooled"
        reason = f"one training domain only ({how}): alignment cannot be validated against an unseen domain"
    elif best is not None and best.val_score > pooled.val_score:
        recommended = best.name
        reason = f"best {how} accuracy: {100 * best.val_score:.1f}% vs pooled {100 * pooled.val_score:.1f}%"
    else:
        recommended = "pooled"
        shown = f"best aligned {100 * np.nan_to_num(best.val_score):.1f}%, " if best is not None else ""
        reason = f"no alignment beat it on {how} ({shown}pooled {100 * np.nan_to_num(pooled.val_score):.1f}%)"
    recommended, reason = _scratch_override(blocks, recommended, reason)
    timing["total"] = time.perf_counter() - t0
    classes = list(data.classes)
    return GeneralizeResult(
        blocks, headline, why, arms, verdicts, y_te, classes, column, recommended, reason, counts, timing
    )
