"""From-scratch image baselines: pixel logistic regression and a small CNN trained with early stopping."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from headstart.artifacts import read_meta, register_kind, write_meta
from headstart.data.images import images_to_array, read_image
from headstart.io import atomic_write_npz
from headstart.strategies.linear_head import LinearHead, fit_linear_head
from headstart.training import TrainConfig, predict_proba, train


@contextlib.contextmanager
def _one_torch_thread() -> Iterator[None]:
    """The small CNN runs on one intra-op thread: its convolutions are too small to split, and with two
    threads on a 2-core machine that has any other load, OpenMP synchronisation made an epoch 10x slower
    (measured: 13 forward/backward passes at 28 px took 12.2 s on 2 threads vs 1.05 s on 1)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def baseline_geometry(items: Sequence[Any]) -> tuple[int, bool]:
    """(side, grayscale) for scratch models: native size clipped to [16, 64]; grayscale if the images are."""
    sample = [items[i] for i in np.linspace(0, len(items) - 1, min(len(items), 16)).astype(int)]
    imgs = [read_image(it) for it in sample]
    side = int(np.median([max(im.size) for im in imgs]))
    gray = all(im.mode in ("L", "1", "I", "I;16", "F") for im in imgs)
    return int(min(64, max(16, side))), gray


@register_kind
class PixelLogReg:
    kind: ClassVar[str] = "pixel-logreg"
    name = "pixel logistic regression"

    def __init__(self, head: LinearHead, side: int, gray: bool) -> None:
        self.head, self.side, self.gray = head, side, gray

    @property
    def val_accuracy(self) -> float:
        return self.head.cv_accuracy

    @staticmethod
    def _features(items: Sequence[Any], side: int, gray: bool) -> np.ndarray:
        side = min(side, 32)
        arr = images_to_array(items, side, grayscale=gray).astype(np.float32) / 255.0
        return arr.reshape(len(arr), -1)

    @classmethod
    def fit(
        cls,
        items: Sequence[Any],
        y: np.ndarray,
        n_classes: int,
        *,
        side: int,
        gray: bool,
        seed: int = 0,
        class_weight: str | None = None,
    ) -> PixelLogReg:
        X = cls._features(items, side, gray)
        return cls(fit_linear_head(X, y, n_classes, seed=seed, class_weight=class_weight), side, gray)

    def predict_proba(self, items: Sequence[Any]) -> np.ndarray:
        return self.head.predict_proba(self._features(items, self.side, self.gray))

    def save(self, folder: Path) -> None:
        write_meta(folder, self.kind, side=self.side, gray=self.gray)
        atomic_write_npz(folder / "head.npz", **self.head.arrays())

    @classmethod
    def load(cls, folder: Path) -> PixelLogReg:
        m = read_meta(folder)
        head = LinearHead.read(folder / "head.npz")
        return cls(head, m["side"], m["gray"])


class SmallCNN(nn.Module):
    """Three conv stages (32-64-128, BN, ReLU, max-pool) -> global average pool -> dropout -> linear."""

    def __init__(self, in_channels: int, n_classes: int, width: int = 32, dropout: float = 0.3) -> None:
        super().__init__()

        def stage(cin: int, cout: int) -> nn.Sequential:
            return nn.Sequential(
                nn.Conv2d(cin, cout, 3, padding=1, bias=False),
                nn.BatchNorm2d(cout),
                nn.ReLU(inplace=True),
                nn.Conv2d(cout, cout, 3, padding=1, bias=False),
                nn.BatchNorm2d(cout),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(2),
            )

        self.features = nn.Sequential(
            stage(in_channels, width),
            stage(width, 2 * width),
            stage(2 * width, 4 * width),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(4 * width, n_classes))

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.head(self.features(batch["pixel_values"]))


def _shift_collate(shift: int) -> Any:
    """Collate uint8 HWC/HW arrays into normalised NCHW tensors; random translation by <= ``shift`` px."""

    def collate(arrays: Sequence[np.ndarray], training: bool) -> dict[str, torch.Tensor]:
        x = torch.from_numpy(np.stack(arrays)).float().div_(255.0)
        x = x[:, None] if x.ndim == 3 else x.permute(0, 3, 1, 2)
        x = (x - 0.5) / 0.5
        if training and shift:
            _, _, h, w = x.shape
            padded = nn.functional.pad(x, (shift, shift, shift, shift), mode="replicate")
            dx, dy = torch.randint(0, 2 * shift + 1, (2,)).tolist()
            x = padded[:, :, dy : dy + h, dx : dx + w]
        return {"pixel_values": x.contiguous()}

    return collate


@register_kind
class SmallCNNModel:
    kind: ClassVar[str] = "small-cnn"
    name = "small CNN from scratch"

    def __init__(
        self, net: SmallCNN, side: int, gray: bool, val_accuracy: float, history: list[dict[str, float]] | None = None
    ) -> None:
        self.net, self.side, self.gray, self.val_accuracy = net, side, gray, val_accuracy
        self.history = history or []

    @classmethod
    def fit(
        cls,
        train_items: Sequence[Any],
        y_train: np.ndarray,
        val_items: Sequence[Any],
        y_val: np.ndarray,
        n_classes: int,
        *,
        side: int,
        gray: bool,
        seed: int = 0,
        loss: str = "ce",
        focal_gamma: float = 2.0,
        epochs: int = 60,
        progress: bool = True,
    ) -> SmallCNNModel:
        torch.manual_seed(seed)
        net = SmallCNN(1 if gray else 3, n_classes)
        xtr = list(images_to_array(train_items, side, grayscale=gray))
        xva = list(images_to_array(val_items, side, grayscale=gray))
        config = TrainConfig(
            epochs=epochs,
            batch_size=32,
            lr=3e-3,
            weight_decay=5e-4,
            patience=10,
            loss=loss,
            focal_gamma=focal_gamma,
            seed=seed,
            warmup_frac=0.05,
        )
        with _one_torch_thread():
            result = train(
                net,
                xtr,
                y_train,
                xva,
                y_val,
                _shift_collate(max(1, side // 14)),
                config,
                n_classes=n_classes,
                progress=progress,
                desc="small CNN",
            )
        best = next(h for h in result.history if h["epoch"] == result.best_epoch)
        return cls(net, side, gray, best["val_accuracy"], result.history)

    def predict_proba(self, items: Sequence[Any]) -> np.ndarray:
        x = list(images_to_array(items, self.side, grayscale=self.gray))
        with _one_torch_thread():
            return predict_proba(self.net, x, _shift_collate(0), batch_size=256)

    def save(self, folder: Path) -> None:
        write_meta(
            folder,
            self.kind,
            side=self.side,
            gray=self.gray,
            val_accuracy=self.val_accuracy,
            n_classes=self.net.head[1].out_features,
            history=self.history,
        )
        save_file({k: v.contiguous() for k, v in self.net.state_dict().items()}, str(folder / "model.safetensors"))

    @classmethod
    def load(cls, folder: Path) -> SmallCNNModel:
        m = read_meta(folder)
        net = SmallCNN(1 if m["gray"] else 3, m["n_classes"])
        net.load_state_dict(load_file(str(folder / "model.safetensors")))
        return cls(net.eval(), m["side"], m["gray"], m["val_accuracy"], m.get("history"))
