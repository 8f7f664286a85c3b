"""``headstart export RUN_DIR --format onnx``: the shipped model's full inference path as ONNX.

The graph is backbone + head (or the whole baseline network) ending in class probabilities (a regression
model: the predicted value, ``[N, 1]``, with the 90% interval's half-width in the contract); preprocessing
(image decode/resize/normalise, tokenization) stays outside it and is written down as a contract in
``export/preprocessing.json`` (:mod:`headstart.export.contract`). This module writes the exported bundle
(:func:`export_model`: graph + contract + tokenizer, from the exporter registered for the model's kind in
:mod:`headstart.export.plans`), exports a run (:func:`export_run`: ``export/export.json`` reports parity with
the torch model on the run's test inputs, the int8 accuracy delta and the speed of torch vs ORT fp32 vs ORT
int8, measured by :mod:`headstart.export.parity`) and predicts through the bundle (:func:`predict_onnx`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

import headstart.export.table_plans  # noqa: F401  registers the table exporters
from headstart.backend_choice import forced_backend
from headstart.backends import DEFAULT_OPSET, export_module, make_session
from headstart.errors import HeadstartError
from headstart.export.contract import _load_tokenizer, prepare_inputs
from headstart.export.parity import PARITY_TOLERANCE, _speed, ort_proba
from headstart.export.plans import ExportPlan, _plan_for
from headstart.integrity import add_to_manifest, require_listed
from headstart.io import atomic_dir, atomic_write_json

__all__ = ["export_model", "export_run", "predict_onnx"]

FORMAT_VERSION = 1
EXPORT_DIR = "export"
FP32_FILE = "model.onnx"
INT8_FILE = "model.int8.onnx"
OUTPUT_NAME = "probabilities"
VALUE_NAME = "prediction"  # a regression graph's output: [N, 1] in the target's units
REGRESSION_TOLERANCE = 1e-4  # max |y_onnx - y_torch| / the test targets' spread accepted as parity


def export_model(
    model: Any, folder: Path, *, sample_items: Sequence[Any], classes: Sequence[str], opset: int = DEFAULT_OPSET
) -> ExportPlan:
    """Write ``folder/model.onnx`` + ``preprocessing.json`` (+ ``tokenizer/``) for a fitted model of any
    registered kind; raises HeadstartError for kinds that are not exported."""
    plan = _plan_for(model)
    if not len(sample_items):
        raise HeadstartError("export needs at least one example item to trace the graph")
    sample = list(sample_items[:2])
    example = prepare_inputs(plan.contract, sample, tokenizer=plan.tokenizer)
    tensors = [torch.from_numpy(example[n]) for n in plan.input_names]
    regression = plan.task == "regression"
    output_name = VALUE_NAME if regression else OUTPUT_NAME
    export_module(
        plan.module, tensors, folder / FP32_FILE, input_names=plan.input_names, output_name=output_name, opset=opset
    )
    if plan.tokenizer is not None:
        plan.tokenizer.save_pretrained(str(folder / plan.contract["text"]["tokenizer"]))
    contract = {
        "format_version": FORMAT_VERSION,
        "kind": getattr(model, "kind", ""),
        "model_name": getattr(model, "name", ""),
        **plan.contract,
        "task": plan.task,
        "output": (
            {
                "name": VALUE_NAME,
                "shape": ["N", 1],
                "dtype": plan.output_dtype,
                "meaning": "the predicted value, in the target's units",
                "interval_halfwidth": plan.halfwidth if np.isfinite(plan.halfwidth) else None,
                "interval": "prediction +- interval_halfwidth: the 90% conformal interval `headstart predict` gives",
            }
            if regression
            else {
                "name": OUTPUT_NAME,
                "shape": ["N", len(classes)],
                "dtype": "float32",
                "meaning": "class probabilities",
            }
        ),
        "classes": [] if regression else list(classes),
        "opset": opset,
        "notes": plan.notes,
    }
    atomic_write_json(folder / "preprocessing.json", contract)
    plan.contract = contract
    return plan


# ----------------------------------------------------------------------------------------------- run level
def _take(items: Any, idx: np.ndarray) -> Any:
    return items[idx] if isinstance(items, np.ndarray) else [items[i] for i in idx]


def _test_split(run: Path, config: dict[str, Any]) -> tuple[Any, np.ndarray]:
    from headstart.data import Splits, load_data

    if config.get("kind") == "adaptation":  # a study's shipped model: check parity on the target's items
        from headstart.adapt.domains import load_domain

        kw = {k: config[k] for k in ("text_column", "label_column") if config.get(k)}
        target = load_domain(config["target"], **kw)
        keep = np.arange(min(len(target.y), 1000))
        return _take(target.items, keep), target.y[keep]

    splits = Splits.from_json((run / "splits.json").read_text(), source=str(run / "splits.json"))
    data = load_data(
        config["data"],
        text_column=config.get("text_column"),
        label_column=config.get("label_column"),
        group_columns=tuple(config.get("group_columns") or ()),
        on_bad_item=config.get("on_bad_item", "error"),
    )
    if len(data.y) != splits.n_items:
        raise HeadstartError(
            f"{run}/splits.json indexes {splits.n_items} items but {config['data']} now has {len(data.y)}; "
            "the data changed since the run, so its test split cannot be rebuilt"
        )
    return _take(data.items, splits.test), data.y[splits.test]


def _accuracy(p: np.ndarray, y: np.ndarray) -> float:
    return float((p.argmax(1) == y).mean())


def _mae(v: np.ndarray, y: np.ndarray) -> float:
    return float(np.abs(v[:, 0].astype(np.float64) - y).mean())


def _parity(task: str, ref: np.ndarray, got: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    """export.json ``parity``: ORT fp32 vs the torch fp32 reference on the same items."""
    diff = np.abs(got.astype(np.float64) - ref.astype(np.float64))
    compared = "torch fp32 model on its own preprocessing vs ORT fp32 on preprocessing.json"
    if task == "regression":
        spread = float(np.std(y)) or 1.0  # the diff in units of the test targets' standard deviation
        return {
            "max_abs_diff": float(diff.max()),
            "mean_abs_diff": float(diff.mean()),
            "max_diff_over_target_std": float(diff.max()) / spread,
            "tolerance": REGRESSION_TOLERANCE,
            "ok": bool(float(diff.max()) / spread < REGRESSION_TOLERANCE),
            "compared": compared,
        }
    return {
        "max_abs_prob_diff": float(diff.max()),
        "mean_abs_prob_diff": float(diff.mean()),
        "label_agreement": float((got.argmax(1) == ref.argmax(1)).mean()),
        "tolerance": PARITY_TOLERANCE,
        "ok": bool(float(diff.max()) < PARITY_TOLERANCE),
        "compared": compared,
    }


def export_run(
    run_dir: str | Path,
    *,
    fmt: str = "onnx",
    quantize: str | None = None,
    side: str | None = None,
    opset: int = DEFAULT_OPSET,
    max_items: int | None = None,
    bench_items: int = 128,
    repeat: int = 2,
    echo: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Export the shipped (or ``side``) model of a run to ``RUN_DIR/export/`` and return export.json's content."""
    from headstart.pipeline import load_shipped

    say = echo or (lambda _s: None)
    if fmt != "onnx":
        raise HeadstartError(f"unknown export format {fmt!r}; the supported format is onnx")
    if quantize not in (None, "int8"):
        raise HeadstartError(f"unknown --quantize {quantize!r}; the supported value is int8")
    run = Path(run_dir)
    model, config, metrics = load_shipped(run, side)
    chosen = side or metrics.get("shipped", {}).get("side", "transfer")
    classes = list(metrics["data"].get("classes") or [])
    _plan_for(model)  # a clear error for a non-exportable kind before any data is loaded
    say(f"loading the test split of {config.get('data') or config.get('target')}")
    test_items, y_test = _test_split(run, config)
    if max_items:
        test_items, y_test = test_items[:max_items], y_test[:max_items]
    if not len(test_items):
        raise HeadstartError(f"{run}: the test split is empty; nothing to check the export against")

    with atomic_dir(run / EXPORT_DIR) as out:
        say(f"exporting {getattr(model, 'name', 'model')} to ONNX (opset {opset})")
        plan = export_model(model, out, sample_items=test_items, classes=classes, opset=opset)
        contract = plan.contract
        sessions = {"onnx_fp32": make_session(out / FP32_FILE)}
        if quantize == "int8":
            from headstart.export.quantize import quantize_int8

            say("quantizing to int8 (dynamic)")
            qinfo = quantize_int8(out / FP32_FILE, out / INT8_FILE, exclude_last_linear=True)
            sessions["onnx_int8"] = make_session(out / INT8_FILE)

        say(f"checking parity on {len(test_items)} test inputs")
        with forced_backend("torch"):  # the reference: the model in torch fp32, as the graph is
            p_torch = plan.torch_proba(test_items)
        probs = {name: ort_proba(s, contract, test_items, tokenizer=plan.tokenizer) for name, s in sessions.items()}
        p32 = probs["onnx_fp32"]
        report: dict[str, Any] = {
            "format": "onnx",
            "side": chosen,
            "kind": contract["kind"],
            "model_name": contract["model_name"],
            "files": {
                "fp32": FP32_FILE,
                **({"int8": INT8_FILE} if quantize else {}),
                "preprocessing": "preprocessing.json",
            },
            "opset": opset,
            "n_test": len(test_items),
            "task": plan.task,
            "parity": _parity(plan.task, p_torch, p32, y_test),
            "notes": plan.notes,
        }
        if plan.task == "regression":
            report["mae"] = {k: _mae(v, y_test) for k, v in (("torch", p_torch), *probs.items())}
        else:
            report["accuracy"] = {k: _accuracy(v, y_test) for k, v in (("torch", p_torch), *probs.items())}
        if quantize == "int8":
            p8 = probs["onnx_int8"]
            report["int8"] = {"file_mb": (out / INT8_FILE).stat().st_size / 1e6, **qinfo}
            if plan.task == "regression":
                report["int8"]["mae_delta_vs_fp32"] = report["mae"]["onnx_int8"] - report["mae"]["onnx_fp32"]
                report["int8"]["max_abs_diff_vs_fp32"] = float(np.abs(p8 - p32).max())
            else:
                acc = report["accuracy"]
                report["int8"]["accuracy_delta_vs_fp32"] = acc["onnx_int8"] - acc["onnx_fp32"]
                report["int8"]["label_agreement_vs_fp32"] = float((p8.argmax(1) == p32.argmax(1)).mean())
                report["int8"]["max_abs_prob_diff_vs_fp32"] = float(np.abs(p8 - p32).max())
            if not qinfo["quantized_nodes"]:
                report["int8"]["note"] = (
                    "nothing to quantize: dynamic int8 covers MatMul/Gemm (the output head stays fp32) and "
                    "convolutions are kept fp32 (ConvInteger measured ~10x slower and less accurate)"
                )
        report["fp32_file_mb"] = (out / FP32_FILE).stat().st_size / 1e6
        say("timing torch vs ONNX Runtime")
        bench = list(test_items[: max(1, bench_items)])
        inputs = prepare_inputs(contract, bench, tokenizer=plan.tokenizer)
        report["speed"] = _speed(plan, sessions, inputs, batch_size=64, repeat=repeat)
        atomic_write_json(out / "export.json", report)
    add_to_manifest(run, EXPORT_DIR)  # predict --onnx verifies the graph it runs
    return report


# ----------------------------------------------------------------------------------------------- predict
def predict_onnx(
    run_dir: str | Path, data: str, text_column: str | None = None, *, quantized: bool = False
) -> pd.DataFrame:
    """``predict_run`` through the ONNX export with onnxruntime (same columns)."""
    from headstart.data.unlabeled import load_unlabeled
    from headstart.pipeline import load_run

    run = Path(run_dir)
    config, metrics = load_run(run)
    folder = run / EXPORT_DIR
    if folder.exists():
        require_listed(run, EXPORT_DIR)
    name = INT8_FILE if quantized else FP32_FILE
    if not (folder / name).exists() or not (folder / "preprocessing.json").exists():
        flag = " --quantize int8" if quantized else ""
        raise HeadstartError(
            f"{folder / name} not found; export the run first: headstart export {run} --format onnx{flag}"
        )
    contract = json.loads((folder / "preprocessing.json").read_text())
    if int(contract.get("format_version", 0)) > FORMAT_VERSION:
        raise HeadstartError(f"{folder}/preprocessing.json is from a newer headstart; upgrade headstart")
    classes = np.array(contract.get("classes") or metrics["data"].get("classes") or [])
    tokenizer = None
    if contract["modality"] == "text":
        tokenizer = _load_tokenizer(folder / contract["text"]["tokenizer"])
    notes: list[str] = []  # table columns whose new values the schema cannot read or never saw
    if contract["modality"] == "tabular":
        from headstart.data.table_rows import load_prediction_table

        ids, items, _ = load_prediction_table(data, metrics["data"].get("table", {}), notes)
    else:
        ids, items = load_unlabeled(
            data, modality=contract["modality"], text_column=text_column or config.get("text_column")
        )
    proba = ort_proba(make_session(folder / name), contract, items, tokenizer=tokenizer)
    if not len(proba):
        proba = np.zeros((0, max(1, len(classes))), dtype=np.float32)
    if contract.get("task") == "regression":  # the columns `headstart predict` writes for a regression run
        value = proba[:, 0].astype(np.float64) if len(proba) else np.zeros(0)
        hw = contract["output"].get("interval_halfwidth")
        hw = float("nan") if hw is None else float(hw)
        df = pd.DataFrame({"id": ids, "prediction": value, "lower": value - hw, "upper": value + hw})
    else:
        df = pd.DataFrame({"id": ids, "prediction": classes[proba.argmax(1)], "confidence": proba.max(1)})
        for j, c in enumerate(classes):
            df[f"p_{c}"] = proba[:, j]
    if notes:
        df.attrs["warnings"] = notes
    return df
