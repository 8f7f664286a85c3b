"""The frozen/trained split of a BERT-like text encoder, for the contrastive strategy.

The lower layers of the encoder stay frozen, so their token states are computed once per text
(:func:`lower_states`) and kept in a bounded in-memory LRU (:data:`LOWER_CACHE`) shared by every model built
on the same pinned weights; the trained top layers then run on those states (:func:`upper_embed` with
gradients during training, :func:`embed_from_states` in eval mode for validation and prediction).
"""

from __future__ import annotations

import hashlib
import os
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from headstart.errors import HeadstartError
from headstart.progress import progress_bar

_LOWER_CACHE_MB = float(os.environ.get("HEADSTART_LOWER_CACHE_MB", "512"))


# --------------------------------------------------------------------------------------------- encoder split


def _layers(encoder: Any) -> nn.ModuleList:
    body = encoder.body
    layers = getattr(getattr(body, "encoder", None), "layer", None)
    if encoder.spec.modality != "text" or not hasattr(body, "embeddings") or not isinstance(layers, nn.ModuleList):
        raise HeadstartError(
            f"strategy contrastive needs a BERT-like text backbone (embeddings + encoder.layer); "
            f"{encoder.spec.name} is not one: use minilm-l6 or an hf: BERT model, or --strategy linear-probe"
        )
    if getattr(encoder, "layers", ()):
        raise HeadstartError(
            f"strategy contrastive trains the last layer's sentence embedding; {encoder.spec.name} pools several "
            "layers (a frozen-probe view): use its base model (e.g. minilm-l6), or --strategy linear-probe"
        )
    return layers


def _mask(body: nn.Module, hidden: Tensor, attention_mask: Tensor) -> Any:
    from transformers.masking_utils import create_bidirectional_mask

    return create_bidirectional_mask(config=body.config, inputs_embeds=hidden, attention_mask=attention_mask)


class _LowerCache:
    """Bounded LRU of frozen lower-layer token states ``[T, H]`` keyed by (weights, preprocessing, split, text)."""

    def __init__(self, max_mb: float) -> None:
        self.max_bytes = int(max_mb * 2**20)
        self.bytes = 0
        self.data: OrderedDict[bytes, Tensor] = OrderedDict()

    def get(self, key: bytes) -> Tensor | None:
        t = self.data.get(key)
        if t is not None:
            self.data.move_to_end(key)
        return t

    def put(self, key: bytes, t: Tensor) -> None:
        if key in self.data or self.max_bytes <= 0:
            return
        self.data[key] = t
        self.bytes += t.numel() * t.element_size()
        while self.bytes > self.max_bytes and self.data:
            _, old = self.data.popitem(last=False)
            self.bytes -= old.numel() * old.element_size()


LOWER_CACHE = _LowerCache(_LOWER_CACHE_MB)


def _text_keys(encoder: Any, split: int, texts: Sequence[str]) -> list[bytes] | None:
    sha = getattr(encoder, "weights_sha256", None)
    if not sha:
        return None
    ns = f"{sha}|{encoder.preprocessing_id}|{split}".encode()
    out = []
    for t in texts:
        h = hashlib.blake2b(ns, digest_size=16)
        h.update(t.encode("utf-8", "surrogatepass"))
        out.append(h.digest())
    return out


@torch.inference_mode()
def lower_states(
    encoder: Any, texts: Sequence[str], split: int, *, batch_size: int = 64, progress: bool = False
) -> tuple[list[Tensor], int]:
    """Token states after the first ``split`` layers, one unpadded ``[T_i, H]`` tensor per text.

    Returns ``(states, n_computed)``; states of texts seen before come from :data:`LOWER_CACHE`.
    """
    body, layers = encoder.body, _layers(encoder)
    texts = list(texts)
    keys = _text_keys(encoder, split, texts)
    out: list[Tensor | None] = [None] * len(texts)
    if keys is not None:
        for i, k in enumerate(keys):
            out[i] = LOWER_CACHE.get(k)
    todo = [i for i, s in enumerate(out) if s is None]
    todo.sort(key=lambda i: len(texts[i]))
    batches = [todo[i : i + batch_size] for i in range(0, len(todo), batch_size)]
    for idx in progress_bar(batches, desc=f"lower {split} layers of {encoder.spec.name}", enabled=progress):
        inputs = encoder.prepare([texts[i] for i in idx])
        mask = inputs["attention_mask"]
        emb_kwargs = {"input_ids": inputs["input_ids"]}
        if "token_type_ids" in inputs:
            emb_kwargs["token_type_ids"] = inputs["token_type_ids"]
        h = body.embeddings(**emb_kwargs)
        m4 = _mask(body, h, mask)
        for layer in layers[:split]:
            h = layer(h, m4)
        lengths = mask.sum(1).tolist()
        for j, i in enumerate(idx):
            s = h[j, : int(lengths[j])].clone()
            out[i] = s
            if keys is not None:
                LOWER_CACHE.put(keys[i], s)
    return [s for s in out if s is not None], len(todo)


def upper_embed(encoder: Any, states: Sequence[Tensor], split: int, top: nn.ModuleList | None = None) -> Tensor:
    """Pooled embeddings ``[B, D]`` from lower states: the top layers, masked mean pooling, optional L2 norm.

    ``top`` replaces the encoder's own layers ``split:`` (a copy trained on one cross-validation fold). Runs with
    whatever grad mode / train mode the caller set.
    """
    body = encoder.body
    top = _layers(encoder)[split:] if top is None else top
    lengths = torch.tensor([s.shape[0] for s in states])
    T = int(lengths.max())
    h = torch.zeros(len(states), T, states[0].shape[1], dtype=states[0].dtype)
    for j, s in enumerate(states):
        h[j, : s.shape[0]] = s
    mask = (torch.arange(T)[None, :] < lengths[:, None]).long()
    m4 = _mask(body, h, mask)
    for layer in top:
        h = layer(h, m4)
    if encoder.pooling == "cls":
        pooled = h[:, 0]
    else:
        m = mask.unsqueeze(-1).to(h.dtype)
        pooled = (h * m).sum(1) / m.sum(1).clamp(min=1e-9)
    return F.normalize(pooled, p=2, dim=-1) if encoder.normalize else pooled


@torch.inference_mode()
def embed_from_states(
    encoder: Any, states: Sequence[Tensor], split: int, *, top: nn.ModuleList | None = None, batch_size: int = 128
) -> np.ndarray:
    """Eval-mode embeddings ``[N, D]`` (float32) of precomputed lower states, in length-sorted batches."""
    modules = [encoder] if top is None else [encoder, top]
    was_training = [m.training for m in modules]
    for m in modules:
        m.eval()
    order = np.argsort([s.shape[0] for s in states], kind="stable")
    out = np.zeros((len(states), encoder.embed_dim), dtype=np.float32)
    for i in range(0, len(order), batch_size):
        idx = order[i : i + batch_size]
        out[idx] = upper_embed(encoder, [states[j] for j in idx], split, top).float().numpy()
    for m, t in zip(modules, was_training, strict=True):
        m.train(t)
    return out
