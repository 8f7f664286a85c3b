"""Loading the shipped model of a complete run directory and predicting new data with it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from headstart.artifacts import FittedModel
from headstart.data.unlabeled import load_unlabeled
from headstart.errors import HeadstartError
from headstart.integrity import require_listed
from headstart.models import load_model
from headstart.rundir import load_run
from headstart.strategies.precision_cascade import describe, enable

SIDE_FOLDERS = {"transfer": "model", "baseline": "baseline", "stack": "stack"}


def load_shipped(run_dir: str | Path, side: str | None = None) -> tuple[FittedModel, dict[str, Any], dict[str, Any]]:
    """(model, config, metrics) of the side a run shipped, or of ``side``."""
    config, metrics = load_run(run_dir)
    kind = metrics.get("kind")
    if kind in ("adaptation", "generalization"):
        if kind == "generalization":
            raise HeadstartError(_serve_generalization(run_dir, config, metrics))
        if not (Path(run_dir) / "model").is_dir():  # a table study (its tabular encoder is refitted per study)
            raise HeadstartError(
                f"{run_dir} is a domain-adaptation study on a table: it compares methods but saves no model; "
                "fit the target rows with `headstart fit TARGET` (no --source) to predict with"
            )
        side = "transfer"  # a deep adaptation run saves the model it shipped in model/
    side = side or metrics.get("shipped", {}).get("side", "transfer")
    if side not in SIDE_FOLDERS:
        raise HeadstartError(f"unknown side {side!r}; choose {', '.join(SIDE_FOLDERS)}")
    folder = Path(run_dir) / SIDE_FOLDERS[side]
    if side == "stack" and not folder.exists():
        raise HeadstartError(f"{run_dir} has no stacked model; fit it with `headstart fit ... --ship stack`")
    require_listed(run_dir, folder.name)  # a model folder added after fit is refused
    return load_model(folder), config, metrics


def _serve_generalization(run_dir: str | Path, config: dict[str, Any], metrics: dict[str, Any]) -> str:
    """The one-line answer to predicting with a generalization study: the command that fits what serves."""
    rec = metrics.get("generalization", {}).get("recommended", "pooled")
    head = f"{run_dir} is a domain-generalization study (it recommends {rec} for a new domain) and saves no model"
    if not config.get("data"):
        return f"{head}; put the source domains in one file and fit it with `headstart fit FILE` to predict with"
    flags = "".join(
        f" --{flag} {config[key]}" for key, flag in (("text_column", "text-column"), ("label_column", "label-column"))
        if config.get(key)
    )  # fmt: skip
    cmd = f"headstart fit {config['data']}{flags} --out {Path(str(run_dir)).name}-pooled"
    why = "" if rec == "pooled" else f" (the pooled model; {rec} also needs the new domain's unlabeled items)"
    return f"{head}; fit every domain's labels with `{cmd}`{why}, then predict with that run"


def predict_run(
    run_dir: str | Path,
    source: str,
    *,
    side: str | None = None,
    text_column: str | None = None,
    keep_columns: list[str] | None = None,
    on_bad_item: str = "error",
) -> pd.DataFrame:
    """Labels for new data from the model a run shipped (or ``side``), one row per input item.

    ``keep_columns`` carries input columns through (tables only; ``["*"]`` keeps every column). A text probe
    predicts through the precision cascade where it applies (:mod:`headstart.strategies.precision_cascade`);
    ``df.attrs["precision"]`` then says how many texts went back to fp32. ``on_bad_item="skip"`` leaves out
    unreadable images and empty texts (listed in ``df.attrs["skipped"]`` as ``(id, reason)``).
    """
    if on_bad_item not in ("error", "skip"):
        raise HeadstartError(f"--on-bad-item must be error or skip, got {on_bad_item!r}")
    model, config, metrics = load_shipped(run_dir, side)
    cascaded = enable(model)  # text probes: int8 first, fp32 near the boundary (where auto runs ORT fp32)
    modality = metrics["data"]["modality"]
    classes = np.array(metrics["data"]["classes"])
    skipped: list[tuple[str, str]] | None = [] if on_bad_item == "skip" else None
    notes: list[str] = []  # table columns whose new values the training schema cannot read or never saw
    if modality == "tabular":
        from headstart.data.table_rows import load_prediction_table

        if skipped is not None:
            raise HeadstartError("--on-bad-item skip is for texts and images; fix the named row of the table")
        ids, items, table = load_prediction_table(source, metrics["data"].get("table", {}), notes)
    else:
        ids, items, table = load_unlabeled(
            source,
            modality=modality,
            text_column=text_column or config.get("text_column"),
            with_table=True,
            skipped=skipped,
        )
    if metrics["data"].get("task") == "regression":
        from headstart.regression_run import predict_frame

        df = predict_frame(model, ids, items)
    elif hasattr(model, "predict_tasks"):  # a multitask run: one prediction column per task
        from headstart.multitask.run import predict_tasks_frame, scratch_folder

        scratch = [n for n, s in metrics.get("shipped", {}).get("per_task", {}).items() if s == "scratch"]
        if scratch:
            require_listed(run_dir, "baseline")
        df = predict_tasks_frame(model, ids, items, {n: load_model(Path(run_dir) / scratch_folder(n)) for n in scratch})
    else:
        proba = model.predict_proba(items)
        df = pd.DataFrame({"id": ids, "prediction": classes[proba.argmax(1)], "confidence": proba.max(1)})
        for j, c in enumerate(classes):
            df[f"p_{c}"] = proba[:, j]
    df = _keep(df, table, source, keep_columns)
    note = describe(cascaded)
    if note:
        df.attrs["precision"] = note
    if skipped:
        df.attrs["skipped"] = skipped
    if notes:
        df.attrs["warnings"] = notes
    return df


def _keep(df: pd.DataFrame, table: Any, source: str, keep_columns: list[str] | None) -> pd.DataFrame:
    if keep_columns:
        if table is None:
            raise HeadstartError(f"--keep-column works for tables only; {source} is not a table")
        wanted = list(table.columns) if keep_columns == ["*"] else keep_columns
        missing = [c for c in wanted if c not in table.columns]
        if missing:
            raise HeadstartError(
                f"{source}: no column {missing[0]!r} to keep; available: {', '.join(map(str, table.columns))}"
            )
        carried = table[wanted].reset_index(drop=True)
        carried.columns = [f"input_{c}" if c in df.columns else c for c in carried.columns]
        df = pd.concat([df, carried], axis=1)
    return df
