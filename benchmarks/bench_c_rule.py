"""How the linear head's C is chosen: CV accuracy vs CV log-loss, on development items only.

Why it matters: the probe's C decides its labels, and a C that flips on noise makes a result depend on
things that should not matter (bf16 vs fp32 embeddings, a cache rebuilt on another CPU). For each data set the
pool is every item in none of the benchmark's test sets (``make_splits`` seeds 0-4, K 8/16/64, max_test 2000),
capped at 2500; each draw (seeds 100+) labels ``n`` items and holds out up to 1500 others. MiniLM-L6
embeddings in fp32 and in torch bf16 autocast; standardised logistic regression, C in ``DEFAULT_CS``, 5-fold
stratified CV. Per rule: held-out accuracy on fp32 embeddings, agreement of the fp32 and bf16 probes' labels,
and how often the chosen C differs between the two.

    python benchmarks/bench_c_rule.py rotten-tomatoes,spam 100,200,400 minilm-l6 20
"""

import sys
from pathlib import Path

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from headstart.backbones import load_backbone
from headstart.data import load_data
from headstart.data.splits import make_splits
from headstart.features import embed

CS = (1e-3, 1e-2, 1e-1, 1.0, 10.0)


def pool_of(y):
    test = set()
    for s in range(5):
        for k in (8, 16, 64):
            test |= set(make_splits(y, seed=s, labels_per_class=k, max_test=2000).test.tolist())
    return np.array(sorted(set(range(len(y))) - test))


def cv_scores(X, y, seed):
    k = int(min(5, np.bincount(y)[np.bincount(y) > 0].min()))
    folds = list(StratifiedKFold(k, shuffle=True, random_state=seed).split(X, y))
    acc, ll = {}, {}
    for C in CS:
        a, lo = [], []
        for tr, va in folds:
            p = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=2000)).fit(X[tr], y[tr])
            pr = p.predict_proba(X[va])
            a.append((pr.argmax(1) == y[va]).mean())
            lo.append(log_loss(y[va], pr, labels=np.arange(pr.shape[1])))
        acc[C], ll[C] = np.mean(a), np.mean(lo)
    return acc, ll


RULES = {
    "acc": lambda acc, ll: max(CS, key=lambda c: (acc[c], -abs(np.log10(c)))),
    "logloss": lambda acc, ll: min(CS, key=lambda c: ll[c]),
    "acc_tb_ll": lambda acc, ll: max(CS, key=lambda c: (round(acc[c], 9), -ll[c])),
}


def run(name, backbone, n, draws):
    data = load_data(f"builtin:{name}")
    y = np.asarray(data.y)
    pool = pool_of(y)
    rng = np.random.default_rng(0)
    pool = rng.permutation(pool)[: min(len(pool), 2500)]
    enc = load_backbone(backbone)
    items = [data.items[i] for i in pool]
    with torch.inference_mode():
        e32 = embed(enc, items, progress=False)
        e16 = embed(enc, items, progress=False, autocast=torch.bfloat16)
    yp = y[pool]
    out = {r: {"acc": [], "agree": [], "Cflip": []} for r in RULES}
    for d in range(draws):
        r = np.random.default_rng(100 + d).permutation(len(pool))
        tr, te = r[:n], r[n : n + 1500]
        if len(np.unique(yp[tr])) < 2:
            continue
        preds = {}
        for tag, E in (("32", e32), ("16", e16)):
            X = np.asarray(E, dtype=np.float64)
            acc, ll = cv_scores(X[tr], yp[tr], 0)
            for rule, f in RULES.items():
                C = f(acc, ll)
                p = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=2000)).fit(X[tr], yp[tr])
                preds[(rule, tag)] = (C, p.predict(X[te]))
        for rule in RULES:
            (c32, p32), (c16, p16) = preds[(rule, "32")], preds[(rule, "16")]
            out[rule]["acc"].append(float((p32 == yp[te]).mean()))
            out[rule]["agree"].append(float((p32 == p16).mean()))
            out[rule]["Cflip"].append(int(c32 != c16))
    print(f"{name} {backbone} n={n} draws={draws}")
    for rule, o in out.items():
        print(
            f"  {rule:10s} acc {100 * np.mean(o['acc']):.2f}  agree mean {100 * np.mean(o['agree']):.2f} "
            f"min {100 * np.min(o['agree']):.1f}  C flips {sum(o['Cflip'])}/{len(o['Cflip'])}"
        )
    sys.stdout.flush()
    return out


if __name__ == "__main__":
    with threadpool_limits(1, "blas"):
        res = {}
        for name in sys.argv[1].split(","):
            for n in (int(x) for x in sys.argv[2].split(",")):
                res[f"{name}:{n}"] = run(name, sys.argv[3], n, int(sys.argv[4]))
        lines = [
            "# Choosing the linear head's C: CV accuracy vs CV log-loss\n",
            f"`python benchmarks/bench_c_rule.py {' '.join(sys.argv[1:])}` (development items only; see the "
            "script's docstring).\n",
            "| data, labels | rule | held-out accuracy % | fp32 / bf16 label agreement % (mean, min) | C flips |",
            "|---|---|---|---|---|",
        ]
        for cell, out in res.items():
            for rule, o in out.items():
                lines.append(
                    f"| {cell} | {rule} | {100 * np.mean(o['acc']):.2f} | {100 * np.mean(o['agree']):.2f}, "
                    f"{100 * np.min(o['agree']):.1f} | {sum(o['Cflip'])}/{len(o['Cflip'])} |"
                )
        out_md = Path(__file__).parent / "results" / "c_rule.md"
        out_md.write_text("\n".join(lines) + "\n")
        print(f"wrote {out_md}")
