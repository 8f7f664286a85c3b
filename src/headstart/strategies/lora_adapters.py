"""LoRA adapters for an ``EncoderClassifier`` through ``peft``: which layers get adapters (text: attention
query/value projections; images: every non-depthwise convolution) and the wrapping itself, shared by the
``lora`` strategy, the multitask trainer and deep domain adaptation."""

from __future__ import annotations

from typing import Any

from torch import nn

from headstart.backbones.classifier import EncoderClassifier
from headstart.errors import HeadstartError
from headstart.strategies.base import TransferTask
from headstart.training.trainer import layerwise_param_groups

__all__ = ["LORA_TEXT_TARGETS", "lora_targets", "wrap_lora"]

LORA_TEXT_TARGETS = ("query", "value", "q_proj", "v_proj", "q_lin", "v_lin", "c_attn")


def lora_targets(model: EncoderClassifier) -> list[str]:
    body = model.encoder.body
    if model.encoder.modality == "text":
        leaf = {n.rsplit(".", 1)[-1] for n, m in body.named_modules() if isinstance(m, nn.Linear)}
        hit = [t for t in LORA_TEXT_TARGETS if t in leaf]
        if hit:
            return hit
        return [n for n, m in body.named_modules() if isinstance(m, nn.Linear)]
    return [n for n, m in body.named_modules() if isinstance(m, nn.Conv2d) and m.groups == 1]


def wrap_lora(
    task: TransferTask, model: EncoderClassifier, hp: dict[str, Any]
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Wrap the encoder body in peft LoRA adapters; (optimizer groups: adapters + head, the LoRA settings)."""
    from peft import LoraConfig, get_peft_model

    targets = lora_targets(model)
    if not targets:
        raise HeadstartError(f"backbone {task.backbone} has no layers peft's LoRA supports; use --strategy partial")
    lora = {
        "r": int(hp["lora_r"]),
        "alpha": int(hp["lora_alpha"]),
        "dropout": float(hp["lora_dropout"]),
        "targets": targets,
    }
    cfg = LoraConfig(r=lora["r"], lora_alpha=lora["alpha"], lora_dropout=lora["dropout"], target_modules=targets)
    model.encoder.body = get_peft_model(model.encoder.body, cfg)
    adapters = [(n, p) for n, p in model.encoder.body.named_parameters() if p.requires_grad]
    opt = layerwise_param_groups(
        [("lora", adapters), ("head", list(model.head.named_parameters()))],
        [float(hp["lr"]), float(hp["head_lr"])],
        float(hp["weight_decay"]),
    )
    return opt, lora
