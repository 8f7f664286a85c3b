"""`backbones`, `advise`, `rank` and `ui`: choosing a backbone and a strategy before fitting."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.table import Table

from headstart.cli._app import app, console, err, friendly
from headstart.config import OnBadItem
from headstart.errors import HeadstartError
from headstart.executors import ExecutorKind


@app.command()
@friendly
def backbones(
    modality: Annotated[str | None, typer.Option(help="text or image")] = None,
) -> None:
    """The backbone registry: name, modality, size, license, pinned weights sha256, installed?"""
    from headstart.backbones import is_installed, list_specs

    specs = list_specs(modality)
    table = Table(title="headstart backbones")
    # names are what a user copies: never cut them; the pin and the source go on their own lines below
    table.add_column("name", no_wrap=True, min_width=max(len(s.name) for s in specs) if specs else 4)
    table.add_column("modality", no_wrap=True)
    for col in ("params", "dim"):
        table.add_column(col, justify="right", no_wrap=True)
    table.add_column("license", overflow="fold")
    table.add_column("installed", no_wrap=True)
    for s in specs:
        table.add_row(
            s.name, s.modality, f"{s.params_m:.1f}M", str(s.embed_dim), s.license, "yes" if is_installed(s) else "no"
        )
    console.print(table)
    for s in specs:
        console.print(
            f"{s.name}: sha256 {(s.sha256 or 'not pinned')[:16]}, from {s.source_package}=={s.source_version}",
            highlight=False,
        )
    console.print(
        "Also: hf:<model id or local folder> (text), timm:<model name> (images, needs timm), "
        "and NAME:random for a random-init control."
    )


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
    table: Annotated[bool, typer.Option(help="the data is a table of feature columns (rubric only)")] = False,
    text_in_row: Annotated[bool, typer.Option(help="with --table: a column holds free text")] = False,
    backbone: Annotated[str | None, typer.Option(help="backbone to advise for (with DATA)")] = None,
    source: Annotated[
        str | None, typer.Option(help="reference sample of the backbone's source domain (any `fit` source)")
    ] = None,
    max_samples: Annotated[int, typer.Option(help="examples per domain embedded to measure similarity")] = 200,
    image_size: Annotated[int | None, typer.Option(help="input resolution (default: what fit uses)")] = None,
    text_column: str | None = None,
    label_column: str | None = None,
    on_bad_item: Annotated[OnBadItem, typer.Option(help="stop at, or skip, unreadable items")] = OnBadItem.error,
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
        adv = rubric_advise(
            labels_per_class, similarity, comp, unlabeled_target=unlabeled, table=table, text_in_row=text_in_row
        )
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
        on_bad_item=on_bad_item.value,
    )
    if as_json:
        console.print_json(json.dumps(da.to_dict(), default=str))
        return
    table = Table(title=f"measured inputs: {da.source} ({da.modality}) for {da.backbone}")
    table.add_column("input")
    table.add_column("value")
    table.add_column("how")
    table.add_row(
        "labels per class" if da.class_counts else "labeled items",
        f"{da.labels_per_class} ({da.advice.data_band})",
        f"rarest class; {da.imbalance_ratio:.1f}:1" if da.class_counts else "regression: no classes to count",
    )
    prof = da.compute_profile
    gpus = ", ".join(g["name"] for g in prof.get("gpus", [])) or "no CUDA GPU"
    table.add_row("compute", da.compute, f"{prof.get('cpu_cores')} CPU cores, {gpus}")
    sh = da.shift
    if da.pad is not None and da.mmd is not None and sh:
        table.add_row(
            "similarity",
            da.similarity,
            f"PAD {da.pad:.2f} (0 same .. 2 separable), MMD {da.mmd:.4f}; {da.n_target} vs {da.n_reference} "
            f"examples of {da.reference}",
        )
        lo, hi = sh["domain_accuracy_ci"]
        table.add_row(
            "domain shift",
            sh["call"],
            f"graded PAD {sh['pad']:.2f}; domain classifier {sh['domain_accuracy']:.2f} [{lo:.2f}, {hi:.2f}]; "
            f"MMD p {sh['mmd_p']:.3f}",
        )
    else:
        text_columns = da.advice.inputs.get("text_columns") or []
        table.add_row("free-text columns", ", ".join(text_columns) or "none", "column kinds as `fit` types them")
    console.print(table)
    if da.pad is not None:
        console.print(f"[dim]reference: {da.reference_note}[/]", highlight=False)
    if da.adaptation:
        console.print(f"[bold]shift {sh['call']}: adapt to the target:[/] {da.adaptation}", highlight=False)
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
    on_bad_item: Annotated[OnBadItem, typer.Option(help="stop at, or skip, unreadable items")] = OnBadItem.error,
    seed: int = 0,
    executor: Annotated[
        ExecutorKind, typer.Option(help="score the backbones here one by one, or as parallel Ray tasks")
    ] = ExecutorKind.sequential,
    ray_address: Annotated[
        str | None, typer.Option(help="--executor ray: address of a running Ray cluster (default: start a local one)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the rows as JSON")] = False,
    own: Annotated[
        list[str] | None,
        typer.Option(help="your own MobileNetV2 weights as a candidate: NAME=FILE.safetensors (repeatable)"),
    ] = None,
) -> None:
    """Rank backbones on your data before fitting: LogME, LEEP, NCE, H-score, k-NN and linear-probe CV."""
    import json
    import math

    from headstart.backbones.user import register_cli_backbone
    from headstart.data import load_data
    from headstart.ranking.rank import candidate_backbones, rank_data, rankable

    if own and executor is not ExecutorKind.sequential:
        raise HeadstartError("--own backbones are registered in this process: use --executor sequential with them")
    for text in own or []:
        register_cli_backbone(text)
    loaded = rankable(
        load_data(data, text_column=text_column, label_column=label_column, on_bad_item=on_bad_item.value)
    )
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
        executor=executor.value,
        ray_address=ray_address,
    )
    if as_json:
        console.print_json(json.dumps(rows, default=float))
        return

    def fmt(v: float, pct: bool = False) -> str:
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return "-"
        return f"{100 * v:.1f}%" if pct else f"{v:.3f}"

    n = rows[0]["n_samples"] if rows else 0
    table = Table(  # no vertical rules: nine columns with whole figures fit 80 columns
        title=f"transferability of {len(rows)} backbones on {loaded.source} ({n} examples scored)",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        collapse_padding=True,
    )
    for col in ("#", "backbone", "LogME", "LEEP", "NCE", "H-score", "k-NN", "probe", "time"):
        if col == "backbone":  # names and times fold, so the figures stay whole at 80 columns
            table.add_column(col, overflow="fold", min_width=14)
        else:
            table.add_column(col, justify="right", no_wrap=True)
    for r in rows:
        name = f"{r['name']}\n[dim](control)[/]" if r["control"] else r["name"]
        table.add_row(
            str(r["rank"]),
            name,
            fmt(r["logme"]),
            fmt(r["leep"]),
            fmt(r["nce"]),
            fmt(r["h_score"]),
            fmt(r["knn_accuracy"], True),
            fmt(r["linear_probe_accuracy"], True),
            f"{r['seconds']:.1f}s" + ("*" if r["computed"] == 0 and r["cache_hits"] else ""),
        )
    console.print(table)
    console.print(
        "Sorted by LogME (higher is better); k-NN and probe: cross-validated accuracy; LEEP/NCE need a "
        "source classifier head ('-' otherwise); * embeddings read from the cache."
    )
    pretrained = [r for r in rows if not r["control"]]
    if pretrained:
        import shlex

        from headstart.advise.rubric import data_flags

        flags = data_flags(text_column, label_column, on_bad_item.value)
        best = pretrained[0]["name"]
        console.print(f"next: headstart fit {shlex.quote(data)}{flags} --backbone {best}", highlight=False)


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
    uvicorn.run(create_app(runs, host=host), host=host, port=port, log_level="warning")
