"""Data layer: file and array loaders, builtin datasets, splits, image decoding and validation."""

from headstart.data.arrays import from_arrays
from headstart.data.builtin import BuiltinInfo, builtin_names, list_builtins, load_builtin
from headstart.data.dataset import LabeledData
from headstart.data.images import (
    IMAGE_EXTENSIONS,
    ImageDecodeError,
    images_to_array,
    is_image_path,
    read_image,
)
from headstart.data.load import load_data
from headstart.data.splits import Splits, make_splits
from headstart.data.validate import DataSummary, check_classes, summarize, validate

__all__ = [
    "IMAGE_EXTENSIONS",
    "BuiltinInfo",
    "DataSummary",
    "ImageDecodeError",
    "LabeledData",
    "Splits",
    "builtin_names",
    "check_classes",
    "from_arrays",
    "images_to_array",
    "is_image_path",
    "list_builtins",
    "load_builtin",
    "load_data",
    "make_splits",
    "read_image",
    "summarize",
    "validate",
]
