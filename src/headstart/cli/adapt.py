"""`adapt`: domain adaptation on cached embeddings, judged against the source-only model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from headstart.cli._app import app, console, friendly


@app.command()
@friendly
def adapt(
    target: Annotated[str, typer.Argument(help="labeled target data (its test split is where every arm is judged)")],
    source: Annotated[str, typer.Option(help="labeled source data of the same classes (DATA or DATA@COL=V1,V2)")],
    out: Annotated[Path, typer.Option(help="folder for metrics.json")],
    method: Annotated[
        str, typer.Option("--adapt", help="auto, or a comma list of: per-domain, coral, sa, kmm, ot, self-training")
    ] = "auto",
    unlabeled: Annotated[str | None, typer.Option(help="unlabeled target items: image folder or CSV")] = None,
    labels_per_class: Annotated[int, typer.Option(help="K labeled target items per class for training (0 = none)")] = 0,
    class_map: Annotated[str | None, typer.Option(help="rename source classes: old=new,...")] = None,
    backbone: str | None = None,
    strategy: Annotated[
        str, typer.Option(help="linear-probe (embedding methods), or partial / finetune / lora (dann, cdan, ...)")
    ] = "linear-probe",
    epochs: Annotated[int | None, typer.Option(help="deep strategies: training epochs")] = None,
    image_size: Annotated[int | None, typer.Option(help="input resolution for image backbones")] = None,
    text_column: str | None = None,
    label_column: Annotated[str | None, typer.Option(help="column holding the label, in source and target")] = None,
    max_test: int = 1000,
    max_source: Annotated[int | None, typer.Option(help="cap on the source items used (stratified sample)")] = 5000,
    max_unlabeled: Annotated[int | None, typer.Option(help="deep strategies: cap on unlabeled target items")] = None,
    seed: int = 0,
    overwrite: bool = False,
    resume: Annotated[bool, typer.Option(help="deep strategies: continue the interrupted run at --out")] = False,
) -> None:
    """Fit source-only, each adapted method (and target-only / scratch / pooled with K > 0) on the same
    target test items; print the adaptation verdicts and what ships."""
    run_and_print(target, source, out, method=method, unlabeled=unlabeled, labels_per_class=labels_per_class,
                  class_map=class_map, backbone=backbone, text_column=text_column, label_column=label_column,
                  max_test=max_test, seed=seed,
                  overwrite=overwrite, strategy=strategy, options={"epochs": epochs}, image_size=image_size,
                  resume=resume, max_source=max_source, max_unlabeled=max_unlabeled)  # fmt: skip


def run_and_print(target: str, source: str, out: Path, *, method: str, **kw: Any) -> None:
    """The shared body of `headstart adapt` and `headstart fit --source`."""
    from headstart.adapt.output import run_adaptation

    say = lambda s: console.print(s, highlight=False, markup=False)  # noqa: E731
    methods = ["auto"] if method == "auto" else [m.strip() for m in method.split(",") if m.strip()]
    doc = run_adaptation(target, source, out, methods=methods, echo=say, **kw)
    r = doc["adaptation"]
    b = r["shift"]["before"]
    say(f"shift before: MMD {b['mmd']:.4f} (p = {b['mmd_p']:.3f}), PAD {b['pad']:.2f} "
        f"(domain accuracy {100 * b['domain_accuracy']:.1f}%)")  # fmt: skip
    for v in r["verdicts"]:
        say(f"{v['comparison']}: {v['label']}. {v['sentence']}")
    say(f"ships: {r['shipped']} ({r['ship_reason']})")
    say(f"run directory: {out} (report.html, metrics.json)")
