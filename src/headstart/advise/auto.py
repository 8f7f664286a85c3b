"""``--strategy auto``: the data-aware advisor's call, kept inside what this machine can train.

1. Ask the data-aware advisor (:func:`headstart.advise.data_aware.auto_strategy`): labels per class measured
   on the labeled split, compute measured on this machine, similarity measured as a proxy A-distance
   between the target's embeddings and a reference sample of the backbone's source domain.
2. Guard the call with the cost rule of :func:`headstart.strategies.finetune.choose_auto`: with fewer than
   8 labels in the rarest class, or no GPU and a training cost beyond the CPU budget, a strategy that
   updates the backbone becomes ``linear-probe``.
3. When similarity cannot be measured (no packaged reference for the backbone, scikit-image missing),
   fall back to the cost rule alone and say so.
"""

from __future__ import annotations

import numpy as np
import torch

from headstart.data import LabeledData, Splits
from headstart.errors import HeadstartError

FROZEN = ("linear-probe",)


def choose_strategy(
    data: LabeledData, splits: Splits, backbone: str, *, image_size: int | None = None, seed: int = 0
) -> tuple[str, str]:
    """(strategy, plain-English why) for ``headstart fit --strategy auto``."""
    from headstart.strategies import STRATEGIES
    from headstart.strategies.finetune import CPU_BUDGET, MIN_PER_CLASS_TO_UPDATE, choose_auto

    labeled = np.concatenate([splits.train, splits.val])
    counts = np.bincount(data.y[labeled], minlength=len(data.classes))
    per_class = int(counts.min())
    rule_choice, rule_why = choose_auto(data, splits, backbone)
    try:
        from headstart.advise.data_aware import auto_strategy

        advised, why, _advice = auto_strategy(
            data, per_class, backbone, available=set(STRATEGIES), seed=seed, image_size=image_size
        )
    except (HeadstartError, ImportError) as e:
        return rule_choice, f"{rule_why} (data-aware advisor unavailable: {e})"
    if advised in FROZEN:
        return advised, why
    from headstart.backbones import get_spec

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
