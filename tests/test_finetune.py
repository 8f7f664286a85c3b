"""The fine-tuning engine: strategies that update the backbone, the training recipe, resume after SIGKILL,
DDP (2 gloo processes), imbalance losses and the representation-drift (CKA) report. Real data only."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from headstart.advise.auto import choose_auto
from headstart.data import load_data, make_splits
from headstart.data.dataset import LabeledData
from headstart.evaluation.cka import linear_cka
from headstart.strategies import TransferTask, get_strategy
from headstart.training.ddp import DistInfo, all_reduce_sum, shard

REPO = Path(__file__).resolve().parents[1]
# One intra-op thread: on a shared CPU, torch's OpenMP threads spin against each other and run 10-30x slower.
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "HEADSTART_PROGRESS": "0", "TOKENIZERS_PARALLELISM": "false"}


@pytest.fixture(autouse=True)
def _one_thread() -> Any:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def digits() -> LabeledData:
    return load_data("builtin:digits")


def _digits_task(data: LabeledData, per_class: int = 10, **options: Any) -> tuple[TransferTask, np.ndarray]:
    s = make_splits(data.y, seed=0, labels_per_class=per_class, max_test=200, classes=data.classes)
    task = TransferTask(
        train_items=data.items[s.train],
        y_train=data.y[s.train],
        val_items=data.items[s.val],
        y_val=data.y[s.val],
        classes=data.classes,
        modality="image",
        backbone="mobilenetv2",
        seed=0,
        image_size=32,
        progress=False,
        options={"epochs": 1, **options},
    )
    return task, s.test


# ------------------------------------------------------------------------------------------------ unit
def test_linear_cka_properties() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 30))
    q, _ = np.linalg.qr(rng.normal(size=(30, 30)))
    assert linear_cka(x, x) == pytest.approx(1.0)
    assert linear_cka(x, 3.0 * x @ q + 5.0) == pytest.approx(1.0)  # rotation, scale and shift invariant
    assert linear_cka(x, rng.normal(size=(200, 30))) < 0.3
    wide = rng.normal(size=(20, 100))  # N < D: the Gram-matrix path
    assert linear_cka(wide, wide @ np.linalg.qr(rng.normal(size=(100, 100)))[0]) == pytest.approx(1.0)


def test_shard_matches_distributed_sampler_interleaving() -> None:
    idx = np.arange(10)
    parts = [shard(idx, DistInfo(r, 2)) for r in range(2)]
    assert sorted(np.concatenate(parts).tolist()) == idx.tolist()
    assert parts[0].tolist() == [0, 2, 4, 6, 8]
    assert shard(idx, DistInfo()).tolist() == idx.tolist()
    assert all_reduce_sum([1.0, 2.0], DistInfo()) == [1.0, 2.0]


def test_layer_decay_groups_and_frozen_batchnorm(digits: LabeledData) -> None:
    from headstart.backbones import load_backbone
    from headstart.backbones.classifier import EncoderClassifier
    from headstart.strategies.finetune import _optimizer_groups, default_hparams

    model = EncoderClassifier(load_backbone("mobilenetv2", image_size=32), 10, train_bn=True)
    hp = {**default_hparams("finetune", "image"), "layer_decay": 0.5, "lr": 1e-4, "head_lr": 1e-3}
    groups = _optimizer_groups(model, None, hp)
    lr = {g["name"]: g["lr"] for g in groups}
    assert lr["head"] == 1e-3 and lr["head"] > lr["stage6"] > lr["stem"]
    assert lr["stage6"] == pytest.approx(2 * lr["stage5"]) and lr["stem"] == pytest.approx(1e-4 * 0.5**6)
    assert all(g["weight_decay"] == 0 for g in groups if all(p.ndim <= 1 for p in g["params"]))
    # partial: BatchNorm of frozen blocks keeps its statistics even in train mode; trained blocks' BN trains
    model.set_trainable({"head", "stage6"})
    model.train()
    frozen = model.frozen_batchnorms()
    assert frozen and all(not m.training for m in frozen)
    stem_bn = model.encoder.body.features[0][1]
    top_bn = model.encoder.body.features[18][1]
    assert not stem_bn.training and top_bn.training
    before = stem_bn.running_mean.clone()
    model(model.encoder.prepare(digits.items[:8]))
    assert torch.equal(before, stem_bn.running_mean)


def test_choose_auto_rule(digits: LabeledData) -> None:
    few = make_splits(digits.y, seed=0, labels_per_class=5, classes=digits.classes)
    assert choose_auto(digits, few, "mobilenetv2")[0] == "linear-probe"
    mid = make_splits(digits.y, seed=0, labels_per_class=30, classes=digits.classes)
    name, why = choose_auto(digits, mid, "mobilenetv2")
    assert name == "partial" and "per class" in why
    text = LabeledData(
        items=[f"t{i}" for i in range(400)],
        y=np.repeat([0, 1], 200),
        classes=["a", "b"],
        modality="text",
        source="x",
        provenance="x",
        ids=[str(i) for i in range(400)],
        groups={},
        skipped=[],
    )
    ts = make_splits(text.y, seed=0, labels_per_class=40, classes=text.classes)
    assert choose_auto(text, ts, "minilm-l6")[0] == "lora"


def test_partial_is_deterministic_and_roundtrips(digits: LabeledData, tmp_path: Path) -> None:
    from headstart.models import load_model

    task, test = _digits_task(digits)
    a = get_strategy("partial")(task)
    b = get_strategy("partial")(_digits_task(digits)[0])
    pa, pb = a.predict_proba(digits.items[test]), b.predict_proba(digits.items[test])
    assert np.array_equal(pa, pb)
    assert a.history == b.history
    a.save(tmp_path / "m")
    again = load_model(tmp_path / "m")
    np.testing.assert_allclose(again.predict_proba(digits.items[test]), pa, atol=1e-5)
    assert task.notes["trainable_params"]["share"] < 1.0
    cka = a.representation_drift(digits.items[test])
    assert cka is not None and 0.0 < cka <= 1.0


def test_lora_saves_adapter_only(digits: LabeledData, tmp_path: Path) -> None:
    from headstart.models import load_model

    task, test = _digits_task(digits)
    m = get_strategy("lora")(task)
    assert 0 < task.notes["trainable_params"]["share"] < 0.2
    m.save(tmp_path / "m")
    files = {p.name for p in (tmp_path / "m").rglob("*") if p.is_file()}
    assert "adapter_model.safetensors" in files and "model.safetensors" not in files
    meta = json.loads((tmp_path / "m" / "meta.json").read_text())
    from headstart.backbones import get_spec

    assert meta["base_sha256"] == get_spec("mobilenetv2").sha256 and meta["backbone"] == "mobilenetv2"
    size = sum(p.stat().st_size for p in (tmp_path / "m").rglob("*") if p.is_file())
    assert size < 2e6  # the base model alone is ~14 MB
    again = load_model(tmp_path / "m")
    np.testing.assert_allclose(again.predict_proba(digits.items[test]), m.predict_proba(digits.items[test]), atol=1e-5)


def test_progressive_restarts_schedule_per_stage(digits: LabeledData) -> None:
    task, _ = _digits_task(digits, head_epochs=1, stage_epochs=1, unfreeze=2)
    m = get_strategy("progressive")(task)
    stages = [h["stage"] for h in m.history]
    assert stages == [0, 1, 2]
    assert [h["unfrozen"] for h in m.history] == ["head", "head", "stage6,head"]  # mobilenetv2's top group: "head"


def test_random_init_control_uses_scratch_recipe(digits: LabeledData) -> None:
    from headstart.baselines import fit_baseline

    task, _ = _digits_task(digits)
    model, _report = fit_baseline("random-init", task)
    assert model.name == "mobilenetv2 random-init, trained from scratch"
    assert model.hparams["lr"] == 1e-3 and model.hparams["layer_decay"] == 1.0


def _recalls(loss: str, x: np.ndarray, y: np.ndarray, xt: np.ndarray, yt: np.ndarray) -> np.ndarray:
    from headstart.training import TrainConfig, predict_proba, train

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 2))

    class M(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = net

        def forward(self, b: dict[str, torch.Tensor]) -> torch.Tensor:
            return self.net(b["x"])

    def collate(items: Any, training: bool) -> dict[str, torch.Tensor]:
        return {"x": torch.as_tensor(np.stack(items), dtype=torch.float32)}

    model = M()
    cfg = TrainConfig(epochs=15, batch_size=32, lr=3e-3, loss=loss, patience=100, seed=0)
    n_val = len(y) // 4
    train(model, list(x[n_val:]), y[n_val:], list(x[:n_val]), y[:n_val], collate, cfg, n_classes=2, progress=False)
    pred = predict_proba(model, list(xt), collate).argmax(1)
    return np.array([(pred[yt == c] == c).mean() for c in (0, 1)])


def test_weighted_and_focal_loss_raise_minority_recall(digits: LabeledData) -> None:
    """Digits 3 (majority) vs 8 (minority, 12:1 in training): class-weighted and focal losses trade some
    majority recall for minority recall, as they should."""
    from headstart.data.images import images_to_array

    rng = np.random.default_rng(0)
    maj, mino = np.flatnonzero(digits.y == 3), np.flatnonzero(digits.y == 8)
    rng.shuffle(maj)
    rng.shuffle(mino)
    tr = rng.permutation(np.concatenate([maj[:120], mino[:10]]))
    te = np.concatenate([maj[120:], mino[10:]])
    feats = images_to_array(digits.items, 8, grayscale=True).reshape(len(digits.y), -1).astype(np.float32) / 16.0
    y = (digits.y == 8).astype(np.int64)
    ce = _recalls("ce", feats[tr], y[tr], feats[te], y[te])
    weighted = _recalls("weighted", feats[tr], y[tr], feats[te], y[te])
    focal = _recalls("focal", feats[tr], y[tr], feats[te], y[te])
    print("recall ce, weighted, focal:", ce, weighted, focal)
    assert weighted[1] > ce[1], (ce, weighted)
    assert focal[1] >= ce[1], (ce, focal)
    assert weighted[0] <= ce[0] + 1e-9


# ------------------------------------------------------------------------------------------------ end to end
def _fit(data: str, out: Path, strategy: str, *extra: str, runner: list[str] | None = None) -> subprocess.Popen:
    cmd = [*(runner or [sys.executable, "-m", "headstart.cli"]), "fit", data, "--out", str(out)]
    cmd += ["--strategy", strategy, "--seed", "0", "--quiet", *extra]
    return subprocess.Popen(cmd, env=ENV, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _done(p: subprocess.Popen, timeout: float = 600) -> str:
    out, _ = p.communicate(timeout=timeout)
    assert p.returncode == 0, out
    return out


def _metrics(run: Path) -> dict[str, Any]:
    return json.loads((run / "metrics.json").read_text())


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["finetune", "lora"])
def test_text_strategies_beat_tfidf_on_rotten_tomatoes(strategy: str, tmp_path: Path) -> None:
    out = tmp_path / strategy
    _done(
        _fit("builtin:rotten-tomatoes", out, strategy, "--labels-per-class", "64", "--max-test", "500", "--epochs", "3")
    )
    m = _metrics(out)
    assert m["baseline"]["name"].lower().startswith("tf-idf") or "tfidf" in m["baseline"]["name"].lower()
    assert m["transfer"]["accuracy"] > m["baseline"]["accuracy"], (m["transfer"]["accuracy"], m["baseline"]["accuracy"])
    assert 0.0 < m["notes"]["cka"] <= 1.0
    assert "linear CKA" in (out / "MODEL_CARD.md").read_text()
    assert not list(out.glob("checkpoint*"))
    if strategy == "lora":
        assert m["notes"]["trainable_params"]["share"] < 0.05
        assert (out / "model" / "adapter" / "adapter_model.safetensors").exists()


IMAGE_ARGS = ("--labels-per-class", "20", "--max-test", "300", "--image-size", "32", "--epochs", "3")


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["partial", "finetune"])
def test_image_strategies_give_verdict_and_report(strategy: str, tmp_path: Path) -> None:
    out = tmp_path / strategy
    _done(_fit("builtin:digits", out, strategy, *IMAGE_ARGS))
    m = _metrics(out)
    assert m["verdict"]["label"] in ("helps", "no-difference", "negative-transfer")
    assert m["transfer"]["strategy"] == strategy and len(m["transfer"]["history"]) >= 1
    assert (out / "MODEL_CARD.md").exists() and (out / "predictions.csv").exists()
    assert isinstance(m["notes"]["cka"], float)


@pytest.mark.slow
def test_resume_after_sigkill_matches_uninterrupted(tmp_path: Path) -> None:
    args = (
        "--labels-per-class",
        "30",
        "--max-test",
        "200",
        "--image-size",
        "32",
        "--epochs",
        "4",
        "--baseline",
        "pixel-logreg",
    )
    full = _fit("builtin:digits", tmp_path / "full", "partial", *args)
    killed_out = tmp_path / "killed"
    killed = _fit("builtin:digits", killed_out, "partial", *args)
    partial = killed_out.with_name("killed.partial")
    deadline = time.time() + 300
    while not (partial / "checkpoint.safetensors").exists():
        assert killed.poll() is None, killed.communicate()[0]
        assert time.time() < deadline, "no checkpoint written"
        time.sleep(0.05)
    time.sleep(0.5)  # into the next epoch
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    assert not killed_out.exists() and partial.exists()
    pred = subprocess.run(
        [sys.executable, "-m", "headstart.cli", "predict", str(killed_out), "builtin:digits"],
        env=ENV,
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert pred.returncode == 2 and "resume" in pred.stderr
    _done(_fit("builtin:digits", killed_out, "partial", "--resume"))
    _done(full)
    a, b = _metrics(tmp_path / "full"), _metrics(killed_out)
    assert a["transfer"]["accuracy"] == b["transfer"]["accuracy"]
    assert a["transfer"]["val_accuracy"] == b["transfer"]["val_accuracy"]
    assert [h["val_loss"] for h in a["transfer"]["history"]] == pytest.approx(
        [h["val_loss"] for h in b["transfer"]["history"]], abs=1e-6
    )
    assert a["notes"]["cka"] == pytest.approx(b["notes"]["cka"], abs=1e-6)
    assert not partial.exists()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_ddp_two_gloo_processes_match_single_process(tmp_path: Path) -> None:
    args = (
        "--labels-per-class",
        "30",
        "--max-test",
        "300",
        "--image-size",
        "32",
        "--epochs",
        "3",
        "--baseline",
        "pixel-logreg",
    )
    torchrun = [
        str(Path(sys.executable).with_name("torchrun")),
        "--nproc-per-node",
        "2",
        "--master-port",
        str(_free_port()),
        "-m",
        "headstart.cli",
    ]
    ddp = _fit("builtin:digits", tmp_path / "ddp", "partial", *args, runner=torchrun)
    out = _done(ddp)
    single = _fit("builtin:digits", tmp_path / "single", "partial", *args)
    _done(single)
    a, b = _metrics(tmp_path / "single"), _metrics(tmp_path / "ddp")
    assert abs(a["transfer"]["accuracy"] - b["transfer"]["accuracy"]) <= 0.05, out
    la = [h["val_loss"] for h in a["transfer"]["history"]]
    lb = [h["val_loss"] for h in b["transfer"]["history"]]
    # Same global batches and averaged gradients; dropout masks and augmentation draws differ per rank.
    assert len(la) == len(lb) and np.allclose(la, lb, rtol=0.2, atol=0.05), (la, lb)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ddp", "single"]  # only rank 0 wrote a run


def test_low_cka_warns_only_when_transfer_did_not_help() -> None:
    from headstart.strategies.finetune_model import cka_warnings

    assert cka_warnings(0.2, "no-difference") and "CKA 0.20" in cka_warnings(0.2, "negative-transfer")[0]
    assert (
        cka_warnings(0.2, "helps") == [] and cka_warnings(0.9, "no-difference") == [] and cka_warnings(None, "x") == []
    )


def test_ddp_backend_uses_nccl_only_when_each_local_rank_has_a_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    # torchrun --nproc-per-node 2 on a one-GPU machine: nccl refuses two ranks on one device, so gloo is used
    # (it used to call torch.cuda.set_device(1) and crash). Never calls into CUDA: its calls are stubbed.
    import torch

    from headstart.training import ddp

    chosen: list[int] = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "set_device", chosen.append)
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.delenv("HEADSTART_DDP_BACKEND", raising=False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert ddp.ddp_backend() == "gloo" and chosen == []
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert ddp.ddp_backend() == "nccl" and chosen == [1]
    monkeypatch.setenv("HEADSTART_DDP_BACKEND", "gloo")
    assert ddp.ddp_backend() == "gloo" and chosen == [1]
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.delenv("HEADSTART_DDP_BACKEND")
    assert ddp.ddp_backend() == "gloo"
