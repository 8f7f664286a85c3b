"""backend="onnx-int8": static int8 CNN graphs agree with fp32 downstream; quantized graphs on disk are trusted
only when their sha256 matches the record of how they were built."""

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
from headstart.features import extract
from headstart.io import sha256_file
from headstart.strategies.linear_head import fit_linear_head


def _cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


@pytest.fixture(scope="module")
def digits() -> tuple[list[Any], np.ndarray]:
    data = load_data("builtin:digits")
    pick = np.random.default_rng(1).permutation(len(data.y))[:360]
    return [data.items[i] for i in pick], data.y[pick]


def test_static_int8_cnn_agrees_with_fp32_downstream(digits: tuple[list[Any], np.ndarray], tmp_path: Path) -> None:
    items, y = digits
    enc = load_backbone("mobilenetv2", image_size=48)
    e32, s32 = extract(enc, items, cache_dir=tmp_path, progress=False, backend="onnx-fp32", device="cpu")
    e8, s8 = extract(enc, items, cache_dir=tmp_path, progress=False, backend="onnx-int8", device="cpu")
    assert (s32.backend, s8.backend) == ("onnx-fp32", "onnx-int8")
    assert not np.array_equal(e32, e8)  # really another graph
    cos = _cos(e32, e8)
    assert cos.mean() > 0.97 and cos.min() > 0.85
    tr, te = np.arange(180), np.arange(180, 360)
    preds = {}
    for name, e in (("fp32", e32), ("int8", e8)):
        head = fit_linear_head(e[tr], y[tr], 10, seed=0)
        preds[name] = head.predict_proba(e[te]).argmax(1)
    acc = {k: float((p == y[te]).mean()) for k, p in preds.items()}
    assert acc["fp32"] > 0.6  # the probe learns something, so agreement is not trivially high
    assert acc["int8"] >= acc["fp32"] - 0.03
    assert (preds["int8"] == preds["fp32"]).mean() >= 0.85  # measured 0.88: the CV-chosen C can differ
    # each precision has its own embedding namespace: int8 results never answer an fp32 request
    again, s_again = extract(enc, items[:8], cache_dir=tmp_path, progress=False, backend="onnx-fp32", device="cpu")
    assert s_again.cache_hits == 8 and np.array_equal(again, e32[:8])


def test_tampered_quantized_graph_is_rebuilt_not_trusted(
    digits: tuple[list[Any], np.ndarray], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HEADSTART_CACHE", str(tmp_path))
    items = digits[0][:8]
    enc = load_backbone("mobilenetv2", image_size=32)
    runner = backends.get_onnx_encoder(enc, items, precision="int8")
    assert runner is not None and runner.backend_id == "onnx-int8"
    path = runner.path
    good_sha = sha256_file(path)
    ref = runner.embed(items)

    backends._SESSIONS.clear()  # a new process
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF  # one flipped byte inside the weights
    path.write_bytes(bytes(raw))
    with pytest.warns(RuntimeWarning, match="sha256 differs"):
        rebuilt = backends.get_onnx_encoder(enc, items, precision="int8")
    assert rebuilt is not None and sha256_file(path) == good_sha
    assert np.allclose(rebuilt.embed(items), ref, atol=1e-5)

    # a graph with no record of how it was built (marker removed, file swapped) is not trusted either
    backends._SESSIONS.clear()
    path.with_suffix(".parity.json").unlink()
    path.write_bytes(backends.onnx_model_path(enc).read_bytes())  # the fp32 graph under the int8 name
    with pytest.warns(RuntimeWarning, match="no matching record"):
        again = backends.get_onnx_encoder(enc, items, precision="int8")
    assert again is not None and sha256_file(path) == good_sha


def test_backend_names_select_the_precision(monkeypatch: pytest.MonkeyPatch) -> None:
    enc = load_backbone("mobilenetv2", image_size=32)
    assert backends.resolve_precision(enc, "onnx-int8") == "int8"
    assert backends.resolve_precision(enc, "onnx") == backends.IMAGE_DEFAULT_PRECISION
    assert backends.resolve_backend(enc, "onnx-int8", "cpu") == "onnx"
    monkeypatch.setenv("HEADSTART_BACKEND", "onnx-int8")
    assert backends.resolve_precision(enc, "auto") == "int8"
    assert backends.resolve_precision(enc, "onnx-fp32") == "fp32"  # an explicit choice wins over the env
    with pytest.raises(HeadstartError, match="onnx-int8"):
        backends.resolve_backend(enc, "int4", "cpu")


def test_cli_backend_option_is_checked_and_reaches_extraction(monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from headstart.cli import app

    monkeypatch.delenv("HEADSTART_BACKEND", raising=False)
    bad = CliRunner().invoke(app, ["--backend", "int4", "gain", "a", "b"])
    assert bad.exit_code == 2 and "onnx-int8" in bad.output and "Traceback" not in bad.output
    monkeypatch.setenv("HEADSTART_BACKEND", "")  # restored after the test: the option writes the variable
    CliRunner().invoke(app, ["--backend", "onnx-int8", "gain", "no-such-run", "no-such-run"])
    enc = load_backbone("mobilenetv2", image_size=32)
    assert backends.resolve_precision(enc, "auto") == "int8"
