"""Console output of a multitask ``headstart fit``: one row per task and arm, then the per-task verdicts and
the training cost of the shared model against the single-task models."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.markup import escape
from rich.table import Table

from headstart.cli._app import VERDICT_STYLE, console

STYLE = {**VERDICT_STYLE, "sharing helps": "bold green", "interference": "bold red"}


def _pct(x: Any) -> str:
    return "-" if x is None or x != x else f"{100 * float(x):.1f}%"


def print_multitask(result: Any) -> None:
    mt = result.metrics["multitask"]
    table = Table(title=f"{result.metrics['data']['source']}: {len(mt['tasks'])} tasks, one shared model")
    table.add_column("task", overflow="fold")
    table.add_column("arm", overflow="fold")
    table.add_column("model", overflow="fold", ratio=1)
    table.add_column("test acc.", justify="right", no_wrap=True)
    table.add_column("n test", justify="right", no_wrap=True)
    for task, doc in mt["per_task"].items():
        for a in doc["arms"]:
            if a["role"] == "reference" and a["name"] != "majority":
                continue
            table.add_row(escape(task), a["name"], escape(a["model"]), _pct(a["accuracy"]), str(doc["n_test"]))
    console.print(table)
    for w in mt.get("warnings", []):
        console.print(f"[yellow]warning:[/] {escape(w)}", highlight=False)
    for task, doc in mt["per_task"].items():
        for kind in ("sharing", "transfer"):
            v = doc[kind]
            style = STYLE.get(v["label"], "bold")
            console.print(f"{escape(task)} {kind}: [{style}]{v['label']}[/]: {escape(v['sentence'])}", highlight=False)
    c = mt["cost"]
    console.print(
        f"training cost: multitask {c['multitask']['seconds']:.1f}s, {c['multitask']['trainable']:,} trainable "
        f"parameters; single-task models together {c['single_task_total']['seconds']:.1f}s, "
        f"{c['single_task_total']['trainable']:,} ({c['time_ratio']:.2f}x time, {c['trainable_ratio']:.2f}x "
        "trainable parameters)",
        highlight=False,
    )
    per_task = result.metrics.get("shipped", {}).get("per_task", {})
    if per_task:
        ships = ", ".join(f"{n} {'from scratch' if s == 'scratch' else 'multitask'}" for n, s in per_task.items())
        console.print(f"shipped per task (validation scores): {escape(ships)}", highlight=False)
    console.print(f"run directory: {result.out}")


def export_multitask_if_multitask(run_dir: Path, quantize: str | None, say: Callable[[str], None]) -> bool:
    """``headstart export`` of a multitask run (one ONNX output per task, parity per task); False when the run
    is not a multitask run."""
    from headstart.errors import HeadstartError
    from headstart.predict import load_shipped
    from headstart.rundir import load_run

    _, metrics = load_run(run_dir)
    if metrics.get("kind") != "multitask":
        return False
    if quantize:
        raise HeadstartError("--quantize is not supported for multitask exports yet; export without it")
    from headstart.multitask.onnx import export_multitask_run

    model, config, _ = load_shipped(run_dir)
    say(f"exporting {model.name} to ONNX, one output per task")
    rep = export_multitask_run(run_dir, model, config)
    for task, p in rep["parity"]["per_task"].items():
        ok = "[green]ok[/]" if p["ok"] else "[bold red]OUT OF TOLERANCE[/]"
        console.print(
            f"{escape(task)} ({p['output']}): max |p_onnx - p_torch| = {p['max_abs_prob_diff']:.2e} ({ok}), "
            f"label agreement {100 * p['label_agreement']:.2f}% on {rep['n_test']} test inputs",
            highlight=False,
        )
    console.print(f"wrote {Path(run_dir) / 'export'} (model.onnx, preprocessing.json, export.json)")
    scratch = [n for n, s in metrics.get("shipped", {}).get("per_task", {}).items() if s == "scratch"]
    if scratch:
        console.print(
            f"[yellow]warning:[/] the run ships the from-scratch model for {escape(', '.join(scratch))}; the "
            "ONNX graph holds the multitask heads, which validation ranked no better: for those tasks use "
            "`headstart predict` (without --onnx)",
            highlight=False,
        )
    return True
