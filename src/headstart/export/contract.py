"""The preprocessing contract of an exported graph: what ``export/preprocessing.json`` says about its inputs.

Preprocessing (image decode/resize/normalise, tokenization) stays outside the ONNX graph; this module writes it
down as a contract (:func:`encoder_contract` for a headstart Encoder, a direct-resize contract for the pixel
baselines) and implements it without torch models (:func:`prepare_inputs`: raw items -> the graph's input
arrays), so the exporter, the parity check and ``predict --onnx`` all feed the graph the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from headstart.errors import HeadstartError

__all__ = ["encoder_contract", "prepare_inputs"]


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
            # () = last hidden state; else these hidden states, each pooled (and normalised), concatenated
            "layers": list(getattr(encoder, "layers", ())),
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

    if contract["modality"] == "tabular":  # typed row dicts -> the encoder's matrix, float64
        from headstart.baselines.table_features import TableEncoder

        t = contract["table"]
        enc = TableEncoder.from_dict(t["encoder"])
        rows = list(items)
        matrix = enc.tree_matrix(rows) if t["matrix"] == "tree" else enc.linear_matrix(rows)
        return {"features": np.ascontiguousarray(matrix, dtype=np.float64)}
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
