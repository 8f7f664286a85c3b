"""A precision cascade for MiniLM-L6 text (issue 15 §3): int8 for every item, fp32 again only for the items
whose int8 label could differ from the fp32 one. Does it keep >= 99.5% of a linear probe's labels at
>= 1.27x ORT fp32 (= 1.5x sentence-transformers ``encode``, which ORT fp32 beats by 1.18x in
``extraction.md``)?

The rule: the int8 error of an item is the spread of its logit changes, ``max_c d_c - min_c d_c`` with
``d = logits(int8) - logits(fp32)``, i.e. the most any pairwise margin moved. ``RULES``: one-stage rules,
an item re-embedded in fp32 when its int8 margin (top-1 minus top-2 logit) is below ``safety`` x a quantile
of the 400 training items' errors. ``two_stage_on_N_widen_W``: the product's rule
(``headstart.strategies.precision_cascade.plan``) with N stored errors (20 random draws of N training
items, as a few-shot probe would have) and widening exponent W. The quantile and W were read off these rows;
nothing here is a test item of another benchmark.

Items: ``builtin:rotten-tomatoes`` under the permutation ``bench_extraction.py`` uses (``default_rng(0)``):
positions 800-2799 (400 train the probe and calibrate, 1600 compared; the extraction probe reads 0-799), and
``builtin:spam`` under ``default_rng(1)``: the first 400 train, the next 1600 are compared. ``--backbone
minilm-l6-layers`` runs the fewshot-text probe's view of the same weights.

Speed: sentence-transformers ``encode``, ORT fp32 + head, and the two-stage cascade with 32 and with 400
stored errors, each on the 1600 compared RT texts; best of 3, interleaved, so drifting load hits all alike.

    HEADSTART_CACHE=/tmp/tq-cache python benchmarks/bench_text_cascade.py \
        [--backbone minilm-l6-layers] [--out benchmarks/results/text_cascade.json]

Not a test. Results and the reading are in ``benchmarks/results/extraction.md``.
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import os
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

warnings.filterwarnings("ignore")
os.environ.setdefault("HEADSTART_PROGRESS", "0")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

RULES = ((0.5, 1.0), (0.9, 1.0), (0.95, 1.0), (0.99, 1.0), (1.0, 1.0), (1.0, 1.5))  # (quantile, safety)


def simulate(stored: np.ndarray, margins: np.ndarray, errors: np.ndarray, widen: float) -> np.ndarray:
    """``headstart.strategies.precision_cascade.plan`` with ``widen``, on precomputed item errors."""
    from headstart.strategies.precision_cascade import plan

    return plan(stored, margins, lambda idx: errors[idx], widen)


def _margin(logits: np.ndarray) -> np.ndarray:
    part = np.sort(logits, axis=1)
    return part[:, -1] - part[:, -2]  # type: ignore[no-any-return]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/text_cascade.json"))
    ap.add_argument("--sets", default="rotten-tomatoes,spam")
    ap.add_argument("--backbone", default="minilm-l6", help="minilm-l6-layers: the fewshot-text probe view")
    args = ap.parse_args()

    from headstart.backbones import load_backbone, locate_weights
    from headstart.backends import get_onnx_encoder
    from headstart.data import load_data
    from headstart.strategies.linear_head import fit_linear_head
    from headstart.strategies.precision_cascade import spread

    logging.getLogger().setLevel(logging.ERROR)
    enc = load_backbone(args.backbone)
    out: dict[str, Any] = {"backbone": args.backbone, "load_average_start": os.getloadavg(), "sets": {}}
    r32 = r8 = None
    for name in args.sets.split(","):
        data = load_data(f"builtin:{name}")
        if name == "rotten-tomatoes":
            perm = np.random.default_rng(0).permutation(len(data.y))[800:2800]
        else:
            perm = np.random.default_rng(1).permutation(len(data.y))[:2000]
        texts = [data.items[i] for i in perm]
        y = data.y[perm]
        if r32 is None:
            r32 = get_onnx_encoder(enc, texts[:8], precision="fp32")
            r8 = get_onnx_encoder(enc, texts[:8], precision="int8")
        assert r32 is not None and r8 is not None
        e32, e8 = r32.embed(texts), r8.embed(texts)
        tr, te = np.arange(400), np.arange(400, len(texts))
        head = fit_linear_head(e32[tr], y[tr], len(data.classes), seed=0)
        d = head.logits(e8[tr]) - head.logits(e32[tr])
        errs = d.max(1) - d.min(1)
        l8, l32 = head.logits(e8[te]), head.logits(e32[te])
        p32 = l32.argmax(1)
        m8 = _margin(l8)
        rows = []
        for q, s in RULES:
            redo = m8 < s * float(np.quantile(errs, q))
            pred = np.where(redo, p32, l8.argmax(1))
            rows.append(
                {
                    "quantile": q,
                    "safety": s,
                    "rechecked": float(redo.mean()),
                    "agreement": float((pred == p32).mean()),
                    "disagreements": int((pred != p32).sum()),
                }
            )
        row = {
            "n_compared": len(te),
            "probe_accuracy_fp32": float((p32 == y[te]).mean()),
            "int8_only_agreement": float((l8.argmax(1) == p32).mean()),
            "calibration_error_max": float(errs.max()),
            "calibration_error_median": float(np.median(errs)),
            "rules": rows,
        }
        # few labels: the stored errors are those of n labeled items (20 random draws each), as the product's
        # two-stage plan uses them (errors measured on stage 1's rechecked items join the stored ones)
        errs_te = spread(l8 - l32)
        draws = np.random.default_rng(2)
        for n in (16, 32, 64, 400):
            for widen in (0.0, 0.25, 0.5):
                agree, share = [], []
                for _ in range(20 if n < 400 else 1):
                    sub = draws.choice(len(tr), n, replace=False)
                    redo = np.zeros(len(te), bool)
                    redo[simulate(errs[sub], m8, errs_te, widen)] = True
                    agree.append(float((np.where(redo, p32, l8.argmax(1)) == p32).mean()))
                    share.append(float(redo.mean()))
                row[f"two_stage_on_{n}_widen_{widen}"] = {
                    "min_agreement": min(agree),
                    "mean_agreement": float(np.mean(agree)),
                    "mean_rechecked": float(np.mean(share)),
                    "max_rechecked": max(share),
                }
        print(name, json.dumps(row), flush=True)
        out["sets"][name] = row

    # speed on the RT compared items, safety 1.5 (a fixed share of re-embedded texts would be the same
    # cost on any set; what the rule re-embeds is set-dependent, so the cost is reported per set above)
    data = load_data("builtin:rotten-tomatoes")
    perm = np.random.default_rng(0).permutation(len(data.y))[800:2800]
    texts = [data.items[i] for i in perm]
    y = data.y[perm]
    e32 = r32.embed(texts[:400])
    head = fit_linear_head(e32, y[:400], len(data.classes), seed=0)
    d = head.logits(r8.embed(texts[:400])) - head.logits(e32)
    errs = spread(d)
    compared = texts[400:]

    def fp32_labels() -> np.ndarray:
        return head.logits(r32.embed(compared)).argmax(1)  # type: ignore[no-any-return]

    def cascade(n_stored: int) -> tuple[np.ndarray, float]:
        from headstart.strategies.precision_cascade import plan

        z8 = head.logits(r8.embed(compared))
        scores = z8.copy()

        def recheck(idx: np.ndarray) -> np.ndarray:
            z32 = head.logits(r32.embed([compared[i] for i in idx]))
            scores[idx] = z32
            return spread(z8[idx] - z32)  # type: ignore[no-any-return]

        redo = plan(errs[:n_stored], _margin(z8), recheck)
        return scores.argmax(1), len(redo) / len(compared)

    from sentence_transformers import SentenceTransformer

    _, model_dir = locate_weights(load_backbone("minilm-l6").spec)
    st = SentenceTransformer(str(model_dir), device="cpu")

    def encode() -> None:
        st.encode(compared, batch_size=64, normalize_embeddings=True)

    speed = []
    ref = fp32_labels()
    for n_stored in (32, 400):
        best = {"encode": 1e9, "fp32": 1e9, "cascade": 1e9}
        for _ in range(3):
            for what, fn in (
                ("encode", encode),
                ("fp32", fp32_labels),
                ("cascade", functools.partial(cascade, n_stored)),
            ):
                t = time.perf_counter()
                got = fn()
                best[what] = min(best[what], time.perf_counter() - t)
                if what == "cascade":
                    labels, share = got  # type: ignore[misc]
        row = {
            "stored_errors": n_stored,
            "rechecked": share,
            "agreement": float((labels == ref).mean()),
            **{f"{k}_texts_per_s": len(compared) / v for k, v in best.items()},
            "cascade_vs_ort_fp32": best["fp32"] / best["cascade"],
            "cascade_vs_encode": best["encode"] / best["cascade"],
            "ort_fp32_vs_encode": best["encode"] / best["fp32"],
        }
        print("speed", json.dumps(row), flush=True)
        speed.append(row)
    out["speed_rotten_tomatoes"] = speed
    out["load_average_end"] = os.getloadavg()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
