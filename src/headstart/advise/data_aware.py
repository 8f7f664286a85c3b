"""Data-aware advisor: measure the rubric's three inputs instead of asking for them.

* labels per class and class imbalance: counted in the data;
* compute: :func:`headstart.advise.measure.compute_profile` of this machine;
* similarity of the target to the backbone's source domain: a domain classifier between the target's
  embeddings and a *reference sample* of the source domain (proxy A-distance, Ben-David et al. 2006/2010),
  with an RBF MMD (Gretton et al. 2012) alongside. The full-capacity PAD saturates (1.9-2.0 for any two real
  data sets), so the band comes from the GRADED shift call (:func:`headstart.advise.graded.shift_call`: MMD
  with a permutation p-value and a low-capacity domain classifier's accuracy with its CI, and the PAD from
  that classifier) through :func:`headstart.advise.measure.similarity_band`; no significant shift -> "high".
* tables: no similarity is measured (feature columns have no pretrained source domain to compare with); the
  call comes from :data:`headstart.advise.tabular_rubric.TABULAR_RUBRIC`, keyed by the data band and whether
  a column holds free text, as ``headstart fit`` typed it;
* regression targets: the budget is the number of labeled items (there are no classes to count);
* domain adaptation: when the reference is the user's labeled source (``--source``) and the graded call is
  ``moderate`` or ``large``, ``adaptation`` holds the `headstart fit DATA --source REF --adapt auto` command.

The reference is either the user's (``reference=`` / ``--source REF``: any :func:`headstart.data.load_data`
source, the strong path) or a small packaged stand-in (see ``advise/reference/README.md``): seeded random
crops of scikit-image's bundled photographs for ImageNet backbones, 119 hand-written generic English
sentences for MiniLM. The stand-ins are weak; advice measured against them is reported with confidence
"low".

Embeddings come from :func:`headstart.features.extract` at the resolution ``headstart fit`` uses, so they
land in (and are reused from) the same on-disk cache as a later fit.
"""

from __future__ import annotations

import shlex
import time
from dataclasses import asdict, dataclass, field
from importlib import resources
from typing import Any

import numpy as np
import torch

from headstart.advise.graded import ADAPT_CALLS, shift_call
from headstart.advise.measure import (
    PAD_HIGH_BELOW,
    PAD_LOW_FROM,
    compute_band,
    compute_profile,
    mmd_rbf,
    proxy_a_distance,
    similarity_band,
)
from headstart.advise.rubric import Advice, advise, data_flags, fit_command
from headstart.advise.rubric_rows import CONFIDENCES
from headstart.backbones import check_license, get_spec, load_backbone
from headstart.data import LabeledData, load_data
from headstart.errors import HeadstartError
from headstart.features import default_image_size, extract

__all__ = [
    "DEFAULT_BACKBONE",
    "DEFAULT_MAX_SAMPLES",
    "DataAdvice",
    "advise_from_data",
    "auto_strategy",
    "packaged_reference",
]

DEFAULT_BACKBONE = {"text": "minilm-l6", "image": "mobilenetv2", "tabular": "minilm-l6"}  # tables: rows as text
DEFAULT_MAX_SAMPLES = 200
#: PAD within this distance of a band edge lowers the confidence one step.
PAD_EDGE_MARGIN = 0.1
#: fewer examples per domain than this lowers the confidence one step.
MIN_SAMPLES_CONFIDENT = 100

# Natural photographs bundled inside scikit-image (public domain / CC0; see skimage/data/README.txt).
_SKIMAGE_PHOTOS = ("astronaut", "camera", "chelsea", "coffee", "coins", "rocket", "brick", "grass", "gravel")
IMAGE_REFERENCE = "packaged:imagenet-proxy"
TEXT_REFERENCE = "packaged:general-english"
_NOTES = {
    IMAGE_REFERENCE: (
        "random crops of 10 photographs bundled with scikit-image: a weak stand-in for ImageNet; "
        "narrow targets separate from it easily (PAD near 2)"
    ),
    TEXT_REFERENCE: (
        "119 hand-written generic English sentences: a weak stand-in for MiniLM's web sentence pairs; "
        "single-topic targets separate from it easily (PAD near 2)"
    ),
}


@dataclass
class DataAdvice:
    """What :func:`advise_from_data` measured, and the rubric's call on those measurements."""

    source: str
    modality: str
    backbone: str
    reference: str  # the reference's source string, or packaged:...
    reference_kind: str  # "user" | "packaged" | "none" (tables)
    reference_note: str
    labels_per_class: int  # rarest class (or the --labels-per-class budget when smaller)
    class_counts: dict[str, int]
    imbalance_ratio: float
    compute: str
    compute_profile: dict[str, Any]
    pad: float | None  # None: not measured (tables)
    mmd: float | None
    similarity: str
    n_target: int
    n_reference: int
    image_size: int | None
    advice: Advice
    confidence: str
    shift: dict[str, Any] = field(default_factory=dict)
    adaptation: str | None = None
    confidence_notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    timing: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _lower(level: str, steps: int = 1) -> str:
    return CONFIDENCES[max(0, CONFIDENCES.index(level) - steps)]


def packaged_reference(modality: str, n: int = DEFAULT_MAX_SAMPLES, seed: int = 0) -> tuple[list[Any], str, str]:
    """(items, name, note) of the packaged stand-in for the source domain of ``modality``'s backbones.

    image: ``n`` seeded random resized crops (128 x 128 RGB uint8) of scikit-image's bundled photographs;
    text: the packaged generic English sentences (all of them, at most ``n``).
    """
    rng = np.random.default_rng(seed)
    if modality == "text":
        raw = resources.files("headstart.advise").joinpath("reference/general-english.txt").read_text("utf-8")
        lines = [s.strip() for s in raw.splitlines() if s.strip() and not s.startswith("#")]
        if len(lines) > n:
            lines = [lines[i] for i in sorted(rng.choice(len(lines), size=n, replace=False))]
        return lines, TEXT_REFERENCE, _NOTES[TEXT_REFERENCE]
    if modality != "image":
        raise HeadstartError(f"modality must be 'text' or 'image', got {modality!r}")
    try:
        import skimage.data as skdata
    except ImportError:
        raise HeadstartError(
            "the packaged image reference is built from scikit-image's sample photos; "
            "pip install scikit-image, or pass --source REF with a sample of the backbone's source domain"
        ) from None
    from PIL import Image

    photos = [np.asarray(getattr(skdata, name)()) for name in _SKIMAGE_PHOTOS]
    photos.append(np.asarray(skdata.stereo_motorcycle()[0]))
    crops: list[np.ndarray] = []
    for i in range(n):
        photo = photos[i % len(photos)]
        h, w = photo.shape[:2]
        side = int(min(h, w) * rng.uniform(0.3, 1.0))
        top, left = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
        img = Image.fromarray(photo[top : top + side, left : left + side]).convert("RGB").resize((128, 128))
        arr = np.asarray(img)
        crops.append(np.ascontiguousarray(arr[:, ::-1]) if rng.random() < 0.5 else arr)
    return crops, IMAGE_REFERENCE, _NOTES[IMAGE_REFERENCE]


def _take(items: Any, idx: np.ndarray) -> list[Any]:
    return [items[i] for i in idx]


def _band_edge_note(pad: float) -> str | None:
    for edge in (PAD_HIGH_BELOW, PAD_LOW_FROM):
        if abs(pad - edge) < PAD_EDGE_MARGIN:
            return f"PAD {pad:.2f} is within {PAD_EDGE_MARGIN} of the band edge {edge}: the similarity call is fragile"
    return None


def advise_from_data(
    source: str | LabeledData,
    backbone: str | None = None,
    reference: str | LabeledData | None = None,
    *,
    labels_per_class: int | None = None,
    compute: str | None = None,
    unlabeled_target: bool = False,
    max_samples: int = DEFAULT_MAX_SAMPLES,
    seed: int = 0,
    image_size: int | None = None,
    use: str = "commercial",
    progress: bool = False,
    text_column: str | None = None,
    label_column: str | None = None,
    on_bad_item: str = "error",
) -> DataAdvice:
    """Measure labels per class, compute and domain similarity for ``source`` and return the rubric's call.

    ``backbone``: the backbone to advise for (default: minilm-l6 for text, mobilenetv2 for images).
    ``reference``: a sample of the backbone's source domain (a ``load_data`` source or LabeledData; its labels
    are ignored); default: the packaged stand-in (:func:`packaged_reference`). If it is the same source as
    the target, disjoint samples are drawn (a sanity check: PAD near 0).
    ``labels_per_class``: the labeling budget you plan to fit with (the smaller of it and the rarest class
    is used). ``compute``: override the measured ``"cpu" | "single-gpu" | "multi-gpu"``.
    ``max_samples``: at most this many examples per domain are embedded (cost: about 2 x max_samples
    forward passes, cached).
    """
    timing: dict[str, float] = {}
    t0 = time.perf_counter()
    data = (
        source
        if isinstance(source, LabeledData)
        else load_data(source, text_column=text_column, label_column=label_column, on_bad_item=on_bad_item)
    )
    timing["load_data"] = time.perf_counter() - t0
    if max_samples < 10:
        raise HeadstartError(f"max_samples must be at least 10; got {max_samples}")
    bb = backbone or DEFAULT_BACKBONE[data.modality]
    spec = get_spec(bb)
    reads = "text" if data.modality == "tabular" else data.modality  # a table's rows reach a text backbone
    if spec.modality != reads:
        raise HeadstartError(
            f"backbone {bb!r} is for {spec.modality}, but {data.source} is {data.modality}; "
            f"pick a {reads} backbone (see `headstart backbones`)"
        )
    warnings = [] if spec.is_random else check_license(spec, use)

    # 1. labels per class and imbalance, from the data (regression: the labeled items are the budget)
    if data.task == "regression":
        counts, k, imbalance = np.zeros(0, dtype=np.int64), len(data.y), 1.0
        if labels_per_class:
            k = min(k, int(labels_per_class))
    else:
        counts = np.bincount(data.y, minlength=len(data.classes))
        present = counts[counts > 0]
        rarest = int(present.min())
        k = min(rarest, int(labels_per_class)) if labels_per_class else rarest
        imbalance = float(present.max() / present.min())
        if imbalance >= 3:
            warnings.append(f"classes are imbalanced ({imbalance:.1f}:1); consider --loss weighted or --loss focal")

    # 2. compute, from the machine
    profile = compute_profile()
    comp = compute or compute_band(profile)
    flags = data_flags(text_column, label_column, on_bad_item)
    src = data.source if isinstance(data.source, str) else "DATA"
    if data.modality == "tabular":
        return _table_advice(data, src, flags, bb, backbone, k, counts, imbalance, comp, profile, warnings, timing)

    # 3. similarity: target embeddings vs a reference sample of the source domain
    rng = np.random.default_rng(seed)
    n_t = min(len(data.y), max_samples)
    t_idx = np.sort(rng.choice(len(data.y), size=n_t, replace=False))
    confidence_notes: list[str] = []
    if reference is None:
        ref_items, ref_name, ref_note = packaged_reference(data.modality, max_samples, seed)
        ref_kind = "packaged"
    else:
        ref_data = (
            reference if isinstance(reference, LabeledData) else _load_reference(reference, text_column, label_column)
        )
        if ref_data.modality != data.modality:
            raise HeadstartError(
                f"reference {ref_data.source} is {ref_data.modality} but {data.source} is {data.modality}; "
                "pass a reference of the same modality"
            )
        pool = np.arange(len(ref_data.y))
        if ref_data.source == data.source:
            pool = np.setdiff1d(pool, t_idx)  # same data set: disjoint samples
            ref_note = "same data set as the target (disjoint samples): expect PAD near 0"
        else:
            ref_note = "user-supplied reference sample of the source domain"
        if pool.size < 10:
            raise HeadstartError(f"reference {ref_data.source} has {pool.size} usable items; need at least 10")
        r_idx = np.sort(rng.choice(pool, size=min(pool.size, max_samples), replace=False))
        ref_items, ref_name, ref_kind = _take(ref_data.items, r_idx), ref_data.source, "user"
    size = default_image_size(data, bb, image_size)
    t0 = time.perf_counter()
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        encoder = load_backbone(bb, image_size=size)
    timing["load_backbone"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    f_t, _ = extract(encoder, _take(data.items, t_idx), progress=progress)
    f_r, _ = extract(encoder, ref_items, progress=progress)
    timing["embed"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    pad = proxy_a_distance(f_t, f_r, seed)
    mmd = mmd_rbf(f_t, f_r, seed=seed)
    shift = shift_call(f_t, f_r, seed=seed, max_samples=max_samples)
    timing["measure"] = time.perf_counter() - t0
    sim = similarity_band(shift["pad"]) if shift["significant"] else "high"

    # the call, and how much to trust it
    adv = advise(k, sim, comp, unlabeled_target=unlabeled_target)
    if data.task == "regression":
        _regression_only(adv)
    # the backbone only when the user named one: otherwise `fit` picks its default for the advised strategy (the
    # same pinned weights as ``bb``; for a frozen probe on text, their layers 4-6 view, better than ``bb``'s last layer)
    adv.next_command = fit_command(adv.strategy, shlex.quote(src) + flags, backbone=backbone)
    if ref_kind == "user" and isinstance(ref_name, str):
        adv.next_command = adv.next_command.replace("SOURCE", shlex.quote(ref_name))
    adaptation = None
    if ref_kind == "user" and isinstance(ref_name, str) and shift["call"] in ADAPT_CALLS:
        adaptation = fit_command("domain-adaptation", shlex.quote(src) + flags).replace("SOURCE", shlex.quote(ref_name))
    confidence = adv.confidence
    if ref_kind == "packaged":
        confidence = "low"
        confidence_notes.append(
            f"similarity was measured against {ref_name} ({ref_note}); pass --source REF for a stronger reference"
        )
    edge = _band_edge_note(shift["pad"]) if shift["significant"] else None
    if edge:
        confidence = _lower(confidence)
        confidence_notes.append(edge)
    n_min = min(len(f_t), len(f_r))
    if n_min < MIN_SAMPLES_CONFIDENT:
        confidence = _lower(confidence)
        confidence_notes.append(f"only {n_min} examples per domain were compared; raise --max-samples")
    if confidence != adv.confidence and not confidence_notes:  # pragma: no cover - defensive
        confidence_notes.append("confidence lowered")
    return DataAdvice(
        source=src,
        modality=data.modality,
        backbone=bb,
        reference=ref_name,
        reference_kind=ref_kind,
        reference_note=ref_note,
        labels_per_class=k,
        class_counts=_class_counts(data, counts),
        imbalance_ratio=imbalance,
        compute=comp,
        compute_profile=profile,
        pad=pad,
        mmd=mmd,
        similarity=sim,
        n_target=len(f_t),
        n_reference=len(f_r),
        image_size=size,
        advice=adv,
        confidence=confidence,
        shift=shift,
        adaptation=adaptation,
        confidence_notes=confidence_notes,
        warnings=warnings,
        timing=timing,
    )


#: what `headstart fit` trains for a regression target (headstart.regression_run.check_regression_config)
REGRESSION_STRATEGIES = ("linear-probe", "scratch")


def _regression_only(adv: Advice) -> None:
    """Point a classification call at what fits a regression target, and say so in the risks."""
    if adv.strategy in REGRESSION_STRATEGIES:
        return
    adv.risks.append(
        f"the rubric's pick for this budget is {adv.strategy}, which trains a classification head; for a "
        "regression target headstart fits a ridge head on frozen embeddings (linear-probe)"
    )
    adv.strategy = "linear-probe"
    adv.next_command = fit_command("linear-probe")


def _class_counts(data: LabeledData, counts: np.ndarray) -> dict[str, int]:
    return {c: int(n) for c, n in zip(data.classes, counts, strict=True)} if len(counts) else {}


def _load_reference(reference: str, text_column: str | None, label_column: str | None) -> LabeledData:
    """The --source sample, read with the target's --text-column / --label-column (a source file usually has
    the target's schema); where those columns are not in it, as its own defaults name them."""
    if not (text_column or label_column):
        return load_data(reference)
    try:
        return load_data(reference, text_column=text_column, label_column=label_column)
    except HeadstartError as first:
        try:
            return load_data(reference)
        except HeadstartError:
            raise first from None


def _table_advice(
    data: LabeledData,
    src: str,
    flags: str,
    bb: str,
    backbone: str | None,
    k: int,
    counts: np.ndarray,
    imbalance: float,
    comp: str,
    profile: dict[str, Any],
    warnings: list[str],
    timing: dict[str, float],
) -> DataAdvice:
    """A table: the tabular rubric on the measured band and on whether ``fit`` typed a column as free text."""
    from headstart.data.tabular import lone_text_warning

    text_columns = [c for c, kind in data.table.get("columns", {}).items() if kind == "text"]
    lone = lone_text_warning(data)
    if lone:
        warnings = [*warnings, lone]
    adv = advise(k, "high", comp, table=True, text_in_row=bool(text_columns))
    if data.task == "regression":
        _regression_only(adv)
        adv.next_command = adv.next_command.replace(" --ship stack", "")
    adv.inputs["similarity"] = "not measured"
    adv.inputs["text_columns"] = text_columns
    pick = f" --backbone {backbone}" if backbone else ""
    adv.next_command = adv.next_command.replace("headstart fit DATA", f"headstart fit {shlex.quote(src)}{flags}{pick}")
    note = "tables are not compared with a source domain: the call rests on the labeled budget and the columns"
    return DataAdvice(
        source=src,
        modality=data.modality,
        backbone=bb,
        reference="not measured",
        reference_kind="none",
        reference_note=note,
        labels_per_class=k,
        class_counts=_class_counts(data, counts),
        imbalance_ratio=imbalance,
        compute=comp,
        compute_profile=profile,
        pad=None,
        mmd=None,
        similarity="not measured",
        n_target=len(data.y),
        n_reference=0,
        image_size=None,
        advice=adv,
        confidence=adv.confidence,
        shift={},
        confidence_notes=[note],
        warnings=warnings,
        timing=timing,
    )


# What to run when the rubric's strategy is not (yet) registered, nearest first.
_FALLBACKS = {
    "linear-probe": ("linear-probe",),
    "partial": ("partial", "finetune", "linear-probe"),
    "finetune": ("finetune", "partial", "linear-probe"),
    "lora": ("lora", "partial", "linear-probe"),
    "domain-adaptation": ("domain-adaptation", "linear-probe"),
    "scratch": ("scratch", "finetune", "linear-probe"),
}


def auto_strategy(
    data: LabeledData,
    labels_per_class: int,
    backbone: str,
    *,
    available: set[str] | frozenset[str] | None = None,
    reference: str | LabeledData | None = None,
    max_samples: int = DEFAULT_MAX_SAMPLES,
    seed: int = 0,
    image_size: int | None = None,
) -> tuple[str, str, DataAdvice]:
    """``--strategy auto`` through the data-aware advisor: (strategy to run, why, the full DataAdvice).

    ``labels_per_class``: the rarest class in the labeled (train + val) split. ``available``: the strategy
    names that are registered; the rubric's pick falls back to the nearest available one. Costs about
    ``2 x max_samples`` embeddings; the target's land in fit's cache. Raises HeadstartError when the
    similarity cannot be measured (e.g. no packaged reference), so the caller can fall back to a simpler rule.
    """
    adv = advise_from_data(
        data,
        backbone,
        reference,
        labels_per_class=labels_per_class,
        max_samples=max_samples,
        seed=seed,
        image_size=image_size,
    )
    picked = adv.advice.strategy
    chosen = next((s for s in _FALLBACKS.get(picked, (picked,)) if available is None or s in available), None)
    if chosen is None:
        chosen = "linear-probe"
    measured = (
        f"similarity {adv.similarity} (graded PAD {adv.shift['pad']:.2f}, shift {adv.shift['call']}, vs "
        f"{adv.reference})"
        if adv.shift
        else "a table (similarity not measured)"
    )
    why = (
        f"rubric rule {adv.advice.rule_id}: {adv.labels_per_class} labels/class ({adv.advice.data_band}), "
        f"{measured}, compute {adv.compute} -> {picked} (confidence {adv.confidence})"
    )
    if chosen != picked:
        why += f"; {picked} is not available here, running {chosen}"
    return chosen, why, adv
