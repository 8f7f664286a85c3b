"""headstart: transfer learning for small labeled datasets, always paired with a from-scratch baseline.

Python API (the CLI and the web page are thin shells over it)::

    from headstart import TransferClassifier, FitConfig, fit_run

The names below are imported on first use (PEP 562), so ``import headstart`` and the command line's
``--help`` and usage errors do not pay for torch and scikit-learn up front.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from headstart.errors import HeadstartError

if TYPE_CHECKING:
    from headstart import advise  # callable: headstart.advise(labels_per_class, similarity, compute)
    from headstart.estimator import TransferClassifier
    from headstart.pipeline import FitConfig, RunResult, fit_run, predict_run

__version__ = "0.1.0"
__all__ = [
    "FitConfig",
    "HeadstartError",
    "RunResult",
    "TransferClassifier",
    "__version__",
    "advise",
    "fit_run",
    "predict_run",
]

_LAZY = {
    "TransferClassifier": "headstart.estimator",
    "FitConfig": "headstart.pipeline",
    "RunResult": "headstart.pipeline",
    "fit_run": "headstart.pipeline",
    "predict_run": "headstart.pipeline",
}


def __getattr__(name: str) -> Any:
    if name == "advise":
        return importlib.import_module("headstart.advise")
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'headstart' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
