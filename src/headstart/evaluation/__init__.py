"""Metrics of one classifier and the paired verdict between transfer and baseline."""

from headstart.evaluation.metrics import classification_summary, expected_calibration_error, regression_summary
from headstart.evaluation.verdict import Verdict, paired_bootstrap_verdict

__all__ = [
    "Verdict",
    "classification_summary",
    "expected_calibration_error",
    "paired_bootstrap_verdict",
    "regression_summary",
]
