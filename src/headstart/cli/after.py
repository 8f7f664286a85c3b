"""`monitor`, `query`, `distill` and `gain`: after a run has shipped."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from headstart.cli._app import app, console, friendly


def _say(quiet: bool) -> Any:
    return (lambda _s: None) if quiet else (lambda s: console.print(f"[dim]{s}[/]", highlight=False))


def _p(x: float) -> str:
    return f"{x:.2g}" if x >= 1e-3 else "<0.001"


@app.command()
@friendly
def monitor(
    run_dir: Annotated[Path, typer.Argument(help="a complete run directory from `headstart fit`")],
    new_data: Annotated[str, typer.Argument(help="new items: a file, an image folder or builtin:NAME")],
    chunk_size: Annotated[int | None, typer.Option(help="split a time-ordered file into chunks of N items")] = None,
    out: Annotated[Path | None, typer.Option(help="folder for monitor.json/.html (default RUN_DIR/monitor)")] = None,
    max_items: Annotated[int, typer.Option(help="read at most this many new items (first N)")] = 5000,
    alpha: Annotated[float, typer.Option(help="false-alarm rate over the three tests")] = 0.05,
    seed: int = 0,
    quiet: bool = False,
) -> None:
    """Is new data still like the run's data? MMD on embeddings, KS on predicted probabilities, class
    shares, and the accuracy estimated without labels (CBPE)."""
    from headstart.monitor.monitor import monitor_run

    doc = monitor_run(
        run_dir, new_data, chunk_size=chunk_size, out=out, max_items=max_items, alpha=alpha, seed=seed, echo=_say(quiet)
    )
    t, perf = doc["tests"], doc["performance"]
    head = "[bold red]SHIFT DETECTED[/]" if doc["drift"] else "[bold green]no shift detected[/]"
    console.print(f"{head}  ({doc['n_new']} new items vs {doc['reference']['embedding']})", highlight=False)
    table = Table(show_header=True, header_style="bold", width=78)
    table.add_column("test", width=34)
    table.add_column("p-value", justify="right")
    table.add_column(f"p < {doc['level_per_test']:.3g}?", justify="right")
    for key, name in (
        ("embedding", "MMD on embeddings"),
        ("output", "KS on probabilities (Bonferroni)"),
        ("class_shares", "predicted class shares (chi²)"),
    ):
        p = t[key]["p_value"]
        table.add_row(name, _p(p), "[red]yes[/]" if p < doc["level_per_test"] else "no")
    console.print(table)
    line = (
        f"estimated accuracy {100 * perf['estimate']:.1f}% "
        f"[{100 * perf['ci_low']:.1f}, {100 * perf['ci_high']:.1f}] vs test {100 * perf['test_accuracy']:.1f}%"
    )
    if "realized_accuracy" in perf:
        line += f"; realized {100 * perf['realized_accuracy']:.1f}%"
    console.print(line + (" [bold red](drop beyond CI)[/]" if perf["drop"] else ""), highlight=False)
    if doc["drift"]:
        console.print("[yellow]the estimate assumes calibration carries over; under shift, label a sample[/]")
    if doc["moved_classes"]:
        per = t["class_shares"]["per_class"]
        moved = ", ".join(f"{c} {100 * per[c]['change']:+.0f} pts" for c in doc["moved_classes"][:6])
        console.print(f"classes whose share moved: {moved}", highlight=False)
    if doc["chunks"]:
        flagged = [str(c["chunk"]) for c in doc["chunks"] if c["drift"]]
        console.print(
            f"{len(doc['chunks'])} chunks of {doc['chunk_size']}; drift in: {', '.join(flagged) or 'none'}",
            highlight=False,
        )
    console.print(f"wrote {doc['out']}/monitor.json and monitor.html", highlight=False)


@app.command()
@friendly
def query(
    run_dir: Annotated[Path, typer.Argument(help="a complete run directory from `headstart fit`")],
    pool: Annotated[str, typer.Argument(help="unlabeled items: a table, an image folder or builtin:NAME")],
    budget: Annotated[int, typer.Option(help="how many items to send for labeling")] = 32,
    method: Annotated[str, typer.Option(help="margin, entropy, least-confidence, badge, coreset or random")] = "margin",
    out: Annotated[Path, typer.Option(help="CSV to write (fill in its label column)")] = Path("to_label.csv"),
    max_items: Annotated[int, typer.Option(help="read at most this many pool items")] = 20000,
    seed: int = 0,
    quiet: bool = False,
) -> None:
    """Rank an unlabeled pool for labeling (active learning) and write to_label.csv; label it, then
    `headstart fit ... --add-labels to_label.csv` and `headstart gain OLD_RUN NEW_RUN`."""
    from headstart.active.query import query_run

    rep = query_run(
        run_dir, pool, budget=budget, method=method, out=out, seed=seed, max_items=max_items, echo=_say(quiet)
    )
    table = Table(show_header=True, header_style="bold", width=78, title=f"top of {out}")
    for col in ("rank", "id", "prediction", "score"):
        table.add_column(
            col, overflow="ellipsis", no_wrap=True, justify="right" if col in ("rank", "score") else "left"
        )
    for r in rep["rows"].head(8).itertuples(index=False):
        table.add_row(str(r.rank), str(r.id), str(r.prediction), f"{r.score:.3f}")
    console.print(table)
    from headstart.active.select import describe_pick

    console.print(describe_pick(method), highlight=False)
    console.print(
        f"wrote {rep['n']} of {rep['n_pool']} pool items ({method}) to {out}; fill in its label column", highlight=False
    )


@app.command()
@friendly
def gain(
    previous: Annotated[Path, typer.Argument(help="the run before the added labels")],
    new: Annotated[Path, typer.Argument(help="the run fitted with --add-labels")],
) -> None:
    """Paired verdict of a refit with added labels against the previous run, on the identical test split."""
    from headstart.active.gain import run_gain

    v = run_gain(previous, new)
    console.print(
        f"gain {100 * v['delta']:+.1f} points [{100 * v['ci_low']:+.1f}, {100 * v['ci_high']:+.1f}] "
        f"({100 * v['b_score']:.1f}% -> {100 * v['a_score']:.1f}% on {v['n_test']} test items)",
        highlight=False,
    )
    console.print(v["sentence"], highlight=False)


@app.command()
@friendly
def distill(
    run_dir: Annotated[Path, typer.Argument(help="a complete run directory (the teacher)")],
    student: Annotated[str, typer.Option(help="probe:BACKBONE, tfidf (text) or small-cnn (images)")],
    out: Annotated[Path, typer.Option(help="run directory to write for the student")],
    unlabeled: Annotated[str | None, typer.Option(help="extra unlabeled items for the teacher to label")] = None,
    max_drop: Annotated[float, typer.Option(help="largest accuracy drop allowed to ship (0.01 = 1 point)")] = 0.01,
    seed: int = 0,
    overwrite: bool = False,
    quiet: bool = False,
) -> None:
    """Train a smaller student on the shipped model's soft predictions; ship it only within --max-drop."""
    from headstart.distill.distill import distill_run

    m = distill_run(
        run_dir,
        student=student,
        out=out,
        unlabeled=unlabeled,
        max_drop=max_drop,
        seed=seed,
        overwrite=overwrite,
        echo=_say(quiet),
    )
    d, v = m["distill"], m["verdict"]
    table = Table(show_header=True, header_style="bold", width=78)
    for col in ("", "test accuracy", "batch-1 ms", "items/s", "size MB"):
        table.add_column(col, justify="left" if not col else "right")
    for side, acc in (("teacher", d["teacher_accuracy"]), ("student", d["student_accuracy"])):
        s, z = d["speed"][side], d["size"][side]
        table.add_row(
            side, f"{100 * acc:.1f}%", f"{s['latency_ms']:.1f}", f"{s['items_per_s']:.0f}", f"{z['total_mb']:.1f}"
        )
    console.print(table)
    console.print(
        f"student - teacher: {100 * v['delta']:+.1f} points [{100 * v['ci_low']:+.1f}, {100 * v['ci_high']:+.1f}]"
        f" (paired 95% CI); agreement {100 * d['agreement']:.1f}% on {v['n_test']} test items",
        highlight=False,
    )
    style = "bold green" if d["ships"] else "bold red"
    console.print(
        f"[{style}]{'ships' if d['ships'] else 'does not ship'}[/]: {m['shipped']['reason']}", highlight=False
    )
    console.print(f"wrote {out}", highlight=False)
