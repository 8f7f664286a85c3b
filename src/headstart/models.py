"""``load_model``: any saved model folder back into a fitted model, by the ``kind`` its meta.json names.

It sits above every model family (baselines, strategies, stacking) so that importing it registers them all;
the families themselves only know :mod:`headstart.artifacts`.
"""

from __future__ import annotations

from pathlib import Path

import headstart.baselines
import headstart.stacking
import headstart.strategies  # noqa: F401  (importing the families registers their kinds)
from headstart.artifacts import FittedModel, model_class, read_meta


def load_model(folder: Path) -> FittedModel:
    meta = read_meta(folder)
    return model_class(folder, meta).load(folder)  # type: ignore[attr-defined, no-any-return]
