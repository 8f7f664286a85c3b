"""Students trained on soft targets ``P [n, K]`` (the teacher's probabilities), one per serving budget:

- ``probe:BACKBONE`` (any registered backbone of the run's modality, e.g. ``probe:mobilenetv2``): frozen
  cached embeddings -> softmax head; saved as a ``linear-probe`` model (predict, export, monitor work as-is);
- ``tfidf`` (text): TF-IDF word + char n-grams -> softmax; saved as JSON + npz (``tfidf-softmax``);
- ``small-cnn`` (images): the from-scratch CNN of the baselines, trained on the soft targets (KL), early
  stopping on held-out agreement; saved as a ``small-cnn`` model.

A soft-target softmax regression is fitted with scikit-learn by replicating each item once per class with
sample weight ``P[i, k]`` (the weighted log-loss is then exactly the cross-entropy to the soft targets).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from headstart.artifacts import FittedModel
from headstart.errors import HeadstartError
from headstart.strategies.linear_head import LinearHead

CS = (0.1, 1.0, 10.0)
MIN_WEIGHT = 1e-3


@dataclass
class StudentTask:
    items: Any  # transfer set: the run's train + val items (+ an unlabeled pool)
    soft: np.ndarray  # teacher probabilities on them
    n_classes: int
    modality: str
    image_size: int | None
    seed: int = 0
    progress: bool = False


def _replicate(X: Any, P: np.ndarray) -> tuple[Any, np.ndarray, np.ndarray]:
    rows, cls = np.nonzero(P >= MIN_WEIGHT)
    Xr = X[rows]
    return Xr, cls, P[rows, cls]


def fit_soft_softmax(X: Any, P: np.ndarray, *, C: float, max_iter: int = 2000) -> tuple[np.ndarray, np.ndarray]:
    """(W [K, D], b [K]) minimizing cross-entropy to soft targets ``P`` plus an L2 penalty of strength 1/C."""
    k = P.shape[1]
    Xr, yr, wr = _replicate(X, P)
    with threadpool_limits(limits=1, user_api="blas"):
        lr = LogisticRegression(C=C, max_iter=max_iter).fit(Xr, yr, sample_weight=wr)
    W, b = np.zeros((k, X.shape[1])), np.zeros(k)
    if lr.coef_.shape[0] == 1:
        W[lr.classes_[1]], b[lr.classes_[1]] = lr.coef_[0], lr.intercept_[0]
    else:
        W[lr.classes_], b[lr.classes_] = lr.coef_, lr.intercept_
    return W, b


def _logits(X: Any, W: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.asarray(X @ W.T) + b


def choose_C(X: Any, P: np.ndarray, seed: int) -> tuple[float, dict[float, float]]:
    """C with the best held-out agreement with the teacher (20% of the transfer set)."""
    n = P.shape[0]
    if n < 25:
        return 1.0, {}
    perm = np.random.default_rng(seed).permutation(n)
    cut = n // 5
    ho, tr = perm[:cut], perm[cut:]
    scores = {}
    for C in CS:
        W, b = fit_soft_softmax(X[tr], P[tr], C=C)
        scores[C] = float((_logits(X[ho], W, b).argmax(1) == P[ho].argmax(1)).mean())
    return max(CS, key=lambda c: (scores[c], -abs(np.log10(c)))), scores


def fit_probe(task: StudentTask, backbone: str) -> FittedModel:
    from headstart.backbones import get_spec, load_backbone
    from headstart.features import extract
    from headstart.strategies.linear_probe import LinearProbeModel

    spec = get_spec(backbone)
    if spec.modality != task.modality:
        raise HeadstartError(f"--student probe:{backbone} is a {spec.modality} backbone; the run is {task.modality}")
    encoder = load_backbone(backbone, image_size=task.image_size)
    emb, _ = extract(encoder, task.items, progress=task.progress)
    sc = StandardScaler().fit(emb)
    X = sc.transform(emb)
    C, scores = choose_C(X, task.soft, task.seed)
    W, b = fit_soft_softmax(X, task.soft, C=C)
    scale = np.where(sc.scale_ > 0, sc.scale_, 1.0)
    agree = scores.get(C, float("nan"))
    head = LinearHead(W, b, sc.mean_.copy(), scale, C, agree)
    model = LinearProbeModel(backbone, head, image_size=task.image_size, weights_sha256=encoder.weights_sha256)
    model._encoder = encoder
    return model


def fit_tfidf(task: StudentTask) -> FittedModel:
    from headstart.baselines.tfidf_arrays import TfidfSoftmax, make_vectorizers, tfidf_features

    if task.modality != "text":
        raise HeadstartError("--student tfidf is for text runs; for images use small-cnn or probe:BACKBONE")
    texts = list(task.items)
    vecs = make_vectorizers()
    X = sp.csr_matrix(tfidf_features(vecs, texts, fit=True))
    C, _ = choose_C(X, task.soft, task.seed)
    W, b = fit_soft_softmax(X, task.soft, C=C * 10)  # sparse tf-idf rows need a weaker penalty than z-scores
    return TfidfSoftmax(vecs, W, b, name="TF-IDF + softmax student")


def fit_small_cnn(task: StudentTask, *, epochs: int = 40, patience: int = 8) -> FittedModel:
    from headstart.baselines.image import SmallCNN, SmallCNNModel, _one_torch_thread, _shift_collate, baseline_geometry
    from headstart.data.images import images_to_array

    if task.modality != "image":
        raise HeadstartError("--student small-cnn is for image runs; for text use tfidf or probe:BACKBONE")
    side, gray = baseline_geometry(task.items)
    x = images_to_array(task.items, side, grayscale=gray)
    n = len(x)
    rng = np.random.default_rng(task.seed)
    perm = rng.permutation(n)
    ho, tr = perm[: max(1, n // 7)], perm[max(1, n // 7) :]
    torch.manual_seed(task.seed)
    net = SmallCNN(1 if gray else 3, task.n_classes)
    opt = torch.optim.AdamW(net.parameters(), lr=3e-3, weight_decay=5e-4)
    collate_tr, collate_ev = _shift_collate(max(1, side // 14)), _shift_collate(0)
    P = torch.from_numpy(task.soft.astype(np.float32))
    best, best_state, bad, history = -1.0, None, 0, []
    with _one_torch_thread():
        for epoch in range(1, epochs + 1):
            net.train()
            order = rng.permutation(tr)
            total = 0.0
            for i in range(0, len(order), 32):
                idx = order[i : i + 32]
                logits = net(collate_tr(list(x[idx]), True))
                loss = -(P[idx] * torch.log_softmax(logits, -1)).sum(-1).mean()
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += loss.item() * len(idx)
            net.eval()
            with torch.inference_mode():
                pred = net(collate_ev(list(x[ho]), False)).argmax(-1).numpy()
            agree = float((pred == task.soft[ho].argmax(1)).mean())
            history.append({"epoch": epoch, "train_loss": total / len(tr), "val_accuracy": agree})
            if agree > best:
                best, bad = agree, 0
                best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
            else:
                bad += 1
                if bad >= patience:
                    break
    assert best_state is not None
    net.load_state_dict(best_state)
    return SmallCNNModel(net.eval(), side, gray, best, history)


STUDENTS: dict[str, Callable[[StudentTask], FittedModel]] = {"tfidf": fit_tfidf, "small-cnn": fit_small_cnn}


def fit_student(name: str, task: StudentTask) -> FittedModel:
    if name.startswith("probe:"):
        return fit_probe(task, name.split(":", 1)[1])
    if name not in STUDENTS:
        raise HeadstartError(
            f"unknown --student {name!r}; choose probe:BACKBONE (see `headstart backbones`), tfidf or small-cnn"
        )
    return STUDENTS[name](task)


def student_backbone(name: str) -> str | None:
    return name.split(":", 1)[1] if name.startswith("probe:") else None
