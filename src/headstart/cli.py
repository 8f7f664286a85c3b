"""The `headstart` command line: a thin Typer shell over the Python API (parsing and display only)."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from headstart.errors import HeadstartError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Transfer learning for small labeled datasets, always judged against a from-scratch baseline.",
)
console = Console()
err = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])

VERDICT_STYLE = {"helps": "bold green", "no-difference": "bold yellow", "negative-transfer": "bold red"}


def friendly(fn: F) -> F:
    """Turn a HeadstartError into one red line and exit code 2 (no traceback)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except HeadstartError as e:
            err.print(f"[bold red]error:[/] {e}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            err.print("[yellow]interrupted[/]: partial results stay in <out>.partial; continue with --resume")
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


def print_result(result: Any) -> None:
    m = result.metrics
    v = m["verdict"]
    table = Table(title=f"{m['data']['source']}  ({v['n_test']} test examples)", show_lines=False)
    for col in ("side", "model", "test acc.", "macro-F1", "val acc."):
        table.add_column(col)
    for side in ("transfer", "baseline"):
        s = m[side]
        table.add_row(
            side, s["name"], f"{100 * s['accuracy']:.1f}%", f"{100 * s['macro_f1']:.1f}%", f"{s['val_accuracy']:.3f}"
        )
    console.print(table)
    for w in m.get("warnings", []):
        console.print(f"[yellow]warning:[/] {w}", highlight=False)
    console.print(f"[{VERDICT_STYLE[v['label']]}]{v['label']}[/]: {v['sentence']}", highlight=False)
    console.print(f"shipped: {m['shipped']['side']} ({m['shipped']['reason']})", highlight=False)
    if "stack" in m:
        console.print(f"stack (test): {100 * m['stack']['accuracy']:.1f}% — {m['stack']['name']}", highlight=False)
    for col, a in m.get("audit", {}).items():
        console.print(
            f"audit {col}: largest accuracy gap transfer {a['transfer']['max_gap']:.3f}, "
            f"baseline {a['baseline']['max_gap']:.3f} ({a['change']})",
            highlight=False,
        )
    if "variance" in m:
        va = m["variance"]
        console.print(
            f"variance ({va['k']} {va['mode']}): transfer {100 * va['transfer']['mean']:.1f}±"
            f"{100 * va['transfer']['std']:.1f}%, baseline {100 * va['baseline']['mean']:.1f}±"
            f"{100 * va['baseline']['std']:.1f}%, delta {100 * va['delta']['mean']:+.1f} "
            f"[{100 * va['delta']['min']:+.1f}, {100 * va['delta']['max']:+.1f}]",
            highlight=False,
        )
    if "curve" in m:
        for pt in m["curve"]["points"]:
            console.print(
                f"curve {pt['n_labeled']} labels ({pt['labels_per_class']:.1f}/class): transfer "
                f"{100 * pt['transfer_mean']:.1f}±{100 * pt['transfer_std']:.1f}%, baseline "
                f"{100 * pt['baseline_mean']:.1f}±{100 * pt['baseline_std']:.1f}%",
                highlight=False,
            )
    hits, computed = m["cache"]["hits"], m["cache"]["computed"]
    if hits or computed:
        console.print(f"embedding cache: {hits} reused, {computed} computed; total {m['timing']['total']:.1f}s")
    console.print(f"run directory: {result.out}")


def _fractions(text: str) -> list[float]:
    from headstart.studies import parse_fractions

    return parse_fractions(text)


@app.command()
@friendly
def fit(
    data: Annotated[
        str,
        typer.Argument(
            help="CSV/TSV/JSONL/Parquet file, image folder (class per subfolder), .npz with X,y, or builtin:NAME"
        ),
    ],
    out: Annotated[Path, typer.Option(help="run directory to write")] = Path("runs/latest"),
    backbone: Annotated[str | None, typer.Option(help="registry name, NAME:random, hf:ID|PATH or timm:NAME")] = None,
    strategy: Annotated[
        str, typer.Option(help="linear-probe, partial, finetune, progressive, lora, contrastive or auto")
    ] = "linear-probe",
    baseline: Annotated[str, typer.Option(help="auto, tfidf, pixel-logreg, small-cnn or random-init")] = "auto",
    text_column: Annotated[str | None, typer.Option()] = None,
    label_column: Annotated[str | None, typer.Option()] = None,
    group_column: Annotated[list[str] | None, typer.Option(help="column to audit by (repeatable)")] = None,
    labels_per_class: Annotated[int | None, typer.Option(help="few-shot budget: K labeled examples per class")] = None,
    seed: int = 0,
    test_size: float = 0.2,
    max_test: Annotated[int, typer.Option(help="cap on the test split size (0 = no cap)")] = 2000,
    image_size: Annotated[int | None, typer.Option(help="input resolution for image backbones")] = None,
    on_bad_item: Annotated[str, typer.Option(help="error or skip unreadable items (skips are listed)")] = "error",
    loss: Annotated[str, typer.Option(help="ce, weighted or focal")] = "ce",
    focal_gamma: float = 2.0,
    epochs: Annotated[int | None, typer.Option(help="fine-tuning epochs")] = None,
    batch_size: Annotated[int | None, typer.Option()] = None,
    lr: Annotated[float | None, typer.Option(help="base learning rate for fine-tuning")] = None,
    unfreeze: Annotated[int | None, typer.Option(help="partial: number of top block groups to train")] = None,
    layer_decay: Annotated[float | None, typer.Option(help="finetune: per-layer LR decay")] = None,
    use: Annotated[str, typer.Option(help="commercial or research: the license gate")] = "commercial",
    ship: Annotated[str, typer.Option(help="best, transfer, baseline or stack")] = "best",
    positive_class: Annotated[
        str | None, typer.Option(help="audit: positive class of a binary task (default: the second class)")
    ] = None,
    curve: Annotated[bool, typer.Option(help="data-efficiency curve: both sides at several label budgets")] = False,
    curve_fractions: Annotated[
        str | None, typer.Option(help="curve: fractions of the labeled set, e.g. 0.1,0.25,0.5,1.0")
    ] = None,
    curve_seeds: Annotated[int, typer.Option(help="curve: seeds per label budget")] = 3,
    folds: Annotated[int | None, typer.Option(help="variance: stratified K-fold repetitions of the comparison")] = None,
    seeds: Annotated[int | None, typer.Option(help="variance: S seeds (with --folds: repeats of the K folds)")] = None,
    resume: Annotated[bool, typer.Option(help="continue the interrupted run at --out")] = False,
    overwrite: bool = False,
    quiet: bool = False,
) -> None:
    """Fit transfer + a from-scratch baseline on identical splits and print the verdict."""
    from headstart.pipeline import FitConfig, fit_run

    if resume:
        import json

        partial = out.with_name(out.name + ".partial") / "config.json"
        if not partial.exists():
            raise HeadstartError(f"{out}: no interrupted run to resume (no {partial})")
        cfg = FitConfig.from_dict(json.loads(partial.read_text()))
        cfg.progress = not quiet
    else:
        options = {
            k: v
            for k, v in {
                "epochs": epochs,
                "batch_size": batch_size,
                "lr": lr,
                "unfreeze": unfreeze,
                "layer_decay": layer_decay,
            }.items()
            if v is not None
        }
        cfg = FitConfig(
            data=data,
            out=str(out),
            backbone=backbone,
            strategy=strategy,
            baseline=baseline,
            text_column=text_column,
            label_column=label_column,
            group_columns=list(group_column or []),
            labels_per_class=labels_per_class,
            seed=seed,
            test_size=test_size,
            max_test=max_test or None,
            image_size=image_size,
            on_bad_item=on_bad_item,
            loss=loss,
            focal_gamma=focal_gamma,
            use=use,
            ship=ship,
            positive_class=positive_class,
            curve=curve,
            curve_fractions=None if curve_fractions is None else _fractions(curve_fractions),
            curve_seeds=curve_seeds,
            folds=folds,
            seeds=seeds,
            options=options,
            overwrite=overwrite,
            progress=not quiet,
        )
    result = fit_run(cfg, resume=resume, echo=lambda s: console.print(s, highlight=False))
    print_result(result)


@app.command()
@friendly
def predict(
    run_dir: Annotated[Path, typer.Argument(help="a complete run directory from `headstart fit`")],
    data: Annotated[str, typer.Argument(help="CSV/JSONL/Parquet with a text column, or images")],
    out: Annotated[Path, typer.Option(help="CSV to write")] = Path("predictions.csv"),
    side: Annotated[
        str | None, typer.Option(help="transfer, baseline or stack (default: what the run shipped)")
    ] = None,
    text_column: str | None = None,
    onnx: Annotated[bool, typer.Option(help="run the ONNX export (headstart export) with onnxruntime")] = False,
) -> None:
    """Predict labels for new data with a saved run."""
    from headstart.io import atomic_write_text
    from headstart.pipeline import predict_run

    if onnx:
        from headstart.export import predict_onnx  # type: ignore[attr-defined]

        df = predict_onnx(run_dir, data, text_column=text_column)
    else:
        df = predict_run(run_dir, data, side=side, text_column=text_column)
    atomic_write_text(out, df.to_csv(index=False))
    console.print(f"wrote {len(df)} predictions to {out}")


@app.command()
@friendly
def backbones(
    modality: Annotated[str | None, typer.Option(help="text or image")] = None,
) -> None:
    """The backbone registry: name, modality, size, license, pinned weights sha256, installed?"""
    from headstart.backbones import list_specs

    table = Table(title="headstart backbones")
    for col in ("name", "modality", "params", "dim", "license", "weights sha256", "installed", "source"):
        table.add_column(col)
    for s in list_specs(modality):
        table.add_row(
            s.name,
            s.modality,
            f"{s.params_m:.1f}M",
            str(s.embed_dim),
            s.license,
            (s.sha256 or "not pinned")[:16],
            "yes" if s.is_installed() else "no",
            f"{s.source_package}=={s.source_version}",
        )
    console.print(table)
    console.print(
        "Also: hf:<model id or local folder> (text), timm:<model name> (images, needs timm), "
        "and NAME:random for a random-init control."
    )


DEMO_TASKS = (
    ("text", "builtin:rotten-tomatoes", "minilm-l6", 16, "runs/demo-text"),
    ("images", "builtin:mnist5k", "mobilenetv2", 50, "runs/demo-images"),
)


@app.command()
@friendly
def demo(
    out: Annotated[Path, typer.Option(help="folder for the demo runs")] = Path("runs"),
    quiet: bool = False,
) -> None:
    """Run the real job on bundled data: Rotten Tomatoes (16 labels/class, MiniLM) and MNIST-5k
    (50 labels/class, MobileNetV2), each against its from-scratch baseline."""
    from headstart.pipeline import FitConfig, fit_run

    rows = []
    for kind, data, bb, k, folder in DEMO_TASKS:
        target = out / Path(folder).name
        console.rule(f"{kind}: {data}, {k} labels per class, {bb} linear probe")
        cfg = FitConfig(data=data, out=str(target), backbone=bb, labels_per_class=k, overwrite=True, progress=not quiet)
        result = fit_run(cfg, echo=lambda s: console.print(s, highlight=False))
        print_result(result)
        rows.append((kind, result))
    table = Table(title="headstart demo: transfer vs from-scratch, paired on the same test examples")
    for col in ("task", "transfer", "baseline", "delta [95% CI]", "verdict", "report"):
        table.add_column(col)
    for kind, r in rows:
        v = r.metrics["verdict"]
        table.add_row(
            f"{kind} ({r.metrics['data']['source']})",
            f"{r.metrics['transfer']['name']} {100 * v['transfer_accuracy']:.1f}%",
            f"{r.metrics['baseline']['name']} {100 * v['baseline_accuracy']:.1f}%",
            f"{100 * v['delta']:+.1f} [{100 * v['ci_low']:+.1f}, {100 * v['ci_high']:+.1f}]",
            f"[{VERDICT_STYLE[v['label']]}]{v['label']}[/]",
            str(r.out / "report.html") if (r.out / "report.html").exists() else str(r.out),
        )
    console.print(table)


@app.command()
@friendly
def report(
    run_dir: Annotated[Path, typer.Argument(help="a complete run directory from `headstart fit`")],
    open_: Annotated[bool, typer.Option("--open/--no-open", help="open report.html in a web browser")] = False,
) -> None:
    """Regenerate RUN_DIR/report.html: one self-contained page showing why the verdict holds."""
    from headstart.pipeline import load_run
    from headstart.report import write_report

    config, metrics = load_run(run_dir)
    path = write_report(run_dir, metrics, config)
    console.print(f"wrote {path}", highlight=False)
    if open_:
        import webbrowser

        webbrowser.open(path.resolve().as_uri())


# ---------------------------------------------------------------------------------------------- advise, rank, ui


def _print_advice(adv: Any, *, title: str, confidence: str | None = None, notes: list[str] | None = None) -> None:
    from rich.panel import Panel

    conf = confidence or adv.confidence
    lines = [f"[bold]{adv.strategy}[/]  (rule {adv.rule_id}, confidence {conf})", "", adv.headline, "", "[bold]why[/]"]
    lines += [f"  - {r}" for r in adv.reasons]
    lines += ["", "[bold]risks[/]"] + [f"  - {r}" for r in adv.risks]
    if notes:
        lines += ["", "[bold]confidence[/]"] + [f"  - {n}" for n in notes]
    lines += ["", f"[dim]{adv.justification}[/]", "", "[bold]next:[/] " + adv.next_command]
    console.print(Panel("\n".join(lines), title=title, expand=False), highlight=False)


@app.command()
@friendly
def advise(
    data: Annotated[
        str | None, typer.Argument(help="measure the inputs from this data set (any `fit` source); omit for the rubric")
    ] = None,
    labels_per_class: Annotated[
        int | None, typer.Option(help="labeled examples per class (rarest class); with DATA: your label budget")
    ] = None,
    similarity: Annotated[str | None, typer.Option(help="low, medium or high similarity to the source domain")] = None,
    compute: Annotated[str | None, typer.Option(help="cpu, single-gpu or multi-gpu (default: this machine)")] = None,
    unlabeled: Annotated[bool, typer.Option(help="unlabeled target-domain data is available")] = False,
    backbone: Annotated[str | None, typer.Option(help="backbone to advise for (with DATA)")] = None,
    source: Annotated[
        str | None, typer.Option(help="reference sample of the backbone's source domain (any `fit` source)")
    ] = None,
    max_samples: Annotated[int, typer.Option(help="examples per domain embedded to measure similarity")] = 200,
    image_size: Annotated[int | None, typer.Option(help="input resolution (default: what fit uses)")] = None,
    text_column: str | None = None,
    label_column: str | None = None,
    seed: int = 0,
    as_json: Annotated[bool, typer.Option("--json", help="print the advice as JSON")] = False,
) -> None:
    """Which transfer strategy to try first, and the `headstart fit` command to run next.

    Without DATA: the rubric, from --labels-per-class, --similarity and --compute. With DATA: labels per
    class, imbalance, compute and domain similarity (proxy A-distance + MMD against --source or a packaged
    reference sample) are measured."""
    import json

    from headstart.advise import advise as rubric_advise
    from headstart.advise import compute_band, compute_profile

    if data is None:
        if labels_per_class is None or similarity is None:
            raise HeadstartError(
                "pass --labels-per-class and --similarity (and optionally --compute), "
                "or give a DATA source to measure them: headstart advise builtin:digits"
            )
        comp = compute or compute_band(compute_profile())
        adv = rubric_advise(labels_per_class, similarity, comp, unlabeled_target=unlabeled)
        if as_json:
            console.print_json(json.dumps(adv.to_dict()))
            return
        _print_advice(
            adv, title=f"{labels_per_class} labels/class ({adv.data_band}), similarity {similarity}, compute {comp}"
        )
        return

    from headstart.advise.data_aware import advise_from_data

    if similarity is not None:
        raise HeadstartError("--similarity is measured when DATA is given; drop it (or drop DATA to use the rubric)")
    da = advise_from_data(
        data,
        backbone,
        source,
        labels_per_class=labels_per_class,
        compute=compute,
        unlabeled_target=unlabeled,
        max_samples=max_samples,
        seed=seed,
        image_size=image_size,
        progress=not as_json,
        text_column=text_column,
        label_column=label_column,
    )
    if as_json:
        console.print_json(json.dumps(da.to_dict(), default=str))
        return
    table = Table(title=f"measured inputs: {da.source} ({da.modality}) for {da.backbone}")
    table.add_column("input")
    table.add_column("value")
    table.add_column("how")
    table.add_row(
        "labels per class",
        f"{da.labels_per_class} ({da.advice.data_band})",
        f"rarest class; {da.imbalance_ratio:.1f}:1",
    )
    prof = da.compute_profile
    gpus = ", ".join(g["name"] for g in prof.get("gpus", [])) or "no CUDA GPU"
    table.add_row("compute", da.compute, f"{prof.get('cpu_cores')} CPU cores, {gpus}")
    table.add_row(
        "similarity",
        da.similarity,
        f"PAD {da.pad:.2f} (0 same .. 2 separable), MMD {da.mmd:.4f}; {da.n_target} vs {da.n_reference} "
        f"examples of {da.reference}",
    )
    console.print(table)
    console.print(f"[dim]reference: {da.reference_note}[/]", highlight=False)
    for w in da.warnings:
        console.print(f"[yellow]warning:[/] {w}", highlight=False)
    _print_advice(da.advice, title="the call", confidence=da.confidence, notes=da.confidence_notes)


@app.command()
@friendly
def rank(
    data: Annotated[str, typer.Argument(help="labeled data (any `fit` source)")],
    backbones: Annotated[
        str | None, typer.Option(help="comma-separated names (default: installed ones passing the license gate)")
    ] = None,
    controls: Annotated[bool, typer.Option(help="add NAME:random controls (should rank last)")] = False,
    labels_per_class: Annotated[int, typer.Option(help="score at most this many examples per class")] = 100,
    use: Annotated[str, typer.Option(help="commercial or research: the license gate")] = "commercial",
    image_size: Annotated[int | None, typer.Option(help="input resolution (default: what fit uses)")] = None,
    text_column: str | None = None,
    label_column: str | None = None,
    seed: int = 0,
    as_json: Annotated[bool, typer.Option("--json", help="print the rows as JSON")] = False,
) -> None:
    """Rank backbones on your data before fitting: LogME, LEEP, NCE, H-score, k-NN and linear-probe CV."""
    import json
    import math

    from headstart.data import load_data
    from headstart.ranking.rank import candidate_backbones, rank_data

    loaded = load_data(data, text_column=text_column, label_column=label_column)
    names: list[str] | None = None
    if backbones is None:
        names, notes = candidate_backbones(loaded.modality, use=use, controls=controls)
        for n in notes:
            err.print(f"[yellow]skipped[/] {n}", highlight=False)
    else:
        names = [b for b in backbones.split(",") if b.strip()]
    rows = rank_data(
        loaded,
        names,
        labels_per_class=labels_per_class,
        controls=controls and backbones is not None,
        seed=seed,
        use=use,
        image_size=image_size,
        progress=not as_json,
    )
    if as_json:
        console.print_json(json.dumps(rows, default=float))
        return

    def fmt(v: float, pct: bool = False) -> str:
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return "-"
        return f"{100 * v:.1f}%" if pct else f"{v:.3f}"

    n = rows[0]["n_samples"] if rows else 0
    table = Table(title=f"transferability of {len(rows)} backbones on {loaded.source} ({n} examples scored)")
    for col in ("#", "backbone", "LogME", "LEEP", "NCE", "H-score", "k-NN acc.", "probe acc.", "time"):
        if col == "backbone":
            table.add_column(col, no_wrap=True)
        else:
            table.add_column(col, justify="right")
    for r in rows:
        name = f"{r['name']} [dim](control)[/]" if r["control"] else r["name"]
        table.add_row(
            str(r["rank"]),
            name,
            fmt(r["logme"]),
            fmt(r["leep"]),
            fmt(r["nce"]),
            fmt(r["h_score"]),
            fmt(r["knn_accuracy"], True),
            fmt(r["linear_probe_accuracy"], True),
            f"{r['seconds']:.1f}s" + (" (cached)" if r["computed"] == 0 and r["cache_hits"] else ""),
        )
    console.print(table)
    console.print("Sorted by LogME (higher is better); LEEP/NCE need a source classifier head ('-' otherwise).")
    if rows:
        best = rows[0]["name"]
        console.print(f"next: headstart fit {data} --backbone {best}", highlight=False)


@app.command()
@friendly
def ui(
    runs: Annotated[Path, typer.Option(help="folder of run directories to list")] = Path("runs"),
    host: Annotated[
        str, typer.Option(help="address to bind; the default is loopback only. 0.0.0.0 exposes it to your network")
    ] = "127.0.0.1",
    port: int = 8765,
) -> None:
    """Start the local advisor page (live rubric + the runs in --runs) at http://HOST:PORT/."""
    import uvicorn

    from headstart.ui import create_app

    if host not in ("127.0.0.1", "localhost", "::1"):
        err.print(
            f"[bold yellow]warning:[/] binding to {host}: anyone who can reach this machine can read the runs "
            f"in {runs} (there is no authentication)",
            highlight=False,
        )
    console.print(f"headstart ui: http://{host}:{port}/  (runs from {runs}; Ctrl+C to stop)")
    uvicorn.run(create_app(runs), host=host, port=port, log_level="warning")


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
    rep = export_run(run_dir, fmt=format, quantize=quantize, side=side, max_items=max_items or None, echo=say)
    par, acc, speed = rep["parity"], rep["accuracy"], rep["speed"]
    ok = "[green]ok[/]" if par["ok"] else "[bold red]OUT OF TOLERANCE[/]"
    console.print(
        f"parity on {rep['n_test']} test inputs: max |p_onnx - p_torch| = {par['max_abs_prob_diff']:.2e} ({ok}), "
        f"label agreement {100 * par['label_agreement']:.2f}%",
        highlight=False,
    )
    line = f"test accuracy: torch {100 * acc['torch']:.2f}%, onnx fp32 {100 * acc['onnx_fp32']:.2f}%"
    if "onnx_int8" in acc:
        line += f", onnx int8 {100 * acc['onnx_int8']:.2f}% (delta {100 * rep['int8']['accuracy_delta_vs_fp32']:+.2f})"
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

    script = Path(__file__).resolve().parents[2] / "benchmarks" / "run.py"
    if not script.is_file():
        raise HeadstartError(
            f"headstart bench needs a source checkout with {script}; clone the repository and run "
            "`pip install -e .` there (or run `python benchmarks/run.py` in it)"
        )
    args = ["--help" if a == "--help-bench" else a for a in ctx.args]
    raise typer.Exit(subprocess.run([sys.executable, str(script), *args], check=False).returncode)


def main() -> None:  # pragma: no cover - console entry point
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
