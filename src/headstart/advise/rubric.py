"""Rubric advisor: which transfer strategy to try first, from three facts the user knows.

Inputs: ``labels_per_class`` (int), ``similarity`` of the target domain to the backbone's source domain
(``"low" | "medium" | "high"``; :mod:`headstart.advise.measure` can estimate it), ``compute``
(``"cpu" | "single-gpu" | "multi-gpu"``) and, optionally, whether unlabeled target data exists.

Data bands (labels per class)::

    tiny    n < 50
    small   50 <= n < 500
    medium  500 <= n <= 5000
    large   n > 5000

The rules are the data table :data:`headstart.advise.rubric_rows.RUBRIC` (not code), which also summarises
them and cites the literature behind each row. This module looks the inputs up in it (:func:`advise`) and
says how to run the answer (:func:`fit_command`).

headstart always trains a from-scratch baseline next to the transfer model and reports a paired verdict,
so a wrong guess here costs one run, not a wrong conclusion.
"""

from __future__ import annotations

import numbers
from dataclasses import asdict, dataclass, field
from typing import Any

from headstart.advise.rubric_rows import COMPUTE_KINDS, DATA_BANDS, RUBRIC, SIMILARITIES
from headstart.advise.tabular_rubric import table_row
from headstart.errors import HeadstartError

__all__ = ["Advice", "advise", "data_band", "fit_command", "rubric_table"]

# How each advised approach is run with `headstart fit`. Strategies in the registry are ``--strategy NAME``;
# the two approaches that are not a strategy map to the flags that run them. A test runs every one.
FIT_ARGS: dict[str, str] = {
    "domain-adaptation": "--source SOURCE --adapt auto",
    "scratch": "--ship baseline",
}


def fit_command(strategy: str, data: str = "DATA", *, backbone: str | None = None) -> str:
    """The `headstart fit` command line that runs an advised approach."""
    pick = f" --backbone {backbone}" if backbone else ""
    return f"headstart fit {data}{pick} {FIT_ARGS.get(strategy, f'--strategy {strategy}')}"


def data_flags(text_column: str | None, label_column: str | None, on_bad_item: str = "error") -> str:
    """The options the data was read with, for an advised command: without them it would not load."""
    import shlex

    out = " --on-bad-item skip" if on_bad_item == "skip" else ""
    if text_column:
        out += f" --text-column {shlex.quote(text_column)}"
    if label_column:
        out += f" --label-column {shlex.quote(label_column)}"
    return out


@dataclass
class Advice:
    """The advisor's answer for one set of inputs."""

    strategy: str
    headline: str
    reasons: list[str]
    risks: list[str]
    next_command: str
    confidence: str
    rule_id: str
    data_band: str
    justification: str
    inputs: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def data_band(labels_per_class: int) -> str:
    """Map labels per class to ``"tiny" | "small" | "medium" | "large"`` (see :data:`DATA_BANDS`)."""
    n = _check_labels(labels_per_class)
    for name, low, high in DATA_BANDS:
        if n >= low and (high is None or n <= high):
            return name
    raise AssertionError("DATA_BANDS must cover every positive integer")  # pragma: no cover


def _check_labels(labels_per_class: Any) -> int:
    if isinstance(labels_per_class, bool) or not isinstance(labels_per_class, numbers.Integral):
        raise HeadstartError(
            f"labels_per_class must be a whole number; got {labels_per_class!r} (use the count of the rarest class)"
        )
    n = int(labels_per_class)
    if n < 1:
        raise HeadstartError(f"labels_per_class must be at least 1; got {n} (count labeled examples per class)")
    return n


def _check_choice(value: Any, name: str, choices: tuple[str, ...]) -> str:
    text = value.strip().lower() if isinstance(value, str) else value
    if text not in choices:
        raise HeadstartError(f"unknown {name} {value!r}; use one of: {', '.join(choices)}")
    return str(text)


def advise(
    labels_per_class: int,
    similarity: str,
    compute: str,
    *,
    unlabeled_target: bool = False,
    table: bool = False,
    text_in_row: bool = False,
) -> Advice:
    """Recommend a first transfer strategy by looking the inputs up in :data:`RUBRIC` (or, with ``table=True``,
    in :data:`headstart.advise.tabular_rubric.TABULAR_RUBRIC`, where similarity and compute do not decide).

    ``labels_per_class``: labeled examples per class (use the rarest class), at least 1.
    ``similarity``: ``"low" | "medium" | "high"`` similarity of the target to the backbone's source domain.
    ``compute``: ``"cpu" | "single-gpu" | "multi-gpu"``.
    ``unlabeled_target``: unlabeled target-domain examples are available (enables domain adaptation when
    labels are scarce and the domain is dissimilar).

    Raises HeadstartError on invalid inputs.
    """
    band = data_band(labels_per_class)
    sim = _check_choice(similarity, "similarity", SIMILARITIES)
    comp = _check_choice(compute, "compute", COMPUTE_KINDS)
    if table:
        return _advise_table(band, int(labels_per_class), sim, comp, text_in_row)
    matches = [row for row in RUBRIC if row.covers(band, sim, comp, bool(unlabeled_target))]
    if len(matches) != 1:  # pragma: no cover - guarded by tests over every input combination
        raise AssertionError(f"rubric has {len(matches)} rows for {(band, sim, comp, unlabeled_target)}")
    row = matches[0]
    return Advice(
        strategy=row.strategy,
        headline=row.headline,
        reasons=list(row.reasons),
        risks=list(row.risks),
        next_command=fit_command(row.strategy),
        confidence=row.confidence,
        rule_id=row.id,
        data_band=band,
        justification=row.justification,
        inputs={
            "labels_per_class": int(labels_per_class),
            "similarity": sim,
            "compute": comp,
            "unlabeled_target": bool(unlabeled_target),
        },
    )


def _advise_table(band: str, n: int, sim: str, comp: str, text_in_row: bool) -> Advice:
    row = table_row(band, text_in_row)
    command = fit_command(row.strategy) + (f" {row.fit_args}" if row.fit_args else "")
    inputs = {"labels_per_class": n, "similarity": sim, "compute": comp, "table": True, "text_in_row": text_in_row}
    return Advice(
        strategy=row.strategy,
        headline=row.headline,
        reasons=list(row.reasons),
        risks=list(row.risks),
        next_command=command,
        confidence=row.confidence,
        rule_id=row.id,
        data_band=band,
        justification=row.justification,
        inputs=inputs,
    )


def rubric_table() -> list[dict[str, Any]]:
    """The rubric as plain dicts (lists instead of tuples) for display or JSON."""
    return [row.to_dict() for row in RUBRIC]
