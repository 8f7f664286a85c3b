"""Arrays as labeled data: ``.npz`` files with arrays X and y, and Python arrays through :func:`from_arrays`.

X is a uint8 image stack (N,H,W[,C]), a list of image arrays, a list of image paths or a list of texts; the
modality is guessed unless given. Labels are checked to be one per item, images converted to uint8, and
object (pickled) arrays in an .npz are refused rather than loaded.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from headstart.data.dataset import LabeledData
from headstart.data.images import ImageDecodeError, is_image_path, read_image
from headstart.data.labeled import _BadItems, _text_value, build_labeled, label_to_str
from headstart.errors import HeadstartError


def _image_array(X: np.ndarray, where: str) -> np.ndarray:
    """Check/convert an image stack to uint8 (N,H,W) or (N,H,W,3)."""
    if X.ndim == 4 and X.shape[3] == 1:
        X = X[..., 0]
    if X.ndim == 4 and X.shape[3] == 4:
        X = X[..., :3]
    if not (X.ndim == 3 or (X.ndim == 4 and X.shape[3] == 3)):
        hint = ""
        if X.ndim == 2 and math.isqrt(X.shape[1]) ** 2 == X.shape[1]:
            side = math.isqrt(X.shape[1])
            hint = f" (flat pixels? reshape to (N, {side}, {side}))"
        raise HeadstartError(
            f"{where}: X has shape {X.shape}; expected images (N, H, W) or (N, H, W, 3) as uint8, or texts{hint}"
        )
    if X.dtype == np.uint8:
        return X
    if np.issubdtype(X.dtype, np.integer) and X.size and X.min() >= 0 and X.max() <= 255:
        return X.astype(np.uint8)
    raise HeadstartError(
        f"{where}: image array has dtype {X.dtype}; convert it to uint8 0-255 "
        "(e.g. (X * 255).round().astype('uint8') for floats in [0, 1])"
    )


def _labels_list(y: Any, n: int, where: str) -> list[Any]:
    if isinstance(y, np.ndarray):
        values = y.reshape(-1).tolist() if y.ndim <= 1 else None
        if values is None:
            raise HeadstartError(f"{where}: y has shape {y.shape}; expected one label per item (N,)")
    elif isinstance(y, pd.Series):
        values = y.tolist()
    elif isinstance(y, (str, bytes)) or not isinstance(y, Iterable):
        raise HeadstartError(f"{where}: y must be a sequence of labels, got {type(y).__name__}")
    else:
        values = list(y)
    if len(values) != n:
        raise HeadstartError(f"{where}: X has {n} items but y has {len(values)} labels; pass one label per item")
    return values


def _finish_arrays(
    items_all: list[Any] | np.ndarray,
    y_values: list[Any],
    *,
    modality: str,
    source: str,
    provenance: str,
    ids_all: list[str],
    groups: Mapping[str, Any] | None,
    bad: _BadItems,
    check_paths: bool = False,
) -> LabeledData:
    n = len(items_all)
    group_arrays: dict[str, np.ndarray] = {}
    for name, values in (groups or {}).items():
        arr = np.asarray(list(values), dtype=object)
        if len(arr) != n:
            raise HeadstartError(f"{source}: group {name!r} has {len(arr)} values for {n} items; pass one each")
        group_arrays[name] = arr
    keep: list[int] = []
    labels: list[str] = []
    for i in range(n):
        label = label_to_str(y_values[i])
        if modality == "text":
            if not _text_value(items_all[i]).strip():
                bad.bad(ids_all[i], "empty text", "fill in the text or drop the item")
                continue
        elif check_paths:
            try:
                read_image(items_all[i], locator=ids_all[i])
            except ImageDecodeError as exc:
                bad.bad(ids_all[i], exc.reason, "re-save or remove the file")
                continue
        if label is None:
            bad.bad(ids_all[i], "missing label", "add the label or drop the item")
            continue
        keep.append(i)
        labels.append(label)
    if not keep:
        raise HeadstartError(f"{source}: no usable items (all {n} were bad or empty); check X and y")
    if isinstance(items_all, np.ndarray):
        items: list[Any] | np.ndarray = items_all if len(keep) == n else items_all[np.asarray(keep)]
    elif modality == "text":
        items = [_text_value(items_all[i]) for i in keep]
    else:
        items = [str(items_all[i]) for i in keep]
    return build_labeled(
        items,
        labels,
        modality=modality,
        source=source,
        provenance=provenance,
        ids=[ids_all[i] for i in keep],
        groups={k: v[keep] for k, v in group_arrays.items()},
        skipped=bad.skipped,
    )


def _load_npz(path: Path, display: str, bad: _BadItems) -> LabeledData:
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except ValueError as exc:
        if "allow_pickle" in str(exc):
            raise HeadstartError(
                f"{display}: holds object arrays (pickles), which are not loaded; save texts as "
                "np.array(texts, dtype=str) and labels as str or int"
            ) from None
        raise HeadstartError(f"{display}: cannot read as .npz ({exc}); re-save with numpy.savez") from None
    except (OSError, EOFError) as exc:
        raise HeadstartError(f"{display}: cannot read as .npz ({exc}); re-save with numpy.savez") from None
    keys = {k.lower(): k for k in arrays}
    if "x" not in keys or "y" not in keys:
        found = ", ".join(repr(k) for k in arrays) or "(none)"
        raise HeadstartError(
            f"{display}: needs arrays named 'X' and 'y'; found {found}; re-save with savez(X=..., y=...)"
        )
    X, y = arrays[keys["x"]], arrays[keys["y"]]
    ids = [f"{display}:index {i}" for i in range(len(X))]
    y_values = _labels_list(y, len(X), display)
    if X.dtype.kind in "US":
        texts = [x.decode("utf-8", errors="replace") if isinstance(x, bytes) else str(x) for x in X.reshape(-1)]
        if len(texts) != len(y_values):
            raise HeadstartError(f"{display}: X must be a 1-D array of texts, got shape {X.shape}")
        return _finish_arrays(
            texts,
            y_values,
            modality="text",
            source=display,
            provenance=f"user file {path.resolve()}",
            ids_all=ids,
            groups=None,
            bad=bad,
        )
    images = _image_array(X, display)
    return _finish_arrays(
        images,
        y_values,
        modality="image",
        source=display,
        provenance=f"user file {path.resolve()}",
        ids_all=ids,
        groups=None,
        bad=bad,
    )


def _looks_like_image_paths(values: list[Any]) -> bool:
    if all(isinstance(v, os.PathLike) for v in values):
        return True
    return all(isinstance(v, str) and "\n" not in v and len(v) < 1024 and is_image_path(v.strip()) for v in values)


def from_arrays(
    X: Sequence[Any] | np.ndarray,
    y: Sequence[Any] | np.ndarray,
    *,
    modality: str | None = None,
    source: str = "arrays",
    provenance: str = "Python arrays passed to headstart",
    groups: Mapping[str, Sequence[Any] | np.ndarray] | None = None,
    on_bad_item: str = "error",
) -> LabeledData:
    """Build LabeledData from texts, image paths, or a uint8 image array (N,H,W[,C]) and labels.

    The modality is guessed (arrays -> image; strings that all end in an image extension -> image paths;
    other strings -> text) unless ``modality`` is given. Image paths are decoded once to catch bad files.
    """
    bad = _BadItems(on_bad_item)
    if modality is not None and modality not in ("text", "image"):
        raise HeadstartError(f"modality must be 'text' or 'image', got {modality!r}")
    if isinstance(X, pd.Series):
        X = X.tolist()
    if isinstance(X, np.ndarray) and X.dtype.kind not in "USO":
        images = _image_array(X, source)
        ids = [f"{source}[{i}]" for i in range(len(images))]
        return _finish_arrays(
            images,
            _labels_list(y, len(images), source),
            modality="image",
            source=source,
            provenance=provenance,
            ids_all=ids,
            groups=groups,
            bad=bad,
        )
    if isinstance(X, (str, bytes)) or not isinstance(X, Iterable):
        raise HeadstartError(f"{source}: X must be a list of texts or image paths, or an image array")
    values = list(X.reshape(-1)) if isinstance(X, np.ndarray) else list(X)
    if not values:
        raise HeadstartError(f"{source}: X is empty; pass at least two labeled items per class")
    y_values = _labels_list(y, len(values), source)
    if all(isinstance(v, np.ndarray) for v in values):
        shapes = {v.shape for v in values}
        if len(shapes) > 1:
            raise HeadstartError(
                f"{source}: image arrays have different shapes {sorted(shapes)[:3]}; resize them to one "
                "size or save them as files and pass the paths"
            )
        images = _image_array(np.stack(values), source)
        ids = [f"{source}[{i}]" for i in range(len(images))]
        return _finish_arrays(
            images,
            y_values,
            modality="image",
            source=source,
            provenance=provenance,
            ids_all=ids,
            groups=groups,
            bad=bad,
        )
    kind = modality or ("image" if _looks_like_image_paths(values) else "text")
    if kind == "image":
        paths = [str(v) for v in values]
        return _finish_arrays(
            paths,
            y_values,
            modality="image",
            source=source,
            provenance=provenance,
            ids_all=paths,
            groups=groups,
            bad=bad,
            check_paths=True,
        )
    ids = [f"{source}[{i}]" for i in range(len(values))]
    return _finish_arrays(
        values,
        y_values,
        modality="text",
        source=source,
        provenance=provenance,
        ids_all=ids,
        groups=groups,
        bad=bad,
    )
