"""A domain-generalization study as a run folder (lock, ``.partial`` folder, manifest, ``metrics.json`` last, as
every run: :mod:`headstart.rundir`): ``config.json``, ``metrics.json`` (the ``generalization`` block plus the
headline domain's ``arms``/``comparisons`` for the generic report section) and a self-contained ``report.html``.

The domains come either from a column of one data set (``--domain-column``, values merged with
``--domain-map``) or from several labeled files of the same classes (``--source A --source B``: each file is
one domain, named by its path)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from html import escape
from pathlib import Path
from typing import Any

import numpy as np

from headstart.adapt.domains import align_classes, load_domain
from headstart.adapt.generalize import GeneralizeConfig, check_study, domain_values, generalize, parse_domain_map
from headstart.data import LabeledData
from headstart.errors import HeadstartError
from headstart.io import atomic_write_json, atomic_write_text
from headstart.outputs import package_versions
from headstart.report.arms import arms_section
from headstart.report.generalization import generalization_section
from headstart.rundir import COMPLETE_MARKER, RunDir

__all__ = ["load_domains", "pool_sources", "run_generalization"]

SOURCE_COLUMN = "source file"


def pool_sources(specs: Sequence[str], **kw: Any) -> LabeledData:
    """Several labeled data sets of the same classes as one; group ``SOURCE_COLUMN`` = each item's source spec."""
    if len(set(specs)) < 2:
        raise HeadstartError("--source: give two or more different labeled files (each one is a domain)")
    parts = [load_domain(s, **kw) for s in specs]
    first = parts[0]
    for p in parts[1:]:
        if p.modality != first.modality:
            raise HeadstartError(f"--source {p.source} is {p.modality} data, {first.source} is {first.modality}")
    ys = [align_classes(p, first) for p in parts]
    arrays = all(isinstance(p.items, np.ndarray) for p in parts)
    if arrays and len({p.items.shape[1:] for p in parts}) == 1:  # type: ignore[union-attr]
        items: Any = np.concatenate([p.items for p in parts])
    else:
        items = [x for p in parts for x in list(p.items)]
    data = LabeledData(
        items=items,
        y=np.concatenate(ys),
        classes=list(first.classes),
        modality=first.modality,
        source=" + ".join(specs),
        provenance="; ".join(p.provenance for p in parts),
        ids=[i for p in parts for i in p.ids],
        groups={SOURCE_COLUMN: np.asarray([p.source for p in parts for _ in range(len(p.y))], dtype=object)},
    )
    return data


def load_domains(
    data: str | None,
    column: str | None,
    sources: Sequence[str] = (),
    *,
    domain_map: str | None = None,
    text_column: str | None = None,
    label_column: str | None = None,
) -> tuple[LabeledData, np.ndarray, str]:
    """(pooled data, domain of each item, the domain column's name)."""
    kw: dict[str, Any] = {k: v for k, v in (("text_column", text_column), ("label_column", label_column)) if v}
    if sources:
        if data is not None or column is not None:
            raise HeadstartError("give either DATA --domain-column COL or several --source files, not both")
        pooled = pool_sources(sources, **kw)
        return pooled, domain_values(pooled, SOURCE_COLUMN, parse_domain_map(domain_map)), SOURCE_COLUMN
    if data is None or column is None:
        raise HeadstartError("domain generalization needs DATA --domain-column COL (or two or more --source files)")
    loaded = load_domain(data, group_columns=[column], **kw)
    return loaded, domain_values(loaded, column, parse_domain_map(domain_map)), column


def run_generalization(
    data: str | None,
    out: Path,
    *,
    column: str | None = None,
    sources: Sequence[str] = (),
    domain_map: str | None = None,
    text_column: str | None = None,
    label_column: str | None = None,
    cfg: GeneralizeConfig | None = None,
    overwrite: bool = False,
    echo: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Leave-one-domain-out over every domain; write the run folder at ``out``; return metrics.json."""
    cfg = cfg or GeneralizeConfig()
    RunDir.check(out, overwrite=overwrite, resume=False)
    loaded, domains, col = load_domains(
        data, column, sources, domain_map=domain_map, text_column=text_column, label_column=label_column
    )
    if loaded.task == "regression":
        raise HeadstartError(f"{loaded.source}: domain generalization compares classifiers; the label is numeric")
    check_study(loaded, domains, cfg)  # before the run folder exists
    with RunDir.open(out, overwrite=overwrite) as rundir:
        config = {"kind": "generalization", "data": data, "sources": list(sources), "domain_column": col,
                  "domain_map": domain_map, "text_column": text_column, "label_column": label_column, **asdict(cfg),
                  "versions": package_versions(), "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}  # fmt: skip
        atomic_write_json(rundir.work / "config.json", config)
        r = generalize(loaded, domains, cfg, column=col, echo=echo)
        g = r.metrics()
        headline = next(d for d in g["domains"] if d["domain"] == r.headline)
        doc = {"kind": "generalization", "generalization": g, "arms": headline["arms"],
               "comparisons": r.verdicts, "data": {"source": loaded.source, "classes": r.classes,
                                                   "modality": loaded.modality}}  # fmt: skip
        atomic_write_text(rundir.work / "report.html", _page(loaded.source, g, doc))
        atomic_write_json(rundir.work / COMPLETE_MARKER, doc)
        rundir.commit()
    return doc


def _page(source: str, g: dict[str, Any], doc: dict[str, Any]) -> str:
    from headstart.report.html import TEMPLATES

    css = (TEMPLATES / "report.css").read_text(encoding="utf-8")
    arms = arms_section(doc) or ""
    return (
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>headstart generalization: "
        f"{escape(source)}</title><style>{css}</style></head><body><main><header><h1>headstart domain "
        f"generalization: {escape(source)}</h1></header>{generalization_section(g)}"
        f"<section id='arms'><h2>Every arm and comparison (headline domain {escape(str(g['headline']))})</h2>"
        f"{arms}</section>"
        "<p class='note'>Generated by headstart. Self-contained: no network access needed.</p></main></body></html>"
    )
