"""``monitor_run``: is new data still the data a run was judged on, and how accurate is the model on it?

Three shift tests (Rabanser et al., "Failing Loudly", NeurIPS 2019) and one estimate, per chunk and overall:

- embedding space: MMD two-sample test between the run's reference items and the new items, in the
  representation of the shipped model (see :func:`headstart.runinputs.embed_items` for which backbone);
- output space: KS tests on the predicted-class probabilities (black-box shift detection, Bonferroni);
- predicted class shares: chi-square, naming the classes whose share moved;
- accuracy without labels: CBPE (:mod:`headstart.monitor.cbpe`), flagged when its CI lies below the run's
  test accuracy; realized accuracy beside it when the new data carries labels.

"Drift" is declared when any of the three tests is significant at ``alpha / 3`` (Bonferroni over the tests,
so the false-alarm rate on unshifted data stays at most ``alpha``).

Reference samples: embeddings of the run's test split, plus its train + validation items when those are a
plain sample of the source (frozen features, no labels-per-class budget; see :func:`reference_uses_train`);
output-space tests and calibration use the test split's predictions, because a model's outputs on its own
training items are over-confident and would raise false alarms.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from headstart.errors import HeadstartError
from headstart.evaluation.mmd import mmd_test
from headstart.io import atomic_write_json, atomic_write_text
from headstart.monitor.cbpe import estimate_accuracy
from headstart.monitor.stats import bbsd_ks, class_share_test
from headstart.runinputs import RunInputs, embed_items, feature_source, features_are_frozen, load_new_data, open_run

ALPHA = 0.05
MAX_REFERENCE = 1000
MAX_NEW_FOR_MMD = 1000
MIN_CHUNK = 20
TESTS = ("embedding", "output", "class_shares")


def monitor_arrays(
    ref_emb: np.ndarray,
    new_emb: np.ndarray,
    p_ref: np.ndarray,
    p_new: np.ndarray,
    y_ref: np.ndarray,
    classes: list[str],
    *,
    y_new: np.ndarray | None = None,
    alpha: float = ALPHA,
    seed: int = 0,
    n_perm: int = 500,
    n_boot: int = 400,
) -> dict[str, Any]:
    """All tests and the estimate for one sample of new items (arrays only: no run, no I/O)."""
    rng = np.random.default_rng(seed)
    emb = new_emb if len(new_emb) <= MAX_NEW_FOR_MMD else new_emb[rng.choice(len(new_emb), MAX_NEW_FOR_MMD, False)]
    tests = {
        "embedding": mmd_test(ref_emb, emb, n_perm=n_perm, seed=seed),
        "output": bbsd_ks(p_ref, p_new, classes),
        "class_shares": class_share_test(p_ref.argmax(1), p_new.argmax(1), classes),
    }
    level = alpha / len(tests)
    test_acc = float((p_ref.argmax(1) == y_ref).mean())
    perf = estimate_accuracy(p_ref.max(1), p_ref.argmax(1) == y_ref, p_new.max(1), n_boot=n_boot, seed=seed)
    perf["test_accuracy"] = test_acc
    perf["drop"] = bool(perf["ci_high"] < test_acc)
    if y_new is not None and (y_new >= 0).any():
        known = y_new >= 0
        perf["realized_accuracy"] = float((p_new[known].argmax(1) == y_new[known]).mean())
        perf["n_labeled"] = int(known.sum())
    return {
        "n_items": len(p_new),
        "drift": bool(any(t["p_value"] < level for t in tests.values())),
        "level_per_test": level,
        "tests": tests,
        "performance": perf,
        "moved_classes": tests["class_shares"]["moved"],
    }


def _chunks(n: int, size: int | None) -> list[np.ndarray]:
    if not size or size >= n:
        return []
    if size < MIN_CHUNK:
        raise HeadstartError(f"--chunk-size {size} is too small for a two-sample test; use at least {MIN_CHUNK}")
    bounds = list(range(0, n, size))
    parts = [np.arange(b, min(n, b + size)) for b in bounds]
    if len(parts) > 1 and len(parts[-1]) < MIN_CHUNK:  # fold a short tail into the previous chunk
        parts[-2] = np.concatenate([parts[-2], parts.pop()])
    return parts


def reference_uses_train(ri: RunInputs) -> bool:
    """Train + val join the embedding reference only when they are a plain sample of the source data: frozen
    features (never fitted to them) and no ``--labels-per-class`` budget (which re-balances the classes: on
    spam, 20 + 20 labeled emails against a 68% ham stream raised a false alarm in 100% of 200-item draws)."""
    return features_are_frozen(ri) and ri.splits.labels_per_class is None


def reference_indices(ri: RunInputs, max_reference: int = MAX_REFERENCE, seed: int = 0) -> np.ndarray:
    idx = ri.splits.test
    if reference_uses_train(ri):
        idx = np.concatenate([ri.reference, idx])
    if len(idx) > max_reference:
        idx = np.sort(np.random.default_rng(seed).choice(idx, max_reference, replace=False))
    return idx


def monitor_run(
    run_dir: str | Path,
    new_source: str,
    *,
    chunk_size: int | None = None,
    out: str | Path | None = None,
    max_items: int | None = 5000,
    alpha: float = ALPHA,
    seed: int = 0,
    echo: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Monitor ``new_source`` against the run; writes ``monitor.json`` and ``monitor.html`` to ``out``
    (default ``RUN_DIR/monitor``) and returns monitor.json's content."""
    say = echo or (lambda _s: None)
    t0 = time.perf_counter()
    ri = open_run(run_dir)
    classes = ri.classes
    say(f"reading {new_source}")
    new = load_new_data(new_source, ri, max_items=max_items)
    ref = reference_indices(ri, seed=seed)
    say(f"embedding {len(ref)} reference and {len(new.ids)} new items ({feature_source(ri)})")
    ref_emb = embed_items(ri, ri.items(ref))
    new_emb = embed_items(ri, new.items)
    say("predicting the test split and the new items")
    test = ri.splits.test
    p_test = ri.model.predict_proba(ri.items(test))
    y_test = ri.data.y[test]
    p_new = ri.model.predict_proba(new.items)
    overall = monitor_arrays(ref_emb, new_emb, p_test, p_new, y_test, classes, y_new=new.y, alpha=alpha, seed=seed)
    chunks = []
    for c, idx in enumerate(_chunks(len(new.ids), chunk_size)):
        say(f"chunk {c + 1}: items {idx[0] + 1}-{idx[-1] + 1}")
        r = monitor_arrays(
            ref_emb,
            new_emb[idx],
            p_test,
            p_new[idx],
            y_test,
            classes,
            y_new=None if new.y is None else new.y[idx],
            alpha=alpha,
            seed=seed + c + 1,
        )
        chunks.append({"chunk": c + 1, "first": new.ids[idx[0]], "last": new.ids[idx[-1]], **r})
    doc = {
        "run": str(ri.run),
        "new_data": new_source,
        "n_new": len(new.ids),
        "labeled_new": new.y is not None,
        "alpha": alpha,
        "features": feature_source(ri),
        "reference": {
            "embedding": f"{len(ref)} items: " + ("train + val + test" if reference_uses_train(ri) else "test split"),
            "output": f"{len(test)} test-split predictions of the shipped {ri.side} model",
        },
        "shipped": ri.side,
        "classes": classes,
        **overall,
        "chunk_size": chunk_size,
        "chunks": chunks,
        "seconds": time.perf_counter() - t0,
        "cite": "Rabanser, Günnemann & Lipton, Failing Loudly: An Empirical Study of Methods for Detecting "
        "Dataset Shift, NeurIPS 2019",
    }
    folder = Path(out) if out else ri.run / "monitor"
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_json(folder / "monitor.json", doc)
    from headstart.monitor.page import render_monitor

    atomic_write_text(folder / "monitor.html", render_monitor(doc, p_ref=p_test, p_new=p_new))
    doc["out"] = str(folder)
    return doc
