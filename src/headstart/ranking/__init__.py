"""Transferability estimation: rank frozen backbones on a labeled target set before any fine-tuning."""

from headstart.ranking.logme import log_evidence, logme, maximize_evidence
from headstart.ranking.scores import (
    h_score,
    knn_cv_accuracy,
    leep,
    linear_probe_cv_accuracy,
    nce,
    rank_backbones,
    weighted_kendall_tau,
)

__all__ = [
    "h_score",
    "knn_cv_accuracy",
    "leep",
    "linear_probe_cv_accuracy",
    "log_evidence",
    "logme",
    "maximize_evidence",
    "nce",
    "rank_backbones",
    "weighted_kendall_tau",
]
