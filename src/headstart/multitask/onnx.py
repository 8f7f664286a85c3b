"""ONNX export of a multitask model: one graph, backbone + shared trunk + heads, with one output per task
(``probabilities_<task>``), plus parity with the torch model on the run's test items.

Preprocessing stays outside the graph, as for single-task exports: ``preprocessing.json`` carries the
encoder's contract (:func:`headstart.export.contract.encoder_contract`) and the per-task outputs and classes.
"""

from __future__ import annotations

import copy
import io
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from headstart.backend_choice import forced_backend
from headstart.backends import DEFAULT_OPSET, EncoderGraph, make_session
from headstart.errors import HeadstartError
from headstart.export.contract import _load_tokenizer, encoder_contract, prepare_inputs
from headstart.export.parity import PARITY_TOLERANCE
from headstart.io import atomic_dir, atomic_write_bytes, atomic_write_json
from headstart.multitask.model import PROBE, MultitaskModel
from headstart.multitask.objective import task_slices

FILE = "model.onnx"


def output_name(task: str) -> str:
    return "probabilities_" + "".join(ch if ch.isalnum() or ch in "_" else "_" for ch in task)


class MultitaskGraph(nn.Module):
    """``(*encoder inputs) -> (softmax(task 1 logits), ..., softmax(task T logits))``."""

    def __init__(self, model: MultitaskModel) -> None:
        super().__init__()
        net = copy.deepcopy(model.net).eval()
        if model.strategy == PROBE:
            self.graph = EncoderGraph(model.encoder())
            self.trunk: nn.Module = net
        else:
            if model.lora is not None and hasattr(net.encoder.body, "merge_and_unload"):
                net.encoder.body = net.encoder.body.merge_and_unload()
            self.graph = EncoderGraph(net.encoder)
            self.trunk = _Head(net.head)
        self.slices = task_slices(model.n_classes)

    def forward(self, *inputs: Tensor) -> tuple[Tensor, ...]:
        logits = self.trunk({"x": self.graph(*inputs)})
        return tuple(torch.softmax(logits[:, sl], dim=-1) for sl in self.slices)


class _Head(nn.Module):
    def __init__(self, head: nn.Module) -> None:
        super().__init__()
        self.head = head

    def forward(self, batch: dict[str, Tensor]) -> Tensor:
        return self.head(batch["x"])  # type: ignore[no-any-return]


def export_multitask(model: MultitaskModel, folder: Path, sample_items: Sequence[Any]) -> dict[str, Any]:
    """Write ``folder/model.onnx`` + ``preprocessing.json`` (+ ``tokenizer/``); returns the contract."""
    graph = MultitaskGraph(model).eval()
    encoder = graph.graph.encoder
    contract = encoder_contract(encoder)
    tokenizer = encoder.tokenizer if contract["modality"] == "text" else None
    example = prepare_inputs(contract, list(sample_items[:2]), tokenizer=tokenizer)
    names = list(example)
    outputs = [output_name(t) for t in model.tasks]
    axes: dict[str, dict[int, str]] = {
        n: ({0: "batch", 1: "tokens"} if n != "pixel_values" else {0: "batch"}) for n in names
    }
    axes.update({o: {0: "batch"} for o in outputs})
    buf = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            graph, tuple(torch.from_numpy(example[n]) for n in names), buf, dynamo=False, input_names=names,
            output_names=outputs, dynamic_axes=axes, opset_version=DEFAULT_OPSET, do_constant_folding=True,
        )  # fmt: skip
    atomic_write_bytes(folder / FILE, buf.getvalue())
    if tokenizer is not None:
        tokenizer.save_pretrained(str(folder / contract["text"]["tokenizer"]))
    contract = {
        "format_version": 1,
        "kind": model.kind,
        "model_name": model.name,
        **contract,
        "outputs": [
            {"task": t, "name": o, "shape": ["N", len(c)], "classes": c, "meaning": "class probabilities"}
            for (t, c), o in zip(model.tasks.items(), outputs, strict=True)
        ],
        "opset": DEFAULT_OPSET,
    }
    atomic_write_json(folder / "preprocessing.json", contract)
    return contract


def ort_tasks(session: Any, contract: dict[str, Any], items: Sequence[Any], *, tokenizer: Any = None) -> list[Any]:
    """Per-task probabilities from the exported graph, in batches of 64 (texts sorted by length)."""
    n, outs = len(items), [np.zeros((len(items), len(o["classes"])), np.float32) for o in contract["outputs"]]
    order = np.argsort([len(t) for t in items], kind="stable") if contract["modality"] == "text" else np.arange(n)
    for s in range(0, n, 64):
        idx = order[s : s + 64]
        for k, p in enumerate(
            session.run(None, prepare_inputs(contract, [items[i] for i in idx], tokenizer=tokenizer))
        ):
            outs[k][idx] = p
    return outs


def export_multitask_run(run_dir: str | Path, model: MultitaskModel, config: dict[str, Any]) -> dict[str, Any]:
    """``headstart export`` for a multitask run: the graph, then parity per task on the run's test items."""
    from headstart.data import Splits
    from headstart.multitask.loader import load_multitask

    run = Path(run_dir)
    splits = Splits.load(run / "splits.json")
    mdata = load_multitask(
        config["data"], config.get("label_columns") or None, text_column=config.get("text_column"),
        on_bad_item=config.get("on_bad_item", "error"),
    )  # fmt: skip
    if len(mdata) != splits.n_items:
        raise HeadstartError(
            f"{run}/splits.json indexes {splits.n_items} items but {config['data']} now has {len(mdata)}"
        )
    items = mdata.data.items
    test = [items[i] for i in splits.test] if not isinstance(items, np.ndarray) else items[splits.test]
    with atomic_dir(run / "export") as out:
        contract = export_multitask(model, out, test)
        ort = list(_GraphTasks(out, contract).predict_tasks(test).values())
        with forced_backend("torch"):  # the reference: the model in torch fp32, as the graph is
            ref = model.predict_tasks(test)
        parity = {}
        for (t, p_torch), p_ort in zip(ref.items(), ort, strict=True):
            diff = float(np.abs(p_ort - p_torch).max())
            parity[t] = {
                "output": output_name(t),
                "max_abs_prob_diff": diff,
                "label_agreement": float(np.mean(p_ort.argmax(1) == p_torch.argmax(1))),
                "ok": bool(diff < PARITY_TOLERANCE),
            }
        report = {
            "format": "onnx",
            "kind": model.kind,
            "model_name": model.name,
            "files": {"fp32": FILE, "preprocessing": "preprocessing.json"},
            "n_test": len(test),
            "tasks": list(model.tasks),
            "parity": {"per_task": parity, "ok": all(p["ok"] for p in parity.values()), "tolerance": PARITY_TOLERANCE},
            "fp32_file_mb": (out / FILE).stat().st_size / 1e6,
        }
        atomic_write_json(out / "export.json", report)
    from headstart.integrity import add_to_manifest

    add_to_manifest(run, "export")  # predict --onnx verifies the graph it runs
    return report


class _GraphTasks:
    """The exported graph with the ``tasks`` / ``predict_tasks`` face of a multitask model."""

    def __init__(self, folder: Path, contract: dict[str, Any]) -> None:
        self.contract = contract
        self.session = make_session(folder / FILE)
        self.tasks = {o["task"]: list(o["classes"]) for o in contract["outputs"]}
        text = contract["modality"] == "text"
        self.tokenizer = _load_tokenizer(folder / contract["text"]["tokenizer"]) if text else None

    def predict_tasks(self, items: Sequence[Any]) -> dict[str, np.ndarray]:
        outs = ort_tasks(self.session, self.contract, items, tokenizer=self.tokenizer)
        return dict(zip(self.tasks, outs, strict=True))


def predict_multitask_onnx(run_dir: str | Path, data: str, text_column: str | None = None) -> Any:
    """``predict --onnx`` for a multitask run: every task's columns from the exported graph, as ``predict``
    writes them; ``df.attrs["warning"]`` names the tasks the run ships from scratch (not in the graph)."""
    import json

    from headstart.data.unlabeled import load_unlabeled
    from headstart.integrity import require_listed
    from headstart.multitask.run import predict_tasks_frame
    from headstart.rundir import load_run

    run = Path(run_dir)
    config, metrics = load_run(run)
    folder = run / "export"
    if not (folder / FILE).exists() or not (folder / "preprocessing.json").exists():
        raise HeadstartError(f"{folder / FILE} not found; export the run first: headstart export {run}")
    require_listed(run, "export")
    contract = json.loads((folder / "preprocessing.json").read_text(encoding="utf-8"))
    graph = _GraphTasks(folder, contract)
    ids, items = load_unlabeled(
        data, modality=contract["modality"], text_column=text_column or config.get("text_column")
    )
    df = predict_tasks_frame(graph, ids, items)
    scratch = [n for n, side in metrics.get("shipped", {}).get("per_task", {}).items() if side == "scratch"]
    if scratch:
        df.attrs["warning"] = (
            f"the run ships the from-scratch model for {', '.join(scratch)}; these columns come from the graph's "
            "multitask heads, which validation ranked no better: use `headstart predict` without --onnx for them"
        )
    return df
