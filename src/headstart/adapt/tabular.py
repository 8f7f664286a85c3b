"""Features for tabular domains: headstart's tabular preprocessing in place of a backbone.

A table has no pretrained encoder, so domain adaptation on tables works on the linear baseline's feature
matrix (:meth:`headstart.baselines.table_features.TableEncoder.linear_matrix`: median-imputed numbers, missing
indicators, one-hot categories, text lengths). The encoding is fitted on the pooled source and target rows
without their labels (unsupervised: a category that only the target has still gets a column), then every part
is encoded with it. Audit-group columns (e.g. ``sex`` of ``builtin:adult-table``) are not features, so a
subpopulation shift on them is a real covariate shift, not a column the model can read.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["TABLE_ENCODER", "table_domains"]

#: what a tabular adaptation run records in place of a backbone name
TABLE_ENCODER = "table-encoder"


def table_domains(parts: dict[str, Sequence[Any]]) -> dict[str, np.ndarray]:
    """``{part: [n, d] float64 matrix}`` for row-dict parts, one :class:`TableEncoder` fitted on all of them."""
    from headstart.baselines.table_features import TableEncoder
    from headstart.data.tabular import as_rows

    rows = {k: as_rows(v) for k, v in parts.items()}
    enc = TableEncoder.fit([r for part in rows.values() for r in part])
    return {k: enc.linear_matrix(v).astype(np.float64) for k, v in rows.items()}
