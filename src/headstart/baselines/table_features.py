"""Row dicts -> feature matrices for the tabular baselines, with the fitted encoding saved as JSON.

Kinds are read from the training rows: a column whose values are all numbers (or None) is numeric; a string
column is categorical, or free text when its values are long and mostly distinct (the same rule as
headstart.data.tabular). Trees get categorical codes (the ``MAX_CATEGORIES - 1`` most frequent categories,
the rest pooled into one code; unknown or missing -> NaN) placed first, then numbers with NaN kept; the
linear model gets median-imputed numbers, a missing indicator per numeric column that had gaps, and one-hot
categories. Free-text columns enter both only as their length in words (the text backbone reads them).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from headstart.data.tabular import TEXT_MIN_MEAN_CHARS

MAX_CATEGORIES = 250  # HistGradientBoosting handles at most 255 categories per feature
OTHER = "\x00other"


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and np.isnan(v))


@dataclass
class TableEncoder:
    numeric: list[str]
    categorical: list[str]
    text: list[str]
    categories: dict[str, list[str]]  # most frequent first; OTHER last when categories were pooled
    medians: dict[str, float]
    indicators: list[str]  # numeric columns with a missing indicator in the linear matrix

    @classmethod
    def fit(cls, rows: Sequence[dict[str, Any]]) -> TableEncoder:
        names: list[str] = []
        for r in rows:
            names.extend(k for k in r if k not in names)
        numeric, categorical, text = [], [], []
        categories: dict[str, list[str]] = {}
        medians: dict[str, float] = {}
        indicators: list[str] = []
        for c in names:
            values = [r.get(c) for r in rows]
            present = [v for v in values if not _missing(v)]
            if all(_is_number(v) or isinstance(v, bool) for v in present):
                numeric.append(c)
                medians[c] = float(np.median(np.asarray(present, dtype=np.float64))) if present else 0.0
                if len(present) < len(values):
                    indicators.append(c)
                continue
            strings = [str(v) for v in present]
            mean_len = sum(map(len, strings)) / max(1, len(strings))
            if mean_len >= TEXT_MIN_MEAN_CHARS and len(set(strings)) > 0.5 * len(strings):
                text.append(c)
                continue
            counts = Counter(strings)
            ranked = sorted(counts, key=lambda s: (-counts[s], s))
            if len(ranked) > MAX_CATEGORIES:
                ranked = [*ranked[: MAX_CATEGORIES - 1], OTHER]
            categorical.append(c)
            categories[c] = ranked
        return cls(numeric, categorical, text, categories, medians, indicators)

    def _codes(self, rows: Sequence[dict[str, Any]], c: str) -> np.ndarray:
        index = {s: i for i, s in enumerate(self.categories[c])}
        other = index.get(OTHER)
        out = np.full(len(rows), np.nan)
        for i, r in enumerate(rows):
            v = r.get(c)
            if _missing(v):
                continue
            code = index.get(str(v), other)
            if code is not None:
                out[i] = code
        return out

    def _numbers(self, rows: Sequence[dict[str, Any]], c: str) -> np.ndarray:
        out = np.full(len(rows), np.nan)
        for i, r in enumerate(rows):
            v = r.get(c)
            if _is_number(v) or isinstance(v, bool):
                out[i] = float(v)
        return out

    def _words(self, rows: Sequence[dict[str, Any]], c: str) -> np.ndarray:
        return np.asarray([len(str(r.get(c) or "").split()) for r in rows], dtype=np.float64)

    @property
    def n_tree_categorical(self) -> int:
        return len(self.categorical)

    def tree_matrix(self, rows: Sequence[dict[str, Any]]) -> np.ndarray:
        """``[n, categorical + numeric + text]``: categorical codes first (see ``categorical_mask``)."""
        cols = [self._codes(rows, c) for c in self.categorical]
        cols += [self._numbers(rows, c) for c in self.numeric]
        cols += [self._words(rows, c) for c in self.text]
        return np.stack(cols, axis=1) if cols else np.zeros((len(rows), 0))

    def categorical_mask(self) -> np.ndarray:
        n = len(self.categorical) + len(self.numeric) + len(self.text)
        return np.arange(n) < len(self.categorical)

    def linear_matrix(self, rows: Sequence[dict[str, Any]]) -> np.ndarray:
        """Median-imputed numbers, missing indicators, one-hot categories, text lengths."""
        cols = []
        for c in self.numeric:
            x = self._numbers(rows, c)
            cols.append(np.where(np.isnan(x), self.medians[c], x))
        for c in self.indicators:
            cols.append(np.isnan(self._numbers(rows, c)).astype(np.float64))
        for c in self.categorical:
            codes = self._codes(rows, c)
            onehot = np.zeros((len(rows), len(self.categories[c])))
            ok = ~np.isnan(codes)
            onehot[np.flatnonzero(ok), codes[ok].astype(np.int64)] = 1.0
            cols.extend(onehot.T)
        cols += [self._words(rows, c) for c in self.text]
        return np.stack(cols, axis=1) if cols else np.zeros((len(rows), 0))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TableEncoder:
        return cls(**{k: d[k] for k in cls.__dataclass_fields__})
