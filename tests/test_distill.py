"""`headstart distill` on real data: a small CNN distilled from a digits linear probe over unlabeled digits
agrees with its teacher on most test items and writes a run that predict, export and monitor accept; the
TF-IDF student round-trips through its pickle-free format."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from headstart.distill.distill import distill_run
from headstart.errors import HeadstartError
from headstart.models import load_model
from headstart.pipeline import predict_run
from headstart.runinputs import open_run

AGREEMENT = 0.65  # stated rate: student and teacher give the same label on >= 65% of the test items


@pytest.mark.slow
def test_small_cnn_student_agrees_with_teacher_and_is_a_run(digits_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "student"
    m = distill_run(
        digits_run, student="small-cnn", out=out, unlabeled="builtin:digits", max_unlabeled=700, max_drop=0.05
    )
    d = m["distill"]
    assert d["agreement"] >= AGREEMENT
    assert d["ships"] == (d["drop"] <= 0.05)
    assert d["size"]["student"]["total_mb"] < d["size"]["teacher"]["total_mb"]
    assert m["verdict"]["ci_low"] <= m["verdict"]["delta"] <= m["verdict"]["ci_high"]
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["shipped"]["side"] == "transfer" and (out / "report.html").exists()
    ri = open_run(out)  # what monitor and query read
    assert np.array_equal(ri.splits.test, open_run(digits_run).splits.test)
    preds = predict_run(out, "builtin:digits")
    assert len(preds) == 1797
    from headstart.export import export_run

    rep = export_run(out, max_items=40, bench_items=8, repeat=1)
    assert rep["parity"]["ok"]
    with pytest.raises(HeadstartError, match="already exists"):
        distill_run(digits_run, student="small-cnn", out=out)
    with pytest.raises(HeadstartError, match="for text runs"):
        distill_run(digits_run, student="tfidf", out=tmp_path / "x")


def test_tfidf_student_round_trips_without_pickle(tmp_path: Path) -> None:
    from headstart.data import load_data
    from headstart.distill.students import StudentTask, fit_student

    data = load_data("builtin:spam")
    idx = np.random.default_rng(0).choice(len(data.y), 300, replace=False)
    texts = [data.items[i] for i in idx]
    soft = np.eye(2)[data.y[idx]] * 0.9 + 0.05  # soft targets from the true labels
    model = fit_student("tfidf", StudentTask(texts, soft, 2, "text", None))
    model.save(tmp_path / "m")
    assert not list((tmp_path / "m").glob("*.joblib")) and not list((tmp_path / "m").glob("*.pkl"))
    again = load_model(tmp_path / "m")
    np.testing.assert_allclose(again.predict_proba(texts[:50]), model.predict_proba(texts[:50]), atol=1e-6)
    assert (model.predict_proba(texts).argmax(1) == data.y[idx]).mean() > 0.9


def test_a_table_run_is_refused_before_any_training(tmp_path: Path) -> None:
    from headstart.pipeline import FitConfig, fit_run

    run = tmp_path / "wine"
    fit_run(FitConfig(data="builtin:wine", out=str(run), progress=False))
    with pytest.raises(HeadstartError, match="tabular run; distill trains text and image students"):
        distill_run(run, student="tfidf", out=tmp_path / "student")
    assert not (tmp_path / "student").exists()


def test_a_student_neither_faster_nor_smaller_than_its_teacher_does_not_ship() -> None:
    """Seen on a folder of digits whose run shipped pixel logistic regression: the CNN student matched it and
    'shipped' at 14x the latency and 12x the size. Accuracy alone is not a reason to swap models."""
    from headstart.distill.distill import distill_verdict

    def rates(student: float, teacher: float) -> dict[str, dict[str, float]]:
        return {
            "student": {"items_per_s": student, "latency_ms": 1e3 / student},
            "teacher": {"items_per_s": teacher, "latency_ms": 1e3 / teacher},
        }

    def sizes(student: float, teacher: float) -> dict[str, dict[str, float]]:
        return {"student": {"total_mb": student}, "teacher": {"total_mb": teacher}}

    run = Path("runs/photos")
    ships, why = distill_verdict(
        0.0, 0.01, rates(614, 8573), sizes(1.2, 0.1), teacher="pixel logistic regression", run=run
    )
    assert not ships and "neither faster (614 vs 8573 items/s) nor smaller (1.2 vs 0.1 MB)" in why
    assert distill_verdict(0.0, 0.01, rates(614, 90), sizes(1.2, 14.0), teacher="probe", run=run)[0]
    assert distill_verdict(0.0, 0.01, rates(50, 90), sizes(1.2, 14.0), teacher="probe", run=run)[0]  # smaller
    nan = float("nan")
    slow = {"student": {"items_per_s": nan, "latency_ms": 3.0}, "teacher": {"items_per_s": nan, "latency_ms": 0.2}}
    assert not distill_verdict(0.0, 0.01, slow, sizes(1.2, 0.1), teacher="t", run=run)[0]
    missed, why = distill_verdict(0.04, 0.01, rates(614, 90), sizes(1.2, 14.0), teacher="probe", run=run)
    assert not missed and "missed --max-drop 1.0 by 3.0 points" in why
