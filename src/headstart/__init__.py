"""headstart: transfer learning for small labeled datasets, always paired with a from-scratch baseline.

Python API (the CLI and the web page are thin shells over it)::

    from headstart import TransferClassifier, FitConfig, fit_run
"""

from headstart import advise  # callable: headstart.advise(labels_per_class, similarity, compute)
from headstart.errors import HeadstartError
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
