"""``rank_data``: rank candidate backbones on a labeled data set before fitting any of them.

For every backbone the embeddings of a small stratified label subsample are extracted once with
:func:`headstart.features.extract` (content-addressed cache, shared with ``headstart fit``: a later fit on the
same data reuses them), then scored by :func:`headstart.ranking.scores.rank_backbones` (LogME, H-score,
LEEP and NCE where the backbone has a source classifier head, k-NN / linear-probe CV accuracy). Rows are
sorted by LogME, best first, and carry the wall time spent on each backbone.

Random-init controls (``NAME:random``) are planted negatives: a useful ranking puts them last.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from headstart.backbones import check_license, get_spec, is_installed, list_specs, load_backbone
from headstart.data import LabeledData, load_data
from headstart.errors import HeadstartError
from headstart.executors import Executor
from headstart.features import default_image_size, extract
from headstart.ranking.scores import rank_backbones

__all__ = [
    "DEFAULT_LABELS_PER_CLASS",
    "candidate_backbones",
    "rank_data",
    "source_probabilities",
    "stratified_subsample",
]

DEFAULT_LABELS_PER_CLASS = 100


def stratified_subsample(y: np.ndarray, per_class: int | None, seed: int = 0) -> np.ndarray:
    """Sorted indices of at most ``per_class`` items of every class (all of them when ``None``)."""
    labels = np.asarray(y)
    if per_class is None:
        return np.arange(labels.shape[0])
    if per_class < 2:
        raise HeadstartError(f"labels per class must be at least 2 for ranking; got {per_class}")
    rng = np.random.default_rng(seed)
    keep = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        keep.append(idx if idx.size <= per_class else rng.choice(idx, size=per_class, replace=False))
    return np.sort(np.concatenate(keep))


def candidate_backbones(
    modality: str, *, use: str = "commercial", controls: bool = False
) -> tuple[list[str], list[str]]:
    """(installed registry backbones of ``modality`` that pass the license gate [+ ``:random`` controls],
    notes on the ones left out)."""
    names: list[str] = []
    notes: list[str] = []
    for spec in list_specs(modality):
        if not is_installed(spec):
            notes.append(f"{spec.name}: weights not installed ({spec.install_hint})")
            continue
        try:
            check_license(spec, use)
        except HeadstartError as exc:
            notes.append(f"{spec.name}: {exc}")
            continue
        names.append(spec.name)
    if controls:
        names += [f"{n}:random" for n in names]
    return names, notes


def source_probabilities(encoder: Any, embeddings: np.ndarray) -> np.ndarray | None:
    """Softmax of the backbone's source classifier (e.g. the ImageNet head) on its embeddings, or None.

    Shapes: embeddings [N, D] -> [N, Z] float64 rows summing to 1.
    """
    head = encoder.source_head()
    if head is None:
        return None
    with torch.inference_mode():
        logits = head(torch.from_numpy(np.ascontiguousarray(embeddings, dtype=np.float32))).double()
        return torch.softmax(logits, dim=1).numpy()


def _header(data: LabeledData) -> LabeledData:
    """``data`` with its first item only: enough for :func:`default_image_size`, cheap to ship to workers."""
    return LabeledData(
        items=data.items[:1],
        y=data.y[:1],
        classes=data.classes,
        modality=data.modality,
        source=data.source,
        provenance=data.provenance,
        ids=data.ids[:1],
    )


def _take(items: Any, idx: np.ndarray) -> Any:
    return items[idx] if isinstance(items, np.ndarray) else [items[i] for i in idx]


@dataclass
class _RankShared:
    """What every backbone's job reads (shipped once to the Ray object store)."""

    data: LabeledData  # only for the modality, the source name and the image-size rule
    items: Any
    y: np.ndarray
    image_size: int | None
    use: str
    batch_size: int
    proxies: bool
    cache: bool
    progress: bool
    seed: int


def _rank_one(sh: _RankShared, name: str) -> dict[str, Any]:
    """Load, embed (through the cache) and score one backbone: one job of ``rank_data``."""
    t0 = time.perf_counter()
    spec = get_spec(name)
    notes = [] if spec.is_random else check_license(spec, sh.use)
    size = default_image_size(sh.data, name, sh.image_size)
    with torch.random.fork_rng():
        torch.manual_seed(sh.seed)  # reproducible random-init controls
        encoder = load_backbone(name, image_size=size)
    emb, stats = extract(encoder, sh.items, batch_size=sh.batch_size, cache=sh.cache, progress=sh.progress)
    probs = source_probabilities(encoder, emb)
    t1 = time.perf_counter()
    (row,) = rank_backbones({name: (emb, probs)}, sh.y, proxies=sh.proxies, seed=sh.seed)
    t2 = time.perf_counter()
    row.update(
        control=spec.is_random,
        image_size=size,
        seconds=t2 - t0,
        extract_seconds=stats.seconds,
        score_seconds=t2 - t1,
        cache_hits=stats.cache_hits,
        computed=stats.computed,
        warnings=notes,
    )
    return row


def rankable(data: LabeledData) -> LabeledData:
    """``data`` as the ranking scores read it: a table's rows serialized the way the rows-as-text arm of
    ``fit`` serializes them (so text backbones are the candidates); a regression target is refused."""
    if data.task == "regression":
        raise HeadstartError(
            f"{data.source}: ranking scores class labels (LogME, LEEP, NCE, ...) and this target is numeric; "
            "compare backbones with `headstart fit DATA --backbone NAME` runs instead"
        )
    if data.modality != "tabular":
        return data
    from dataclasses import replace

    from headstart.data.tabular import row_texts

    return replace(data, items=row_texts(data.items), modality="text")


def rank_data(
    source: str | LabeledData,
    backbones: Sequence[str] | None = None,
    *,
    labels_per_class: int | None = DEFAULT_LABELS_PER_CLASS,
    controls: bool = False,
    seed: int = 0,
    use: str = "commercial",
    image_size: int | None = None,
    batch_size: int = 64,
    proxies: bool = True,
    cache: bool = True,
    progress: bool = False,
    text_column: str | None = None,
    label_column: str | None = None,
    executor: str = "sequential",
    ray_address: str | None = None,
) -> list[dict[str, Any]]:
    """Score every candidate backbone on a stratified subsample of ``source`` and sort by LogME.

    ``backbones``: names (registry, ``NAME:random``, ``hf:``/``timm:``); default: every installed backbone of
    the data's modality that passes the license gate for ``use`` (plus ``:random`` controls if
    ``controls``). ``labels_per_class``: at most this many examples of each class are scored (None = all).

    Each row has the keys of :func:`headstart.ranking.scores.rank_backbones` (``rank``, ``name``, ``logme``,
    ``h_score``, ``leep``, ``nce``, ``knn_accuracy``, ``linear_probe_accuracy``, ``n_samples``, ``dim``)
    plus ``control`` (random init?), ``image_size``, ``seconds`` (load + embed + score),
    ``extract_seconds``, ``score_seconds``, ``cache_hits``, ``computed`` and ``warnings`` (license notes).

    ``executor="ray"`` scores the backbones as parallel Ray tasks (one CPU each; see
    :mod:`headstart.executors`); the rows are the same as sequentially, only ``seconds`` differ.
    """
    data = (
        source
        if isinstance(source, LabeledData)
        else load_data(source, text_column=text_column, label_column=label_column)
    )
    data = rankable(data)
    if backbones is None:
        names, _ = candidate_backbones(data.modality, use=use, controls=controls)
        if not names:
            raise HeadstartError(
                f"no installed {data.modality} backbone passes the license gate for {use} use; "
                "see `headstart backbones` or pass --backbones"
            )
    else:
        names = [b.strip() for b in backbones if b.strip()]
        if not names:
            raise HeadstartError("pass at least one backbone name (e.g. --backbones mobilenetv2,mobilenetv2:random)")
        if controls:
            names += [f"{n}:random" for n in names if not n.endswith(":random") and f"{n}:random" not in names]
    idx = stratified_subsample(data.y, labels_per_class, seed)
    items, y = _take(data.items, idx), data.y[idx]
    if int(np.bincount(y).min()) < 2 or len(np.unique(y)) < 2:
        raise HeadstartError(f"{data.source}: ranking needs at least 2 classes with 2 or more examples each")

    for name in names:  # fail on a wrong-modality name before any backbone is loaded
        spec = get_spec(name)
        if spec.modality != data.modality:
            raise HeadstartError(
                f"backbone {name!r} is for {spec.modality}, but {data.source} is {data.modality}; "
                f"pick {data.modality} backbones (see `headstart backbones`)"
            )
        if not spec.is_random:
            check_license(spec, use)
    with Executor(executor, ray_address) as ex:
        ray = ex.kind != "sequential"
        shared = _RankShared(
            data=_header(data) if ray else data,
            items=items,
            y=y,
            image_size=image_size,
            use=use,
            batch_size=batch_size,
            proxies=proxies,
            cache=cache,
            progress=progress and not ray,
            seed=seed,
        )
        rows = ex.map(_rank_one, names, shared=shared)
    rows.sort(key=lambda r: (math.isnan(r["logme"]), -r["logme"] if not math.isnan(r["logme"]) else 0.0))
    for i, row in enumerate(rows, start=1):
        row["rank"] = i
    return rows
