"""`fit`, `predict`, `demo` and `report`: commands over one run directory."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from headstart.cli._app import VERDICT_STYLE, app, console, friendly
from headstart.errors import HeadstartError


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
