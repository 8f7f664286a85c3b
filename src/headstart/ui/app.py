"""The advisor web app: one page (static/index.html, inline CSS/JS, no CDN) and a small JSON API.

* ``GET /api/options``  - the rubric's input choices and data bands (from :mod:`headstart.advise.rubric_rows`)
* ``GET /api/advise?labels_per_class=&similarity=&compute=&unlabeled_target=`` - :func:`advise` as JSON
  (the Python rubric is the single source of truth; the page never re-implements it)
* ``GET /api/runs`` - run directories under ``runs_dir`` with verdict, metrics and date
* ``GET /runs/{name}/report.html`` - the one file of a run the page links to (the report is self-contained:
  its plots are inline), nothing else of the run folder (models, data paths, predictions)

Binds to loopback by default (see ``headstart ui --host``); there is no authentication. Against DNS
rebinding (a web page whose domain re-resolves to 127.0.0.1 reading the API from the browser) every request
must carry a loopback ``Host`` header (localhost, 127.0.0.1, [::1], any port) unless the app was created for
an explicit non-loopback host: then that host is accepted too (any host for a wildcard bind like 0.0.0.0).
"""

from __future__ import annotations

import json
import time
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Query, Request, Response
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, PlainTextResponse

from headstart.advise.rubric import advise
from headstart.advise.rubric_rows import COMPUTE_KINDS, DATA_BANDS, SIMILARITIES
from headstart.errors import HeadstartError

__all__ = ["LOOPBACK_HOSTS", "create_app", "host_name", "list_runs"]

LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
WILDCARD_HOSTS = frozenset({"0.0.0.0", "::", ""})
SERVED_RUN_FILES = frozenset({"report.html"})


def host_name(header: str) -> str:
    """The host part of a ``Host`` header, lower-cased, without port or IPv6 brackets."""
    h = header.strip().lower()
    if h.startswith("["):
        return h[1 : h.find("]")] if "]" in h else h
    name, sep, port = h.rpartition(":")
    return name if sep and port.isdigit() else h


def _allowed_hosts(host: str | None) -> frozenset[str] | None:
    """Host names the app answers; None = any (an explicit wildcard bind)."""
    if host is None or host_name(host) in LOOPBACK_HOSTS:
        return LOOPBACK_HOSTS
    if host.strip() in WILDCARD_HOSTS:
        return None
    return LOOPBACK_HOSTS | {host_name(host)}


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def list_runs(runs_dir: Path) -> list[dict[str, Any]]:
    """Complete runs (folders with metrics.json) directly under ``runs_dir``, newest first."""
    out: list[dict[str, Any]] = []
    if not runs_dir.is_dir():
        return out
    for folder in runs_dir.iterdir():
        metrics = _read_json(folder / "metrics.json") if folder.is_dir() else None
        if metrics is None:
            continue
        config = _read_json(folder / "config.json") or {}
        verdict = metrics.get("verdict", {})
        transfer, baseline = metrics.get("transfer", {}), metrics.get("baseline", {})
        mtime = (folder / "metrics.json").stat().st_mtime
        out.append(
            {
                "name": folder.name,
                "data": metrics.get("data", {}).get("source") or config.get("data"),
                "strategy": transfer.get("strategy") or config.get("strategy"),
                "backbone": transfer.get("backbone") or config.get("backbone"),
                "verdict": verdict.get("label"),
                "sentence": verdict.get("sentence"),
                "delta": verdict.get("delta"),
                "ci_low": verdict.get("ci_low"),
                "ci_high": verdict.get("ci_high"),
                "transfer_accuracy": transfer.get("accuracy"),
                "baseline_accuracy": baseline.get("accuracy"),
                "transfer_macro_f1": transfer.get("macro_f1"),
                "baseline_name": baseline.get("name"),
                "date": config.get("started") or time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(mtime)),
                "mtime": mtime,
                "report": f"/runs/{folder.name}/report.html" if (folder / "report.html").is_file() else None,
            }
        )
    out.sort(key=lambda r: r["mtime"], reverse=True)
    return out


def create_app(runs_dir: str | Path = "runs", *, host: str | None = None) -> FastAPI:
    """The FastAPI app serving the advisor page and the runs under ``runs_dir``.

    ``host``: the address it is bound to; None or loopback accepts loopback ``Host`` headers only.
    """
    runs_root = Path(runs_dir).expanduser().resolve()
    allowed = _allowed_hosts(host)
    app = FastAPI(title="headstart advisor", docs_url=None, redoc_url=None, openapi_url=None)

    @app.middleware("http")
    async def only_known_hosts(request: Request, call_next: Any) -> Response:
        if allowed is not None and host_name(request.headers.get("host", "")) not in allowed:
            return PlainTextResponse("unknown Host header (headstart ui answers loopback only)", status_code=400)
        return await call_next(request)  # type: ignore[no-any-return]

    page = resources.files("headstart.ui").joinpath("static/index.html").read_text(encoding="utf-8")

    @app.get("/", response_class=HTMLResponse)
    def index() -> str:
        return page

    @app.get("/api/options")
    def options() -> dict[str, Any]:
        return {
            "similarities": list(SIMILARITIES),
            "compute": list(COMPUTE_KINDS),
            "data_bands": [{"band": b, "low": lo, "high": hi} for b, lo, hi in DATA_BANDS],
            "runs_dir": str(runs_root),
        }

    @app.get("/api/advise")
    def advise_endpoint(
        labels_per_class: int = Query(..., description="labeled examples per class"),
        similarity: str = Query(...),
        compute: str = Query(...),
        unlabeled_target: bool = False,
    ) -> JSONResponse:
        try:
            adv = advise(labels_per_class, similarity, compute, unlabeled_target=unlabeled_target)
        except HeadstartError as exc:
            return JSONResponse({"error": str(exc)}, status_code=422)
        return JSONResponse(adv.to_dict())

    @app.get("/api/runs")
    def runs() -> dict[str, Any]:
        return {"runs_dir": str(runs_root), "runs": list_runs(runs_root)}

    @app.get("/runs/{name}/{file_path:path}")
    def run_file(name: str, file_path: str) -> FileResponse:
        if (file_path or "report.html") not in SERVED_RUN_FILES:
            raise HTTPException(status_code=404, detail="not found")
        folder = (runs_root / name).resolve()
        target = (folder / (file_path or "report.html")).resolve()
        if folder.parent != runs_root or not target.is_relative_to(folder) or not target.is_file():
            raise HTTPException(status_code=404, detail="not found")
        return FileResponse(target)

    return app
