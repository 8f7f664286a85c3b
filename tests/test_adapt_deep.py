"""Deep domain adaptation in the shared trainer (DANN, CDAN, self-training) on real data: MNIST-5k 8x8 ->
sklearn digits with mobilenetv2 at 32 px, a few hundred items, ``partial``. The losses' gradients, the run end
to end through the CLI (verdicts, choice, shipped model that `predict` uses), exact resume, one-line errors."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from headstart.data import load_data
from headstart.training.da_losses import (
    ConditionalDomainAdversarialLoss,
    ConfidencePseudoLabelLoss,
    DomainAdversarialLoss,
    GradientReverse,
    reverse_gradient,
)

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "HEADSTART_PROGRESS": "0", "PYTHONPATH": str(REPO / "src")}
SMALL = ("--strategy", "partial", "--epochs", "2", "--image-size", "32", "--max-source", "200", "--max-test", "150",
         "--max-unlabeled", "150")  # fmt: skip


@pytest.fixture(autouse=True)
def _one_thread() -> Any:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "headstart.cli", *args], env=ENV, cwd=REPO, capture_output=True, text=True, check=False
    )


# ------------------------------------------------------------------------------------------------ losses
def test_gradient_reverse_reverses_scales_and_schedules() -> None:
    x = torch.randn(5, 3, requires_grad=True)
    (reverse_gradient(x, 0.3) * 2.0).sum().backward()
    assert torch.allclose(x.grad, torch.full_like(x, -0.6))  # type: ignore[arg-type]
    grl = GradientReverse(max_steps=100)
    assert grl.coeff == 0.0 and torch.equal(grl(x), x)
    coeffs = []
    for _ in range(100):
        grl.advance()
        coeffs.append(grl.coeff)
    assert all(b > a for a, b in itertools.pairwise(coeffs)) and coeffs[-1] > 0.99
    assert int(grl.state_dict()["step"]) == 100  # persistent: saved in checkpoints, so resume continues it
    fresh = GradientReverse(max_steps=100)
    fresh.load_state_dict(grl.state_dict())
    assert fresh.coeff == grl.coeff


def test_domain_losses_reverse_the_feature_gradient_only() -> None:
    import torch.nn.functional as F

    torch.manual_seed(0)
    f_s = (torch.randn(16, 8) + 1.0).requires_grad_()
    f_t = (torch.randn(16, 8) - 1.0).requires_grad_()
    dann = DomainAdversarialLoss(8, hidden=16).eval()  # eval: no dropout, so both passes see the same network
    d = dann.discriminator
    params = list(d.parameters())
    rev = torch.autograd.grad(dann(f_s, f_t), [f_s, *params])
    plain_loss = 0.5 * (
        F.binary_cross_entropy_with_logits(d(f_s).squeeze(1), torch.ones(16))
        + F.binary_cross_entropy_with_logits(d(f_t).squeeze(1), torch.zeros(16))
    )
    plain = torch.autograd.grad(plain_loss, [f_s, *params])
    assert torch.allclose(rev[0], -plain[0], atol=1e-7) and rev[0].abs().sum() > 0  # encoder side: reversed
    assert all(torch.allclose(r, p, atol=1e-7) for r, p in zip(rev[1:], plain[1:], strict=True))  # discriminator
    cdan = ConditionalDomainAdversarialLoss(1280, 10)  # dim * K > 4096: randomized multilinear map
    h = cdan.multilinear(torch.randn(4, 1280), torch.softmax(torch.randn(4, 10), 1))
    assert cdan.randomized and h.shape == (4, 1024)
    small = ConditionalDomainAdversarialLoss(8, 3)
    g, f = torch.randn(6, 3), torch.randn(6, 8)
    p = torch.softmax(g, 1)
    assert not small.randomized and torch.allclose(small.multilinear(f, p)[0], torch.outer(p[0], f[0]).flatten())
    assert torch.isfinite(small(g[:3], f[:3], g[3:], f[3:]))


def test_pseudo_label_loss_uses_only_confident_rows() -> None:
    logits = torch.tensor([[8.0, 0.0], [0.1, 0.0], [0.0, 9.0], [0.0, 0.2]], requires_grad=True)
    loss_fn = ConfidencePseudoLabelLoss(threshold=0.9)
    loss = loss_fn(logits)
    assert loss_fn.last_ratio == 0.5
    loss.backward()
    assert logits.grad is not None
    assert torch.all(logits.grad[[1, 3]] == 0) and torch.all(logits.grad[[0, 2]].abs().sum(1) > 0)


def test_importance_weights_favour_source_rows_that_look_like_the_target() -> None:
    from headstart.adapt.deep_run import importance_weights

    mnist, digits = load_data("builtin:mnist5k-8x8"), load_data("builtin:digits")
    x_val = np.vstack([mnist.items[:150].reshape(150, -1), digits.items[:150].reshape(150, -1)]).astype(float)
    w = importance_weights(x_val, digits.items[150:600].reshape(450, -1).astype(float))
    assert w.mean() == pytest.approx(1.0) and w.min() >= 0
    assert w[150:].mean() > 3 * w[:150].mean()  # the digits rows stand in for the target


# ------------------------------------------------------------------------------------------------ end to end
@pytest.mark.slow
def test_deep_auto_end_to_end_writes_verdicts_and_a_model_predict_uses(tmp_path: Path) -> None:
    out = tmp_path / "da"
    r = _cli("adapt", "builtin:digits", "--source", "builtin:mnist5k-8x8", "--out", str(out), "--adapt", "auto", *SMALL)
    assert r.returncode == 0, r.stdout + r.stderr
    m = json.loads((out / "metrics.json").read_text())
    a = m["adaptation"]
    names = {v["a"] for v in a["verdicts"]}
    assert names == {"adapted[dann]", "adapted[cdan]", "adapted[self-training]"}
    assert all(v["kind"] == "adaptation" and v["b"] == "source-only" for v in a["verdicts"])
    assert all(v["label"] in ("adaptation helps", "no-difference", "adaptation hurts") for v in a["verdicts"])
    arms = {x["name"]: x for x in a["arms"]}
    assert "partial" in arms["source-only"]["model"] and "DANN" in arms["adapted[dann]"]["model"]
    assert set(a["selection"]["picked_by"]) == {"entropy", "snd", "iw"} and a["ship_reason"]
    assert a["shipped"] in {"source-only", f"adapted[{a['selection']['chosen']}]"}
    assert a["shift"]["after"]["mmd"] >= 0 and a["shift"]["after_method"].startswith("adapted[")
    assert (out / "model" / "meta.json").exists() and not (out / "checkpoints").exists()
    csv = tmp_path / "pred.csv"
    pred = _cli("predict", str(out), "builtin:digits", "--out", str(csv))
    assert pred.returncode == 0, pred.stderr
    import pandas as pd

    df = pd.read_csv(csv, dtype={"prediction": str})
    digits = load_data("builtin:digits")
    assert len(df) == len(digits) and set(df["prediction"]) <= set(digits.classes)
    assert np.mean(df["prediction"].to_numpy() == np.array(digits.classes)[digits.y]) > 0.2  # chance: 0.1


def test_dann_with_linear_probe_is_a_one_line_error(tmp_path: Path) -> None:
    r = _cli(
        "fit", "builtin:digits", "--source", "builtin:mnist5k-8x8", "--adapt", "dann", "--out", str(tmp_path / "x")
    )
    assert r.returncode == 2 and "--strategy partial" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not list(tmp_path.iterdir())  # refused before any data is loaded or any folder is made
    r = _cli("adapt", "builtin:digits", "--source", "builtin:mnist5k-8x8", "--adapt", "coral", "--out",
             str(tmp_path / "y"), "--strategy", "lora")  # fmt: skip
    assert r.returncode == 2 and "dann, cdan, self-training" in r.stderr and len(r.stderr.strip().splitlines()) == 1


# ------------------------------------------------------------------------------------------------ resume
@pytest.mark.slow
def test_dann_resume_after_interrupt_matches_uninterrupted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import headstart.training.trainer as trainer
    from headstart.adapt.deep import fit_deep
    from headstart.strategies import TransferTask

    src, tgt = load_data("builtin:mnist5k-8x8"), load_data("builtin:digits")
    rng = np.random.default_rng(0)
    si, ti = rng.choice(len(src.y), 160, replace=False), rng.choice(len(tgt.y), 220, replace=False)

    def task(work: Path, resume: bool = False) -> TransferTask:
        return TransferTask(src.items[si[:120]], src.y[si[:120]], src.items[si[120:]], src.y[si[120:]], src.classes,
                            "image", "mobilenetv2", seed=0, image_size=32, progress=False, work_dir=work,
                            resume=resume, options={"epochs": 2})  # fmt: skip

    full = fit_deep(task(tmp_path / "full"), "dann", tgt.items[ti[:120]], strategy="partial")
    real_save = trainer.save_checkpoint

    def save_then_die(path: Path, state: dict[str, Any]) -> None:
        real_save(path, state)
        raise KeyboardInterrupt  # killed right after the epoch-1 checkpoint

    monkeypatch.setattr(trainer, "save_checkpoint", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        fit_deep(task(tmp_path / "cut"), "dann", tgt.items[ti[:120]], strategy="partial")
    monkeypatch.setattr(trainer, "save_checkpoint", real_save)
    resumed = fit_deep(task(tmp_path / "cut", resume=True), "dann", tgt.items[ti[:120]], strategy="partial")
    assert [h["epoch"] for h in resumed.history] == [1, 2]
    assert resumed.history == full.history
    a, b = full.model.state_dict(), resumed.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    test = tgt.items[ti[120:]]
    assert np.array_equal(full.predict_proba(test), resumed.predict_proba(test))


def test_resume_needs_an_interrupted_run_with_the_same_settings(tmp_path: Path) -> None:
    from headstart.adapt.deep_run import check_resume
    from headstart.errors import HeadstartError

    r = _cli("adapt", "builtin:digits", "--source", "builtin:mnist5k-8x8", "--out", str(tmp_path / "none"),
             "--adapt", "dann", "--resume", *SMALL)  # fmt: skip
    assert r.returncode == 2 and "no interrupted run" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    saved = tmp_path / "config.json"
    saved.write_text(json.dumps({"target": "builtin:digits", "strategy": "partial", "started": "yesterday"}))
    check_resume(saved, {"target": "builtin:digits", "strategy": "partial", "started": "today"})
    with pytest.raises(HeadstartError, match="other settings \\(strategy\\)"):
        check_resume(saved, {"target": "builtin:digits", "strategy": "lora", "started": "today"})
