"""`export` and `bench`: after a run."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from headstart.cli._app import app, console, friendly
from headstart.errors import HeadstartError


@app.command()
@friendly
def export(
    run_dir: Annotated[Path, typer.Argument(help="a complete run directory from `headstart fit`")],
    format: Annotated[str, typer.Option("--format", help="export format (onnx)")] = "onnx",
    quantize: Annotated[str | None, typer.Option(help="also write a dynamically quantized copy: int8")] = None,
    side: Annotated[str | None, typer.Option(help="transfer or baseline (default: what the run shipped)")] = None,
    max_items: Annotated[int, typer.Option(help="check parity on at most this many test items (0 = all)")] = 0,
    quiet: bool = False,
) -> None:
    """Export the shipped model (preprocessing contract + backbone + head) to ONNX, check parity with torch
    on the test split, optionally quantize to int8, and time torch vs ONNX Runtime."""
    from headstart.export import export_run

    say = (lambda _s: None) if quiet else (lambda s: console.print(s, highlight=False))
    from headstart.cli.multitask import export_multitask_if_multitask

    if export_multitask_if_multitask(run_dir, quantize, say):
        return
    rep = export_run(run_dir, fmt=format, quantize=quantize, side=side, max_items=max_items or None, echo=say)
    par, speed = rep["parity"], rep["speed"]
    ok = "[green]ok[/]" if par["ok"] else "[bold red]OUT OF TOLERANCE[/]"
    if rep.get("task") == "regression":
        mae = rep["mae"]
        console.print(
            f"parity on {rep['n_test']} test inputs: max |y_onnx - y_torch| = {par['max_abs_diff']:.2e}, "
            f"{par['max_diff_over_target_std']:.1e} std ({ok})",
            highlight=False,
        )
        line = f"test MAE: torch {mae['torch']:.4g}, onnx fp32 {mae['onnx_fp32']:.4g}"
        if "onnx_int8" in mae:
            line += f", onnx int8 {mae['onnx_int8']:.4g} (delta {rep['int8']['mae_delta_vs_fp32']:+.3g})"
    else:
        acc = rep["accuracy"]
        console.print(
            f"parity on {rep['n_test']} test inputs: max |p_onnx - p_torch| = {par['max_abs_prob_diff']:.2e} "
            f"({ok}), label agreement {100 * par['label_agreement']:.2f}%",
            highlight=False,
        )
        line = f"test accuracy: torch {100 * acc['torch']:.2f}%, onnx fp32 {100 * acc['onnx_fp32']:.2f}%"
        if "onnx_int8" in acc:
            delta = 100 * rep["int8"]["accuracy_delta_vs_fp32"]
            line += f", onnx int8 {100 * acc['onnx_int8']:.2f}% (delta {delta:+.2f})"
    console.print(line, highlight=False)
    for name in ("torch", "onnx_fp32", "onnx_int8"):
        if name in speed:
            r = speed[name]
            console.print(
                f"  {name:10s} {r['items_per_s']:9.1f} items/s ({r['throughput_ratio_vs_torch']:.2f}x torch), "
                f"batch-1 latency {r['latency_ms']:.2f} ms",
                highlight=False,
            )
    if rep.get("int8", {}).get("note"):
        console.print(f"[yellow]int8:[/] {rep['int8']['note']}", highlight=False)
    console.print(f"wrote {Path(run_dir) / 'export'} (model.onnx, preprocessing.json, export.json)")


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
@friendly
def bench(ctx: typer.Context) -> None:
    """Benchmark headstart against TF-IDF, SetFit and from-scratch baselines; writes BENCHMARKS.md.

    Runs benchmarks/run.py of this source checkout with the same arguments (--quick, --out, --k-text, ...;
    see `headstart bench --help-bench`)."""
    import subprocess

    script = Path(__file__).resolve().parents[3] / "benchmarks" / "run.py"
    if not script.is_file():
        raise HeadstartError(
            f"headstart bench needs a source checkout with {script}; clone the repository and run "
            "`pip install -e .` there (or run `python benchmarks/run.py` in it)"
        )
    args = ["--help" if a == "--help-bench" else a for a in ctx.args]
    raise typer.Exit(subprocess.run([sys.executable, str(script), *args], check=False).returncode)
