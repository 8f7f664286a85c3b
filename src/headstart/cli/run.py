"""`fit`, `predict`, `demo` and `report`: commands over one run directory."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from headstart.cli._app import VERDICT_STYLE, app, console, friendly
from headstart.config import BUILTIN_STRATEGIES, Baseline, FitConfig, Loss, Modality, OnBadItem, Ship, Task, Use
from headstart.errors import HeadstartError
from headstart.executors import ExecutorKind


def _pct(x: Any) -> str:
    return "-" if x is None or x != x else f"{100 * float(x):.1f}%"


def _selection(s: dict[str, Any]) -> str:
    v = s["val_mae"] if "val_mae" in s else s.get("val_accuracy")
    if v is None or v != v:
        return "-"
    return f"{s.get('selection', 'val')} {float(v):.3f}"


def print_result(result: Any) -> None:
    """The run's arms (test scores on the same items), then the verdict and what shipped.

    Every column that holds a name or a verdict word wraps instead of being cut, so it reads at 80 columns.
    """
    m = result.metrics
    v = m["verdict"]
    table = Table(title=f"{m['data']['source']}  ({v['n_test']} test examples)", show_lines=False)
    table.add_column("arm", overflow="fold")
    table.add_column("model", overflow="fold", ratio=1)
    regression = m["data"].get("task") == "regression"
    for col in ("test MAE", "R²", "select.") if regression else ("test acc.", "bal. acc.", "select."):
        table.add_column(col, justify="right", no_wrap=True)

    def scores(s: dict[str, Any]) -> tuple[str, str]:
        if regression:
            r2 = s.get("r2")
            return f"{s['mae']:.4g}", "-" if r2 is None else f"{r2:.3f}"
        return _pct(s["accuracy"]), _pct(s["balanced_accuracy"])

    for side, arm in (("transfer", "transfer"), ("baseline", "scratch")):
        s = m[side]
        table.add_row(arm, s["name"], *scores(s), _selection(s))
    for name, ref in m.get("references", {}).items():
        table.add_row(name, ref["model"], *scores(ref), "-")
    console.print(table)
    metric = "MAE" if regression else "accuracy"
    console.print(
        f"select. = the score the shipping rule used: cv = cross-validated {metric} on train+val; "
        f"val = {metric} on the validation split; never the test split",
        style="dim",
        highlight=False,
    )
    for w in m.get("warnings", []):
        console.print(f"[yellow]warning:[/] {w}", highlight=False)
    console.print(f"[{VERDICT_STYLE.get(v['label'], 'bold')}]{v['label']}[/]: {v['sentence']}", highlight=False)
    if "mcnemar_p" in v:
        console.print(
            f"exact McNemar on {v['a_only_correct'] + v['b_only_correct']} discordant items: p = {v['mcnemar_p']:.3g}",
            highlight=False,
        )
    console.print(f"shipped: {m['shipped']['side']} ({m['shipped']['reason']})", highlight=False)
    if "stack" in m:
        console.print(f"stack (test): {100 * m['stack']['accuracy']:.1f}% — {m['stack']['name']}", highlight=False)
    for col, a in m.get("audit", {}).items():
        console.print(
            f"audit {col}: largest accuracy gap transfer {a['transfer']['max_gap']:.3f}, "
            f"baseline {a['baseline']['max_gap']:.3f} ({a['change']})",
            highlight=False,
        )
        if a.get("largest_error_rate_gap"):
            from headstart.evaluation.audit import error_rate_sentence

            console.print(f"audit {col}: {error_rate_sentence(a['largest_error_rate_gap'])}", highlight=False)
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
    from headstart.study_curve import parse_fractions

    return parse_fractions(text)


def _strategy_help() -> str:
    return ", ".join([*BUILTIN_STRATEGIES, "auto"])


@app.command()
@friendly
def fit(
    data: Annotated[
        str | None,
        typer.Argument(
            help="CSV/TSV/JSONL/Parquet file, image folder (class per subfolder), .npz with X,y, or builtin:NAME "
            "(not needed with --resume)"
        ),
    ] = None,
    out: Annotated[Path, typer.Option(help="run directory to write")] = Path("runs/latest"),
    backbone: Annotated[str | None, typer.Option(help="registry name, NAME:random, hf:ID|PATH or timm:NAME")] = None,
    strategy: Annotated[str, typer.Option(help=f"one of: {_strategy_help()}")] = "linear-probe",
    baseline: Annotated[Baseline, typer.Option(help="from-scratch side (auto = best of the classical ones)")] = (
        Baseline.auto
    ),
    text_column: Annotated[str | None, typer.Option(help="column holding the text (default: text)")] = None,
    label_column: Annotated[
        list[str] | None,
        typer.Option(help="column holding the label (default: label); repeat it for a multitask run, one per task"),
    ] = None,
    tasks: Annotated[
        str | None, typer.Option(help="multitask builtins: tasks to train together, e.g. fine,coarse")
    ] = None,
    task_weighting: Annotated[
        str, typer.Option(help="multitask loss weights: equal, uncertainty (Kendall et al.) or dwa")
    ] = "equal",
    gradients: Annotated[
        str, typer.Option(help="multitask gradient combination: sum, pcgrad or upgrad (torchjd)")
    ] = "sum",
    modality: Annotated[
        Modality | None, typer.Option(help="tabular: feature columns (default when a table has no text column)")
    ] = None,
    task: Annotated[Task, typer.Option(help="classification, regression, or auto (numeric labels, many values)")] = (
        Task.auto
    ),
    group_column: Annotated[list[str] | None, typer.Option(help="column to audit by (repeat the flag)")] = None,
    labels_per_class: Annotated[int | None, typer.Option(help="few-shot budget: K labeled examples per class")] = None,
    seed: Annotated[int, typer.Option(help="seed of the split and of training")] = 0,
    test_size: Annotated[float, typer.Option(help="share of items held out for the test split")] = 0.2,
    val_size: Annotated[float, typer.Option(help="share of the labeled items used for validation")] = 0.2,
    max_test: Annotated[int, typer.Option(help="cap on the test split size (0 = no cap)")] = 2000,
    image_size: Annotated[int | None, typer.Option(help="input resolution for image backbones")] = None,
    on_bad_item: Annotated[OnBadItem, typer.Option(help="stop at, or skip, unreadable items (skips are listed)")] = (
        OnBadItem.error
    ),
    loss: Annotated[Loss, typer.Option(help="training loss: ce, class-weighted ce, or focal")] = Loss.ce,
    focal_gamma: Annotated[float, typer.Option(help="focal loss exponent")] = 2.0,
    epochs: Annotated[int | None, typer.Option(help="fine-tuning epochs")] = None,
    batch_size: Annotated[int | None, typer.Option(help="fine-tuning batch size")] = None,
    lr: Annotated[float | None, typer.Option(help="base learning rate for fine-tuning")] = None,
    unfreeze: Annotated[int | None, typer.Option(help="partial: number of top block groups to train")] = None,
    layer_decay: Annotated[float | None, typer.Option(help="finetune: per-layer LR decay")] = None,
    use: Annotated[Use, typer.Option(help="intended use, checked against the backbone license")] = Use.commercial,
    ship: Annotated[Ship, typer.Option(help="which side to ship (best = the winner on validation)")] = Ship.best,
    positive_class: Annotated[
        str | None, typer.Option(help="audit: positive class of a binary task (default: the second class)")
    ] = None,
    curve: Annotated[bool, typer.Option(help="data-efficiency curve: both sides at several label budgets")] = False,
    curve_fractions: Annotated[
        str | None, typer.Option(help="curve: fractions of the labeled set, e.g. 0.1,0.25,0.5,1.0")
    ] = None,
    curve_seeds: Annotated[int, typer.Option(help="curve: number of seeds per label budget")] = 3,
    folds: Annotated[int | None, typer.Option(help="variance: number of stratified folds to repeat the run on")] = None,
    seeds: Annotated[
        int | None, typer.Option(help="variance: number of seeds (with --folds: repeats of the folds)")
    ] = (None),
    executor: Annotated[
        ExecutorKind,
        typer.Option(help="where --seeds/--folds/--curve repetitions run: here one by one, or as Ray tasks"),
    ] = ExecutorKind.sequential,
    ray_address: Annotated[
        str | None, typer.Option(help="--executor ray: address of a running Ray cluster (default: start a local one)")
    ] = None,
    add_labels: Annotated[
        Path | None, typer.Option(help="to_label.csv from `headstart query`, filled in: added to train")
    ] = None,
    resume: Annotated[bool, typer.Option(help="continue the interrupted run at --out with its saved settings")] = False,
    overwrite: Annotated[
        bool, typer.Option(help="replace an existing run at --out (only once the new one is done)")
    ] = (False),
    quiet: Annotated[bool, typer.Option(help="no progress bars")] = False,
    source: Annotated[
        str | None, typer.Option(help="domain adaptation: labeled source data of the same classes (DATA@COL=V ok)")
    ] = None,
    adapt: Annotated[
        str | None,
        typer.Option(help="with --source: auto, or a comma list of per-domain, coral, sa, kmm, ot, self-training"),
    ] = None,
    unlabeled: Annotated[str | None, typer.Option(help="with --source: unlabeled target items (folder or CSV)")] = None,
    class_map: Annotated[str | None, typer.Option(help="with --source: rename source classes, old=new,...")] = None,
    domain_column: Annotated[
        str | None, typer.Option(help="domain generalization: column naming each item's domain (leave-one-out)")
    ] = None,
    holdout_domain: Annotated[str | None, typer.Option(help="with --domain-column: the headline domain")] = None,
) -> None:
    """Fit transfer + a from-scratch baseline on identical splits and print the verdict.

    With --source, the run is a domain-adaptation study instead: source-only vs each adapted method on the
    target's test items (the same as `headstart adapt`)."""
    from headstart.pipeline import fit_run
    from headstart.rundir import resume_config

    labels = list(label_column or [])
    if len(labels) > 1 and (source is not None or domain_column is not None):
        raise HeadstartError("several --label-column make a multitask run, which takes no --source/--domain-column")
    one_label = labels[0] if labels else None
    if domain_column is not None or holdout_domain is not None:
        from headstart.cli.generalize import run_and_print as generalize_and_print

        if domain_column is None or source is not None:
            raise HeadstartError(
                "--holdout-domain needs --domain-column COL (and no --source); see headstart generalize"
            )
        generalize_and_print(data, out, column=domain_column, holdout=holdout_domain, backbone=backbone, seed=seed,
                             baseline=str(baseline), text_column=text_column, label_column=one_label,
                             overwrite=overwrite, progress=not quiet)  # fmt: skip
        return
    if source is not None:
        from headstart.cli.adapt import run_and_print

        if data is None:
            raise HeadstartError("--source needs the TARGET data as the first argument")
        run_and_print(data, source, out, method=adapt or "auto", unlabeled=unlabeled,
                      labels_per_class=labels_per_class or 0, class_map=class_map, backbone=backbone,
                      text_column=text_column, label_column=one_label, max_test=max_test or None, seed=seed,
                      overwrite=overwrite, strategy=strategy, image_size=image_size, resume=resume,
                      options={"epochs": epochs, "batch_size": batch_size, "lr": lr, "unfreeze": unfreeze})  # fmt: skip
        return
    if adapt or unlabeled or class_map:
        raise HeadstartError("--adapt, --unlabeled and --class-map need --source SOURCE (labeled source data)")
    if resume:
        cfg = FitConfig.from_dict(resume_config(out))
        if data is not None and data != cfg.data:
            raise HeadstartError(f"--resume continues {out} on {cfg.data}; drop DATA ({data}) or use a new --out")
        cfg.progress = not quiet
    else:
        if data is None:
            raise HeadstartError("missing DATA: give a file, folder or builtin:NAME (or --resume --out RUN)")
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
        labels = list(label_column or [])
        cfg = FitConfig(
            data=data,
            out=str(out),
            backbone=backbone,
            strategy=strategy,
            baseline=baseline.value,
            text_column=text_column,
            label_column=labels[0] if len(labels) == 1 else None,
            label_columns=labels if len(labels) > 1 else [],  # several: a multitask run
            tasks=tasks,
            task_weighting=task_weighting,
            gradients=gradients,
            group_columns=list(group_column or []),
            labels_per_class=labels_per_class,
            seed=seed,
            test_size=test_size,
            val_size=val_size,
            max_test=max_test or None,
            image_size=image_size,
            on_bad_item=on_bad_item.value,
            loss=loss.value,
            focal_gamma=focal_gamma,
            use=use.value,
            ship=ship.value,
            positive_class=positive_class,
            curve=curve,
            curve_fractions=None if curve_fractions is None else _fractions(curve_fractions),
            curve_seeds=curve_seeds,
            folds=folds,
            seeds=seeds,
            executor=executor.value,
            ray_address=ray_address,
            options=options,
            add_labels=None if add_labels is None else str(add_labels),
            overwrite=overwrite,
            progress=not quiet,
            modality=None if modality is None else modality.value,
            task=task.value,
        )
    result = fit_run(cfg, resume=resume, echo=lambda s: console.print(s, highlight=False))
    if "multitask" in result.metrics:
        from headstart.cli.multitask import print_multitask

        print_multitask(result)
    else:
        print_result(result)


@app.command()
@friendly
def predict(
    run_dir: Annotated[Path, typer.Argument(help="a complete run directory from `headstart fit`")],
    data: Annotated[str, typer.Argument(help="new items: a CSV/TSV/JSONL/Parquet table (texts or rows), or images")],
    out: Annotated[Path, typer.Option(help="CSV file to write")] = Path("predictions.csv"),
    side: Annotated[
        str | None, typer.Option(help="transfer, baseline or stack (default: what the run shipped)")
    ] = None,
    text_column: Annotated[str | None, typer.Option(help="column holding the text (default: the run's)")] = None,
    keep_column: Annotated[
        list[str] | None, typer.Option(help="input column to copy into the output (repeat the flag; * = all)")
    ] = None,
    onnx: Annotated[bool, typer.Option(help="run the ONNX export (headstart export) with onnxruntime")] = False,
    on_bad_item: Annotated[
        str, typer.Option(help="error (default) or skip: leave out unreadable images and empty texts, listed")
    ] = "error",
) -> None:
    """Predict labels for new data with a saved run."""
    from headstart.io import atomic_write_text
    from headstart.pipeline import predict_run

    if out.exists() and out.is_dir():
        raise HeadstartError(f"--out {out} is a folder; give a CSV file path such as {out / 'predictions.csv'}")
    if onnx:
        from headstart.rundir import load_run

        if load_run(run_dir)[1].get("kind") == "multitask":
            from headstart.multitask.onnx import predict_multitask_onnx

            df = predict_multitask_onnx(run_dir, data, text_column=text_column)
        else:
            from headstart.export import predict_onnx  # type: ignore[attr-defined]

            df = predict_onnx(run_dir, data, text_column=text_column)
    else:
        df = predict_run(
            run_dir, data, side=side, text_column=text_column, keep_columns=keep_column, on_bad_item=on_bad_item
        )
    try:
        atomic_write_text(out, df.to_csv(index=False))
    except OSError as e:
        raise HeadstartError(f"--out {out}: cannot write ({e.strerror}); choose a writable path") from None
    console.print(f"wrote {len(df)} predictions to {out}")
    from rich.markup import escape

    for line in [df.attrs["warning"]] if df.attrs.get("warning") else df.attrs.get("warnings", []):
        console.print(f"[yellow]warning:[/] {escape(line)}", highlight=False)
    if df.attrs.get("precision"):
        console.print(df.attrs["precision"], highlight=False)
    skipped = df.attrs.get("skipped", [])
    if skipped:
        shown = "; ".join(f"{item} ({why})" for item, why in skipped[:3])
        more = f"; and {len(skipped) - 3} more" if len(skipped) > 3 else ""
        console.print(f"[yellow]skipped {len(skipped)}:[/] {escape(shown + more)}", highlight=False)


DEMO_TASKS = (
    ("text", "builtin:rotten-tomatoes", "minilm-l6-layers", 16, "runs/demo-text"),
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
    from headstart.pipeline import fit_run

    rows = []
    for kind, data, bb, k, folder in DEMO_TASKS:
        target = out / Path(folder).name
        console.rule(f"{kind}: {data}, {k} labels per class, {bb} linear probe")
        cfg = FitConfig(data=data, out=str(target), backbone=bb, labels_per_class=k, overwrite=True, progress=not quiet)
        result = fit_run(cfg, echo=lambda s: console.print(s, highlight=False))
        print_result(result)
        rows.append((kind, result))
    table = Table(title="headstart demo: transfer vs from-scratch, paired on the same test examples")
    for col in ("task", "transfer", "baseline", "delta [95% CI]"):
        table.add_column(col, overflow="fold")
    table.add_column("verdict", no_wrap=True)
    table.add_column("report", overflow="fold")
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
    if metrics.get("kind") in ("adaptation", "generalization"):  # its page is written once, with the run
        path = run_dir / "report.html"
        console.print(f"{path} is the {metrics['kind']} run's own page; refit the study to rebuild it")
    else:
        path = write_report(run_dir, metrics, config)
        console.print(f"wrote {path}", highlight=False)
    if open_:
        import webbrowser

        webbrowser.open(path.resolve().as_uri())


# ---------------------------------------------------------------------------------------------- advise, rank, ui
