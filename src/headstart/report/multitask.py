"""Report section of a multitask run: one row per task (each arm's test accuracy, the sharing verdict
multitask vs single-task, the transfer verdict vs scratch), the labels each task had, and the training cost
of the shared model against the single-task models."""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from typing import Any

from headstart.report.arms import _pct, _pts, _table


def _acc(doc: Mapping[str, Any], name: str) -> str:
    arm = next((a for a in doc["arms"] if a["name"] == name), None)
    return "—" if arm is None else _pct(arm.get("accuracy"))


def _verdict(v: Mapping[str, Any]) -> str:
    return f"{escape(str(v['label']))} ({_pts(v['delta'])} [{_pts(v['ci_low'])}, {_pts(v['ci_high'])}])"


def multitask_section(metrics: Mapping[str, Any]) -> str | None:
    mt = metrics.get("multitask")
    if not mt:
        return None
    rows = []
    for task, doc in mt["per_task"].items():
        lab = mt.get("labels", {}).get(task, {})
        rows.append(
            [
                escape(str(task)),
                str(doc["n_test"]),
                str(lab.get("n_labeled_train_val", "—")),
                _acc(doc, "multitask"),
                _acc(doc, "single-task"),
                _acc(doc, "scratch"),
                _acc(doc, "majority"),
                _verdict(doc["sharing"]),
                f"{escape(str(doc['transfer']['a']))}: {_verdict(doc['transfer'])}",
            ]
        )
    table = _table(
        ["task", "n test", "labeled", "multitask", "single-task", "scratch", "majority", "sharing", "transfer"],
        rows,
        range(1, 7),
    )
    c = mt["cost"]
    cost = (
        f"<p><strong>Training cost.</strong> The multitask model took {c['multitask']['seconds']:.1f}s with "
        f"{c['multitask']['trainable']:,} trainable parameters; the single-task models together "
        f"{c['single_task_total']['seconds']:.1f}s and {c['single_task_total']['trainable']:,} "
        f"({c['time_ratio']:.2f}x the time, {c['trainable_ratio']:.2f}x the trainable parameters).</p>"
    )
    missing = [
        f"{escape(str(t))}: {d['n_missing']} of {d['n_labeled'] + d['n_missing']} items unlabeled"
        for t, d in mt.get("labels", {}).items()
        if d.get("n_missing")
    ]
    miss = f'<p class="note">Masked (missing) task labels: {"; ".join(missing)}.</p>' if missing else ""
    derived = [
        f"<li>{escape(str(t))}: {escape(str(d['derived']))}</li>"
        for t, d in mt.get("labels", {}).items()
        if "derived" in d
    ]
    der = f'<p class="note">Derived tasks:</p><ul>{"".join(derived)}</ul>' if derived else ""
    warnings = "".join(f"<li>{escape(str(w))}</li>" for w in mt.get("warnings", []))
    return (
        '<p class="note">One shared model with a head per task (multitask) against the same backbone, strategy and '
        "budget trained for each task alone (single-task), and a from-scratch baseline, on the same test items. "
        "Sharing: <em>sharing helps</em> or <em>interference</em> only when the paired-bootstrap interval of "
        "multitask minus single-task excludes zero.</p>"
        f"{table}{cost}" + (f'<ul class="warnings">{warnings}</ul>' if warnings else "") + miss + der
    )
