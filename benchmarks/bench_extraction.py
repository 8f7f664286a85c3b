"""Extraction throughput: plain torch eager vs sentence-transformers ``encode`` vs headstart ``extract`` (ONNX
Runtime), same inputs, same process; plus the FLOP-rate fraction of MobileNetV2 against a 2048x2048 float32
torch matmul measured in the same run, and the downstream label agreement of a linear probe on ORT fp32 vs
int8 text embeddings (which decides ``headstart.backends.TEXT_DEFAULT_PRECISION``); static int8 (QDQ) CNN
graphs (``backend="onnx-int8"``): network rate and linear-probe accuracy vs fp32 on the same splits (which
decides ``IMAGE_DEFAULT_PRECISION``); text tokens/s as a fraction of the fp32 ceiling (MiniLM-L6 FLOPs per
token vs the matmul rate measured in the same process); ORT intra-op thread counts.

    HEADSTART_CACHE=/tmp/me-cache python benchmarks/bench_extraction.py [--images 256] [--texts 256] \
        [--probe-texts 800] [--out benchmarks/results/extraction.json]

Not a test: numbers depend on the machine and on what else runs on it. Compare ratios inside one run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

warnings.filterwarnings("ignore")
os.environ.setdefault("HEADSTART_PROGRESS", "0")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def best_time(fn: Callable[[], Any], repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def best_times(fns: dict[str, Callable[[], Any]], repeat: int) -> dict[str, float]:
    """Best of ``repeat`` timings per function, taken round-robin (one of each, then again), so a change in
    the machine's load during the run hits every method alike instead of whichever ran then."""
    for fn in fns.values():
        fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeat):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t0)
    return {k: min(v) for k, v in times.items()}


def matmul_gflops(repeat: int = 5) -> float:
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    t = best_time(lambda: a @ b, repeat)
    return 2 * 2048**3 / t / 1e9


def conv_macs(body: torch.nn.Module, size: int) -> int:
    """Multiply-adds of one image through the conv/linear layers (hooks on a 1-image forward)."""
    total = 0

    def hook(m: torch.nn.Module, _inp: Any, out: torch.Tensor) -> None:
        nonlocal total
        if isinstance(m, torch.nn.Conv2d):
            k = m.kernel_size[0] * m.kernel_size[1] * (m.in_channels // m.groups)
            total += int(out.numel()) * k
        elif isinstance(m, torch.nn.Linear):
            total += int(out.numel()) * m.in_features

    hs = [m.register_forward_hook(hook) for m in body.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    with torch.no_grad():
        body(torch.zeros(1, 3, size, size))
    for h in hs:
        h.remove()
    return total


def bench_images(n: int, size: int, repeat: int) -> dict[str, Any]:
    from headstart.backbones import load_backbone
    from headstart.backends import get_onnx_encoder
    from headstart.data import load_data
    from headstart.features import embed, extract

    items = list(load_data("builtin:digits").items[:n])
    enc = load_backbone("mobilenetv2", image_size=size)
    pix = enc.prepare(items)["pixel_values"]
    runner = get_onnx_encoder(enc, items[:8])
    r8 = get_onnx_encoder(enc, items[:8], precision="int8")
    assert runner is not None and r8 is not None, "ONNX export failed its parity check"
    feeds = pix.numpy()

    def torch_net() -> None:
        with torch.inference_mode():
            for i in range(0, n, 64):
                enc.forward_features(pix[i : i + 64])

    def torch_cl(bf16: bool) -> Callable[[], None]:
        def run() -> None:
            m = enc.body.to(memory_format=torch.channels_last)
            mixed = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
            with torch.inference_mode(), mixed:
                for i in range(0, n, 64):
                    m(pix[i : i + 64].contiguous(memory_format=torch.channels_last))
            enc.body.to(memory_format=torch.contiguous_format)

        return run

    def ort(r: Any) -> Callable[[], None]:
        def run() -> None:
            for i in range(0, n, 64):
                r.session.run(None, {"pixel_values": feeds[i : i + 64]})

        return run

    net = best_times(
        {
            "torch_eager": torch_net,
            "torch_channels_last": torch_cl(False),
            "torch_channels_last_bf16": torch_cl(True),
            "onnx_fp32": ort(runner),
            "onnx_int8_static": ort(r8),
        },
        repeat,
    )
    e2e = best_times(
        {
            "torch_eager": lambda: embed(enc, items, progress=False),
            "headstart_extract_onnx": lambda: extract(
                enc, items, cache=False, progress=False, backend="onnx", device="cpu"
            ),
            "headstart_extract_torch": lambda: extract(
                enc, items, cache=False, progress=False, backend="torch", device="cpu"
            ),
            "headstart_extract_onnx_int8": lambda: extract(
                enc, items, cache=False, progress=False, backend="onnx-int8", device="cpu"
            ),
        },
        repeat,
    )
    ref = embed(enc, items, progress=False)
    got, _ = extract(enc, items, cache=False, progress=False, backend="onnx", device="cpu")
    cos = (ref * got).sum(1) / np.linalg.norm(ref, axis=1) / np.linalg.norm(got, axis=1)
    macs = conv_macs(enc.body, size)
    return {
        "n_images": n,
        "image_size": size,
        "macs_per_image": macs,
        "network_only_img_per_s": {k: n / v for k, v in net.items()},
        "end_to_end_img_per_s": {k: n / v for k, v in e2e.items()},
        "gflops_onnx_network": 2 * macs * n / net["onnx_fp32"] / 1e9,
        "gflops_equiv_onnx_int8_network": 2 * macs * n / net["onnx_int8_static"] / 1e9,
        "gflops_torch_eager_network": 2 * macs * n / net["torch_eager"] / 1e9,
        "min_cosine_onnx_vs_torch": float(cos.min()),
    }


def bench_text(n: int, probe_n: int, repeat: int) -> dict[str, Any]:
    from headstart.backbones import load_backbone, locate_weights
    from headstart.backend_choice import cpu_has_fast_bf16
    from headstart.backends import OnnxEncoder, get_onnx_encoder
    from headstart.data import load_data
    from headstart.features import embed, extract
    from headstart.strategies.linear_head import fit_linear_head

    data = load_data("builtin:rotten-tomatoes")
    rng = np.random.default_rng(0)
    pick = rng.permutation(len(data.y))[: max(n, probe_n)]
    texts_all = [data.items[i] for i in pick]
    y_all = data.y[pick]
    texts = texts_all[:n]
    enc = load_backbone("minilm-l6")
    r32 = get_onnx_encoder(enc, texts[:8], precision="fp32")
    r8 = get_onnx_encoder(enc, texts[:8], precision="int8")
    assert r32 is not None and r8 is not None
    r32_1 = OnnxEncoder(enc, r32.path, "fp32", threads=1)
    _, lengths = r32._tokenize(texts)
    out: dict[str, Any] = {"n_texts": n, "n_tokens": int(lengths.sum()), "mflop_per_token": MINILM_MFLOP_PER_TOKEN}
    fns: dict[str, Callable[[], Any]] = {
        "torch_eager_length_sorted": lambda: embed(enc, texts, progress=False),
        "onnx_fp32": lambda: r32.embed(texts),
        "onnx_fp32_1_thread": lambda: r32_1.embed(texts),
        "onnx_int8": lambda: r8.embed(texts),
        "torch_bf16_length_sorted": lambda: embed(enc, texts, progress=False, autocast=torch.bfloat16),
        "headstart_extract_auto": lambda: extract(
            enc, texts, cache=False, progress=False, backend="auto", device="cpu"
        ),
    }
    out["auto_backend"] = extract(enc, texts[:4], cache=False, progress=False, backend="auto", device="cpu")[1].backend
    try:
        from sentence_transformers import SentenceTransformer

        _, model_dir = locate_weights(enc.spec)
        st = SentenceTransformer(str(model_dir), device="cpu")
        fns["sentence_transformers_encode"] = lambda: st.encode(texts, batch_size=64, normalize_embeddings=True)
        ref_st = st.encode(texts[:64], batch_size=64, normalize_embeddings=True)
        out["st_vs_torch_max_abs"] = float(np.abs(ref_st - embed(enc, texts[:64], progress=False)).max())
    except Exception as exc:  # pragma: no cover - optional
        out["sentence_transformers_error"] = f"{type(exc).__name__}: {exc}"
    speeds = best_times(fns, repeat)
    out["texts_per_s"] = {k: n / v for k, v in speeds.items()}
    out["tokens_per_s"] = {k: int(lengths.sum()) / v for k, v in speeds.items()}
    base = out["texts_per_s"].get("sentence_transformers_encode", out["texts_per_s"]["torch_eager_length_sorted"])
    out["ratio_vs_st_encode"] = {k: v / base for k, v in out["texts_per_s"].items()}

    # downstream: a linear probe on each backend's embeddings, same split, predictions compared
    half = probe_n // 4
    tr, te = np.arange(half), np.arange(half, probe_n)
    probe_texts = texts_all[:probe_n]
    embs = {
        "torch": embed(enc, probe_texts, progress=False),
        "onnx_fp32": r32.embed(probe_texts),
        "onnx_int8": r8.embed(probe_texts),
        "torch_bf16": embed(enc, probe_texts, progress=False, autocast=torch.bfloat16),
    }
    preds, accs, cs, fixed = {}, {}, {}, {}
    for k, e in embs.items():
        head = fit_linear_head(e[tr], y_all[:probe_n][tr], len(data.classes), seed=0)
        preds[k] = head.predict_proba(e[te]).argmax(1)
        accs[k] = float((preds[k] == y_all[:probe_n][te]).mean())
        cs[k] = head.C
    for k, e in embs.items():  # the same C as the fp32 probe: isolates the embedding change from C's choice
        c = cs["onnx_fp32"]
        head = fit_linear_head(e[tr], y_all[:probe_n][tr], len(data.classes), seed=0, Cs=(c, c))
        fixed[k] = head.predict_proba(e[te]).argmax(1)

    def cos(a: np.ndarray, b: np.ndarray) -> float:
        return float(((a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)).min())

    out["probe"] = {
        "n_train": len(tr),
        "n_test": len(te),
        "accuracy": accs,
        "agreement_fp32_vs_torch": float((preds["onnx_fp32"] == preds["torch"]).mean()),
        "agreement_int8_vs_fp32": float((preds["onnx_int8"] == preds["onnx_fp32"]).mean()),
        "agreement_int8_vs_torch": float((preds["onnx_int8"] == preds["torch"]).mean()),
        "C_chosen_by_cv": cs,
        "agreement_int8_vs_fp32_same_C": float((fixed["onnx_int8"] == fixed["onnx_fp32"]).mean()),
        "agreement_bf16_vs_fp32": float((preds["torch_bf16"] == preds["onnx_fp32"]).mean()),
        "agreement_bf16_vs_torch": float((preds["torch_bf16"] == preds["torch"]).mean()),
        "agreement_bf16_vs_fp32_same_C": float((fixed["torch_bf16"] == fixed["onnx_fp32"]).mean()),
        "min_cosine_bf16_vs_torch": cos(embs["torch_bf16"], embs["torch"]),
        "cpu_has_fast_bf16": cpu_has_fast_bf16(),
        "min_cosine_fp32_vs_torch": cos(embs["onnx_fp32"], embs["torch"]),
        "min_cosine_int8_vs_torch": cos(embs["onnx_int8"], embs["torch"]),
    }
    return out


MINILM_MFLOP_PER_TOKEN = 2 * 6 * (4 * 384 * 384 + 2 * 384 * 1536) / 1e6  # 6 layers, weight matmuls only


def bench_int8_probe(backbone: str, dataset: str, size: int, n_train: int, n_test: int) -> dict[str, Any]:
    """Linear-probe accuracy on fp32 vs static-int8 embeddings, same split (train items first, seed 0)."""
    from headstart.backbones import load_backbone
    from headstart.data import load_data
    from headstart.features import extract
    from headstart.strategies.linear_head import fit_linear_head

    data = load_data(dataset)
    pick = np.random.default_rng(0).permutation(len(data.y))[: n_train + n_test]
    items, y = [data.items[i] for i in pick], data.y[pick]
    enc = load_backbone(backbone, image_size=size)
    tr, te = np.arange(n_train), np.arange(n_train, len(pick))
    res: dict[str, Any] = {"backbone": backbone, "dataset": dataset, "n_train": n_train, "n_test": len(te)}
    preds = {}
    embs = {}
    for prec in ("fp32", "int8"):
        e, _ = extract(enc, items, cache=False, progress=False, backend=f"onnx-{prec}", device="cpu")
        head = fit_linear_head(e[tr], y[tr], len(data.classes), seed=0)
        preds[prec], embs[prec] = head.predict_proba(e[te]).argmax(1), e
        res[f"accuracy_{prec}"] = float((preds[prec] == y[te]).mean())
    cos = (embs["fp32"] * embs["int8"]).sum(1) / np.linalg.norm(embs["fp32"], axis=1)
    cos /= np.linalg.norm(embs["int8"], axis=1)
    res["accuracy_drop_points"] = 100 * (res["accuracy_fp32"] - res["accuracy_int8"])
    res["agreement"] = float((preds["fp32"] == preds["int8"]).mean())
    res["min_cosine"], res["mean_cosine"] = float(cos.min()), float(cos.mean())
    return res


def bench_int8_speed(backbone: str, n: int, size: int, repeat: int) -> dict[str, Any]:
    from headstart.backbones import load_backbone
    from headstart.backends import get_onnx_encoder
    from headstart.data import load_data

    items = list(load_data("builtin:digits").items[:n])
    enc = load_backbone(backbone, image_size=size)
    pix = enc.prepare(items)["pixel_values"].numpy()
    out = {}
    for prec in ("fp32", "int8"):
        r = get_onnx_encoder(enc, items[:8], precision=prec)
        assert r is not None

        def net(r: Any = r) -> None:
            for i in range(0, n, 64):
                r.session.run(None, {"pixel_values": pix[i : i + 64]})

        out[f"img_per_s_{prec}"] = n / best_time(net, repeat)
    out["int8_speedup"] = out["img_per_s_int8"] / out["img_per_s_fp32"]
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=256)
    ap.add_argument("--image-size", type=int, default=96)
    ap.add_argument("--texts", type=int, default=256)
    ap.add_argument("--probe-texts", type=int, default=800)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--int8-probe-train", type=int, default=300, help="0 skips the static int8 CNN probe")
    ap.add_argument("--int8-probe-test", type=int, default=600)
    ap.add_argument("--only-int8-cnn", action="store_true", help="rerun only the static int8 CNN section")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/extraction.json"))
    args = ap.parse_args()
    import onnxruntime

    res: dict[str, Any] = {
        "machine": {
            "cpus_usable": len(os.sched_getaffinity(0)),
            "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "onnxruntime": onnxruntime.__version__,
            "platform": platform.platform(),
        }
    }
    if args.only_int8_cnn and args.out.exists():  # refresh that section of an earlier full run's JSON
        res = {**json.loads(args.out.read_text()), "machine_int8_cnn": res["machine"]}
    res["load_average_before"] = os.getloadavg()
    if not args.only_int8_cnn:
        res["matmul_gflops_before"] = matmul_gflops()
        res["images"] = bench_images(args.images, args.image_size, args.repeat)
        res["text"] = bench_text(args.texts, args.probe_texts, args.repeat)
        res["matmul_gflops_after"] = matmul_gflops()
    rate = max(res["matmul_gflops_before"], res["matmul_gflops_after"])
    tps = res["text"]["tokens_per_s"]
    res["text"]["fp32_ceiling_tokens_per_s"] = rate * 1e3 / MINILM_MFLOP_PER_TOKEN
    res["text"]["fraction_of_fp32_ceiling"] = {k: v / res["text"]["fp32_ceiling_tokens_per_s"] for k, v in tps.items()}
    if args.int8_probe_train:
        res["int8_static_cnn"] = {
            "speed": {
                bb: bench_int8_speed(bb, args.images, args.image_size, args.repeat)
                for bb in ("mobilenetv2", "efficientnet-lite0")
            },
            "probe": [
                bench_int8_probe(bb, ds, args.image_size, args.int8_probe_train, args.int8_probe_test)
                for bb in ("mobilenetv2", "efficientnet-lite0")
                for ds in ("builtin:digits", "builtin:fashion-mnist", "builtin:mnist5k")
            ],
        }
    res["load_average_after"] = os.getloadavg()
    img = res["images"]
    img["flop_rate_fraction_onnx"] = img["gflops_onnx_network"] / rate
    e2e = img["end_to_end_img_per_s"]
    img["speedup_extract_vs_torch_eager"] = e2e["headstart_extract_onnx"] / e2e["torch_eager"]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=2))
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
