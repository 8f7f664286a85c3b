"""`adapt`: domain adaptation on cached embeddings, judged against the source-only model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

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
    text_column: str | None = None,
    max_test: int = 1000,
    seed: int = 0,
    overwrite: bool = False,
) -> None:
    """Fit source-only, each adapted method (and target-only / scratch / pooled with K > 0) on the same
    target test items; print the adaptation verdicts and what ships."""
    from headstart.adapt.domains import load_domain, parse_class_map
    from headstart.adapt.run import AdaptConfig, adapt_run
    from headstart.data.unlabeled import load_unlabeled
    from headstart.errors import HeadstartError
    from headstart.io import atomic_write_json

    if out.exists() and not overwrite:
        raise HeadstartError(f"{out} already exists; choose another --out or pass --overwrite")
    kw = {"text_column": text_column} if text_column else {}
    src = load_domain(source, **kw)
    tgt = load_domain(target, **kw)
    extra = load_unlabeled(unlabeled, modality=tgt.modality, text_column=text_column)[1] if unlabeled else None
    methods = ["auto"] if method == "auto" else [m.strip() for m in method.split(",") if m.strip()]
    cfg = AdaptConfig(methods=methods, labels_per_class=labels_per_class, backbone=backbone, seed=seed,
                      max_test=max_test)  # fmt: skip
    say = lambda s: console.print(s, highlight=False, markup=False)  # noqa: E731
    r = adapt_run(src, tgt, cfg, unlabeled=extra, class_map=parse_class_map(class_map), echo=say)
    out.mkdir(parents=True, exist_ok=True)
    doc = {"config": {"target": target, "source": source, **cfg.__dict__}, "adaptation": r.metrics()}
    doc["adaptation"]["projection"] = r.projection
    atomic_write_json(out / "metrics.json", doc)
    b = r.shift["before"]
    say(f"shift before: MMD {b['mmd']:.4f} (p = {b['mmd_p']:.3f}), PAD {b['pad']:.2f} "
        f"(domain accuracy {100 * b['domain_accuracy']:.1f}%)")  # fmt: skip
    for v in r.verdicts:
        say(f"{v['comparison']}: {v['label']}. {v['sentence']}")
    say(f"ships: {r.shipped} ({r.ship_reason})")
    say(f"wrote {out / 'metrics.json'}")
