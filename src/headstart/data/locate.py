"""Physical line numbers of table records, so a message or a prediction points at the line a person opens."""

from __future__ import annotations

import csv
from pathlib import Path


def csv_record_lines(path: Path, sep: str = ",") -> list[int]:
    """The 1-based line on which each data record (after the header) starts.

    A quoted field may span several lines, so record ``i`` is not line ``i + 2``. Blank lines are skipped,
    as pandas does.
    """
    starts: list[int] = []
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh, delimiter=sep)
        line = 1
        for row in reader:
            start, line = line, reader.line_num + 1
            if row and any(cell.strip() for cell in row):
                starts.append(start)
    return starts[1:]
