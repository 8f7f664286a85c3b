"""`generalize`: domain generalization by leave-one-domain-out (also `headstart fit DATA --domain-column COL`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.table import Table

from headstart.cli._app import app, console, friendly


@app.command()
@friendly
def generalize(
    data: Annotated[str | None, typer.Argument(help="labeled data with a domain column")] = None,
    out: Annotated[Path, typer.Option(help="run directory to write")] = Path("runs/dg"),
    domain_column: Annotated[str | None, typer.Option(help="column naming each item's domain (site, year...)")] = None,
    source: Annotated[
        list[str] | None, typer.Option(help="instead of a column: a labeled file per domain (repeat the flag)")
    ] = None,
    holdout_domain: Annotated[str | None, typer.Option(help="the domain whose verdict is the headline")] = None,
    domain_map: Annotated[str | None, typer.Option(help="merge column values into domains: v1=d1,v2=d1,...")] = None,
    align: Annotated[str, typer.Option(help="comma list of alignment methods: per-domain, coral")] = "per-domain,coral",
    baseline: Annotated[str, typer.Option(help="from-scratch side: auto, a baseline name, or none")] = "auto",
    backbone: str | None = None,
    text_column: str | None = None,
    label_column: Annotated[str | None, typer.Option(help="column holding the label (default: label)")] = None,
    max_per_domain: Annotated[int, typer.Option(help="cap on the items used per domain (0 = no cap)")] = 1000,
    seed: int = 0,
    overwrite: bool = False,
    quiet: bool = False,
) -> None:
    """Hold out each domain in turn: pooled training vs per-domain alignment vs scratch on its items; print
    the per-domain accuracy table and the headline domain's verdicts."""
    run_and_print(data, out, column=domain_column, sources=source or [], holdout=holdout_domain,
                  domain_map=domain_map, align=align, baseline=baseline, backbone=backbone,
                  text_column=text_column, label_column=label_column, max_per_domain=max_per_domain or None,
                  seed=seed, overwrite=overwrite, progress=not quiet)  # fmt: skip


def run_and_print(data: str | None, out: Path, *, holdout: str | None, align: str = "per-domain,coral",
                  baseline: str = "auto", backbone: str | None = None, max_per_domain: int | None = 1000,
                  seed: int = 0, progress: bool = False, **kw: Any) -> None:  # fmt: skip
    """The shared body of `headstart generalize` and `headstart fit --domain-column`."""
    from headstart.adapt.generalize import GeneralizeConfig
    from headstart.adapt.generalize_output import run_generalization

    say = lambda s: console.print(s, highlight=False, markup=False)  # noqa: E731
    methods = tuple(m.strip() for m in align.split(",") if m.strip())
    cfg = GeneralizeConfig(methods=methods, holdout=holdout, backbone=backbone, baseline=baseline,
                           max_per_domain=max_per_domain, seed=seed, progress=progress)  # fmt: skip
    doc = run_generalization(data, out, cfg=cfg, echo=say, **kw)
    g = doc["generalization"]
    cols = g["table"]["columns"]
    cols = [c for c in cols if c != "stratified"]  # in metrics.json and the report; the terminal stays at 80 columns
    table = Table(title=f"leave-one-domain-out accuracy, % ({g['domain_column']})", box=box.SIMPLE_HEAD)
    table.add_column("held out")
    table.add_column("n", justify="right")
    for c in cols:
        table.add_column(c.removeprefix("aligned[").removesuffix("]"), justify="right")
    for r in g["table"]["rows"]:
        mark = "* " if r["domain"] == g["headline"] else ""
        table.add_row(f"{mark}{r['domain']}", str(r["n_test"]), *(f"{100 * r[c]:.1f}" if c in r else "-" for c in cols))
    console.print(table)
    say(f"* headline domain {g['headline']}: {g['headline_reason']}")
    for v in doc["comparisons"]:
        say(f"{v['comparison']}: {v['label']}. {v['sentence']}")
    say(f"recommended for a new domain: {g['recommended']} ({g['recommend_reason']})")
    say(f"run directory: {out} (report.html, metrics.json)")
