"""SetFit-style contrastive fine-tuning of a text encoder's top layers, then a linear head.

SetFit (Tunstall et al. 2022) fine-tunes the whole sentence encoder on many independently sampled
sentence pairs (CosineSimilarityLoss), then fits a logistic regression on the new embeddings. This strategy
keeps the idea and removes most of the cost:

- only the top ``train_layers`` transformer layers are trained (mean pooling has no weights); the frozen
  lower layers' token states are computed ONCE per text and reused by every step and by validation;
- each step scores every pair of a class-balanced mini-batch at once (batch-all cosine-similarity loss,
  positives and negatives weighted equally, or supervised contrastive, Khosla et al. 2020), instead of one
  forward pass per sampled pair;
- the number of epochs is chosen by k-fold cross-validation over ALL labeled items (train + val; option
  ``select="cv"``, ``cv_folds=4``): each fold trains its own copy of the top layers on the cached lower states,
  the folds advance in lockstep and stop ``patience`` epochs after the pooled held-out nearest-centroid accuracy
  (tie-break: held-out pair loss) last improved. With few labels the val slice alone is tiny (6 items at 16 per
  class), so a stopping point chosen on it is close to random; pooled over the folds every labeled item is
  held out once. ``select="val"`` chooses on the val slice instead. A class with a single labeled item leaves
  nothing to hold out: then a fixed short schedule (``FALLBACK_EPOCHS``) is used;
- the encoder's own top layers are then trained on every labeled item (as SetFit does) for that many epochs,
  and the :class:`LinearHead` (C by cross-validation) is fit on their embeddings.

At prediction the lower layers run once per text (and are kept in a bounded in-memory cache shared by every
model built on the same pinned weights, so several fitted models, seeds or budgets re-score a test set by
running only their top layers). Saving writes the changed layers only, as safetensors, plus the base
backbone name and its pinned sha256 to rebuild the rest.

Works with BERT-like text encoders (``body.embeddings`` + ``body.encoder.layer``), e.g. ``minilm-l6``.
"""

from __future__ import annotations

import copy
import hashlib
import os
import time
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from headstart.artifacts import read_meta, register_kind, write_meta
from headstart.backbones import load_backbone
from headstart.errors import HeadstartError
from headstart.io import atomic_write_bytes, atomic_write_npz
from headstart.progress import progress_bar
from headstart.strategies.base import TransferTask, register_strategy
from headstart.strategies.linear_head import LinearHead, cv_folds, fit_linear_head

WEIGHTS_FILE = "encoder_top.safetensors"
HEAD_FILE = "head.npz"
PAIR_LOSSES = ("cosine", "supcon")
DEFAULTS: dict[str, Any] = {
    "epochs": 30,  # maximum; early stopping usually ends sooner
    "patience": 6,
    "lr": 3e-4,
    "batch_size": 32,
    "train_layers": 2,
    "pair_loss": "cosine",
    "temperature": 0.1,  # supcon only
    "weight_decay": 0.01,
    "select": "cv",  # how the epoch count is chosen: "cv" (k-fold on all labeled items) or "val" (the val slice)
    "cv_folds": 4,
}
SELECT_MODES = ("cv", "val")
FALLBACK_EPOCHS = 10  # when no item can be held out (a class with a single labeled item)
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


# ------------------------------------------------------------------------------------------------- losses


def pair_loss(z: Tensor, y: Tensor, kind: str, temperature: float) -> Tensor:
    """Loss over every pair of a batch of embeddings ``z`` with labels ``y``.

    ``cosine``: SetFit's CosineSimilarityLoss (MSE between cosine similarity and 1 for same-class, 0 for
    different-class pairs) on all pairs, positives and negatives weighted equally. ``supcon``: supervised
    contrastive loss (Khosla et al. 2020) at ``temperature``.
    """
    zn = F.normalize(z, dim=-1)
    sim = zn @ zn.T
    same = y[:, None] == y[None, :]
    off = ~torch.eye(len(y), dtype=torch.bool)
    pos, neg = same & off, ~same
    if kind == "cosine":
        err = (sim - same.to(sim.dtype)) ** 2
        terms = [err[m].mean() for m in (pos, neg) if m.any()]
        return torch.stack(terms).mean() if terms else sim.sum() * 0.0
    if kind == "supcon":
        logits = (sim / temperature).masked_fill(~off, float("-inf"))
        logp = logits - torch.logsumexp(logits, dim=1, keepdim=True)
        has = pos.any(1)
        if not has.any():
            return sim.sum() * 0.0
        per = (logp.masked_fill(~pos, 0.0).sum(1) / pos.sum(1).clamp(min=1))[has]
        return -per.mean()
    raise HeadstartError(f"contrastive pair_loss must be one of {', '.join(PAIR_LOSSES)}, got {kind!r}")


def _balanced_batches(y: np.ndarray, batch_size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """One epoch of batches: items of each class shuffled and interleaved, so each batch mixes classes."""
    per = [rng.permutation(np.flatnonzero(y == c)) for c in np.unique(y)]
    order: list[int] = []
    longest = max(len(p) for p in per)
    for i in range(longest):
        order.extend(int(p[i]) for p in per if i < len(p))
    n_batches = max(1, round(len(order) / batch_size))
    return [b for b in np.array_split(np.array(order), n_batches) if len(b) > 1]


def _centroid_accuracy(train: np.ndarray, y_train: np.ndarray, val: np.ndarray, y_val: np.ndarray) -> float:
    classes = np.unique(y_train)
    cent = np.stack([train[y_train == c].mean(0) for c in classes])
    cent /= np.linalg.norm(cent, axis=1, keepdims=True).clip(1e-12)
    vn = val / np.linalg.norm(val, axis=1, keepdims=True).clip(1e-12)
    pred = classes[(vn @ cent.T).argmax(1)]
    return float((pred == y_val).mean())


# -------------------------------------------------------------------------------------------------- model


def _top_names(encoder: Any, split: int) -> list[str]:
    """State-dict names (of ``encoder.body``) of the trained top layers."""
    layers = _layers(encoder)
    ids = {id(m) for m in layers[split:]}
    prefix = next(n for n, m in encoder.body.named_modules() if m is layers)
    names = []
    for n in encoder.body.state_dict():
        if n.startswith(prefix + "."):
            idx = int(n[len(prefix) + 1 :].split(".")[0])
            if id(layers[idx]) in ids:
                names.append(n)
    return names


@register_kind
class ContrastiveModel:
    """A pinned text backbone whose top layers were contrastively fine-tuned, plus a linear head."""

    kind: ClassVar[str] = "contrastive"

    def __init__(
        self,
        backbone: str,
        encoder: Any,
        split: int,
        head: LinearHead,
        *,
        val_accuracy: float = float("nan"),
        history: list[dict[str, float]] | None = None,
        progress: bool = False,
    ) -> None:
        self.backbone = backbone
        self.encoder = encoder.eval()
        self.split = split
        self.head = head
        self._val_accuracy = val_accuracy
        self.history = history or []
        self.progress = progress

    @property
    def name(self) -> str:
        return f"{self.backbone} contrastive (top {len(_layers(self.encoder)) - self.split} layers)"

    @property
    def val_accuracy(self) -> float:
        return self._val_accuracy

    @property
    def weights_sha256(self) -> str | None:
        return getattr(self.encoder, "weights_sha256", None)

    def embed(self, items: Sequence[Any]) -> np.ndarray:
        texts = [str(t) if not isinstance(t, str) else t for t in items]
        if not texts:
            return np.zeros((0, self.encoder.embed_dim), dtype=np.float32)
        states, _ = lower_states(self.encoder, texts, self.split, progress=self.progress)
        return embed_from_states(self.encoder, states, self.split)

    def predict_proba(self, items: Sequence[Any]) -> np.ndarray:
        return self.head.predict_proba(self.embed(items))

    def save(self, folder: Path) -> None:
        from safetensors.torch import save

        state = self.encoder.body.state_dict()
        top = {n: state[n].detach().contiguous().clone() for n in _top_names(self.encoder, self.split)}
        write_meta(
            folder,
            self.kind,
            backbone=self.backbone,
            weights_sha256=self.weights_sha256,
            split_layer=self.split,
            n_layers=len(_layers(self.encoder)),
            trained_tensors=sorted(top),
            C=self.head.C,
            cv_accuracy=self.head.cv_accuracy,
            val_accuracy=self._val_accuracy,
            history=self.history,
        )
        atomic_write_bytes(folder / WEIGHTS_FILE, save(top))
        atomic_write_npz(folder / HEAD_FILE, **self.head.arrays())

    @classmethod
    def load(cls, folder: Path) -> ContrastiveModel:
        from safetensors.torch import load

        meta = read_meta(folder)
        encoder = load_backbone(meta["backbone"])
        want = meta.get("weights_sha256")
        if want and encoder.weights_sha256 != want:
            raise HeadstartError(
                f"{folder}: fine-tuned on base weights sha256 {want[:16]}..., but the installed "
                f"{meta['backbone']} weights are {str(encoder.weights_sha256)[:16]}...; reinstall the matching version"
            )
        path = folder / WEIGHTS_FILE
        if not path.exists():
            raise HeadstartError(f"{folder}: {WEIGHTS_FILE} is missing; this saved model is incomplete")
        top = load(path.read_bytes())
        result = encoder.body.load_state_dict(top, strict=False)
        if result.unexpected_keys or set(top) != set(meta.get("trained_tensors", top)):
            raise HeadstartError(f"{path}: tensors do not fit backbone {meta['backbone']}; the file is damaged")
        with np.load(folder / HEAD_FILE) as z:
            head = LinearHead.from_arrays({k: z[k] for k in z.files})
        return cls(
            meta["backbone"],
            encoder,
            int(meta["split_layer"]),
            head,
            val_accuracy=float(meta.get("val_accuracy", float("nan"))),
            history=meta.get("history", []),
        )


# ----------------------------------------------------------------------------------------------- strategy


def _options(task: TransferTask) -> dict[str, Any]:
    opts = {k: task.options.get(k, v) for k, v in DEFAULTS.items()}
    opts["epochs"], opts["patience"] = int(opts["epochs"]), int(opts["patience"])
    opts["batch_size"], opts["train_layers"] = int(opts["batch_size"]), int(opts["train_layers"])
    opts["cv_folds"] = int(opts["cv_folds"])
    opts["lr"], opts["temperature"] = float(opts["lr"]), float(opts["temperature"])
    if opts["pair_loss"] not in PAIR_LOSSES:
        raise HeadstartError(f"option pair_loss must be one of {', '.join(PAIR_LOSSES)}, got {opts['pair_loss']!r}")
    if opts["select"] not in SELECT_MODES:
        raise HeadstartError(f"option select must be one of {', '.join(SELECT_MODES)}, got {opts['select']!r}")
    if opts["epochs"] < 0 or opts["batch_size"] < 2 or opts["train_layers"] < 1 or opts["cv_folds"] < 2:
        raise HeadstartError(
            "contrastive options: epochs >= 0, batch_size >= 2, train_layers >= 1 and cv_folds >= 2 are required"
        )
    return opts


def _optimizer(top: nn.ModuleList, opts: dict[str, Any]) -> torch.optim.Optimizer:
    named = [(n, p) for n, p in top.named_parameters() if p.requires_grad]
    return torch.optim.AdamW(
        [
            {"params": [p for _, p in named if p.ndim > 1], "weight_decay": opts["weight_decay"]},
            {"params": [p for _, p in named if p.ndim <= 1], "weight_decay": 0.0},
        ],
        lr=opts["lr"],
    )


def _train_epoch(
    encoder: Any,
    top: nn.ModuleList,
    optim: torch.optim.Optimizer,
    states: Sequence[Tensor],
    y: np.ndarray,
    split: int,
    opts: dict[str, Any],
    rng: np.random.Generator,
) -> tuple[float, np.ndarray]:
    """One epoch of batch-all pair-loss steps on ``top``; returns (mean loss, the items' train-pass embeddings)."""
    top.train()
    y_t = torch.from_numpy(y)
    params = [p for p in top.parameters() if p.requires_grad]
    emb = np.zeros((len(states), encoder.embed_dim), dtype=np.float32)
    losses = []
    for b in _balanced_batches(y, opts["batch_size"], rng):
        z = upper_embed(encoder, [states[i] for i in b], split, top)
        emb[b] = z.detach().float().numpy()
        loss = pair_loss(z, y_t[b], opts["pair_loss"], opts["temperature"])
        optim.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optim.step()
        losses.append(float(loss.detach()))
    top.eval()
    return float(np.mean(losses)) if losses else float("nan"), emb


def _folds(y: np.ndarray, n_train: int, opts: dict[str, Any], seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(fit, held-out) index pairs over the labeled items (train then val) used to choose the epoch count."""
    from sklearn.model_selection import StratifiedKFold

    if opts["select"] == "val":
        return [(np.arange(n_train), np.arange(n_train, len(y)))] if len(y) > n_train else []
    k = min(opts["cv_folds"], cv_folds(y, max_folds=opts["cv_folds"]))
    if k < 2:
        return []
    cv = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    return [(tr, ho) for tr, ho in cv.split(np.zeros(len(y)), y)]


def choose_epochs(
    encoder: Any,
    states: Sequence[Tensor],
    y: np.ndarray,
    split: int,
    folds: list[tuple[np.ndarray, np.ndarray]],
    opts: dict[str, Any],
    rng: np.random.Generator,
    *,
    progress: bool = False,
) -> tuple[int, float, list[dict[str, float]]]:
    """Epoch count with the best held-out nearest-centroid accuracy (tie-break: held-out pair loss).

    Every fold trains its own copy of the top layers; the folds advance in lockstep, so the accuracy of an
    epoch is pooled over all held-out items (every labeled item once with k-fold CV) and training stops
    ``patience`` epochs after the last improvement. Returns (epochs, pooled accuracy, history).
    """
    base = _layers(encoder)[split:]
    runs = []
    for tr, ho in folds:
        top = copy.deepcopy(base)
        for p in top.parameters():
            p.requires_grad_(True)
        runs.append((tr, ho, top, _optimizer(top, opts)))

    def score(embs: list[np.ndarray]) -> tuple[float, float]:
        correct, n, vloss = 0.0, 0, []
        for (tr, ho, top, _), e_tr in zip(runs, embs, strict=True):
            e_ho = embed_from_states(encoder, [states[i] for i in ho], split, top=top)
            correct += _centroid_accuracy(e_tr, y[tr], e_ho, y[ho]) * len(ho)
            n += len(ho)
            z = torch.from_numpy(np.concatenate([e_tr, e_ho]))
            yy = torch.from_numpy(np.concatenate([y[tr], y[ho]]))
            vloss.append(float(pair_loss(z, yy, opts["pair_loss"], opts["temperature"])))
        return correct / max(n, 1), float(np.mean(vloss))

    acc, vloss = score([embed_from_states(encoder, [states[i] for i in tr], split, top=top) for tr, _, top, _ in runs])
    history = [{"epoch": 0, "train_loss": float("nan"), "val_acc": acc, "val_loss": vloss}]
    best, best_epoch, stale = (acc, -vloss), 0, 0
    for epoch in progress_bar(range(1, opts["epochs"] + 1), desc="contrastive epochs (CV)", enabled=progress):
        losses, embs = [], []
        for tr, _, top, optim in runs:
            loss, e_tr = _train_epoch(encoder, top, optim, [states[i] for i in tr], y[tr], split, opts, rng)
            losses.append(loss)
            embs.append(e_tr)
        acc, vloss = score(embs)
        history.append({"epoch": epoch, "train_loss": float(np.mean(losses)), "val_acc": acc, "val_loss": vloss})
        if (acc, -vloss) > best:
            best, best_epoch, stale = (acc, -vloss), epoch, 0
        else:
            stale += 1
            if stale >= opts["patience"]:
                break
    return best_epoch, float(best[0]), history


@register_strategy(
    "contrastive",
    "text: SetFit-style contrastive fine-tuning of the top encoder layers (frozen lower layers cached), then a "
    "linear head",
    tuple(DEFAULTS),
)
def fit_contrastive(task: TransferTask) -> ContrastiveModel:
    if task.modality != "text":
        raise HeadstartError("strategy contrastive is for text data; use linear-probe or finetune for images")
    opts = _options(task)
    t0 = time.perf_counter()
    encoder = load_backbone(task.backbone)
    n_layers = len(_layers(encoder))
    split = max(0, n_layers - opts["train_layers"])
    task.timings["load_backbone"] = time.perf_counter() - t0

    texts = [str(t) for t in task.train_items] + [str(t) for t in task.val_items]
    n_train = len(task.train_items)
    y = np.concatenate([np.asarray(task.y_train, dtype=np.int64), np.asarray(task.y_val, dtype=np.int64)])
    t1 = time.perf_counter()
    states, computed = lower_states(encoder, texts, split, progress=task.progress)
    task.timings["lower_states"] = time.perf_counter() - t1
    task.notes.setdefault("extract", []).append(
        {
            "split": "train+val lower layers",
            "n_items": len(states),
            "computed": computed,
            "cache_hits": len(states) - computed,
        }
    )

    torch.manual_seed(task.seed)
    rng = np.random.default_rng(np.random.SeedSequence([task.seed, 7]))
    for p in encoder.parameters():
        p.requires_grad_(False)
    top = _layers(encoder)[split:]
    for p in top.parameters():
        p.requires_grad_(True)

    t2 = time.perf_counter()
    folds = _folds(y, n_train, opts, task.seed) if len(np.unique(y)) > 1 else []
    if folds:
        epochs, sel_acc, history = choose_epochs(encoder, states, y, split, folds, opts, rng, progress=task.progress)
    else:  # too few items per class to hold any out: a short fixed schedule
        epochs, sel_acc, history = min(opts["epochs"], FALLBACK_EPOCHS), float("nan"), []
    task.timings["choose_epochs"] = time.perf_counter() - t2
    # refit the encoder's own top layers on every labeled item for the chosen number of epochs
    t3 = time.perf_counter()
    optim = _optimizer(top, opts)
    for _ in range(epochs):
        _train_epoch(encoder, top, optim, states, y, split, opts, rng)
    for p in encoder.parameters():
        p.requires_grad_(False)
    encoder.eval()
    task.timings["contrastive_train"] = time.perf_counter() - t3
    task.notes["contrastive"] = {
        **opts,
        "split_layer": split,
        "n_folds": len(folds),
        "best_epoch": epochs,
        "epochs_run": len(history) - 1 if history else epochs,
        "selection_accuracy": sel_acc,
    }

    t4 = time.perf_counter()
    emb = embed_from_states(encoder, states, split)
    head = fit_linear_head(
        emb,
        y,
        task.n_classes,
        seed=task.seed,
        class_weight="balanced" if task.options.get("loss") == "weighted" else None,
    )
    task.timings["fit_head"] = time.perf_counter() - t4
    val_acc = sel_acc if folds else head.cv_accuracy
    return ContrastiveModel(
        task.backbone, encoder, split, head, val_accuracy=val_acc, history=history, progress=task.progress
    )
