"""The embedding cache and the ONNX graph cache are verified, not trusted: damaged, crafted (wrong vectors)
and wrong-dimension shards are detected and recomputed, a tampered ONNX graph is re-exported, and cache
compaction by two processes at once loses no entry. Real backbones on a few real items."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from headstart import backends
from headstart.backbones import load_backbone
from headstart.data import load_data
from headstart.embedding_cache import EmbeddingCache
from headstart.features import embed, extract

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def digits() -> list[Any]:
    return list(load_data("builtin:digits").items[:12])


@pytest.fixture(scope="module")
def encoder() -> Any:
    return load_backbone("mobilenetv2", image_size=32)


def _shards(root: Path) -> list[Path]:
    return sorted((root / "embeddings").rglob("emb-*.npz"))


def _forge(root: Path, emb_fn: Any) -> None:
    """Replace the one shard by a VALID one (correct checksum name) whose vectors are ``emb_fn(emb)``."""
    (shard,) = _shards(root)
    with np.load(shard) as z:
        keys, emb = z["keys"], z["emb"]
    store = EmbeddingCache(shard.parent)
    shard.unlink()
    store._write([k.tobytes() for k in keys], emb_fn(emb))


@pytest.mark.parametrize(
    "damage",
    ["wrong-vectors", "wrong-dimension", "flipped-byte", "truncated"],
)
def test_a_bad_shard_is_recomputed_not_used(digits: list[Any], encoder: Any, tmp_path: Path, damage: str) -> None:
    ref, first = extract(encoder, digits, cache_dir=tmp_path, progress=False, backend="torch", device="cpu")
    assert first.computed == len(digits) and len(_shards(tmp_path)) == 1
    if damage == "wrong-vectors":  # the vectors of other items, in a shard that passes its checksum
        _forge(tmp_path, lambda e: e[::-1].copy())
    elif damage == "wrong-dimension":
        _forge(tmp_path, lambda e: e[:, :10].copy())
    else:
        (shard,) = _shards(tmp_path)
        data = bytearray(shard.read_bytes())
        if damage == "flipped-byte":
            data[len(data) // 2] ^= 0xFF
        else:
            data = data[: len(data) // 2]
        shard.write_bytes(bytes(data))
    with pytest.warns(RuntimeWarning, match="embedding cache shard .* is damaged"):
        got, stats = extract(encoder, digits, cache_dir=tmp_path, progress=False, backend="torch", device="cpu")
    assert stats.cache_hits == 0 and stats.computed == len(digits)
    assert np.abs(got - ref).max() < 1e-5
    again, stats = extract(encoder, digits, cache_dir=tmp_path, progress=False, backend="torch", device="cpu")
    assert stats.cache_hits == len(digits) and np.array_equal(again, got)


def test_a_good_cache_passes_its_spot_check(digits: list[Any], encoder: Any, tmp_path: Path) -> None:
    a, _ = extract(encoder, digits[:6], cache_dir=tmp_path, progress=False, backend="torch", device="cpu")
    b, _ = extract(encoder, digits[6:], cache_dir=tmp_path, progress=False, backend="torch", device="cpu")
    both, stats = extract(encoder, digits, cache_dir=tmp_path, progress=False, backend="torch", device="cpu")
    assert stats.cache_hits == len(digits) and np.array_equal(both, np.concatenate([a, b]))


def test_sealed_shards_skip_the_backbone_and_forged_seals_do_not(digits: list[Any], tmp_path: Path) -> None:
    """A second extract over shards this user sealed loads no backbone; a seal copied onto another shard,
    a made-up seal or a sealed shard moved to another cache folder counts as unsealed and is spot-checked."""
    import shutil

    from headstart.backbones import lazy

    ref, _ = extract(load_backbone("mobilenetv2", image_size=32), digits, cache_dir=tmp_path, progress=False)
    (shard,) = _shards(tmp_path)
    assert shard.with_suffix(".mac").exists()
    before = lazy.LOADS["count"]
    got, stats = extract(lazy.lazy_backbone("mobilenetv2", image_size=32), digits, cache_dir=tmp_path, progress=False)
    assert stats.cache_hits == len(digits) and np.array_equal(got, ref)
    assert lazy.LOADS["count"] == before  # every hit sealed: nothing to spot-check, no backbone load

    mac = shard.with_suffix(".mac").read_text()
    _forge(tmp_path, lambda e: e[::-1].copy())  # crafted vectors under a valid checksum name
    (forged,) = _shards(tmp_path)
    for seal in (mac, "0" * 64):  # the old shard's seal, or a made-up one
        forged.with_suffix(".mac").write_text(seal)
        assert not EmbeddingCache(forged.parent).is_sealed(forged.name)
    with pytest.warns(RuntimeWarning, match="embedding cache shard .* is damaged"):
        again, _ = extract(lazy.lazy_backbone("mobilenetv2", image_size=32), digits, cache_dir=tmp_path, progress=False)
    assert np.abs(again - ref).max() < 1e-4  # the spot check caught the forgery

    (good,) = _shards(tmp_path)
    other = tmp_path / "embeddings" / (good.parent.name + "-copy")
    other.mkdir()
    shutil.copy(good, other / good.name)
    shutil.copy(good.with_suffix(".mac"), other / good.with_suffix(".mac").name)
    assert EmbeddingCache(good.parent).is_sealed(good.name)
    assert not EmbeddingCache(other).is_sealed(good.name)  # a seal binds the folder too


_WRITER = """
import sys
import numpy as np
from pathlib import Path
from headstart.embedding_cache import EmbeddingCache
folder, tag, n = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
store = EmbeddingCache(folder, 4)
for i in range(n):
    key = bytes([tag]) + i.to_bytes(15, "little")
    store.put([key], np.full((1, 4), tag * 1000 + i, dtype=np.float32))
"""


def test_concurrent_compaction_loses_nothing(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    n = 100
    procs = [
        subprocess.Popen([sys.executable, "-c", _WRITER, str(tmp_path), str(tag), str(n)], env=env) for tag in (1, 2)
    ]
    assert [p.wait(timeout=240) for p in procs] == [0, 0]
    store = EmbeddingCache(tmp_path, 4)
    pairs = [(t, i) for t in (1, 2) for i in range(n)]
    got = store.get([bytes([t]) + i.to_bytes(15, "little") for t, i in pairs])
    assert sum(g is None for g in got) == 0  # unlocked compaction deleted other writers' shards
    assert all(g is not None and float(g[0]) == t * 1000 + i for g, (t, i) in zip(got, pairs, strict=True))


@pytest.mark.parametrize("forge_marker", [False, True], ids=["graph-only", "graph-and-marker"])
def test_a_tampered_onnx_graph_is_reexported(
    digits: list[Any], encoder: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, forge_marker: bool
) -> None:
    onnx = pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    monkeypatch.setenv("HEADSTART_CACHE", str(tmp_path))
    backends._SESSIONS.clear()
    ref = embed(encoder, digits, progress=False)
    runner = backends.get_onnx_encoder(encoder, digits)
    assert runner is not None
    path = runner.path
    model = onnx.load(str(path))
    init = max(model.graph.initializer, key=lambda t: np.prod(t.dims))  # the largest weight tensor
    w = onnx.numpy_helper.to_array(init) * 1.7
    init.CopyFrom(onnx.numpy_helper.from_array(w.astype(np.float32), init.name))
    onnx.save(model, str(path))
    if forge_marker:  # the attacker also rewrites the checksum: the parity check in each process catches it
        import json

        from headstart.io import sha256_file

        marker = path.with_suffix(".parity.json")
        info = json.loads(marker.read_text())
        marker.write_text(json.dumps({**info, "graph_sha256": sha256_file(path)}))
    backends._SESSIONS.clear()  # a new process
    bad = backends.OnnxEncoder(encoder, path).embed(digits)
    assert np.abs(bad - ref).max() > 1e-2  # the tampered graph really changes the vectors
    with pytest.warns(RuntimeWarning, match="re-exporting"):
        got, stats = extract(encoder, digits, cache=False, progress=False, backend="onnx", device="cpu")
    assert stats.backend == "onnx-fp32"
    assert np.abs(got - ref).max() < 1e-3
    backends._SESSIONS.clear()
