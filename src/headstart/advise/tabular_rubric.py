"""Rubric rows for tables: on feature columns, expect gradient-boosted trees to win unless a row carries text.

Keyed by the data band (labels per class, as in :data:`headstart.advise.rubric_rows.DATA_BANDS`) and whether a
row holds free text (a ``--text-column`` or a long, mostly distinct string column). Every (band, text) pair
is covered by exactly one row. Summary::

    id                  data                  text in row   approach       confidence
    table-tiny          tiny                  no            scratch        medium
    table               small, medium, large  no            scratch        high
    table-text-scarce   tiny, small           yes           linear-probe   medium
    table-text-plenty   medium, large         yes           scratch        low

Sources: Grinsztajn, Oyallon, Varoquaux. "Why do tree-based models still outperform deep learning on typical
tabular data?" NeurIPS 2022 Datasets and Benchmarks; Shwartz-Ziv, Armon. "Tabular data: Deep learning is not
all you need", Information Fusion 2022; Hegselmann et al. "TabLLM: Few-shot Classification of Tabular Data
with Large Language Models", AISTATS 2023 (serialized rows through a language model help at very few
labels, and mostly when column names and values carry meaning). ``benchmarks/results/tabular.md`` measures
this on Adult, COMPAS, German credit and breast cancer.
"""

from __future__ import annotations

from dataclasses import dataclass

_TREES_WIN = "trees usually beat pretrained encoders on numeric and categorical columns"
_FEW = "few labels: every model's validation score is noisy; prefer --ship stack or more labels"


@dataclass(frozen=True)
class TableRow:
    id: str
    bands: tuple[str, ...]
    text_in_row: bool
    strategy: str
    confidence: str
    headline: str
    reasons: tuple[str, ...]
    risks: tuple[str, ...]
    justification: str
    fit_args: str = ""  # added to the advised `headstart fit` command


TABULAR_RUBRIC: tuple[TableRow, ...] = (
    TableRow(
        id="table-tiny",
        bands=("tiny",),
        text_in_row=False,
        strategy="scratch",
        confidence="medium",
        headline="Ship the gradient-boosted trees (or the linear model, whichever wins on validation).",
        reasons=(
            "Numeric and categorical columns are what trees are built for; a text encoder reading "
            "'age: 39; ...' has to learn arithmetic on number tokens.",
            "With under 50 labels per class the regularized linear model often beats the trees; headstart fits both.",
        ),
        risks=(_FEW,),
        justification="Grinsztajn et al. 2022; Shwartz-Ziv & Armon 2022; TabLLM (Hegselmann et al. 2023) for the "
        "few-label exception.",
    ),
    TableRow(
        id="table",
        bands=("small", "medium", "large"),
        text_in_row=False,
        strategy="scratch",
        confidence="high",
        headline="Ship the gradient-boosted trees; a pretrained encoder is not expected to help on these columns.",
        reasons=(_TREES_WIN + ".", "Trees need no GPU and train in seconds at this size."),
        risks=("distribution shift in a column breaks trees silently: monitor the inputs",),
        justification="Grinsztajn et al. 2022; Shwartz-Ziv & Armon 2022.",
    ),
    TableRow(
        id="table-text-scarce",
        bands=("tiny", "small"),
        text_in_row=True,
        strategy="linear-probe",
        confidence="medium",
        headline="Let the text encoder read the rows (linear probe), and stack it with the trees (--ship stack).",
        reasons=(
            "A free-text column carries meaning a pretrained encoder already knows; trees only see its length.",
            "The stack combines the encoder's and the trees' out-of-fold probabilities and ships only if it "
            "wins on validation.",
        ),
        risks=(_FEW, "negative transfer on the numeric columns: the verdict against the trees says if it happened"),
        justification="TabLLM (Hegselmann et al. 2023): serialized rows through a language model help at few "
        "labels; trees catch up as labels grow.",
        fit_args="--ship stack",
    ),
    TableRow(
        id="table-text-plenty",
        bands=("medium", "large"),
        text_in_row=True,
        strategy="scratch",
        confidence="low",
        headline="Start with the trees, and compare the encoder on the rows (or stack both) before deciding.",
        reasons=(
            "With hundreds of labels per class the trees usually catch up, but a rich text column can still add.",
        ),
        risks=("the text column may matter more than it seems: run --ship stack once to check",),
        justification="Grinsztajn et al. 2022; TabLLM (Hegselmann et al. 2023).",
    ),
)


def table_row(band: str, text_in_row: bool) -> TableRow:
    """The one row covering ``(band, text_in_row)``."""
    matches = [r for r in TABULAR_RUBRIC if band in r.bands and r.text_in_row == bool(text_in_row)]
    if len(matches) != 1:  # pragma: no cover - guarded by a test over every combination
        raise AssertionError(f"tabular rubric has {len(matches)} rows for {(band, text_in_row)}")
    return matches[0]
