"""``--strategy auto``: the data-aware advisor's call, kept inside what this machine can train.

0. First-match rules of :data:`CHEAP_FIRST` (a table): few-shot text, or text without a GPU, goes to
   ``fewshot-text`` (the frozen probe on MiniLM layers 4-6 and TF-IDF blended, or one of them when it is
   significantly better out of fold on the labeled items: seconds on a CPU; benchmarks/results/fewshot.md: at or
   above SetFit on Rotten Tomatoes K=16, spam and subjectivity K=8, 0.7 points below on RT K=8, at 0.07-0.13x
   its CPU time).
1. Otherwise ask the data-aware advisor (:func:`headstart.advise.data_aware.auto_strategy`): labels per class measured
   on the labeled split, compute measured on this machine, similarity measured as a proxy A-distance
   between the target's embeddings and a reference sample of the backbone's source domain.
2. Guard the call with the cost rule :func:`choose_auto` (below): with fewer than
   8 labels in the rarest class, or no GPU and a training cost beyond the CPU budget, a strategy that
   updates the backbone becomes ``linear-probe``.
3. When similarity cannot be measured (no packaged reference for the backbone, scikit-image missing),
   fall back to the cost rule alone and say so.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from headstart.backbones import get_spec
from headstart.data import LabeledData, Splits
from headstart.errors import HeadstartError
from headstart.strategies import FROZEN_STRATEGIES, STRATEGIES


def _few_text(data: LabeledData, per_class: int, cuda: bool) -> bool:
    return (
        data.modality == "text" and data.task == "classification" and (per_class < FULL_FINETUNE_PER_CLASS or not cuda)
    )


# (applies, strategy, why): the first row that applies decides before the advisor runs.
CHEAP_FIRST: tuple[tuple[Callable[[LabeledData, int, bool], bool], str, str], ...] = (
    (
        _few_text,
        "fewshot-text",
        "{per_class} labels per class of text{gpu}: the frozen MiniLM probe (layers 4-6) and TF-IDF are fitted in "
        "seconds and blended (one of them alone when it is significantly better in cross-validation on the labeled "
        "items); "
        "fine-tuning a transformer costs minutes on a CPU for little gain at this size",
    ),
)


def cheap_first(data: LabeledData, per_class: int) -> tuple[str, str] | None:
    """The first :data:`CHEAP_FIRST` row that applies, as (strategy, why), or None."""
    cuda = torch.cuda.is_available()
    for applies, strategy, why in CHEAP_FIRST:
        if strategy in STRATEGIES and applies(data, per_class, cuda):
            return strategy, why.format(per_class=per_class, gpu="" if cuda else " and no GPU")
    return None


def choose_strategy(
    data: LabeledData, splits: Splits, backbone: str, *, image_size: int | None = None, seed: int = 0
) -> tuple[str, str]:
    """(strategy, plain-English why) for ``headstart fit --strategy auto``."""
    labeled = np.concatenate([splits.train, splits.val])
    counts = np.bincount(data.y[labeled], minlength=len(data.classes))
    per_class = int(counts.min())
    first = cheap_first(data, per_class)
    if first is not None:
        return first
    rule_choice, rule_why = choose_auto(data, splits, backbone)
    try:
        from headstart.advise.data_aware import auto_strategy

        advised, why, _advice = auto_strategy(
            data, per_class, backbone, available=set(STRATEGIES), seed=seed, image_size=image_size
        )
    except (HeadstartError, ImportError) as e:
        return rule_choice, f"{rule_why} (data-aware advisor unavailable: {e})"
    if advised in FROZEN_STRATEGIES:
        return advised, why
    try:
        params_m = float(get_spec(backbone.split(":")[0]).params_m or 100.0)
    except HeadstartError:
        params_m = 100.0
    too_costly = not torch.cuda.is_available() and len(splits.train) * params_m > CPU_BUDGET
    if per_class < MIN_PER_CLASS_TO_UPDATE or too_costly:
        reason = (
            f"only {per_class} labels in the rarest class"
            if per_class < MIN_PER_CLASS_TO_UPDATE
            else "no GPU and this much training would take too long on the CPU"
        )
        return rule_choice, f"the advisor suggested {advised} ({why}), but {reason}: {rule_why}"
    return advised, why


MIN_PER_CLASS_TO_UPDATE = 8  # below: updating backbone weights overfits; a frozen backbone is safest
FULL_FINETUNE_PER_CLASS = 100  # at or above: enough labels to move every layer
CPU_BUDGET = 2e5  # examples x millions of parameters per epoch that CPU training handles in minutes
CPU_FULL_BUDGET = 5e4


def choose_auto(data: LabeledData, splits: Splits, backbone: str) -> tuple[str, str]:
    """The documented ``--strategy auto`` rule: (strategy, why in plain English).

    1. fewer than 8 labeled examples in the smallest class -> ``linear-probe``;
    2. no CUDA and (training examples x backbone parameters in millions) above 2e5 -> ``linear-probe``
       (an epoch of backbone updates would take too long on the CPU);
    3. fewer than 100 per class -> ``lora`` for text, ``partial`` (top 2 block groups) for images:
       few trainable parameters for few labels;
    4. otherwise ``finetune`` (with layer-wise LR decay), on CUDA or when the CPU cost is under 5e4;
       else rule 3's choice.
    """
    labeled = np.concatenate([splits.train, splits.val])
    counts = np.bincount(data.y[labeled], minlength=len(data.classes))
    per_class = int(counts[counts > 0].min()) if (counts > 0).any() else 0
    try:
        params_m = float(get_spec(backbone).params_m or 100.0)
    except HeadstartError:
        params_m = 100.0
    cost = len(splits.train) * params_m
    cuda = torch.cuda.is_available()
    light = "lora" if data.modality == "text" and "lora" in STRATEGIES else "partial"
    if per_class < MIN_PER_CLASS_TO_UPDATE:
        return "linear-probe", (
            f"only {per_class} labeled examples in the smallest class (< {MIN_PER_CLASS_TO_UPDATE}): updating "
            "backbone weights would overfit, so the backbone stays frozen"
        )
    if not cuda and cost > CPU_BUDGET:
        return "linear-probe", (
            f"no GPU, and {len(splits.train)} examples through a {params_m:.0f}M-parameter backbone per epoch is "
            "too slow on the CPU; cached frozen embeddings are cheap"
        )
    if per_class < FULL_FINETUNE_PER_CLASS:
        return light, (
            f"{per_class} labeled examples per class (< {FULL_FINETUNE_PER_CLASS}): train few parameters "
            f"({'low-rank adapters' if light == 'lora' else 'the top 2 block groups'}) plus a new head"
        )
    if cuda or cost <= CPU_FULL_BUDGET:
        return "finetune", (
            f"{per_class}+ labeled examples per class and {'a GPU' if cuda else 'a small enough CPU cost'}: "
            "fine-tune every layer with layer-wise learning-rate decay"
        )
    return light, (
        f"{per_class}+ labeled examples per class, but no GPU: train few parameters to keep CPU time reasonable"
    )
