"""Generic, unpinned backbones for online users: ``hf:<model id or local folder>`` (transformers /
sentence-transformers text models) and ``timm:<model name>`` (timm image models, if timm is installed).

Their weights are not pinned (``sha256=None``); the sha256 of the files actually found is recorded instead.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from torch import Tensor, nn

from headstart.backbones.encoder import ImageEncoder
from headstart.errors import HeadstartError

if TYPE_CHECKING:
    from headstart.backbones.spec import BackboneSpec

__all__ = [
    "HUB_PREFIXES",
    "build_timm",
    "derive_layer_groups",
    "is_hub_name",
    "locate_hf",
    "locate_timm",
    "make_hub_spec",
    "read_card_license",
]

HUB_PREFIXES = ("hf:", "timm:")
_HF_WEIGHT_PATTERNS = (
    "model.safetensors",
    "model-*-of-*.safetensors",
    "pytorch_model.bin",
    "pytorch_model-*-of-*.bin",
)
_HF_DOWNLOAD_PATTERNS = ["*.json", "*.safetensors", "*.txt", "*.model", "README.md", "1_Pooling/*"]
_LAYER_RX = re.compile(r"^(?P<prefix>(?:.*\.)?(?:layer|layers|h|block|blocks))\.(?P<idx>\d+)\.")


def is_hub_name(name: str) -> bool:
    return name.startswith(HUB_PREFIXES)


def derive_layer_groups(names: Sequence[str]) -> tuple[tuple[str, str], ...]:
    """Layer groups from parameter names: what precedes the numbered layers, each layer, what follows.

    Works for BERT/RoBERTa (``encoder.layer.N``), DistilBERT (``transformer.layer.N``), GPT-2 (``h.N``) and
    timm-style ``blocks.N``; without numbered layers, one group holds everything.
    """
    hits = [(i, m) for i, n in enumerate(names) if (m := _LAYER_RX.match(n))]
    if not hits:
        return (("all", r".*"),)
    prefixes: dict[str, int] = {}
    for _, m in hits:
        prefixes[m["prefix"]] = prefixes.get(m["prefix"], 0) + 1
    prefix = max(prefixes, key=lambda p: prefixes[p])
    positions = [i for i, m in hits if m["prefix"] == prefix]
    first, last = positions[0], positions[-1]
    indices = sorted({int(m["idx"]) for _, m in hits if m["prefix"] == prefix})
    layer_rx = {i: rf"^{re.escape(prefix)}\.{i}\." for i in indices}

    def exact(ns: Sequence[str]) -> str:
        return "^(?:" + "|".join(re.escape(n) for n in ns) + ")$"

    before = [n for i, n in enumerate(names) if i < first and not any(re.match(r, n) for r in layer_rx.values())]
    after = [n for i, n in enumerate(names) if i > last and not any(re.match(r, n) for r in layer_rx.values())]
    middle = [
        n for i, n in enumerate(names) if first <= i <= last and not any(re.match(r, n) for r in layer_rx.values())
    ]
    groups: list[tuple[str, str]] = []
    if before:
        groups.append(("embeddings", exact(before)))
    groups += [(f"layer.{i}", rx) for i, rx in layer_rx.items()]
    if after or middle:
        groups.append(("top", exact(after + middle)))
    return tuple(groups)


_COMMERCIAL_OK = frozenset(
    {
        "apache-2.0",
        "mit",
        "bsd-2-clause",
        "bsd-3-clause",
        "cc0-1.0",
        "cc-by-4.0",
        "cc-by-sa-4.0",
        "isc",
        "mpl-2.0",
    }
)


def license_commercial_use(license_id: str) -> bool | None:
    """True/False when a license clearly allows/forbids commercial use, None when unknown."""
    lid = license_id.strip().lower()
    if lid in _COMMERCIAL_OK:
        return True
    if re.search(r"(^|-)nc(-|$)|non-?commercial|research-only", lid):
        return False
    return None


def read_card_license(folder: Path) -> str:
    """The ``license:`` field of a Hugging Face model card's front matter, or "unknown"."""
    card = folder / "README.md"
    if not card.is_file():
        return "unknown"
    text = card.read_text(encoding="utf-8", errors="replace")
    if not text.startswith("---"):
        return "unknown"
    front = text[3:].split("\n---", 1)[0]
    m = re.search(r"^license:\s*['\"]?([\w.+-]+)", front, flags=re.MULTILINE)
    return m.group(1) if m else "unknown"


# ---- hf: ---------------------------------------------------------------------------------------------------


def _is_local(target: str) -> bool:
    return target.startswith(("/", ".", "~")) or Path(target).expanduser().exists()


def _hf_root(target: str, *, download: bool) -> Path:
    if _is_local(target):
        root = Path(target).expanduser().resolve()
        if not root.is_dir():
            raise HeadstartError(f"hf:{target}: folder not found; pass a model folder or a Hugging Face model id")
        return root
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(target, allow_patterns=_HF_DOWNLOAD_PATTERNS, local_files_only=not download))
    except Exception as exc:
        reason = " ".join(str(exc).split())[:160]
        raise HeadstartError(
            f"hf:{target}: cannot fetch the model ({reason}); without network pass a local folder: hf:/path/to/model"
        ) from None


def _st_modules(root: Path) -> list[dict[str, Any]]:
    f = root / "modules.json"
    if not f.is_file():
        return []
    try:
        data = json.loads(f.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return data if isinstance(data, list) else []


def _transformer_dir(root: Path) -> Path:
    for mod in _st_modules(root):
        if str(mod.get("type", "")).endswith("Transformer"):
            return root / str(mod.get("path", ""))
    return root


def locate_hf(target: str, *, download: bool = False) -> tuple[tuple[Path, ...], Path]:
    """Weight files and model folder (config + tokenizer) of ``hf:<target>``."""
    model_dir = _transformer_dir(_hf_root(target, download=download))
    for pattern in _HF_WEIGHT_PATTERNS:
        files = tuple(sorted(model_dir.glob(pattern)))
        if files:
            return files, model_dir
    raise HeadstartError(
        f"{model_dir}: no model weights (model.safetensors or pytorch_model.bin) found; "
        "pass a transformers or sentence-transformers model folder"
    )


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _make_hf_spec(name: str, target: str) -> BackboneSpec:
    from headstart.backbones.spec import BackboneSpec

    root = _hf_root(target, download=True)
    model_dir = _transformer_dir(root)
    config = _read_json(model_dir / "config.json")
    if not config:
        raise HeadstartError(f"{model_dir}: no readable config.json; pass a transformers model folder")
    dim = int(config.get("hidden_size") or config.get("dim") or config.get("d_model") or 0)
    pool = _read_json(root / "1_Pooling" / "config.json")
    pooling = "cls" if pool.get("pooling_mode_cls_token") else "mean"
    normalize = any(str(m.get("type", "")).endswith("Normalize") for m in _st_modules(root))
    max_len = _read_json(model_dir / "sentence_bert_config.json").get("max_seq_length") or min(
        int(config.get("max_position_embeddings") or 512), 512
    )
    license_id = read_card_license(root)
    local = _is_local(target)
    return BackboneSpec(
        name=name,
        modality="text",
        architecture="hf-text",
        description=f"Hugging Face text model {target} ({pooling} pooling{', L2' if normalize else ''})",
        embed_dim=dim,
        params_m=0.0,
        license=license_id,
        commercial_use=license_commercial_use(license_id),
        source_package="(local folder)" if local else "huggingface_hub",
        source_version="",
        weights_locator=f"hf:{target}",
        sha256=None,
        source_domain="unknown (see the model card)",
        input_size=None,
        mean=None,
        std=None,
        max_length=int(max_len),
        layer_groups=(),
        options=(
            ("pooling", pooling),
            ("normalize", normalize),
            ("tokenizer_name", Path(target).name if local else target),
        ),
    )


# ---- timm: -------------------------------------------------------------------------------------------------


def _timm() -> Any:
    try:
        import timm
    except ImportError:
        raise HeadstartError("timm:<model> backbones need timm: pip install timm") from None
    return timm


def locate_timm(model_name: str, *, download: bool = False) -> tuple[tuple[Path, ...], None]:
    """The weights file of ``timm:<model_name>`` from the Hugging Face hub cache (downloaded if allowed)."""
    timm = _timm()
    cfg = dict(timm.create_model(model_name, pretrained=False).pretrained_cfg)
    hub_id = cfg.get("hf_hub_id")
    if not hub_id:
        raise HeadstartError(
            f"timm:{model_name}: no Hugging Face hub weights known; pass weights_path=<local weights file>"
        )
    from huggingface_hub import hf_hub_download

    last: Exception | None = None
    for filename in ("model.safetensors", "pytorch_model.bin"):
        try:
            path = hf_hub_download(hub_id, filename, local_files_only=not download)
            return (Path(path),), None
        except Exception as exc:
            last = exc
    reason = " ".join(str(last).split())[:160]
    raise HeadstartError(f"timm:{model_name}: cannot fetch weights from {hub_id} ({reason}); pass weights_path=")


def _timm_groups(model: Any) -> tuple[tuple[str, str], ...]:
    names = [n for n, _ in model.named_parameters()]
    try:
        from timm.models import group_parameters

        grouped = group_parameters(model, model.group_matcher(coarse=True))
        ordered = [grouped[k] for k in sorted(grouped)]
        return tuple(
            (f"group{i}", "^(?:" + "|".join(re.escape(n) for n in ns) + ")$") for i, ns in enumerate(ordered) if ns
        )
    except Exception:
        return derive_layer_groups(names)


def _make_timm_spec(name: str, model_name: str) -> BackboneSpec:
    from headstart.backbones.spec import BackboneSpec

    timm = _timm()
    model = timm.create_model(model_name, pretrained=False)
    cfg = dict(model.pretrained_cfg)
    license_id = str(cfg.get("license") or "unknown")
    model.reset_classifier(0)
    return BackboneSpec(
        name=name,
        modality="image",
        architecture="timm",
        description=f"timm image model {model_name}",
        embed_dim=int(getattr(model, "head_hidden_size", None) or model.num_features),
        params_m=round(sum(p.numel() for p in model.parameters()) / 1e6, 2),
        license=license_id,
        commercial_use=license_commercial_use(license_id),
        source_package="timm",
        source_version=str(getattr(timm, "__version__", "")),
        weights_locator=f"timm:{model_name}",
        sha256=None,
        source_domain=str(cfg.get("tag") or "unknown (see the model card)"),
        input_size=int(cfg.get("input_size", (3, 224, 224))[-1]),
        mean=tuple(float(v) for v in cfg.get("mean", (0.485, 0.456, 0.406))),
        std=tuple(float(v) for v in cfg.get("std", (0.229, 0.224, 0.225))),
        max_length=None,
        layer_groups=_timm_groups(model),
        options=(("model_name", model_name),),
    )


class TimmEncoder(ImageEncoder):
    def forward_features(self, pixel_values: Tensor) -> Tensor:
        body: Any = self.body
        return body.forward_head(body.forward_features(pixel_values), pre_logits=True)


def build_timm(
    spec: BackboneSpec,
    weights: Sequence[Path] | None,
    *,
    model_dir: Path | None = None,
    image_size: int | None = None,
) -> TimmEncoder:
    """timm model with pretrained weights from a local file (``weights``), or random init if None."""
    del model_dir
    timm = _timm()
    model_name = str(dict(spec.options)["model_name"])
    if weights:
        model = timm.create_model(model_name, pretrained=True, pretrained_cfg_overlay={"file": str(weights[0])})
    else:
        model = timm.create_model(model_name, pretrained=False)
    classifier = model.get_classifier()
    head = classifier if isinstance(classifier, nn.Linear) and weights else None
    model.reset_classifier(0)
    return TimmEncoder(spec, model.eval(), image_size=image_size, source_head=head)


def make_hub_spec(name: str) -> BackboneSpec:
    """Spec of a generic ``hf:``/``timm:`` name (fetches config files for remote ids)."""
    scheme, _, target = name.partition(":")
    if not target:
        raise HeadstartError(f"backbone '{name}': give a model after '{scheme}:', e.g. hf:/path/to/model")
    if scheme == "hf":
        return _make_hf_spec(name, target)
    return _make_timm_spec(name, target)
