"""A pinned backbone that loads its weights only when something needs them.

The embedding cache is keyed by the weights sha256 (pinned in the registry) and the preprocessing id, and both
are known without reading the weights. :func:`lazy_backbone` returns a :class:`LazyEncoder` carrying exactly
those, so :func:`headstart.features.extract` can answer from the cache without loading a model (a second
fit on cached embeddings skips the 2-3 s load). The first use of anything else (``prepare``, a forward pass,
``to``, ...) loads the real encoder through :func:`load_backbone`, which checks the file against the pin, and
checks that it agrees with the stand-in's key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from headstart.backbones.encoder import Encoder, image_preprocessing_id
from headstart.backbones.registry import REGISTRY, BackboneSpec, get_spec, load_backbone, locate_weights

__all__ = ["LOADS", "LazyEncoder", "lazy_backbone", "preprocessing_id"]

LOADS = {"count": 0}  # real backbone loads done through LazyEncoder (read by tests and benchmarks)


def preprocessing_id(spec: BackboneSpec, image_size: int | None = None) -> str:
    """What the built encoder's ``preprocessing_id`` will be, computed from the spec (and the tokenizer files)."""
    if spec.modality == "image":
        size = int(image_size or spec.input_size or 224)
        mean = tuple(spec.mean or (0.485, 0.456, 0.406))
        std = tuple(spec.std or (0.229, 0.224, 0.225))
        return image_preprocessing_id(size, mean, std)
    from headstart.backbones.text import text_options, text_preprocessing_id, tokenizer_fingerprint

    _, model_dir = locate_weights(spec, download=False)
    if model_dir is None:
        raise ValueError(f"{spec.name}: no model folder")
    opts = dict(spec.options)
    tok = f"{opts.get('tokenizer_name', spec.name)}@{tokenizer_fingerprint(Path(model_dir))}"
    o = text_options(spec)
    return text_preprocessing_id(tok, o["max_length"], o["pooling"], o["normalize"], o["layers"])


class LazyEncoder:
    """Stand-in for ``load_backbone(name, image_size=...)``: ``spec``, ``embed_dim``, ``weights_sha256`` and
    ``preprocessing_id`` without loading; every other attribute loads the real encoder first."""

    def __init__(self, name: str, spec: BackboneSpec, image_size: int | None, pid: str) -> None:
        self.name = name
        self.spec = spec
        self.embed_dim = spec.embed_dim
        self.weights_sha256 = spec.sha256
        self.preprocessing_id = pid
        self.image_size_requested = image_size
        self._real: Encoder | None = None

    @property
    def loaded(self) -> bool:
        return self._real is not None

    def materialize(self) -> Encoder:
        """The real encoder (loaded once, checked against the pin and against this stand-in's cache key)."""
        if self._real is None:
            real = load_backbone(self.name, image_size=self.image_size_requested)
            LOADS["count"] += 1
            if (real.weights_sha256, real.preprocessing_id) != (self.weights_sha256, self.preprocessing_id):
                raise RuntimeError(
                    f"{self.name}: lazy cache key ({self.preprocessing_id}) differs from the loaded encoder's "
                    f"({real.preprocessing_id}); headstart.backbones.lazy.preprocessing_id is out of date"
                )
            self._real = real
        return self._real

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__") or attr == "_real":
            raise AttributeError(attr)
        return getattr(self.materialize(), attr)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.materialize()(*args, **kwargs)


def lazy_backbone(name: str, *, image_size: int | None = None) -> Encoder | LazyEncoder:
    """A :class:`LazyEncoder` for a pinned registry backbone; the loaded encoder for anything else
    (``NAME:random``, ``hf:``/``timm:`` entries, unpinned weights), whose key needs the weights."""
    spec = get_spec(name)
    if spec.is_random or not spec.sha256 or spec.name not in REGISTRY:
        return load_backbone(name, image_size=image_size)
    try:
        pid = preprocessing_id(spec, image_size)
    except Exception:  # not installed, or an unusual spec: the real loader gives the right message / key
        return load_backbone(name, image_size=image_size)
    return LazyEncoder(name, spec, image_size, pid)
