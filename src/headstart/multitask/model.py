"""``MultitaskModel``: a fitted shared trunk + per-task heads (or one head: the single-task arm), saved as
safetensors + meta.json (no pickles), with per-task predictions."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from headstart.artifacts import read_meta, register_kind, write_meta
from headstart.backbones import load_backbone
from headstart.errors import HeadstartError
from headstart.multitask.nets import MultiHeadEncoder, ProbeNet, split_softmax

PROBE = "linear-probe"


@register_kind
class MultitaskModel:
    """One network, one head per task. ``tasks`` maps task name -> class names (in output order).

    ``strategy == "linear-probe"``: ``net`` is a :class:`ProbeNet` on cached frozen embeddings of
    ``backbone``; otherwise a :class:`MultiHeadEncoder` holding the (partly) fine-tuned backbone.
    """

    kind: ClassVar[str] = "multitask"

    def __init__(
        self,
        net: nn.Module,
        *,
        tasks: dict[str, list[str]],
        backbone: str,
        strategy: str,
        image_size: int | None = None,
        weights_sha256: str | None = None,
        hparams: dict[str, Any] | None = None,
        val_accuracy: dict[str, float] | None = None,
        history: list[dict[str, Any]] | None = None,
        lora: dict[str, Any] | None = None,
        encoder: Any = None,
    ) -> None:
        self.net = net.eval()
        self.tasks = {k: list(v) for k, v in tasks.items()}
        self.backbone = backbone
        self.strategy = strategy
        self.image_size = image_size
        self.weights_sha256 = weights_sha256
        self.hparams = dict(hparams or {})
        self.val_accuracies = dict(val_accuracy or {})
        self.history = list(history or [])
        self.lora = lora
        self._encoder = encoder

    @property
    def name(self) -> str:
        what = "multitask" if len(self.tasks) > 1 else "single-task"
        how = "MLP probe" if self.strategy == PROBE else self.strategy
        return f"{self.backbone} {what} {how}"

    @property
    def val_accuracy(self) -> float:
        first = next(iter(self.tasks))
        return float(self.val_accuracies.get(first, float("nan")))

    @property
    def n_classes(self) -> list[int]:
        return [len(c) for c in self.tasks.values()]

    def encoder(self) -> Any:
        if self._encoder is None:
            self._encoder = load_backbone(self.backbone, image_size=self.image_size)
        return self._encoder

    def embed(self, items: Sequence[Any], progress: bool = False) -> np.ndarray:
        from headstart.features import extract

        emb, _ = extract(self.encoder(), items, progress=progress)
        return emb

    def logits(self, items: Sequence[Any] | np.ndarray, *, embedded: bool = False, batch_size: int = 64) -> Any:
        """Concatenated logits ``[N, sum K_t]`` (``embedded=True``: ``items`` are probe embeddings)."""
        net = self.net.eval()
        device = next(net.parameters()).device
        if self.strategy == PROBE:
            x = np.asarray(items if embedded else self.embed(items), dtype=np.float32)
            batches = [{"x": torch.from_numpy(x[i : i + 1024])} for i in range(0, len(x), 1024)]
        else:
            from headstart.strategies.finetune_batches import make_collate

            collate = make_collate(net.encoder, augment=False, flip=False)  # type: ignore[arg-type]
            seq = list(items)
            batches = [collate(seq[i : i + batch_size], False) for i in range(0, len(seq), batch_size)]
        out = []
        with torch.inference_mode():
            for b in batches:
                out.append(net({k: v.to(device) for k, v in b.items()}).float().cpu())
        return torch.cat(out) if out else torch.zeros((0, sum(self.n_classes)))

    def predict_tasks(self, items: Sequence[Any] | np.ndarray, *, embedded: bool = False) -> dict[str, np.ndarray]:
        """Task name -> ``[N, K_t]`` probabilities."""
        probs = split_softmax(self.logits(items, embedded=embedded), self.n_classes)
        return {t: p.numpy().astype(np.float32) for t, p in zip(self.tasks, probs, strict=True)}

    def predict_proba(self, items: Sequence[Any]) -> np.ndarray:
        """The primary (first) task's probabilities (the FittedModel protocol)."""
        return next(iter(self.predict_tasks(items).values()))

    # -- persistence
    def save(self, folder: Path) -> None:
        from safetensors.torch import save_file

        folder.mkdir(parents=True, exist_ok=True)
        meta: dict[str, Any] = {
            "tasks": self.tasks,
            "backbone": self.backbone,
            "strategy": self.strategy,
            "image_size": self.image_size,
            "weights_sha256": self.weights_sha256,
            "hparams": self.hparams,
            "val_accuracy": self.val_accuracies,
            "history": self.history,
            "lora": self.lora,
        }
        if isinstance(self.net, ProbeNet):
            meta["dim"] = int(self.net.shared.in_features)
            meta["hidden"] = int(self.net.shared.out_features)
        write_meta(folder, self.kind, **meta)
        state = {k: v.detach().cpu().contiguous().clone() for k, v in self.net.state_dict().items()}
        save_file(state, str(folder / "model.safetensors"))

    @classmethod
    def load(cls, folder: Path) -> MultitaskModel:
        from safetensors.torch import load_file

        m = read_meta(folder)
        tasks = {k: list(v) for k, v in m["tasks"].items()}
        n_classes = [len(v) for v in tasks.values()]
        hp = m.get("hparams", {})
        encoder = None
        if m["strategy"] == PROBE:
            net: nn.Module = ProbeNet(int(m["dim"]), n_classes, hidden=int(m["hidden"]))
        else:
            encoder = load_backbone(m["backbone"], image_size=m.get("image_size"))
            sha = m.get("weights_sha256")
            if sha and encoder.weights_sha256 and encoder.weights_sha256 != sha:
                raise HeadstartError(
                    f"{folder}: trained on {m['backbone']} weights sha256 {sha[:16]}..., but the installed weights "
                    f"have {str(encoder.weights_sha256)[:16]}...; install the pinned weights"
                )
            net = MultiHeadEncoder(encoder, n_classes, dropout=float(hp.get("dropout", 0.1)), train_bn=False)
            if m.get("lora"):
                from peft import LoraConfig, get_peft_model

                lo = m["lora"]
                cfg = LoraConfig(
                    r=lo["r"], lora_alpha=lo["alpha"], lora_dropout=lo["dropout"], target_modules=lo["targets"]
                )
                net.encoder.body = get_peft_model(net.encoder.body, cfg)
        net.load_state_dict(load_file(str(folder / "model.safetensors")))
        return cls(
            net,
            tasks=tasks,
            backbone=m["backbone"],
            strategy=m["strategy"],
            image_size=m.get("image_size"),
            weights_sha256=m.get("weights_sha256"),
            hparams=hp,
            val_accuracy=m.get("val_accuracy"),
            history=m.get("history"),
            lora=m.get("lora"),
            encoder=encoder,
        )
