"""Tables and regression targets: do gradient-boosted trees beat a pretrained text encoder reading the rows?

Classification (Adult, COMPAS, German credit, breast cancer) at 50 / 200 / all labels, seed 0, test capped at
``--max-test`` items (the same test items for every arm and budget of a dataset):

* trees  -- HistGradientBoosting, early stopping on the validation split, refit on train+val;
* linear -- logistic regression (C by CV) on one-hot + scaled features;
* probe  -- every row serialized as "col: value; ..." through MiniLM-L6, logistic-regression head (C by CV);
* stack  -- the combiner of headstart.stacking over the probe and the baseline (out-of-fold probabilities);
* shipped -- what ``headstart fit`` ships by default: the better of probe and baseline (= best of trees and
  linear) on validation, never the test split.

"50" and "200" are label budgets spread evenly over the classes (``--labels-per-class`` 25 / 100 on binary
tasks); "all" is the whole labeled pool at its natural class balance, capped at ``--cap`` rows (Adult, COMPAS).
Verdicts are paired bootstraps on the test items (headstart.evaluation.compare.judge).

Regression: diabetes (ridge on one-hot/scaled features, trees, MiniLM ridge probe on the rows as text) and
Whissell's word pleasantness (TF-IDF + ridge vs MiniLM ridge probe), MAE with the paired bootstrap CI.

    python benchmarks/bench_tabular.py            # writes benchmarks/results/tabular.md (~10 min, 2 cores)
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("HEADSTART_PROGRESS", "0")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import load_average, machine_info, package_versions

from headstart.baselines.tabular import TabularLinear, TreeModel
from headstart.data import load_data, make_splits
from headstart.data.targets import regression_strata
from headstart.evaluation.compare import Arm, Comparison, judge
from headstart.stacking import fit_stack
from headstart.strategies.base import TransferTask
from headstart.strategies.row_text import fit_row_text

TABLES = ("adult-table", "compas", "german-credit", "breast-cancer")
BUDGETS: tuple[int | None, ...] = (50, 200, None)
OUT = Path(__file__).resolve().parent / "results" / "tabular.md"


def _take(items: list[Any], idx: np.ndarray) -> list[Any]:
    return [items[i] for i in idx]


def _split(data: Any, budget: int | None, cap: int, max_test: int, seed: int = 0) -> tuple[Any, Any, Any]:
    """(train, val, test) index arrays; the test set depends only on the data and seed (same for every budget)."""
    full = make_splits(data.y, seed=seed, max_test=max_test)
    if budget is None:
        labeled = np.r_[full.train, full.val]
        if len(labeled) > cap:
            labeled = np.sort(np.random.default_rng(seed).choice(labeled, cap, replace=False))
        n_val = max(2, round(0.2 * len(labeled)))
        perm = np.random.default_rng(seed + 1).permutation(labeled)
        return np.sort(perm[n_val:]), np.sort(perm[:n_val]), full.test
    s = make_splits(data.y, seed=seed, max_test=max_test, labels_per_class=budget // data.n_classes)
    assert np.array_equal(s.test, full.test)
    return s.train, s.val, s.test


def _acc(p: np.ndarray, y: np.ndarray) -> float:
    return float((p.argmax(1) == y).mean())


def classify(name: str, budget: int | None, cap: int, max_test: int) -> dict[str, Any]:
    data = load_data(f"builtin:{name}")
    tr, va, te = _split(data, budget, cap, max_test)
    items = data.items
    task = TransferTask(_take(items, tr), data.y[tr], _take(items, va), data.y[va], data.classes, "tabular",
                        "minilm-l6", progress=False)  # fmt: skip
    test, y = _take(items, te), data.y[te]
    t0 = time.perf_counter()
    trees = TreeModel.fit(task.train_items, task.y_train, task.val_items, task.y_val, data.n_classes)
    lin = TabularLinear.fit(list(task.train_items) + list(task.val_items), np.r_[task.y_train, task.y_val], 2)
    t_base = time.perf_counter() - t0
    t0 = time.perf_counter()
    probe = fit_row_text(task, "linear-probe")
    p_probe = probe.predict_proba(test)
    t_probe = time.perf_counter() - t0
    base = trees if trees.val_accuracy >= lin.val_accuracy else lin
    t0 = time.perf_counter()
    stack = fit_stack(probe, base, task.train_items, task.y_train, task.val_items, task.y_val, data.n_classes)
    p_base = base.predict_proba(test)
    p_stack = stack.proba_from(p_probe, p_base)
    t_stack = time.perf_counter() - t0
    shipped = "probe" if probe.val_accuracy > base.val_accuracy else "baseline"
    arms = {
        "trees": Arm("trees", "baseline", trees.name, trees.predict_proba(test)),
        "linear": Arm("linear", "baseline", lin.name, lin.predict_proba(test)),
        "probe": Arm("probe", "transfer", probe.name, p_probe),
        "baseline": Arm("baseline", "baseline", base.name, p_base),
        "stack": Arm("stack", "transfer", stack.name, p_stack),
    }
    better = "probe" if probe.val_accuracy > base.val_accuracy else "baseline"
    v_probe = judge(Comparison("probe", "baseline"), arms, y)
    v_stack = judge(Comparison("stack", better), arms, y)
    v_trees = judge(Comparison("probe", "trees"), arms, y)
    return {
        "data": name,
        "labels": len(tr) + len(va),
        "test": len(te),
        "acc": {k: _acc(a.output, y) for k, a in arms.items()},
        "val": {
            "trees": trees.val_accuracy,
            "linear": lin.val_accuracy,
            "probe": probe.val_accuracy,
            "stack": stack.val_accuracy,
        },
        "base": "trees" if base is trees else "linear",
        "shipped": shipped,
        "shipped_val": max(probe.val_accuracy, base.val_accuracy),
        "v_probe": v_probe,
        "v_trees": v_trees,
        "v_stack": v_stack,
        "stack_vs": better,
        "seconds": {"baselines": t_base, "probe": t_probe, "stack": t_stack},
    }


def regress(name: str, arms_spec: str, n_cap: int | None, max_test: int) -> list[dict[str, Any]]:
    from headstart.baselines.regression import TfidfRidge
    from headstart.strategies.ridge_probe import fit_ridge_probe

    data = load_data(f"builtin:{name}")
    s = make_splits(regression_strata(data.y), seed=0, max_test=max_test)
    tr, va = s.train, s.val
    if n_cap is not None and len(tr) + len(va) > n_cap:
        rng = np.random.default_rng(0)
        tr, va = (
            np.sort(rng.choice(tr, int(0.8 * n_cap), replace=False)),
            np.sort(rng.choice(va, n_cap // 5, replace=False)),
        )
    items, y = data.items, data.y
    test, y_te = _take(items, s.test), y[s.test]
    task = TransferTask(_take(items, tr), y[tr], _take(items, va), y[va], [], data.modality, "minilm-l6",
                        progress=False, target="regression")  # fmt: skip
    labeled, y_lab = list(task.train_items) + list(task.val_items), np.r_[y[tr], y[va]]
    models: dict[str, Any] = {}
    if arms_spec == "table":
        models["ridge"] = TabularLinear.fit(labeled, y_lab, 0)
        models["trees"] = TreeModel.fit(task.train_items, task.y_train, task.val_items, task.y_val, 0)
        models["probe"] = fit_row_text(task, "linear-probe")
    else:
        models["ridge"] = TfidfRidge.fit(labeled, y_lab)
        models["probe"] = fit_ridge_probe(task)
    arms = {k: Arm(k, "x", m.name, np.asarray(m.predict(test), dtype=np.float64)) for k, m in models.items()}
    rows = []
    for k in models:
        if k == "probe":
            continue
        v = judge(Comparison("probe", k), arms, y_te)
        rows.append({"data": name, "labels": len(y_lab), "test": len(y_te), "vs": models[k].name, "v": v,
                     "probe": models["probe"].name, "r2": _r2(y_te, arms["probe"].output),
                     "r2_b": _r2(y_te, arms[k].output)})  # fmt: skip
    return rows


def _r2(y: np.ndarray, p: np.ndarray) -> float:
    return float(1 - np.sum((p - y) ** 2) / np.sum((y - y.mean()) ** 2))


def _ci(v: dict[str, Any], scale: float = 100.0, fmt: str = "{:+.1f}") -> str:
    return f"{fmt.format(scale * v['delta'])} [{fmt.format(scale * v['ci_low'])}, {fmt.format(scale * v['ci_high'])}]"


def render(cls_rows: list[dict[str, Any]], reg_rows: list[dict[str, Any]], args: Any, seconds: float) -> str:
    info = machine_info()
    lines = [
        "# Tables and regression: trees vs a pretrained text encoder reading the rows",
        "",
        f"`python benchmarks/bench_tabular.py --max-test {args.max_test} --cap {args.cap}` — seed 0, "
        f"{seconds / 60:.1f} min wall on {info.get('cpu', '?')} ({os.cpu_count()} cores, load {load_average()}).",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in package_versions().items() if v != "not installed") + ".",
        "",
        "## Classification (test accuracy, %)",
        "",
        "probe = MiniLM-L6 linear probe on rows serialized as text; base = the better of trees/linear on "
        "validation; stack = headstart.stacking over probe + base; shipped = the default `--ship best` choice.",
        "Deltas are accuracy points with the paired-bootstrap 95% CI on the test items.",
        "",
        "| data | labels | test | trees | linear | probe | stack | base | shipped (val) | probe vs base | "
        "stack vs better side |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in cls_rows:
        a = r["acc"]
        lines.append(
            f"| {r['data']} | {r['labels']} | {r['test']} | {100 * a['trees']:.1f} | {100 * a['linear']:.1f} | "
            f"{100 * a['probe']:.1f} | {100 * a['stack']:.1f} | {r['base']} | {r['shipped']} ({r['shipped_val']:.3f}"
            f" vs trees {r['val']['trees']:.3f}) | {r['v_probe']['label']} {_ci(r['v_probe'])} | "
            f"{r['v_stack']['label']} vs {r['stack_vs']} {_ci(r['v_stack'])} |"
        )
    never_loses = all(r["shipped_val"] >= r["val"]["trees"] for r in cls_rows)
    stack_ok = [r for r in cls_rows if r["acc"]["stack"] >= max(r["acc"]["probe"], r["acc"]["baseline"])]
    lines += [
        "",
        f"- Shipped model at least as good as the tree baseline on validation in every row: **{never_loses}**.",
        f"- Stack at least as accurate on test as the better single side: {len(stack_ok)} of {len(cls_rows)} rows "
        f"({', '.join(r['data'] + '@' + str(r['labels']) for r in stack_ok) or 'none'}).",
        f"- Trees beat the probe (paired CI below zero for probe - trees) in "
        f"{sum(r['v_trees']['label'] == 'negative-transfer' for r in cls_rows)} of {len(cls_rows)} rows.",
        "",
        "## Regression (MAE, paired bootstrap CI of MAE(baseline) - MAE(probe); positive = probe better)",
        "",
        "| data | labels | test | probe | baseline | probe MAE | baseline MAE | delta [95% CI] | verdict "
        "| R² probe / base |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in reg_rows:
        v = r["v"]
        lines.append(
            f"| {r['data']} | {r['labels']} | {r['test']} | {r['probe']} | {r['vs']} | {v['a_score']:.4g} | "
            f"{v['b_score']:.4g} | {_ci(v, 1.0, '{:+.3g}')} | {v['label']} | {r['r2']:.3f} / {r['r2_b']:.3f} |"
        )
    lines.append("")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--max-test", type=int, default=500)
    ap.add_argument("--cap", type=int, default=2000, help="labeled rows for 'all' on the large tables")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    t0 = time.perf_counter()
    cls_rows = []
    for name in TABLES:
        for budget in BUDGETS:
            r = classify(name, budget, args.cap, args.max_test)
            print(f"{name} {r['labels']} labels: " + ", ".join(f"{k} {v:.3f}" for k, v in r["acc"].items()), flush=True)
            cls_rows.append(r)
    reg_rows = regress("diabetes", "table", None, args.max_test) + regress(
        "word-pleasantness", "text", args.cap, args.max_test
    )
    for r in reg_rows:
        print(f"{r['data']}: probe vs {r['vs']}: {r['v']['sentence']}", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(render(cls_rows, reg_rows, args, time.perf_counter() - t0))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
