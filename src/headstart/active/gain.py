"""``run_gain``: did the added labels help? The new run's shipped model against the previous run's, paired
on the identical test split (``predictions.csv`` of both), judged with :func:`headstart.evaluation.compare.judge`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from headstart.errors import HeadstartError
from headstart.evaluation.compare import Arm, Comparison, judge
from headstart.rundir import load_run


def _predictions(run: Path) -> pd.DataFrame:
    load_run(run)
    path = run / "predictions.csv"
    if not path.exists():
        raise HeadstartError(f"{path}: missing; re-run `headstart fit`")
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def run_gain(previous: str | Path, new: str | Path, *, seed: int = 0) -> dict[str, Any]:
    """Verdict of ``new`` (a) vs ``previous`` (b) on their shared test split."""
    pa, pb = _predictions(Path(new)), _predictions(Path(previous))
    if list(pa["id"]) != list(pb["id"]) or list(pa["label"]) != list(pb["label"]):
        raise HeadstartError(
            f"{new} and {previous} were not tested on the same items; refit with the same data, --seed and "
            "--max-test (only --add-labels may differ)"
        )
    classes = sorted(set(pa["label"]) | set(pa["prediction"]) | set(pb["prediction"]))
    code = {c: i for i, c in enumerate(classes)}
    y = np.array([code[c] for c in pa["label"]])

    def onehot(col: pd.Series) -> np.ndarray:
        out = np.zeros((len(col), len(classes)))
        out[np.arange(len(col)), [code[c] for c in col]] = 1.0
        return out

    arms = {
        "new": Arm("new", "transfer", f"{Path(new).name} (with added labels)", onehot(pa["prediction"])),
        "previous": Arm("previous", "baseline", f"{Path(previous).name}", onehot(pb["prediction"])),
    }
    return judge(Comparison("new", "previous"), arms, y, seed=seed)
