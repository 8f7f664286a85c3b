"""Strategy advice: a documented rubric (rubric_rows.py, rubric.py), measurements (measure.py) and the
data-aware advisor (data_aware.py, imported lazily: it needs torch and the backbones).

The package is callable: ``headstart.advise(labels_per_class, similarity, compute)`` is
:func:`headstart.advise.rubric.advise`, while ``headstart.advise.rubric`` etc. stay importable.
"""

from __future__ import annotations

import sys
import types
from typing import Any

from headstart.advise.measure import (
    compute_band,
    compute_profile,
    mmd_rbf,
    proxy_a_distance,
    similarity_band,
)
from headstart.advise.rubric import Advice, advise, data_band, rubric_table
from headstart.advise.rubric_rows import RUBRIC, RubricRow

__all__ = [
    "RUBRIC",
    "Advice",
    "DataAdvice",
    "RubricRow",
    "advise",
    "advise_from_data",
    "compute_band",
    "compute_profile",
    "data_band",
    "mmd_rbf",
    "proxy_a_distance",
    "rubric_table",
    "similarity_band",
]

_LAZY = {"advise_from_data", "DataAdvice", "auto_strategy", "packaged_reference"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from headstart.advise import data_aware

        return getattr(data_aware, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class _CallableModule(types.ModuleType):
    """Lets ``headstart.advise(...)`` call the rubric advisor without shadowing the subpackage."""

    def __call__(
        self, labels_per_class: int, similarity: str, compute: str, *, unlabeled_target: bool = False
    ) -> Advice:
        return advise(labels_per_class, similarity, compute, unlabeled_target=unlabeled_target)


sys.modules[__name__].__class__ = _CallableModule
