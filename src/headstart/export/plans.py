"""Exporters: how each model kind becomes a torch module ``(*inputs) -> probabilities`` (a regression model:
``-> values [N, 1]`` in the target's units) ready for ONNX.

An exporter turns a fitted model into an :class:`ExportPlan` (the module, its input names, its preprocessing
contract and the torch reference prediction). :data:`EXPORTERS` is the registry by model kind and
:data:`NOT_EXPORTABLE` says, per kind that has no exporter, what to do instead. Adding a model kind: write
``plan(model) -> ExportPlan`` and decorate it with ``@register_exporter("kind")``. For an encoder +
``nn.Linear`` head (e.g. a fine-tuned ``EncoderClassifier``) :func:`encoder_head_plan` does the work.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from headstart.backends import EncoderGraph
from headstart.errors import HeadstartError
from headstart.export.contract import _direct_resize_contract, encoder_contract

__all__ = ["EXPORTERS", "NOT_EXPORTABLE", "ExportPlan", "encoder_head_plan", "register_exporter"]


@dataclass
class ExportPlan:
    """What an exporter hands back: a torch module ``(*inputs) -> probabilities [N, K]`` (``task`` regression:
    ``-> values [N, 1]``) ready to export, the preprocessing contract its inputs follow, and the torch
    reference prediction on raw items (the same shape as the module's output)."""

    module: nn.Module
    input_names: list[str]
    contract: dict[str, Any]
    torch_proba: Callable[[Sequence[Any]], np.ndarray]
    tokenizer: Any = None  # text: saved next to the graph (tokenization stays outside it)
    notes: list[str] = field(default_factory=list)
    task: str = "classification"  # or "regression"
    output_dtype: str = "float32"
    halfwidth: float = float("nan")  # regression: the 90% conformal half-width predict adds as lower / upper


Exporter = Callable[[Any], ExportPlan]
EXPORTERS: dict[str, Exporter] = {}
NOT_EXPORTABLE: dict[str, str] = {
    "tfidf-logreg": (
        "the TF-IDF + logistic-regression baseline is a scikit-learn text pipeline and is not exported to ONNX; "
        "serve it with `headstart predict` (it needs no torch), or export the transfer model: "
        "`headstart export RUN_DIR --side transfer`"
    ),
    "row-text": (
        "a text model on table rows serialized as text is not exported to ONNX yet (the row-to-text step has "
        "no contract); export the table baseline with `headstart export RUN_DIR --side baseline`, or serve it "
        "with `headstart predict RUN_DIR NEW.csv`"
    ),
    "stack": (
        "a stacked model (--ship stack) combines both sides and is not exported to ONNX; "
        "export one side with `headstart export RUN_DIR --side transfer` (or baseline)"
    ),
    "tfidf-ridge": (
        "the TF-IDF + ridge regression baseline is a scikit-learn text pipeline and is not exported to ONNX; "
        "serve it with `headstart predict RUN_DIR NEW.csv` (no pickle involved), or export the transfer model: "
        "`headstart export RUN_DIR --side transfer`"
    ),
}


def register_exporter(kind: str) -> Callable[[Exporter], Exporter]:
    """Decorator: ``@register_exporter("finetuned") def plan(model) -> ExportPlan``."""

    def deco(fn: Exporter) -> Exporter:
        EXPORTERS[kind] = fn
        return fn

    return deco


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


class _Value(nn.Module):
    """features(*inputs) -> linear -> ``[N, 1]``: a regression head, in the target's units."""

    def __init__(self, features: nn.Module, linear: nn.Module) -> None:
        super().__init__()
        self.features = features
        self.linear = linear

    def forward(self, *inputs: Tensor) -> Tensor:
        return self.linear(self.features(*inputs))  # type: ignore[no-any-return]


def _folded_ridge(head: Any) -> nn.Linear:
    """A RidgeHead (standardize + ``@ w + b``, float64) folded into one float32 ``nn.Linear`` with 1 output."""
    w = np.asarray(head.w, dtype=np.float64) / np.asarray(head.scale, dtype=np.float64)
    b = float(head.b) - float(w @ np.asarray(head.mean, dtype=np.float64))
    lin = nn.Linear(len(w), 1)
    with torch.no_grad():
        lin.weight.copy_(torch.from_numpy(w.astype(np.float32))[None, :])
        lin.bias.fill_(b)
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


@register_exporter("ridge-probe")
def _plan_ridge_probe(model: Any) -> ExportPlan:
    """Frozen backbone + ridge head: ``(inputs) -> value [N, 1]``."""
    from headstart.features import embed

    encoder = model.encoder()

    def reference(items: Sequence[Any]) -> np.ndarray:  # torch forward + the float64 head
        emb = embed(encoder, list(items), device="cpu", progress=False)
        return model.head.predict(emb)[:, None]  # type: ignore[no-any-return]

    graph = EncoderGraph(encoder)
    return ExportPlan(
        module=_Value(graph, _folded_ridge(model.head)).eval(),
        input_names=graph.input_names,
        contract=encoder_contract(encoder),
        torch_proba=reference,
        tokenizer=_text_tokenizer(encoder),
        notes=["standardization folded into the ridge head (float32)"],
        task="regression",
        halfwidth=float(model.halfwidth),
    )


@register_exporter("ridge-probe")
def _plan_ridge_probe(model: Any) -> ExportPlan:
    """Frozen backbone + ridge head: ``(inputs) -> value [N, 1]``."""
    from headstart.features import embed

    encoder = model.encoder()

    def reference(items: Sequence[Any]) -> np.ndarray:  # torch forward + the float64 head
        emb = embed(encoder, list(items), device="cpu", progress=False)
        return model.head.predict(emb)[:, None]  # type: ignore[no-any-return]

    graph = EncoderGraph(encoder)
    return ExportPlan(
        module=_Value(graph, _folded_ridge(model.head)).eval(),
        input_names=graph.input_names,
        contract=encoder_contract(encoder),
        torch_proba=reference,
        tokenizer=_text_tokenizer(encoder),
        notes=["standardization folded into the ridge head (float32)"],
        task="regression",
        halfwidth=float(model.halfwidth),
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


class _Flatten(nn.Module):  # the scikit-learn pixel features are the H,W,C pixels flattened
    def forward(self, pixel_values: Tensor) -> Tensor:
        return pixel_values.permute(0, 2, 3, 1).reshape(pixel_values.shape[0], -1)


@register_exporter("pixel-logreg")
def _plan_pixel_logreg(model: Any) -> ExportPlan:
    side = min(int(model.side), 32)
    note = "grayscale model: images converted to 1 channel (L)" if model.gray else "converted to RGB"
    return ExportPlan(
        module=_Softmax(_Flatten(), _folded_linear(model.head)).eval(),
        input_names=["pixel_values"],
        contract=_direct_resize_contract(side, model.gray, 0.0, 1.0, note),
        torch_proba=model.predict_proba,
        notes=["pixel logistic regression exported as flatten + linear + softmax"],
    )


@register_exporter("pixel-ridge")
def _plan_pixel_ridge(model: Any) -> ExportPlan:
    side = min(int(model.side), 32)
    note = "grayscale model: images converted to 1 channel (L)" if model.gray else "converted to RGB"
    return ExportPlan(
        module=_Value(_Flatten(), _folded_ridge(model.head)).eval(),
        input_names=["pixel_values"],
        contract=_direct_resize_contract(side, model.gray, 0.0, 1.0, note),
        torch_proba=lambda items: np.asarray(model.predict(items), dtype=np.float64)[:, None],
        notes=["pixel ridge regression exported as flatten + linear"],
        task="regression",
        halfwidth=float(model.halfwidth),
    )


@register_exporter("fewshot-text")
def _plan_fewshot_text(model: Any) -> ExportPlan:
    """`--strategy auto` on text: exportable when cross-validation shipped the probe alone."""
    if model.chosen == "probe" and model.probe is not None:
        return _plan_linear_probe(model.probe)
    what = "the blend of the probe and TF-IDF" if model.chosen == "blend" else "TF-IDF + logistic regression"
    raise HeadstartError(
        f"this fewshot-text model ships {what}, and ONNX cannot hold TF-IDF's tokenizer here (no skl2onnx); serve "
        "it with `headstart predict RUN_DIR NEW.csv`, or refit with --strategy linear-probe for an ONNX model"
    )


def _plan_for(model: Any) -> ExportPlan:
    kind = str(getattr(model, "kind", type(model).__name__))
    if kind in NOT_EXPORTABLE:
        raise HeadstartError(f"model kind '{kind}': {NOT_EXPORTABLE[kind]}")
    if kind not in EXPORTERS:
        known = ", ".join(sorted(EXPORTERS))
        raise HeadstartError(f"model kind '{kind}' has no ONNX exporter (exportable kinds: {known})")
    return EXPORTERS[kind](model)
