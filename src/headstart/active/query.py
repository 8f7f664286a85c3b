"""``query_run``: rank an unlabeled pool for labeling with a run's shipped model; write ``to_label.csv``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from headstart.active.select import METHODS, select_batch
from headstart.errors import HeadstartError
from headstart.io import atomic_write_text
from headstart.runinputs import RunInputs, embed_items, feature_source, load_new_data, open_run

NEEDS_EMBEDDINGS = ("badge", "coreset", "margin", "entropy", "least-confidence")


def _badge_features(ri: RunInputs, emb: np.ndarray) -> np.ndarray:
    """BADGE's ``h``: the input of the shipped linear head when there is one (standardized embeddings)."""
    head = getattr(ri.model, "head", None)
    if head is not None and hasattr(head, "mean") and head.mean.shape[0] == emb.shape[1]:
        return np.asarray((emb - head.mean) / head.scale)
    return emb


def _item_text(item: Any, item_id: str) -> str:
    return item if isinstance(item, str) else item_id


def query_run(
    run_dir: str | Path,
    pool: str,
    *,
    budget: int,
    method: str = "margin",
    out: str | Path = "to_label.csv",
    seed: int = 0,
    max_items: int | None = 20000,
    echo: Any = None,
) -> dict[str, Any]:
    """Pick ``budget`` pool items for a person to label; write them (id, item, prediction, score, label="")."""
    say = echo or (lambda _s: None)
    if method not in METHODS:
        raise HeadstartError(f"unknown --method {method!r}; choose one of: {', '.join(METHODS)}")
    if budget < 1:
        raise HeadstartError(f"--budget must be at least 1, got {budget}")
    ri = open_run(run_dir)
    new = load_new_data(pool, ri, max_items=max_items)
    keep = np.arange(len(new.ids))
    if pool == ri.config["data"]:  # querying the run's own source: skip what is already labeled or in test
        used = {ri.data.ids[i] for i in np.concatenate([ri.reference, ri.splits.test])}
        keep = np.array([i for i, x in enumerate(new.ids) if x not in used], dtype=np.int64)
        if not len(keep):
            raise HeadstartError(f"{pool}: every item is already in the run's train/val/test splits")
    items = new.items[keep] if isinstance(new.items, np.ndarray) else [new.items[i] for i in keep]
    say(f"scoring {len(keep)} pool items with the shipped {ri.side} model")
    proba = ri.model.predict_proba(items)
    emb = labeled_emb = None
    if method in NEEDS_EMBEDDINGS:
        say(f"embedding the pool ({feature_source(ri)})")
        emb = embed_items(ri, items)
        if method == "coreset":
            labeled_emb = embed_items(ri, ri.items(ri.reference))
        if method == "badge":
            emb = _badge_features(ri, emb)
    idx, score = select_batch(method, budget, proba, emb, labeled_emb=labeled_emb, seed=seed)
    classes = np.array(ri.classes)
    rows = pd.DataFrame(
        {
            "rank": np.arange(1, len(idx) + 1),
            "id": [new.ids[keep[i]] for i in idx],
            "item": [_item_text(items[i], new.ids[keep[i]]) for i in idx],
            "prediction": classes[proba[idx].argmax(1)],
            "confidence": np.round(proba[idx].max(1), 4),
            "score": np.round(score, 4),
            "label": "",
        }
    )
    if ri.modality == "tabular":  # the feature values a labeler reads, and what --add-labels reads back
        rows = _with_feature_columns(rows, [items[i] for i in idx], pool)
    atomic_write_text(out, rows.to_csv(index=False))
    return {"out": str(out), "n_pool": len(keep), "n": len(idx), "method": method, "rows": rows}


def _with_feature_columns(rows: pd.DataFrame, picked: list[dict[str, Any]], pool: str) -> pd.DataFrame:
    from headstart.data.tabular import row_texts

    features = pd.DataFrame(picked)
    clash = [c for c in features.columns if c in rows.columns]
    if clash:
        raise HeadstartError(
            f"{pool}: feature column {clash[0]!r} has the name of a to_label.csv column; rename it in the data"
        )
    rows = rows.assign(item=row_texts(picked))
    return pd.concat([rows.reset_index(drop=True), features.reset_index(drop=True)], axis=1)
