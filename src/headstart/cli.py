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
    hits, computed = m["cache"]["hits"], m["cache"]["computed"]
    if hits or computed:
        console.print(f"embedding cache: {hits} reused, {computed} computed; total {m['timing']['total']:.1f}s")
    console.print(f"run directory: {result.out}")


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
    side: Annotated[str | None, typer.Option(help="transfer or baseline (default: what the run shipped)")] = None,
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


def main() -> None:  # pragma: no cover - console entry point
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
