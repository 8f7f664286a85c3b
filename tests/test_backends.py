"""ONNX Runtime extraction backend: parity with torch, cache namespaces, fallback."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("onnxruntime")

from headstart import backends
from headstart.backbones import load_backbone
from headstart.data import load_data
from headstart.errors import HeadstartError
from headstart.features import embed, extract


def _cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


@pytest.fixture(scope="module")
def digits() -> list[Any]:
    return list(load_data("builtin:digits").items[:24])


def test_mobilenetv2_onnx_matches_torch_and_has_its_own_cache(digits: list[Any], tmp_path: Path) -> None:
    enc = load_backbone("mobilenetv2", image_size=32)
    ref = embed(enc, digits, progress=False)
    got, stats = extract(enc, digits, cache_dir=tmp_path, progress=False, backend="onnx", device="cpu")
    assert stats.backend == "onnx-fp32" and stats.computed == len(digits)
    assert _cos(ref, got).min() > 0.9999
    assert np.abs(ref - got).max() < 1e-3
    # the torch backend does not see the ONNX results (separate namespace), then reuses its own
    _, s_torch = extract(enc, digits, cache_dir=tmp_path, progress=False, backend="torch", device="cpu")
    assert s_torch.backend == "torch" and s_torch.cache_hits == 0
    again, s_onnx = extract(enc, digits, cache_dir=tmp_path, progress=False, backend="onnx", device="cpu")
    assert s_onnx.cache_hits == len(digits) and np.array_equal(again, got)
    assert len(list((tmp_path / "embeddings").iterdir())) == 2
    # auto on the CPU with pinned weights picks ONNX Runtime; random init (unpinned) stays on torch
    assert backends.resolve_backend(enc, "auto", "cpu") == "onnx"
    assert backends.resolve_backend(load_backbone("mobilenetv2:random", image_size=32), "auto", "cpu") == "torch"
    with pytest.raises(HeadstartError, match="backend"):
        backends.resolve_backend(enc, "tensorrt", "cpu")


def test_minilm_onnx_matches_torch_with_length_sorted_batches() -> None:
    texts = [*load_data("builtin:rotten-tomatoes").items[:20], "ok", "a " * 300]  # short + truncated
    enc = load_backbone("minilm-l6")
    runner = backends.get_onnx_encoder(enc, texts[:4])
    assert runner is not None and runner.backend_id == "onnx-fp32"
    got = runner.embed(texts, batch_size=6)  # several batches of different padded widths
    ref = embed(enc, texts, progress=False)
    assert _cos(ref, got).min() > 0.9999
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-4)  # normalised inside the graph


def test_failed_export_falls_back_to_torch(digits: list[Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEADSTART_CACHE", str(tmp_path))
    enc = load_backbone("mobilenetv2", image_size=32)

    def broken(*_: Any, **__: Any) -> None:
        raise RuntimeError("planted exporter failure")

    monkeypatch.setattr(backends, "export_module", broken)
    with pytest.warns(RuntimeWarning, match="using torch"):
        emb, stats = extract(enc, digits[:4], progress=False, backend="auto", device="cpu")
    assert stats.backend == "torch"
    assert np.allclose(emb, embed(enc, digits[:4], progress=False), atol=1e-5)
    # the failure is remembered (marker next to the would-be file): no second export attempt
    marker = backends.onnx_model_path(enc).with_suffix(".parity.json")
    assert marker.exists() and "planted" in marker.read_text()
    _, stats2 = extract(enc, digits[4:8], progress=False, backend="auto", device="cpu")
    assert stats2.backend == "torch"


def test_parity_check_flags_a_wrong_graph(digits: list[Any]) -> None:
    enc = load_backbone("mobilenetv2", image_size=32)
    runner = backends.get_onnx_encoder(enc, digits[:4])
    assert runner is not None
    assert backends.check_parity(runner, digits[:4]).ok
    wrong = load_backbone("mobilenetv2:random", image_size=32)
    bad = backends.OnnxEncoder(wrong, runner.path)  # random torch weights vs the pretrained graph
    parity = backends.check_parity(bad, digits[:4])
    assert not parity.ok and parity.min_cosine < 0.9999


def test_text_auto_uses_bf16_only_where_the_cpu_has_bf16_matmuls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from headstart import backend_choice

    monkeypatch.delenv("HEADSTART_BACKEND", raising=False)
    enc = load_backbone("minilm-l6")
    image = load_backbone("mobilenetv2", image_size=32)
    monkeypatch.setattr(backend_choice, "cpu_has_fast_bf16", lambda: True)
    assert backends.resolve_backend(enc, "auto", "cpu") == "torch"
    assert backends.resolve_precision(enc, "auto", "cpu") == "bf16"
    assert backends.resolve_backend(image, "auto", "cpu") == "onnx"  # images: ORT fp32 stays ahead
    assert backends.resolve_precision(enc, "onnx", "cpu") == "fp32"  # an explicit choice wins
    monkeypatch.setenv("HEADSTART_BACKEND", "onnx-fp32")  # as `headstart --backend onnx-fp32` sets it
    assert backends.resolve_backend(enc, "auto", "cpu") == "onnx"
    monkeypatch.delenv("HEADSTART_BACKEND")
    monkeypatch.setattr(backend_choice, "cpu_has_fast_bf16", lambda: False)
    assert backends.resolve_backend(enc, "auto", "cpu") == "onnx"

    texts = list(load_data("builtin:rotten-tomatoes").items[:40])
    ref = embed(enc, texts, progress=False)
    got, stats = extract(enc, texts, cache_dir=tmp_path, progress=False, backend="torch-bf16", device="cpu")
    assert stats.backend == "torch-bf16" and stats.computed == len(texts)
    assert _cos(ref, got).min() > 0.999 and not np.array_equal(ref, got)  # bf16 matmuls, float32 out
    # its own cache namespace: fp32 torch does not read bf16 vectors, bf16 reuses them
    _, s32 = extract(enc, texts, cache_dir=tmp_path, progress=False, backend="torch", device="cpu")
    assert s32.cache_hits == 0
    again, s16 = extract(enc, texts, cache_dir=tmp_path, progress=False, backend="torch-bf16", device="cpu")
    assert s16.cache_hits == len(texts) and np.array_equal(again, got)


def test_image_batches_prefetched_in_order_and_a_bad_file_is_named(digits: list[Any], tmp_path: Path) -> None:
    """The ONNX image path loads batch i+1 in a worker thread while batch i runs: the rows stay in order, and a
    corrupt file in a later batch raises the decode error naming it, not a thread's traceback."""
    enc = load_backbone("mobilenetv2", image_size=32)
    runner = backends.get_onnx_encoder(enc, digits[:8])
    assert runner is not None
    whole = runner.embed(digits, batch_size=len(digits))
    assert np.allclose(runner.embed(digits, batch_size=5), whole, atol=1e-5)  # 5 batches, the last short
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not an image")
    with pytest.raises(HeadstartError, match=r"broken\.png"):
        runner.embed([*digits, str(bad)], batch_size=5)
