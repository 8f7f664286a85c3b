"""The domain-adaptation recipe on cached embeddings: every arm on the same target test items, and the verdicts.

Arms (``headstart.evaluation.compare.Arm``), all scored on the held-out labeled target test items:

* ``source-only``: the linear probe (C by CV) trained on the source embeddings;
* ``adapted[M]``: each requested embedding method M (:mod:`headstart.adapt.embedding`), trained on the labeled
  source + the unlabeled target (the target training pool with its labels hidden, or ``--unlabeled`` items);
* with ``labels_per_class`` K > 0: ``target-only`` (linear probe on the K-per-class labeled target items),
  ``scratch`` (the from-scratch baseline on them) and ``pooled`` (linear probe on source + K target labels);
* the ``majority`` / ``stratified`` references.

Comparisons: each ``adapted[M]`` vs ``source-only`` (kind ``adaptation``); with K > 0, the target model with the
best validation score (target-only, pooled) vs ``scratch`` (kind ``transfer``). A target without any labels
gets no verdict: the run reports the unsupervised indicators (shift, scorer ranking) instead.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from headstart.adapt.domains import align_classes
from headstart.adapt.embedding import AUTO_METHODS, METHODS, fit_method, linear_head_of, predict_target
from headstart.adapt.select import select_method
from headstart.adapt.shift import measure_shift
from headstart.data import LabeledData
from headstart.errors import HeadstartError
from headstart.evaluation.compare import Arm, Comparison, judge_all, reference_arms

__all__ = ["AdaptConfig", "AdaptResult", "adapt_run", "domain_features", "embed_domains", "split_target"]

Echo = Callable[[str], None]
PROJECTION_POINTS = 300


@dataclass
class AdaptConfig:
    """Settings of one adaptation run (``methods``: names of :data:`METHODS`, or ``["auto"]``)."""

    methods: list[str] = field(default_factory=lambda: ["auto"])
    labels_per_class: int = 0
    backbone: str | None = None
    image_size: int | None = None
    seed: int = 0
    test_size: float = 0.5
    max_test: int | None = 1000
    max_source: int | None = 5000
    baseline: str = "auto"
    shift_perm: int = 200
    progress: bool = False
    strategy: str = "linear-probe"  # partial / finetune / lora: deep methods (headstart.adapt.deep_run)
    options: dict[str, Any] = field(default_factory=dict)  # deep: strategy hyper-parameters (epochs, lr, ...)
    max_unlabeled: int | None = None  # deep: cap on the unlabeled target items trained on


@dataclass
class AdaptResult:
    arms: list[Arm]
    comparisons: list[Comparison]
    verdicts: list[dict[str, Any]]
    y_test: np.ndarray | None
    classes: list[str]
    shipped: str
    ship_reason: str
    shift: dict[str, Any]
    selection: dict[str, Any] | None
    hindsight: dict[str, Any]
    per_class: dict[str, dict[str, float]]
    projection: dict[str, Any]
    timing: dict[str, float]

    def metrics(self) -> dict[str, Any]:
        """The JSON-ready ``adaptation`` section of metrics.json."""
        from headstart.evaluation.compare import arm_summary

        return {
            "arms": [arm_summary(a, self.y_test, self.classes) for a in self.arms] if self.y_test is not None else [],
            "verdicts": self.verdicts,
            "shipped": self.shipped,
            "ship_reason": self.ship_reason,
            "shift": self.shift,
            "selection": self.selection,
            "hindsight": self.hindsight,
            "per_class_accuracy": self.per_class,
            "timing": self.timing,
        }


def split_target(y: np.ndarray, cfg: AdaptConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(test, pool, labeled): a stratified test split, the rest as the training pool, and K per class of it."""
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(y))
    n_test = round(cfg.test_size * len(y))
    if cfg.max_test is not None:
        n_test = min(n_test, cfg.max_test)
    pool, test = train_test_split(idx, test_size=n_test, stratify=y, random_state=cfg.seed)
    labeled = np.zeros(0, dtype=np.int64)
    if cfg.labels_per_class > 0:
        rng = np.random.default_rng(cfg.seed)
        picks = []
        for c in np.unique(y):
            members = pool[y[pool] == c]
            if len(members) < cfg.labels_per_class:
                raise HeadstartError(
                    f"--labels-per-class {cfg.labels_per_class}: the target training pool has only {len(members)} "
                    f"items of class index {c}; lower it"
                )
            picks.append(rng.choice(members, size=cfg.labels_per_class, replace=False))
        labeled = np.sort(np.concatenate(picks))
    return np.sort(test), np.sort(pool), labeled


def embed_domains(
    backbone: str, image_size: int | None, parts: dict[str, Sequence[Any]], progress: bool = False
) -> dict[str, np.ndarray]:
    """Embeddings of every part through the shared cache (one backbone load)."""
    from headstart.backbones import load_backbone
    from headstart.features import extract

    encoder = load_backbone(backbone, image_size=image_size)
    return {k: extract(encoder, list(v), progress=progress)[0].astype(np.float64) for k, v in parts.items()}


def domain_backbone(ref: LabeledData, cfg: AdaptConfig) -> tuple[str, int | None] | None:
    """(backbone, image size) the parts are embedded with; None for a table (the tabular encoder)."""
    if ref.modality == "tabular":
        return None
    backbone = cfg.backbone or {"text": "minilm-l6", "image": "mobilenetv2"}[ref.modality]
    image_size = cfg.image_size
    if image_size is None:
        from headstart.features import default_image_size

        image_size = default_image_size(ref, backbone)
    return backbone, image_size


def domain_features(
    ref: LabeledData, parts: dict[str, Sequence[Any]], cfg: AdaptConfig, say: Echo
) -> dict[str, np.ndarray]:
    """Backbone embeddings of every part; a table's parts go through the tabular encoder instead."""
    which = domain_backbone(ref, cfg)
    if which is None:
        from headstart.adapt.tabular import TABLE_ENCODER, table_domains

        say(f"encoding source and target rows with the {TABLE_ENCODER}")
        return table_domains(parts)
    say(f"embedding source and target with {which[0]}")
    return embed_domains(*which, parts, progress=cfg.progress)


def _saved_probe(which: tuple[str, int | None] | None, head: Any) -> Any:
    """A predict-ready model (frozen backbone + ``head``) for an arm, or None (a table, or no linear head)."""
    if which is None or head is None:
        return None
    from headstart.backbones.lazy import lazy_backbone
    from headstart.strategies.linear_probe import LinearProbeModel

    backbone, image_size = which
    sha = lazy_backbone(backbone, image_size=image_size).weights_sha256
    return LinearProbeModel(backbone, head, image_size=image_size, weights_sha256=sha)


def _take(items: Any, idx: np.ndarray) -> Any:
    return items[idx] if isinstance(items, np.ndarray) else [items[i] for i in idx]


def _probe(X: np.ndarray, y: np.ndarray, n_classes: int, seed: int) -> Any:
    from headstart.strategies.linear_head import fit_linear_head

    return fit_linear_head(X, y, n_classes, seed=seed)


def _shift_after(est: Any, Xs: np.ndarray, Xt: np.ndarray, seed: int, n_perm: int) -> tuple[dict[str, Any], Any]:
    """Shift between the adapted source and target features (the pipeline minus its classifier)."""
    feats = est[:-1]
    try:
        zs = feats.transform(Xs, sample_domain=np.ones(len(Xs), dtype=np.int64), allow_source=True)
    except TypeError:  # steps that take no allow_source
        zs = feats.transform(Xs, sample_domain=np.ones(len(Xs), dtype=np.int64))
    zt = feats.transform(Xt, sample_domain=-np.ones(len(Xt), dtype=np.int64))
    return measure_shift(np.asarray(zs), np.asarray(zt), seed=seed, n_perm=n_perm), (zs, zt)


def _projection(before: tuple[np.ndarray, np.ndarray], after: tuple[Any, Any] | None, seed: int) -> dict[str, Any]:
    """2-D PCA coordinates of (a sample of) source and target, before and after alignment."""
    from sklearn.decomposition import PCA

    rng = np.random.default_rng(seed)
    out: dict[str, Any] = {}
    for tag, pair in (("before", before), ("after", after)):
        if pair is None:
            continue
        xs, xt = (np.asarray(p, dtype=np.float64) for p in pair)
        xs = xs[rng.choice(len(xs), size=min(len(xs), PROJECTION_POINTS), replace=False)]
        xt = xt[rng.choice(len(xt), size=min(len(xt), PROJECTION_POINTS), replace=False)]
        pca = PCA(n_components=2, random_state=seed).fit(np.vstack([xs, xt]))
        out[tag] = {"source": pca.transform(xs).round(4).tolist(), "target": pca.transform(xt).round(4).tolist()}
    return out


def _per_class(arms: Sequence[Arm], y: np.ndarray, classes: Sequence[str]) -> dict[str, dict[str, float]]:
    out = {}
    for a in arms:
        pred = a.output.argmax(1)
        out[a.name] = {c: float(np.mean(pred[y == i] == i)) for i, c in enumerate(classes) if np.any(y == i)}
    return out


def adapt_run(
    source: LabeledData,
    target: LabeledData | None,
    cfg: AdaptConfig,
    *,
    unlabeled: Sequence[Any] | None = None,
    class_map: dict[str, str] | None = None,
    echo: Echo | None = None,
) -> AdaptResult:
    """Fit every arm, judge every comparison (when target labels exist) and measure the shift."""
    say = echo or (lambda _s: None)
    timing: dict[str, float] = {}
    t0 = time.perf_counter()
    methods = list(AUTO_METHODS) if cfg.methods == ["auto"] else list(cfg.methods)
    for m in methods:
        if m in ("dann", "cdan"):
            raise HeadstartError(f"--adapt {m} trains the backbone: add --strategy partial, finetune or lora")
        if m not in METHODS:
            raise HeadstartError(f"--adapt: unknown embedding method {m!r}; choose auto or {', '.join(METHODS)}")
    classes = list(target.classes) if target is not None else list(source.classes)
    ys = align_classes(source, target, class_map) if target is not None else source.y
    src_idx = np.arange(len(ys))
    if cfg.max_source is not None and len(ys) > cfg.max_source:
        from sklearn.model_selection import train_test_split

        src_idx, _ = train_test_split(src_idx, train_size=cfg.max_source, stratify=ys, random_state=cfg.seed)
        src_idx = np.sort(src_idx)
    ys = ys[src_idx]
    parts: dict[str, Sequence[Any]] = {"source": _take(source.items, src_idx)}
    test = pool = labeled = np.zeros(0, dtype=np.int64)
    if target is not None:
        test, pool, labeled = split_target(target.y, cfg)
        parts["test"] = _take(target.items, test)
        parts["pool"] = _take(target.items, pool)
    if unlabeled is not None:
        parts["unlabeled"] = list(unlabeled)
    if target is None and unlabeled is None:
        raise HeadstartError("domain adaptation needs target items: give TARGET or --unlabeled")
    ref = target if target is not None else source
    which = domain_backbone(ref, cfg)
    emb = domain_features(ref, parts, cfg, say)
    timing["embed"] = time.perf_counter() - t0
    Xs = emb["source"]
    Xu = emb["unlabeled"] if unlabeled is not None else emb["pool"]
    X_eval = emb["test"] if target is not None else Xu
    y_test = target.y[test] if target is not None else None
    n_classes = len(classes)

    t1 = time.perf_counter()
    say(f"source-only: linear probe on {len(ys)} source items")
    head = _probe(Xs, ys, n_classes, cfg.seed)
    arms = [
        Arm(
            "source-only",
            "source-only",
            "linear probe trained on the source",
            head.predict_proba(X_eval),
            val_score=head.cv_accuracy,
            trained_on=f"{len(ys)} labeled source items",
            model=_saved_probe(which, head),
        )
    ]
    timing["source_only"] = time.perf_counter() - t1

    t1 = time.perf_counter()
    say(f"ranking {', '.join(methods)} with five unsupervised scorers")
    selection = select_method(Xs, ys, Xu, methods=methods, seed=cfg.seed, C=float(head.C), tune=cfg.methods == ["auto"])
    timing["selection"] = time.perf_counter() - t1
    chosen_value = {c["method"]: c["value"] for c in selection.candidates if c["method"] == selection.chosen}
    fitted: dict[str, Any] = {}
    for m in methods:
        t1 = time.perf_counter()
        value = chosen_value.get(m, METHODS[m].default)
        say(f"adapted[{m}]: {METHODS[m].label} ({METHODS[m].param}={value})")
        try:
            est, _ = fit_method(m, value, Xs, ys, Xu, seed=cfg.seed, C=float(head.C))
            out = predict_target(est, X_eval)
        except (ValueError, np.linalg.LinAlgError) as exc:  # e.g. NaN features from a degenerate covariance
            say(f"adapted[{m}] skipped: {type(exc).__name__}: {str(exc).splitlines()[0][:100]}")
            continue
        fitted[m] = est
        cand = next((c for c in selection.candidates if c["method"] == m and c["value"] == value), {})
        val = float(cand.get("source_val_accuracy", np.nan))
        linear = linear_head_of(est, X_eval, C=float(head.C), val_score=val) if which is not None else None
        arms.append(
            Arm(
                f"adapted[{m}]",
                "adapted",
                f"{METHODS[m].label}, linear head",
                out,
                val_score=val,
                trained_on=f"{len(ys)} labeled source + {len(Xu)} unlabeled target items",
                model=_saved_probe(which, linear),
                info={
                    "method": m,
                    "param": METHODS[m].param,
                    "value": value,
                    "chosen_by_scorers": m == selection.chosen,
                },
            )
        )
        timing[f"adapted_{m}"] = time.perf_counter() - t1

    comparisons = [Comparison(a.name, "source-only", kind="adaptation") for a in arms if a.role == "adapted"]
    if target is not None and cfg.labels_per_class > 0:
        arms += _target_arms(
            target, labeled, emb["pool"][np.searchsorted(pool, labeled)], Xs, ys, X_eval, parts["test"], cfg
        )
        best = max((a for a in arms if a.role in ("target-only", "pooled")), key=lambda a: np.nan_to_num(a.val_score))
        comparisons.append(Comparison(best.name, "scratch", kind="transfer"))
    if target is not None:
        y_ref = target.y[labeled] if len(labeled) else ys
        arms += reference_arms(y_ref, len(test), n_classes, seed=cfg.seed)
    verdicts = judge_all(comparisons, arms, y_test, seed=cfg.seed) if y_test is not None else []

    t1 = time.perf_counter()
    shift = {"before": measure_shift(Xs, Xu, seed=cfg.seed, n_perm=cfg.shift_perm)}
    shown = selection.chosen if selection.chosen in fitted else methods[0]
    after_pair = None
    try:
        shift["after"], after_pair = _shift_after(fitted[shown], Xs, Xu, cfg.seed, cfg.shift_perm)
        shift["after_method"] = shown
    except (ValueError, KeyError, AttributeError, TypeError) as e:  # an adapter without a feature transform
        shift["after"], shift["after_note"] = None, f"{shown}: no adapted features to measure ({type(e).__name__})"
    timing["shift"] = time.perf_counter() - t1

    shipped = f"adapted[{selection.chosen}]" if selection.ship and selection.chosen in fitted else "source-only"
    hindsight: dict[str, Any] = {"chosen": selection.chosen, "shipped": shipped}
    if y_test is not None:
        acc = {a.name: float(np.mean(a.output.argmax(1) == y_test)) for a in arms if a.role == "adapted"}
        best_m = max(acc, key=acc.__getitem__)
        so = float(np.mean(arms[0].output.argmax(1) == y_test))
        hindsight.update(
            best=best_m, accuracy=acc, source_only=so, chosen_is_best=best_m == f"adapted[{selection.chosen}]"
        )
    per_class = _per_class([a for a in arms if a.role != "reference"], y_test, classes) if y_test is not None else {}
    timing["total"] = time.perf_counter() - t0
    return AdaptResult(
        arms,
        comparisons,
        verdicts,
        y_test,
        classes,
        shipped,
        selection.reason,
        shift,
        selection.to_dict(),
        hindsight,
        per_class,
        _projection((Xs, Xu), after_pair, cfg.seed),
        timing,
    )


def _target_arms(
    target: LabeledData,
    labeled: np.ndarray,
    X_lab: np.ndarray,
    Xs: np.ndarray,
    ys: np.ndarray,
    X_eval: np.ndarray,
    test_items: Any,
    cfg: AdaptConfig,
) -> list[Arm]:
    """target-only transfer (linear probe), scratch (the classical baseline) and pooled, on K labels per class."""
    from headstart.baselines import fit_baseline
    from headstart.strategies.base import TransferTask

    n = target.n_classes
    y_lab = target.y[labeled]
    t_head = _probe(X_lab, y_lab, n, cfg.seed)
    p_head = _probe(np.vstack([Xs, X_lab]), np.r_[ys, y_lab], n, cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    order = rng.permutation(len(labeled))
    n_val = max(n, len(order) // 5)
    val, tr = labeled[order[:n_val]], labeled[order[n_val:]]
    task = TransferTask(
        _take(target.items, tr),
        target.y[tr],
        _take(target.items, val),
        target.y[val],
        list(target.classes),
        target.modality,
        cfg.backbone or "",
        seed=cfg.seed,
        progress=False,
    )
    scratch, _ = fit_baseline(cfg.baseline, task)
    k = cfg.labels_per_class
    return [
        Arm(
            "target-only",
            "target-only",
            "linear probe on the target labels",
            t_head.predict_proba(X_eval),
            val_score=t_head.cv_accuracy,
            trained_on=f"{len(labeled)} labeled target items ({k} per class)",
        ),
        Arm(
            "pooled",
            "pooled",
            "linear probe on source + target labels",
            p_head.predict_proba(X_eval),
            val_score=p_head.cv_accuracy,
            trained_on=f"{len(ys)} source + {len(labeled)} target labeled items",
        ),
        Arm(
            "scratch",
            "baseline",
            scratch.name,
            scratch.predict_proba(test_items),
            val_score=float(getattr(scratch, "val_accuracy", np.nan)),
            trained_on=f"{len(labeled)} labeled target items ({k} per class)",
            model=scratch,
        ),
    ]
