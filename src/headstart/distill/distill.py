"""``distill_run``: train a student on a run's shipped (teacher) model's soft predictions over the run's
train + val items (+ an unlabeled pool), judge it against the teacher on the run's test split with a paired
CI (:func:`headstart.evaluation.compare.judge`, student = arm a, teacher = arm b), time both, and write a run
directory (config.json, splits.json, metrics.json, model/, predictions.csv, report.html) that ``predict``,
``export`` and ``monitor`` accept. The student ships only if its test accuracy is within ``max_drop`` of the
teacher's and it is faster or smaller than the teacher; otherwise metrics.json (``distill.ships = false``) and
the CLI say by how much it missed, or that it has nothing to offer (:func:`distill_verdict`).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from headstart.distill.students import StudentTask, fit_student, student_backbone
from headstart.errors import HeadstartError
from headstart.evaluation import classification_summary
from headstart.evaluation.compare import Arm, Comparison, judge
from headstart.io import atomic_write_json, atomic_write_text
from headstart.outputs import package_versions
from headstart.rundir import COMPLETE_MARKER, RunDir
from headstart.runinputs import ADDED_LABELS_FILE, open_run, take

MAX_POOL = 20000
LATENCY_ITEMS = 6


def _folder_mb(folder: Path) -> float:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 1e6


def model_size(model: Any, folder: Path) -> dict[str, Any]:
    """Bytes a server must hold: the saved folder, plus the frozen backbone a probe loads from its package."""
    out: dict[str, Any] = {"folder_mb": _folder_mb(folder)}
    backbone = getattr(model, "backbone", None)
    if isinstance(backbone, str) and getattr(model, "kind", "") == "linear-probe":
        from headstart.backbones import get_spec

        out["backbone"] = backbone
        out["backbone_params_m"] = float(get_spec(backbone.split(":")[0]).params_m)
        out["backbone_mb_fp32"] = out["backbone_params_m"] * 4.0
    out["total_mb"] = out["folder_mb"] + out.get("backbone_mb_fp32", 0.0)
    return out


def distill_verdict(
    drop: float,
    max_drop: float,
    speed: dict[str, dict[str, Any]],
    size: dict[str, dict[str, Any]],
    *,
    teacher: str,
    run: Path,
) -> tuple[bool, str]:
    """(ships, reason): the student ships when it is within ``max_drop`` of the teacher's accuracy *and* is
    faster (items/s) or smaller (total MB) than the teacher; a student that is neither has nothing to offer."""
    if drop > max_drop + 1e-12:
        return False, (
            f"the student missed --max-drop {100 * max_drop:.1f} by {100 * (drop - max_drop):.1f} points "
            f"(drop {100 * drop:.1f} points); keep serving the teacher from {run}"
        )
    rate = {k: float(v.get("items_per_s", float("nan"))) for k, v in speed.items()}
    mb = {k: float(v.get("total_mb", float("nan"))) for k, v in size.items()}
    if np.isfinite(rate["student"]) and np.isfinite(rate["teacher"]):
        faster = rate["student"] > rate["teacher"]
    else:  # too few test items for a batch: batch-1 latency decides
        faster = float(speed["student"].get("latency_ms", np.nan)) < float(speed["teacher"].get("latency_ms", np.nan))
    if not (faster or mb["student"] < mb["teacher"]):
        return False, (
            f"the student is as accurate ({100 * drop:+.1f} points drop) but neither faster ({rate['student']:.0f} "
            f"vs {rate['teacher']:.0f} items/s) nor smaller ({mb['student']:.1f} vs {mb['teacher']:.1f} MB) than "
            f"the teacher ({teacher}); keep serving the teacher from {run}"
        )
    return True, f"the student is within {100 * max_drop:.1f} points of the teacher ({100 * drop:+.1f} points drop)"


def measure_latency(model: Any, items: Sequence[Any]) -> dict[str, float]:
    """Cold-cache serving speed: batch-1 latency (median over distinct items) and throughput on a batch.

    The embedding cache is pointed at an empty temporary folder, so a probe really runs its backbone."""
    before = os.environ.get("HEADSTART_CACHE")
    tmp = tempfile.mkdtemp(prefix="headstart-latency-")
    os.environ["HEADSTART_CACHE"] = tmp
    try:
        model.predict_proba(take(items, np.arange(1)))  # warm-up: loads weights, builds sessions
        times = []
        for i in range(1, min(LATENCY_ITEMS, len(items))):
            t0 = time.perf_counter()
            model.predict_proba(take(items, np.array([i])))
            times.append(time.perf_counter() - t0)
        batch = take(items, np.arange(LATENCY_ITEMS, min(len(items), LATENCY_ITEMS + 64)))
        t0 = time.perf_counter()
        if len(batch):
            model.predict_proba(batch)
        dt = time.perf_counter() - t0
    finally:
        if before is None:
            os.environ.pop("HEADSTART_CACHE", None)
        else:
            os.environ["HEADSTART_CACHE"] = before
        shutil.rmtree(tmp, ignore_errors=True)
    return {
        "note": "through predict_proba with an empty embedding cache (includes embedding and the cache write)",
        "latency_ms": 1000 * float(np.median(times)) if times else float("nan"),
        "items_per_s": len(batch) / dt if len(batch) and dt > 0 else float("nan"),
    }


def distill_run(
    run_dir: str | Path,
    *,
    student: str,
    out: str | Path,
    unlabeled: str | None = None,
    max_drop: float = 0.01,
    max_unlabeled: int = MAX_POOL,
    seed: int = 0,
    overwrite: bool = False,
    echo: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Distill the run's shipped model into ``student``; returns the new run's metrics.json content."""
    say = echo or (lambda _s: None)
    out = Path(out)
    RunDir.check(out, overwrite=overwrite, resume=False)
    if not 0 <= max_drop < 1:
        raise HeadstartError(f"--max-drop is a fraction of accuracy (0.01 = 1 point), got {max_drop}")
    ri = open_run(run_dir)
    if ri.modality not in ("text", "image"):
        raise HeadstartError(
            f"{run_dir} is a {ri.modality} run; distill trains text and image students. A table's from-scratch "
            "side (trees or a linear model) is already small: refit with --ship baseline to serve it"
        )
    t_start = time.perf_counter()
    items = ri.items(ri.reference)
    pool_note = "train + val items"
    if unlabeled:
        from headstart.data.unlabeled import load_unlabeled

        _, extra = load_unlabeled(unlabeled, modality=ri.modality, text_column=ri.config.get("text_column"))
        extra = take(extra, np.arange(min(len(extra), max_unlabeled)))
        if unlabeled == ri.config["data"]:  # the run's own source: never train on its test items
            keep = np.setdiff1d(np.arange(len(extra)), ri.splits.test)
            extra = take(extra, keep)
        items = np.concatenate([items, np.asarray(extra)]) if isinstance(items, np.ndarray) else [*items, *extra]
        pool_note += f" + {len(extra)} unlabeled items from {unlabeled}"
    say(f"teacher ({ri.side}: {getattr(ri.model, 'name', '')}) labels {len(items)} items ({pool_note})")
    soft = ri.model.predict_proba(items)
    say(f"training the {student} student on the soft labels")
    t0 = time.perf_counter()
    model = fit_student(
        student,
        StudentTask(items, soft, len(ri.classes), ri.modality, ri.config.get("image_size"), seed=seed),
    )
    fit_s = time.perf_counter() - t0
    test = ri.splits.test
    test_items, y_test = ri.items(test), ri.data.y[test]
    say(f"judging student vs teacher on {len(test)} test items")
    p_t, p_s = ri.model.predict_proba(test_items), model.predict_proba(test_items)
    arms = {
        "student": Arm("student", "transfer", getattr(model, "name", student), p_s),
        "teacher": Arm("teacher", "baseline", getattr(ri.model, "name", ri.side), p_t),
    }
    verdict = judge(Comparison("student", "teacher"), arms, y_test, seed=seed)
    drop = float(verdict["b_score"] - verdict["a_score"])
    rundir = RunDir.open(out, overwrite=overwrite)  # lock, fresh partial folder; commit writes the manifest
    work = rundir.work
    model.save(work / "model")
    say("timing teacher and student with a cold embedding cache")
    speed = {"student": measure_latency(model, test_items), "teacher": measure_latency(ri.model, test_items)}
    teacher_folder = ri.run / {"transfer": "model", "baseline": "baseline", "stack": "stack"}[ri.side]
    size = {"student": model_size(model, work / "model"), "teacher": model_size(ri.model, teacher_folder)}
    ships, reason = distill_verdict(drop, max_drop, speed, size, teacher=str(arms["teacher"].model_name), run=ri.run)
    backbone = student_backbone(student) or ri.config.get("backbone")
    config = {
        **ri.config,
        "out": str(out),
        "strategy": "distill",
        "backbone": backbone,
        "distill": {"teacher_run": str(ri.run), "student": student, "unlabeled": unlabeled, "max_drop": max_drop},
        "versions": package_versions(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    classes = ri.classes
    m_s = {
        "name": arms["student"].model_name,
        "strategy": "distill",
        "backbone": backbone,
        **classification_summary(y_test, p_s, classes),
        "val_accuracy": float(getattr(model, "val_accuracy", float("nan"))),
        "history": getattr(model, "history", []),
    }
    m_t = {
        "name": arms["teacher"].model_name,
        **classification_summary(y_test, p_t, classes),
        "val_accuracy": float(ri.metrics.get(ri.side, {}).get("val_accuracy", float("nan"))),
        "history": [],
    }
    metrics = {
        "transfer": m_s,
        "baseline": m_t,
        "verdict": verdict,
        "shipped": {"side": "transfer", "reason": reason, "ships": ships},
        "distill": {
            "teacher_run": str(ri.run),
            "teacher_side": ri.side,
            "student": student,
            "transfer_set": pool_note,
            "n_transfer": len(items),
            "agreement": float((p_s.argmax(1) == p_t.argmax(1)).mean()),
            "teacher_accuracy": verdict["b_score"],
            "student_accuracy": verdict["a_score"],
            "drop": drop,
            "max_drop": max_drop,
            "ships": ships,
            "missed_by": None if drop <= max_drop + 1e-12 else drop - max_drop,
            "speed": speed,
            "size": size,
        },
        "data": ri.metrics["data"],
        "timing": {"student_fit": fit_s, "total": time.perf_counter() - t_start},
        "warnings": list(verdict.get("warnings", [])),
    }
    atomic_write_json(work / "config.json", config)
    atomic_write_json(work / "splits.json", ri.splits.to_json())
    if (ri.run / ADDED_LABELS_FILE).exists():
        shutil.copy2(ri.run / ADDED_LABELS_FILE, work / ADDED_LABELS_FILE)
    cls = np.array(classes)
    preds = pd.DataFrame(
        {
            "id": [ri.data.ids[i] for i in test],
            "label": cls[y_test],
            "prediction": cls[p_s.argmax(1)],
            "confidence": p_s.max(1),
            "teacher_prediction": cls[p_t.argmax(1)],
            "teacher_confidence": p_t.max(1),
        }
    )
    atomic_write_text(work / "predictions.csv", preds.to_csv(index=False))
    try:
        from headstart.report import write_report

        write_report(work, metrics, config, data=ri.data)
    except Exception as exc:  # the report is a view; the run stays usable without it
        metrics["warnings"].append(f"report.html could not be written ({type(exc).__name__}: {exc})")
    atomic_write_json(work / COMPLETE_MARKER, metrics)
    try:
        rundir.commit()
    finally:
        rundir.close()
    return metrics
