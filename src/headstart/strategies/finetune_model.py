"""The fitted artifact of the fine-tuning strategies: :class:`FineTunedModel` (kind ``finetuned``).

A backbone + head trained by ``partial``, ``finetune``, ``progressive`` or ``lora``: prediction, pooled
embeddings, its representation drift from the pre-trained backbone (linear CKA, with :func:`cka_warnings`
when it moved far and transfer did not help), and saving / loading as safetensors (LoRA: the adapter and head
only, pinned to the sha256 of the base weights).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from headstart.artifacts import read_meta, register_kind, write_meta
from headstart.backbones import load_backbone
from headstart.backbones.classifier import EncoderClassifier
from headstart.backbones.encoder import Encoder
from headstart.errors import HeadstartError
from headstart.evaluation.cka import linear_cka
from headstart.strategies.finetune_batches import make_collate
from headstart.training import predict_proba as _predict_proba

__all__ = ["FineTunedModel", "cka_warnings"]

CKA_LOW = 0.5  # below this, the fine-tuned representation has moved far from the pre-trained one


STRATEGY_LABEL = {
    "partial": "partial fine-tune",
    "finetune": "full fine-tune",
    "progressive": "progressive unfreezing",
    "lora": "LoRA",
}


@register_kind
class FineTunedModel:
    """A backbone + head trained by a fine-tuning strategy.

    Saved as ``model.safetensors`` (encoder + head) or, for LoRA, ``adapter/`` (peft ``save_pretrained``) +
    ``head.safetensors``, next to ``meta.json`` naming the base backbone and its pinned sha256.
    """

    kind: ClassVar[str] = "finetuned"

    def __init__(
        self,
        model: EncoderClassifier,
        *,
        backbone: str,
        strategy: str,
        n_classes: int,
        image_size: int | None,
        base_sha256: str | None,
        hparams: dict[str, Any],
        val_accuracy: float,
        history: list[dict[str, Any]] | None = None,
        trainable: tuple[int, int] = (0, 0),
        lora: dict[str, Any] | None = None,
        from_scratch: bool = False,
    ) -> None:
        self.model = model
        self.backbone = backbone
        self.strategy = strategy
        self.n_classes = n_classes
        self.image_size = image_size
        self.base_sha256 = base_sha256
        self.hparams = hparams
        self.val_accuracy = val_accuracy
        self.history = history or []
        self.trainable = trainable
        self.lora = lora
        self.from_scratch = from_scratch

    @property
    def name(self) -> str:
        if self.from_scratch:
            return f"{self.backbone.split(':')[0]} random-init, trained from scratch"
        label = STRATEGY_LABEL.get(self.strategy, self.strategy)
        if self.strategy == "partial":
            label += f" (top {self.hparams.get('unfreeze')} groups)"
        elif self.strategy == "lora" and self.lora:
            label += f" (r={self.lora['r']})"
        return f"{self.backbone} {label}"

    @property
    def trainable_share(self) -> float:
        return self.trainable[0] / max(1, self.trainable[1])

    def _collate(self) -> Any:
        return make_collate(self.model.encoder, augment=False, flip=False)

    def predict_proba(self, items: Sequence[Any]) -> np.ndarray:
        p = _predict_proba(self.model, items, self._collate(), batch_size=64)
        return p if len(p) else np.zeros((0, self.n_classes), dtype=np.float32)

    def embed(self, items: Sequence[Any]) -> np.ndarray:
        """Pooled embeddings of the fine-tuned encoder (eval mode)."""
        return _embed(self.model.encoder, items)

    def representation_drift(self, items: Sequence[Any]) -> float | None:
        """Linear CKA between the pre-trained and the fine-tuned embeddings of ``items`` (None when there is
        no pre-trained representation: the random-init control)."""
        if self.from_scratch or self.backbone.endswith(":random") or len(items) < 2:
            return None
        tuned = self.embed(items)
        body = self.model.encoder.body
        if self.lora is not None and hasattr(body, "disable_adapter"):
            with body.disable_adapter():
                original = self.embed(items)
        else:
            original = _embed(load_backbone(self.backbone, image_size=self.image_size), items)
        return float(linear_cka(original, tuned))

    def save(self, folder: Path) -> None:
        from safetensors.torch import save_file

        folder.mkdir(parents=True, exist_ok=True)
        write_meta(
            folder,
            self.kind,
            backbone=self.backbone,
            strategy=self.strategy,
            n_classes=self.n_classes,
            image_size=self.image_size,
            base_sha256=self.base_sha256,
            hparams=self.hparams,
            val_accuracy=self.val_accuracy,
            history=self.history,
            trainable=list(self.trainable),
            lora=self.lora,
            from_scratch=self.from_scratch,
            dropout=float(self.model.dropout.p),
        )
        if self.lora is not None:
            self.model.encoder.body.save_pretrained(str(folder / "adapter"))
            head = {f"head.{k}": v.detach().contiguous() for k, v in self.model.head.state_dict().items()}
            save_file(head, str(folder / "head.safetensors"))
        else:
            state = {k: v.detach().contiguous().clone() for k, v in self.model.state_dict().items()}
            save_file(state, str(folder / "model.safetensors"))

    @classmethod
    def load(cls, folder: Path) -> FineTunedModel:
        from safetensors.torch import load_file

        m = read_meta(folder)
        lora = m.get("lora")
        encoder = load_backbone(m["backbone"], image_size=m.get("image_size"))
        if lora is not None and m.get("base_sha256") and encoder.weights_sha256 != m["base_sha256"]:
            raise HeadstartError(
                f"{folder}: the adapter was trained on {m['backbone']} weights sha256 {m['base_sha256'][:16]}..., "
                f"but the installed weights have {str(encoder.weights_sha256)[:16]}...; install the pinned weights"
            )
        model = EncoderClassifier(encoder, int(m["n_classes"]), dropout=float(m.get("dropout", 0.1)), train_bn=False)
        if lora is not None:
            from peft import PeftModel

            encoder.body = PeftModel.from_pretrained(encoder.body, str(folder / "adapter"))
            head = load_file(str(folder / "head.safetensors"))
            model.head.load_state_dict({k.removeprefix("head."): v for k, v in head.items()})
        else:
            model.load_state_dict(load_file(str(folder / "model.safetensors")))
        return cls(
            model.eval(),
            backbone=m["backbone"],
            strategy=m["strategy"],
            n_classes=int(m["n_classes"]),
            image_size=m.get("image_size"),
            base_sha256=m.get("base_sha256"),
            hparams=m.get("hparams", {}),
            val_accuracy=float(m["val_accuracy"]),
            history=m.get("history"),
            trainable=tuple(m.get("trainable", (0, 0))),  # type: ignore[arg-type]
            lora=lora,
            from_scratch=bool(m.get("from_scratch")),
        )


def _embed(encoder: Encoder, items: Sequence[Any], batch_size: int = 64) -> np.ndarray:
    was_training = encoder.training
    encoder.eval()
    out = []
    with torch.inference_mode():
        for i in range(0, len(items), batch_size):
            chunk = [items[j] for j in range(i, min(len(items), i + batch_size))]
            out.append(encoder(encoder.prepare(chunk)).float().cpu().numpy())
    encoder.train(was_training)
    return np.concatenate(out) if out else np.zeros((0, encoder.embed_dim), dtype=np.float32)


def cka_warnings(cka: float | None, verdict_label: str) -> list[str]:
    """A warning when the fine-tuned representation moved far from the pre-trained one (low linear CKA) and
    transfer did not clearly help: the backbone's knowledge may have been overwritten (forgetting)."""
    if cka is None or not np.isfinite(cka) or cka >= CKA_LOW or verdict_label == "helps":
        return []
    return [
        f"the fine-tuned representation moved far from the pre-trained one (linear CKA {cka:.2f} < {CKA_LOW}) "
        f"and the verdict is {verdict_label}: pre-trained knowledge may have been lost; try a lower --lr, "
        "--strategy partial or lora, or linear-probe"
    ]
