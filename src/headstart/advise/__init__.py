"""Strategy advice: a documented rubric (rubric.py) and measurements for a data-aware advisor (measure.py)."""

from headstart.advise.measure import (
    compute_band,
    compute_profile,
    mmd_rbf,
    proxy_a_distance,
    similarity_band,
)
from headstart.advise.rubric import RUBRIC, Advice, RubricRow, advise, data_band, rubric_table

__all__ = [
    "RUBRIC",
    "Advice",
    "RubricRow",
    "advise",
    "compute_band",
    "compute_profile",
    "data_band",
    "mmd_rbf",
    "proxy_a_distance",
    "rubric_table",
    "similarity_band",
]
