"""The domain-adaptation recipe with a strategy that trains the backbone (``--strategy partial|finetune|lora``).

Arms on the held-out labeled target test items (the same :class:`~headstart.adapt.run.AdaptResult` shape as
the embedding recipe, so metrics.json, the report and the ship rule read it unchanged):

* ``source-only``: the SAME strategy and backbone trained on the labeled source only;
* ``adapted[dann]``, ``adapted[cdan]``, ``adapted[self-training]``: :func:`headstart.adapt.deep.fit_deep`
  on the labeled source + the unlabeled target (the target pool with its labels hidden, or ``--unlabeled``);
* with ``labels_per_class`` K > 0: ``target-only`` / ``pooled`` / ``scratch`` as in the embedding recipe;
* the ``majority`` / ``stratified`` references.

Comparisons: each adapted arm vs ``source-only`` (kind ``adaptation``). Choosing without target labels: every
arm is scored by prediction entropy on the unlabeled target (Morerio et al. 2018), soft neighbourhood density
of its target predictions (Saito et al. 2021) and importance-weighted source-validation accuracy (Sugiyama et
al. 2007; density ratio from a domain classifier on pre-trained embeddings, so the weights are the same for
every arm); the adapted arm with the best mean rank is chosen, and it ships only if a majority of the scorers
rank it above source-only and its source-validation accuracy is within
``SOURCE_TOLERANCE`` of source-only's (the rule of :mod:`headstart.adapt.select`); else source-only ships.
The shift (MMD, low-capacity PAD) is measured on pre-trained embeddings before and on the chosen model's
fine-tuned embeddings after. Each arm checkpoints in ``work_dir/<arm>/`` so ``--resume`` continues a killed run.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from headstart.adapt.deep import DEEP_METHODS, DEEP_STRATEGIES, fit_deep
from headstart.adapt.domains import align_classes
from headstart.adapt.embedding import METHODS
from headstart.adapt.run import (
    AdaptConfig,
    AdaptResult,
    _per_class,
    _projection,
    _take,
    _target_arms,
    adapt_run,
    embed_domains,
    split_target,
)
from headstart.adapt.select import SOURCE_TOLERANCE
from headstart.adapt.shift import measure_shift
from headstart.data import LabeledData
from headstart.errors import HeadstartError
from headstart.evaluation.compare import Arm, Comparison, judge_all, reference_arms

__all__ = ["DEEP_SCORERS", "adapt_any", "deep_adapt_run", "deep_methods", "score_unsupervised"]

Echo = Callable[[str], None]
SHIFT_POINTS = 400  # items per domain embedded by the fine-tuned encoders for the "after" shift
SND_POINTS = 1000
SND_TEMPERATURE = 0.05
DEEP_SCORERS = ("entropy", "snd", "iw")
IW_CLIP = 20.0


def deep_methods(cfg: AdaptConfig) -> list[str]:
    """The deep methods of ``cfg`` (``auto``: all of them), or a one-line error naming what is allowed."""
    methods = list(DEEP_METHODS) if cfg.methods == ["auto"] else list(cfg.methods)
    bad = [m for m in methods if m not in DEEP_METHODS]
    if bad:
        raise HeadstartError(
            f"--adapt {bad[0]}: with --strategy {cfg.strategy} the methods are auto or {', '.join(DEEP_METHODS)}; "
            "use --strategy linear-probe for the embedding methods"
        )
    return methods


def validate(cfg: AdaptConfig) -> None:
    """One-line errors for a strategy adaptation cannot use or a method the strategy does not run."""
    if cfg.strategy in DEEP_STRATEGIES:
        deep_methods(cfg)
        return
    if cfg.strategy != "linear-probe":
        raise HeadstartError(
            f"--strategy {cfg.strategy}: adaptation runs with linear-probe or {', '.join(DEEP_STRATEGIES)}"
        )
    for m in cfg.methods:
        if m in DEEP_METHODS and m not in METHODS:
            raise HeadstartError(f"--adapt {m} trains the backbone: add --strategy partial, finetune or lora")
        if m != "auto" and m not in METHODS:
            raise HeadstartError(f"--adapt: unknown embedding method {m!r}; choose auto or {', '.join(METHODS)}")


def adapt_any(source: LabeledData, target: LabeledData | None, cfg: AdaptConfig, **kw: Any) -> AdaptResult:
    """The embedding recipe (``linear-probe``) or the deep one (``partial`` / ``finetune`` / ``lora``)."""
    validate(cfg)
    if cfg.strategy in DEEP_STRATEGIES:
        return deep_adapt_run(source, target, cfg, **kw)
    kw.pop("work_dir", None)
    kw.pop("resume", None)
    return adapt_run(source, target, cfg, **kw)


def _entropy(p: np.ndarray) -> float:
    return float(np.mean(-(p * np.log(np.clip(p, 1e-12, None))).sum(1)))


def _snd(p: np.ndarray, seed: int) -> float:
    """Soft neighbourhood density: mean entropy of the temperature-softmax similarity of each target row to the
    others (normalised prediction vectors); higher = denser, more consistent clusters."""
    rng = np.random.default_rng(seed)
    if len(p) > SND_POINTS:
        p = p[rng.choice(len(p), size=SND_POINTS, replace=False)]
    z = p / np.maximum(np.linalg.norm(p, axis=1, keepdims=True), 1e-12)
    s = z @ z.T / SND_TEMPERATURE
    np.fill_diagonal(s, -np.inf)
    s = s - s.max(1, keepdims=True)
    e = np.exp(s)
    q = e / e.sum(1, keepdims=True)
    return float(np.mean(-(q * np.log(np.clip(q, 1e-12, None))).sum(1)))


def importance_weights(x_val: np.ndarray, x_target: np.ndarray, seed: int = 0) -> np.ndarray:
    """Density ratio p_target / p_source at the source-validation rows, from a logistic domain classifier on
    standardised embeddings (clipped at ``IW_CLIP``, mean 1)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X = np.vstack([x_val, x_target])
    d = np.r_[np.zeros(len(x_val)), np.ones(len(x_target))]
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=500, random_state=seed)).fit(X, d)
    p = np.clip(clf.predict_proba(x_val)[:, 1], 1e-6, 1 - 1e-6)
    w = np.minimum(p / (1 - p) * len(x_val) / len(x_target), IW_CLIP)
    return w / max(float(w.mean()), 1e-12)


def score_unsupervised(
    probs: dict[str, np.ndarray],
    val_probs: dict[str, np.ndarray] | None = None,
    y_val: np.ndarray | None = None,
    weights: np.ndarray | None = None,
    seed: int = 0,
) -> dict[str, dict[str, float]]:
    """Per arm: the scorers (see the module docstring) signed so that greater is better; ``iw`` needs the
    arms' source-validation probabilities, their labels and the importance weights."""
    out = {name: {"entropy": -_entropy(p), "snd": _snd(p, seed)} for name, p in probs.items()}
    if val_probs is not None and y_val is not None and weights is not None:
        for name, p in val_probs.items():
            out[name]["iw"] = float(np.sum(weights * (p.argmax(1) == y_val)) / np.sum(weights))
    return out


def _choose(scores: dict[str, dict[str, float]], val: dict[str, float]) -> tuple[str, bool, str]:
    """(chosen adapted arm, ship?, why) by mean rank over the scorers (see the module docstring)."""
    from scipy.stats import rankdata

    names = list(scores)
    used = [s for s in DEEP_SCORERS if all(s in scores[n] for n in names)]
    ranks = np.mean([rankdata([-scores[n][s] for n in names]) for s in used], axis=0)
    adapted = [n for n in names if n != "source-only"]
    chosen = min(adapted, key=lambda n: ranks[names.index(n)])
    above = sum(scores[chosen][s] > scores["source-only"][s] for s in used)
    sv, so = val[chosen], val["source-only"]
    if above <= len(used) / 2:
        return chosen, False, f"only {above} of {len(used)} scorers rank {chosen} above source-only: source-only ships"
    if not sv >= so - SOURCE_TOLERANCE:
        return chosen, False, f"{chosen} loses on the source validation ({sv:.3f} vs {so:.3f}): source-only ships"
    why = f"{above} of {len(used)} scorers rank {chosen} above source-only and it holds on the source validation"
    return chosen, True, f"{why} ({sv:.3f} vs {so:.3f})"


def deep_adapt_run(
    source: LabeledData,
    target: LabeledData | None,
    cfg: AdaptConfig,
    *,
    unlabeled: Sequence[Any] | None = None,
    class_map: dict[str, str] | None = None,
    echo: Echo | None = None,
    work_dir: Path | None = None,
    resume: bool = False,
) -> AdaptResult:
    """Fit source-only and each deep adapted arm with ``cfg.strategy``; judge, score, measure the shift."""
    from sklearn.model_selection import train_test_split

    from headstart.strategies import TransferTask, get_strategy

    say = echo or (lambda _s: None)
    t0 = time.perf_counter()
    timing: dict[str, float] = {}
    methods = deep_methods(cfg)
    if target is None and unlabeled is None:
        raise HeadstartError("domain adaptation needs target items: give TARGET or --unlabeled")
    classes = list(target.classes) if target is not None else list(source.classes)
    ys_all = align_classes(source, target, class_map) if target is not None else source.y
    src_idx = np.arange(len(ys_all))
    if cfg.max_source is not None and len(src_idx) > cfg.max_source:
        src_idx = np.sort(
            train_test_split(src_idx, train_size=cfg.max_source, stratify=ys_all, random_state=cfg.seed)[0]
        )
    tr, va = train_test_split(np.arange(len(src_idx)), test_size=0.2, stratify=ys_all[src_idx], random_state=cfg.seed)
    tr, va = src_idx[np.sort(tr)], src_idx[np.sort(va)]
    modality = (target or source).modality
    backbone = cfg.backbone or {"text": "minilm-l6", "image": "mobilenetv2"}[modality]
    from headstart.features import default_image_size

    image_size = default_image_size(target if target is not None else source, backbone, cfg.image_size)
    test = pool = labeled = np.zeros(0, dtype=np.int64)
    if target is not None:
        test, pool, labeled = split_target(target.y, cfg)
    u_items: Sequence[Any] = list(unlabeled) if unlabeled is not None else _take(target.items, pool)  # type: ignore[union-attr]
    if cfg.max_unlabeled is not None and len(u_items) > cfg.max_unlabeled:
        keep = np.sort(np.random.default_rng(cfg.seed).choice(len(u_items), size=cfg.max_unlabeled, replace=False))
        u_items = _take(u_items, keep)
    eval_items = _take(target.items, test) if target is not None else u_items
    y_test = target.y[test] if target is not None else None
    n_classes = len(classes)

    def task(arm: str) -> TransferTask:
        return TransferTask(
            _take(source.items, tr), ys_all[tr], _take(source.items, va), ys_all[va], classes, modality, backbone,
            seed=cfg.seed, image_size=image_size, progress=cfg.progress, resume=resume, options=dict(cfg.options),
            work_dir=None if work_dir is None else Path(work_dir) / arm,
        )  # fmt: skip

    fitted: dict[str, Any] = {}
    t1 = time.perf_counter()
    say(f"source-only: {cfg.strategy} {backbone} on {len(tr)} labeled source items")
    fitted["source-only"] = get_strategy(cfg.strategy)(task("source-only"))
    timing["source_only"] = time.perf_counter() - t1
    for m in methods:
        t1 = time.perf_counter()
        say(f"adapted[{m}]: {DEEP_METHODS[m]}, {cfg.strategy} {backbone}, + {len(u_items)} unlabeled target items")
        fitted[f"adapted[{m}]"] = fit_deep(task(m), m, u_items, strategy=cfg.strategy)
        timing[f"adapted_{m}"] = time.perf_counter() - t1

    t1 = time.perf_counter()
    parts: dict[str, Any] = {"source": _take(source.items, tr), "unlabeled": u_items, "val": _take(source.items, va)}
    if target is not None and cfg.labels_per_class > 0:
        parts.update(pool=_take(target.items, pool), test=eval_items)
    emb = embed_domains(backbone, image_size, parts, progress=cfg.progress)
    timing["embed"] = time.perf_counter() - t1
    t1 = time.perf_counter()
    probs_u = {name: fm.predict_proba(u_items) for name, fm in fitted.items()}
    probs_v = {name: fm.predict_proba(parts["val"]) for name, fm in fitted.items()}
    weights = importance_weights(emb["val"], emb["unlabeled"], cfg.seed)
    scores = score_unsupervised(probs_u, probs_v, ys_all[va], weights, cfg.seed)
    val = {name: float(fm.val_accuracy) for name, fm in fitted.items()}
    chosen, ship, reason = _choose(scores, val)
    timing["selection"] = time.perf_counter() - t1
    arms: list[Arm] = []
    for name, fm in fitted.items():
        so = name == "source-only"
        m = name.removeprefix("adapted[").removesuffix("]")
        info = (
            {"strategy": cfg.strategy}
            if so
            else {"strategy": cfg.strategy, "method": m, "chosen_by_scorers": name == chosen}
        )
        arms.append(
            Arm(
                name,
                "source-only" if so else "adapted",
                fm.name if so else f"{fm.name} + {DEEP_METHODS[m].split(' (')[0]}",
                fm.predict_proba(eval_items),
                val_score=val[name],
                trained_on=f"{len(tr)} labeled source items"
                + ("" if so else f" + {len(u_items)} unlabeled target items"),
                model=fm,
                info=info,
            )
        )
    comparisons = [Comparison(a.name, "source-only", kind="adaptation") for a in arms if a.role == "adapted"]

    t1 = time.perf_counter()
    if target is not None and cfg.labels_per_class > 0:
        x_lab = emb["pool"][np.searchsorted(pool, labeled)]
        arms += _target_arms(target, labeled, x_lab, emb["source"], ys_all[tr], emb["test"], eval_items, cfg)
        best = max((a for a in arms if a.role in ("target-only", "pooled")), key=lambda a: np.nan_to_num(a.val_score))
        comparisons.append(Comparison(best.name, "scratch", kind="transfer"))
    if target is not None:
        y_ref = target.y[labeled] if len(labeled) else ys_all[tr]
        arms += reference_arms(y_ref, len(test), n_classes, seed=cfg.seed)
    verdicts = judge_all(comparisons, arms, y_test, seed=cfg.seed) if y_test is not None else []
    rng = np.random.default_rng(cfg.seed)
    pick = {
        k: np.sort(rng.choice(len(emb[k]), size=min(len(emb[k]), SHIFT_POINTS), replace=False))
        for k in ("source", "unlabeled")
    }
    before = (emb["source"][pick["source"]], emb["unlabeled"][pick["unlabeled"]])
    after = tuple(fitted[chosen].embed(_take(parts[k], pick[k])).astype(np.float64) for k in ("source", "unlabeled"))
    shift: dict[str, Any] = {
        "before": measure_shift(*before, seed=cfg.seed, n_perm=cfg.shift_perm),
        "after": measure_shift(*after, seed=cfg.seed, n_perm=cfg.shift_perm),
        "after_method": chosen,
    }
    timing["shift"] = time.perf_counter() - t1

    shipped = chosen if ship else "source-only"
    selection = {
        "chosen": chosen.removeprefix("adapted[").removesuffix("]"),
        "value": None,
        "ship": ship,
        "reason": reason,
        "picked_by": {s: max(scores, key=lambda n, s=s: scores[n][s]) for s in DEEP_SCORERS},
        "candidates": [{"method": n, "scores": scores[n], "source_val_accuracy": val[n]} for n in scores],
        "scorers": list(DEEP_SCORERS),
    }
    hindsight: dict[str, Any] = {"chosen": selection["chosen"], "shipped": shipped}
    if y_test is not None:
        acc = {a.name: float(np.mean(a.output.argmax(1) == y_test)) for a in arms if a.role == "adapted"}
        best_m = max(acc, key=acc.__getitem__)
        so = float(np.mean(arms[0].output.argmax(1) == y_test))
        hindsight.update(best=best_m, accuracy=acc, source_only=so, chosen_is_best=best_m == chosen)
    per_class = _per_class([a for a in arms if a.role != "reference"], y_test, classes) if y_test is not None else {}
    timing["total"] = time.perf_counter() - t0
    return AdaptResult(
        arms, comparisons, verdicts, y_test, classes, shipped, reason, shift, selection, hindsight, per_class,
        _projection(before, after, cfg.seed), timing,
    )  # fmt: skip


def check_resume(saved_config: Path, config: dict[str, Any]) -> None:
    """A one-line error unless the interrupted run at ``saved_config`` had the same settings as ``config``."""
    import json

    if not saved_config.exists():
        raise HeadstartError(f"{saved_config} not found: the interrupted run cannot be resumed; start it again")
    saved = json.loads(saved_config.read_text(encoding="utf-8"))
    skip = {"started", "versions"}
    diff = sorted(k for k in set(saved) | set(config) if k not in skip and saved.get(k) != config.get(k))
    if diff:
        raise HeadstartError(
            f"--resume: {saved_config.parent} was started with other settings ({', '.join(diff)}); "
            "repeat the original command with --resume, or use --overwrite"
        )


def save_shipped(result: AdaptResult, work: Path) -> None:
    """The shipped deep model (if any) as ``model/`` (a FineTunedModel folder); drop the per-arm checkpoints."""
    import shutil

    arm = next((a for a in result.arms if a.name == result.shipped), None)
    if arm is not None and arm.model is not None and hasattr(arm.model, "save"):
        arm.model.save(work / "model")
    shutil.rmtree(work / "checkpoints", ignore_errors=True)
