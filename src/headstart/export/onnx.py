"""``headstart export RUN_DIR --format onnx``: the shipped model's full inference path as ONNX.

The graph is backbone + head (or the whole baseline network) ending in class probabilities; preprocessing
(image decode/resize/normalise, tokenization) stays outside it and is written down as a contract in
``export/preprocessing.json`` that :func:`prepare_inputs` implements without torch models. ``export/export.json``
reports parity with the torch model on the run's test inputs, the int8 accuracy delta and the speed of
torch vs ORT fp32 vs ORT int8.

Adding a model kind: write ``plan(model) -> ExportPlan`` and decorate it with ``@register_exporter("kind")``.
For an encoder + ``nn.Linear`` head (e.g. a fine-tuned ``EncoderClassifier``) :func:`encoder_head_plan` does
the work.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

from headstart.backends import DEFAULT_OPSET, EncoderGraph, export_module, make_session
from headstart.errors import HeadstartError
from headstart.integrity import add_to_manifest, require_listed
from headstart.io import atomic_dir, atomic_write_json

__all__ = [
    "EXPORTERS",
    "NOT_EXPORTABLE",
    "ExportPlan",
    "encoder_head_plan",
    "export_model",
    "export_run",
    "predict_onnx",
    "prepare_inputs",
    "register_exporter",
]

FORMAT_VERSION = 1
EXPORT_DIR = "export"
FP32_FILE = "model.onnx"
INT8_FILE = "model.int8.onnx"
OUTPUT_NAME = "probabilities"
PARITY_TOLERANCE = 1e-4  # max abs probability difference accepted as "parity"


@dataclass
class ExportPlan:
    """What an exporter hands back: a torch module ``(*inputs) -> probabilities [N, K]`` ready to export, the
    preprocessing contract its inputs follow, and the torch reference prediction on raw items."""

    module: nn.Module
    input_names: list[str]
    contract: dict[str, Any]
    torch_proba: Callable[[Sequence[Any]], np.ndarray]
    tokenizer: Any = None  # text: saved next to the graph (tokenization stays outside it)
    notes: list[str] = field(default_factory=list)


Exporter = Callable[[Any], ExportPlan]
EXPORTERS: dict[str, Exporter] = {}
NOT_EXPORTABLE: dict[str, str] = {
    "tfidf-logreg": (
        "the TF-IDF + logistic-regression baseline is a scikit-learn text pipeline and is not exported to ONNX; "
        "serve it with `headstart predict` (it needs no torch), or export the transfer model: "
        "`headstart export RUN_DIR --side transfer`"
    ),
    "stack": (
        "a stacked model (--ship stack) combines both sides and is not exported to ONNX; "
        "export one side with `headstart export RUN_DIR --side transfer` (or baseline)"
    ),
    **{
        kind: (
            f"{what} is not exported to ONNX yet (skl2onnx is not installed here and tables/regression heads have "
            "no exporter); serve it with `headstart predict RUN_DIR NEW.csv` (no pickle involved)"
        )
        for kind, what in (
            ("tabular-trees", "the gradient-boosted trees baseline (saved as node arrays, predicted with numpy)"),
            ("tabular-linear", "the one-hot + scaled linear table baseline"),
            ("row-text", "a text model on table rows serialized as text"),
            ("tfidf-ridge", "the TF-IDF + ridge regression baseline"),
            ("pixel-ridge", "the pixel ridge regression baseline"),
            ("ridge-probe", "a ridge (regression) probe"),
        )
    },
}


def register_exporter(kind: str) -> Callable[[Exporter], Exporter]:
    """Decorator: ``@register_exporter("finetuned") def plan(model) -> ExportPlan``."""

    def deco(fn: Exporter) -> Exporter:
        EXPORTERS[kind] = fn
        return fn

    return deco


# ----------------------------------------------------------------------------------------------- contracts
def encoder_contract(encoder: Any) -> dict[str, Any]:
    """Preprocessing contract of a headstart Encoder (the inputs of its exported graph)."""
    if encoder.spec.modality == "image":
        size = int(encoder.image_size)
        return {
            "modality": "image",
            "preprocessing_id": encoder.preprocessing_id,
            "inputs": {"pixel_values": {"shape": ["N", 3, size, size], "dtype": "float32"}},
            "image": {
                "size": size,
                "resize": "short-side-center-crop",
                "resize_rule": (
                    f"resize the shorter side to {size} px (PIL bilinear, antialiased), then center-crop "
                    f"{size}x{size}; an image already {size}x{size} is used as is"
                ),
                "channel_order": "RGB",
                "channels": 3,
                "grayscale": "converted to RGB (the gray value replicated on 3 channels)",
                "scale": 1 / 255,
                "mean": [float(v) for v in encoder._mean],
                "std": [float(v) for v in encoder._std],
                "formula": "pixel_values = (uint8 / 255 - mean) / std, channels first (NCHW)",
                "layout": "NCHW",
            },
        }
    return {
        "modality": "text",
        "preprocessing_id": encoder.preprocessing_id,
        "inputs": {
            "input_ids": {"shape": ["N", "T"], "dtype": "int64"},
            "attention_mask": {"shape": ["N", "T"], "dtype": "int64"},
        },
        "text": {
            "tokenizer": "tokenizer",  # folder next to preprocessing.json (a copy of the backbone's tokenizer)
            "tokenizer_id": encoder.preprocessing_id.split("-max")[0].removeprefix("tok:"),
            "max_length": int(encoder.max_length),
            "padding": "longest in the batch (pad_token_id, attention_mask 0)",
            "truncation": True,
            "pooling": f"{encoder.pooling} over attention_mask (inside the graph)",
            "normalize": bool(encoder.normalize),
        },
    }


def _direct_resize_contract(side: int, gray: bool, mean: float, std: float, channels_note: str) -> dict[str, Any]:
    c = 1 if gray else 3
    return {
        "modality": "image",
        "inputs": {"pixel_values": {"shape": ["N", c, side, side], "dtype": "float32"}},
        "image": {
            "size": side,
            "resize": "direct",
            "resize_rule": f"resize to {side}x{side} (PIL bilinear, aspect ratio not kept, no crop)",
            "channel_order": "L" if gray else "RGB",
            "channels": c,
            "grayscale": channels_note,
            "scale": 1 / 255,
            "mean": [mean] * c,
            "std": [std] * c,
            "formula": "pixel_values = (uint8 / 255 - mean) / std, channels first (NCHW)",
            "layout": "NCHW",
        },
    }


def _load_tokenizer(folder: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(folder))


def prepare_inputs(
    contract: dict[str, Any], items: Sequence[Any], *, tokenizer: Any = None, export_dir: Path | None = None
) -> dict[str, np.ndarray]:
    """Raw items -> the graph's input arrays, following ``contract`` (the content of preprocessing.json)."""
    from headstart.data.images import images_to_array, read_image

    if contract["modality"] == "text":
        t = contract["text"]
        if tokenizer is None:
            if export_dir is None:
                raise ValueError("prepare_inputs: a text contract needs tokenizer= or export_dir=")
            tokenizer = _load_tokenizer(export_dir / t["tokenizer"])
        texts = list(items)
        for i, x in enumerate(texts):
            if not isinstance(x, str):
                raise HeadstartError(f"text item {i}: expected a string, got {type(x).__name__}")
        if not texts:
            empty = np.zeros((0, 1), dtype=np.int64)
            return {"input_ids": empty, "attention_mask": empty.copy()}
        enc = tokenizer(texts, padding="longest", truncation=True, max_length=int(t["max_length"]), return_tensors="np")
        return {k: np.asarray(enc[k], dtype=np.int64) for k in ("input_ids", "attention_mask")}

    im = contract["image"]
    size, channels = int(im["size"]), int(im["channels"])
    mean = np.asarray(im["mean"], dtype=np.float32)
    std = np.asarray(im["std"], dtype=np.float32)
    if im["resize"] == "short-side-center-crop":
        from headstart.backbones.encoder import resize_center_crop

        arr = np.empty((len(items), size, size, 3), dtype=np.float32)
        for i, item in enumerate(items):
            locator = f"image item {i}" if isinstance(item, np.ndarray) else None
            arr[i] = np.asarray(resize_center_crop(read_image(item, locator=locator).convert("RGB"), size), np.float32)
    elif im["resize"] == "direct":
        arr = images_to_array(items, size, grayscale=channels == 1).astype(np.float32)
        if channels == 1:
            arr = arr[..., None]
    else:
        raise HeadstartError(f"preprocessing.json: unknown resize rule {im['resize']!r}; re-export with this version")
    arr = (arr * np.float32(im["scale"]) - mean) / std
    return {"pixel_values": np.ascontiguousarray(arr.transpose(0, 3, 1, 2), dtype=np.float32)}


# ----------------------------------------------------------------------------------------------- exporters
class _Softmax(nn.Module):
    """features(*inputs) -> linear -> softmax."""

    def __init__(self, features: nn.Module, linear: nn.Module) -> None:
        super().__init__()
        self.features = features
        self.linear = linear

    def forward(self, *inputs: Tensor) -> Tensor:
        return torch.softmax(self.linear(self.features(*inputs)), dim=-1)


def _folded_linear(head: Any) -> nn.Linear:
    """A LinearHead (standardize + affine, float64) folded into one float32 ``nn.Linear``."""
    W = np.asarray(head.W, dtype=np.float64) / np.asarray(head.scale, dtype=np.float64)[None, :]
    b = np.asarray(head.b, dtype=np.float64) - W @ np.asarray(head.mean, dtype=np.float64)
    lin = nn.Linear(W.shape[1], W.shape[0])
    with torch.no_grad():
        lin.weight.copy_(torch.from_numpy(W.astype(np.float32)))
        lin.bias.copy_(torch.from_numpy(b.astype(np.float32)))
    return lin


def _text_tokenizer(encoder: Any) -> Any:
    return encoder.tokenizer if encoder.spec.modality == "text" else None


def encoder_head_plan(
    encoder: Any, head: nn.Module, torch_proba: Callable[[Sequence[Any]], np.ndarray], *, note: str = ""
) -> ExportPlan:
    """Plan for ``softmax(head(encoder(inputs)))``: a fine-tuned EncoderClassifier, or any encoder + head."""
    graph = EncoderGraph(encoder)
    return ExportPlan(
        module=_Softmax(graph, head).eval(),
        input_names=graph.input_names,
        contract=encoder_contract(encoder),
        torch_proba=torch_proba,
        tokenizer=_text_tokenizer(encoder),
        notes=[note] if note else [],
    )


@register_exporter("linear-probe")
def _plan_linear_probe(model: Any) -> ExportPlan:
    from headstart.features import embed

    encoder = model.encoder()

    def reference(items: Sequence[Any]) -> np.ndarray:  # the torch model: torch forward + the float64 head
        emb = embed(encoder, list(items), device="cpu", progress=False)
        return model.head.predict_proba(emb)  # type: ignore[no-any-return]

    return encoder_head_plan(
        encoder, _folded_linear(model.head), reference, note="standardization folded into the linear head (float32)"
    )


@register_exporter("finetuned")
def _plan_finetuned(model: Any) -> ExportPlan:
    net = model.model
    note = ""
    if getattr(model, "lora", None) is not None and hasattr(net.encoder.body, "merge_and_unload"):
        net = copy.deepcopy(net)
        net.encoder.body = net.encoder.body.merge_and_unload()
        note = "LoRA adapters merged into the backbone weights"
    net.eval()
    return encoder_head_plan(net.encoder, net.head, model.predict_proba, note=note)


@register_exporter("small-cnn")
def _plan_small_cnn(model: Any) -> ExportPlan:
    class Graph(nn.Module):
        def __init__(self, net: nn.Module) -> None:
            super().__init__()
            self.net = net

        def forward(self, pixel_values: Tensor) -> Tensor:
            return torch.softmax(self.net({"pixel_values": pixel_values}), dim=-1)

    note = "grayscale model: images converted to 1 channel (L)" if model.gray else "converted to RGB"
    return ExportPlan(
        module=Graph(model.net).eval(),
        input_names=["pixel_values"],
        contract=_direct_resize_contract(model.side, model.gray, 0.5, 0.5, note),
        torch_proba=model.predict_proba,
    )


@register_exporter("pixel-logreg")
def _plan_pixel_logreg(model: Any) -> ExportPlan:
    class Flatten(nn.Module):  # the scikit-learn features are the H,W,C pixels flattened
        def forward(self, pixel_values: Tensor) -> Tensor:
            return pixel_values.permute(0, 2, 3, 1).reshape(pixel_values.shape[0], -1)

    side = min(int(model.side), 32)
    note = "grayscale model: images converted to 1 channel (L)" if model.gray else "converted to RGB"
    return ExportPlan(
        module=_Softmax(Flatten(), _folded_linear(model.head)).eval(),
        input_names=["pixel_values"],
        contract=_direct_resize_contract(side, model.gray, 0.0, 1.0, note),
        torch_proba=model.predict_proba,
        notes=["pixel logistic regression exported as flatten + linear + softmax"],
    )


def _plan_for(model: Any) -> ExportPlan:
    kind = str(getattr(model, "kind", type(model).__name__))
    if kind in NOT_EXPORTABLE:
        raise HeadstartError(f"model kind '{kind}': {NOT_EXPORTABLE[kind]}")
    if kind not in EXPORTERS:
        known = ", ".join(sorted(EXPORTERS))
        raise HeadstartError(f"model kind '{kind}' has no ONNX exporter (exportable kinds: {known})")
    return EXPORTERS[kind](model)


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
    export_module(
        plan.module, tensors, folder / FP32_FILE, input_names=plan.input_names, output_name=OUTPUT_NAME, opset=opset
    )
    if plan.tokenizer is not None:
        plan.tokenizer.save_pretrained(str(folder / plan.contract["text"]["tokenizer"]))
    contract = {
        "format_version": FORMAT_VERSION,
        "kind": getattr(model, "kind", ""),
        "model_name": getattr(model, "name", ""),
        **plan.contract,
        "output": {
            "name": OUTPUT_NAME,
            "shape": ["N", len(classes)],
            "dtype": "float32",
            "meaning": "class probabilities",
        },
        "classes": list(classes),
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


def _run_batches(session: Any, inputs: dict[str, np.ndarray], batch_size: int) -> np.ndarray:
    n = len(next(iter(inputs.values())))
    outs = [
        session.run(None, {k: v[i : i + batch_size] for k, v in inputs.items()})[0] for i in range(0, n, batch_size)
    ]
    return np.concatenate(outs).astype(np.float32) if outs else np.zeros((0, 0), np.float32)


def ort_proba(
    session: Any, contract: dict[str, Any], items: Sequence[Any], *, tokenizer: Any = None, batch_size: int = 64
) -> np.ndarray:
    """Probabilities from an exported graph on raw items (text in token-length-sorted batches)."""
    n = len(items)
    if contract["modality"] == "text":
        lengths = np.array([len(t) for t in items])
        order = np.argsort(lengths, kind="stable")
        out: np.ndarray | None = None
        for s in range(0, n, batch_size):
            idx = order[s : s + batch_size]
            feeds = prepare_inputs(contract, [items[i] for i in idx], tokenizer=tokenizer)
            p = session.run(None, feeds)[0]
            if out is None:
                out = np.zeros((n, p.shape[1]), dtype=np.float32)
            out[idx] = p
        return out if out is not None else np.zeros((0, len(contract["classes"])), np.float32)
    outs = []
    for s in range(0, n, batch_size):
        feeds = prepare_inputs(contract, list(items[s : s + batch_size]), tokenizer=tokenizer)
        outs.append(session.run(None, feeds)[0])
    return np.concatenate(outs).astype(np.float32) if outs else np.zeros((0, len(contract["classes"])), np.float32)


def _time(fn: Callable[[], Any], repeat: int) -> float:
    fn()  # warm-up
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _speed(
    plan: ExportPlan, sessions: dict[str, Any], inputs: dict[str, np.ndarray], *, batch_size: int, repeat: int
) -> dict[str, Any]:
    """Graph-only speed (same prepared inputs for all): throughput at ``batch_size``, latency at batch 1."""
    names = plan.input_names
    n = len(inputs[names[0]])
    one = {k: v[:1] for k, v in inputs.items()}
    tensors = {k: torch.from_numpy(v) for k, v in inputs.items()}
    module = plan.module.eval()

    def torch_run(feed: dict[str, Tensor]) -> None:
        with torch.inference_mode():
            for i in range(0, len(feed[names[0]]), batch_size):
                module(*[feed[k][i : i + batch_size] for k in names])

    rows: dict[str, Any] = {}
    t_all = _time(lambda: torch_run(tensors), repeat)
    t_one = _time(lambda: torch_run({k: torch.from_numpy(v) for k, v in one.items()}), max(3, repeat * 3))
    rows["torch"] = {"items_per_s": n / t_all, "latency_ms": 1000 * t_one}
    for name, sess in sessions.items():
        t_all = _time(lambda s=sess: _run_batches(s, inputs, batch_size), repeat)
        t_one = _time(lambda s=sess: s.run(None, one), max(3, repeat * 3))
        rows[name] = {"items_per_s": n / t_all, "latency_ms": 1000 * t_one}
    base = rows["torch"]["items_per_s"]
    for r in rows.values():
        r["throughput_ratio_vs_torch"] = r["items_per_s"] / base
    return {
        "n_items": n,
        "batch_size": batch_size,
        "torch_threads": torch.get_num_threads(),
        "timed": "network only, on the same preprocessed inputs; best of repeats; latency = batch of 1",
        **rows,
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
    classes = list(metrics["data"]["classes"])
    _plan_for(model)  # a clear error for a non-exportable kind before any data is loaded
    say(f"loading the test split of {config['data']}")
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
        p_torch = plan.torch_proba(test_items)
        probs = {name: ort_proba(s, contract, test_items, tokenizer=plan.tokenizer) for name, s in sessions.items()}
        acc_torch = float((p_torch.argmax(1) == y_test).mean())
        p32 = probs["onnx_fp32"]
        max_abs = float(np.abs(p32 - p_torch).max())
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
            "parity": {
                "max_abs_prob_diff": max_abs,
                "mean_abs_prob_diff": float(np.abs(p32 - p_torch).mean()),
                "label_agreement": float((p32.argmax(1) == p_torch.argmax(1)).mean()),
                "tolerance": PARITY_TOLERANCE,
                "ok": bool(max_abs < PARITY_TOLERANCE),
                "compared": "torch model on its own preprocessing vs ORT fp32 on preprocessing.json",
            },
            "accuracy": {"torch": acc_torch, "onnx_fp32": float((p32.argmax(1) == y_test).mean())},
            "notes": plan.notes,
        }
        if quantize == "int8":
            p8 = probs["onnx_int8"]
            acc8 = float((p8.argmax(1) == y_test).mean())
            report["accuracy"]["onnx_int8"] = acc8
            report["int8"] = {
                "accuracy_delta_vs_fp32": acc8 - report["accuracy"]["onnx_fp32"],
                "label_agreement_vs_fp32": float((p8.argmax(1) == p32.argmax(1)).mean()),
                "max_abs_prob_diff_vs_fp32": float(np.abs(p8 - p32).max()),
                "file_mb": (out / INT8_FILE).stat().st_size / 1e6,
                **qinfo,
            }
            if not qinfo["quantized_nodes"]:
                report["int8"]["note"] = (
                    "nothing to quantize: dynamic int8 covers MatMul/Gemm (the classifier head stays fp32) and "
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
    classes = np.array(contract.get("classes") or metrics["data"]["classes"])
    tokenizer = None
    if contract["modality"] == "text":
        tokenizer = _load_tokenizer(folder / contract["text"]["tokenizer"])
    ids, items = load_unlabeled(
        data, modality=contract["modality"], text_column=text_column or config.get("text_column")
    )
    proba = ort_proba(make_session(folder / name), contract, items, tokenizer=tokenizer)
    if not len(proba):
        proba = np.zeros((0, len(classes)), dtype=np.float32)
    df = pd.DataFrame({"id": ids, "prediction": classes[proba.argmax(1)], "confidence": proba.max(1)})
    for j, c in enumerate(classes):
        df[f"p_{c}"] = proba[:, j]
    return df
