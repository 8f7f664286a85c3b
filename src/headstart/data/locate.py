"""Physical line numbers of table records, so a message or a prediction points at the line a person opens."""

from __future__ import annotations

import csv
import io
from pathlib import Path


def csv_record_lines(source: Path | str, sep: str = ",") -> list[int]:
    """The 1-based line on which each data record (after the header) starts; ``source`` is a file or the text
    already read from one (a decompressed ``.csv.gz``).

    A quoted field may span several lines, so record ``i`` is not line ``i + 2``. Blank lines are skipped,
    as pandas does.
    """
    starts: list[int] = []
    with (
        source.open(encoding="utf-8", newline="") if isinstance(source, Path) else io.StringIO(source, newline="") as fh
    ):
        reader = csv.reader(fh, delimiter=sep)
        line = 1
        for row in reader:
            start, line = line, reader.line_num + 1
            if row and any(cell.strip() for cell in row):
                starts.append(start)
    return starts[1:]
