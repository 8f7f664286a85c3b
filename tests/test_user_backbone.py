"""Own pretrained image backbones: a safetensors file registered under a name, sha256-pinned."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from headstart.backbones import REGISTRY, Encoder, load_backbone, register_image_backbone, save_image_backbone
from headstart.data import load_data
from headstart.errors import HeadstartError
from headstart.ranking.rank import rank_data


@pytest.fixture(autouse=True)
def _torch_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEADSTART_BACKEND", "torch")  # no ONNX export of these throw-away weights


@pytest.fixture(scope="module")
def bn_encoder() -> Encoder:
    """A random-init MobileNetV2 whose BatchNorm statistics were updated on real digits (non-trivial features)."""
    torch.manual_seed(3)
    enc = load_backbone("mobilenetv2:random", image_size=32)
    batch = enc.prepare(load_data("builtin:digits").items[:64])["pixel_values"]
    enc.body.train()
    with torch.no_grad():
        for _ in range(3):
            enc.body(batch)
    return enc.eval()


@pytest.fixture
def own(tmp_path: Path, bn_encoder: Encoder) -> tuple[Path, Encoder]:
    enc = bn_encoder
    return save_image_backbone(tmp_path / "own.safetensors", enc.body, torch.nn.Linear(1280, 7)), enc


@pytest.fixture
def own_weights(own: tuple[Path, Encoder]) -> Path:
    return own[0]


def test_registered_backbone_loads_the_saved_weights(own: tuple[Path, Encoder]) -> None:
    own_weights, original = own
    digits = load_data("builtin:digits")
    items = digits.items[100:116]
    spec = register_image_backbone("test-own-mnv2", own_weights, source_domain="random test weights")
    try:
        enc = load_backbone("test-own-mnv2", image_size=32)
        assert enc.weights_sha256 == spec.sha256
        got, want = enc.embed(items).numpy(), original.embed(items).numpy()
        assert want.std() > 1e-3  # non-degenerate features, so the comparison can fail
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
        head = enc.source_head()
        assert head is not None and head.out_features == 7  # its own 7-class source head: LEEP / NCE apply
        # the name works wherever a registry name does: ranking gives it LEEP (a source head) and LogME
        (row,) = rank_data(digits, ["test-own-mnv2"], labels_per_class=5, image_size=32, cache=False, proxies=False)
        assert row["name"] == "test-own-mnv2" and np.isfinite(row["logme"]) and np.isfinite(row["leep"])
        assert any("license" in w for w in row["warnings"])  # unknown license: said, not silently passed
        # a replaced file is refused at load
        own_weights.write_bytes(own_weights.read_bytes()[:-8] + b"\0" * 8)
        with pytest.raises(HeadstartError, match="sha256"):
            load_backbone("test-own-mnv2", image_size=32)
    finally:
        REGISTRY.pop("test-own-mnv2", None)


def test_registration_refuses_bad_input(own_weights: Path, tmp_path: Path) -> None:
    pth = tmp_path / "own.pth"
    pth.write_bytes(b"not a pickle we would ever read")
    with pytest.raises(HeadstartError, match="safetensors"):
        register_image_backbone("x-own", pth, source_domain="-")
    with pytest.raises(HeadstartError, match="already registered"):
        register_image_backbone("mobilenetv2", own_weights, source_domain="-")
    with pytest.raises(HeadstartError, match="expected"):
        register_image_backbone("x-own", own_weights, source_domain="-", sha256="0" * 64)
    with pytest.raises(HeadstartError, match="not found"):
        register_image_backbone("x-own", tmp_path / "missing.safetensors", source_domain="-")
    assert "x-own" not in REGISTRY


def test_rank_cli_takes_an_own_backbone(own_weights: Path) -> None:
    import json

    from typer.testing import CliRunner

    from headstart.cli import app

    args = ["rank", "builtin:digits", "--own", f"mine={own_weights}", "--backbones", "mine,mobilenetv2:random"]
    try:
        res = CliRunner().invoke(app, [*args, "--labels-per-class", "5", "--image-size", "32", "--json"])
        assert res.exit_code == 0, res.output
        rows = {r["name"]: r for r in json.loads(res.output)}
        assert set(rows) == {"mine", "mobilenetv2:random"}
        assert np.isfinite(rows["mine"]["leep"]) and not rows["mine"]["control"]
        bad = CliRunner().invoke(app, ["rank", "builtin:digits", "--own", "nothing-here"])
        assert bad.exit_code == 2 and "NAME=PATH.safetensors" in bad.output
    finally:
        REGISTRY.pop("mine", None)
