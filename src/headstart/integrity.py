"""Run-folder integrity: ``manifest.json`` holds the sha256 of every artifact file ``fit`` wrote, and every
command that reads a run (predict, export, report, predict --onnx) verifies it first, so an edited head,
meta.json or metrics.json is refused with one line instead of silently changing predictions.

Covered: the JSON records (config, splits, metrics) and the model folders (model/, baseline/, stack/, and
export/ once ``export`` adds it). Not covered: the documents a user may edit or regenerate (report.html,
MODEL_CARD.md, predictions.csv); nothing loads them back. A run without a manifest is refused too:
deleting the manifest must not be a way around the check.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path, PurePosixPath
from typing import Any

from headstart.artifacts import read_json
from headstart.errors import HeadstartError
from headstart.io import atomic_write_json, sha256_file

__all__ = ["COVERED", "MANIFEST", "add_to_manifest", "require_listed", "verify_manifest", "write_manifest"]

MANIFEST = "manifest.json"
FORMAT = 1
COVERED = ("config.json", "splits.json", "metrics.json", "model", "baseline", "stack", "export")
_REFIT = "re-run `headstart fit` (or restore the run from its original copy)"


def _skipped(path: Path) -> bool:
    """Temp files of atomic writes and training checkpoints are not artifacts."""
    return (path.name.startswith(".") and path.name.endswith(".tmp")) or path.name.startswith("checkpoint")


def _files(run: Path, entries: Iterable[str] = COVERED) -> dict[str, str]:
    out: dict[str, str] = {}
    for entry in entries:
        top = run / entry
        paths = [top] if top.is_file() else sorted(p for p in top.rglob("*") if p.is_file()) if top.is_dir() else []
        for p in paths:
            if not _skipped(p):
                out[p.relative_to(run).as_posix()] = sha256_file(p)
    return out


def write_manifest(run_dir: str | Path) -> Path:
    """Hash every covered artifact of ``run_dir`` into ``run_dir/manifest.json`` (call it after the last write)."""
    run = Path(run_dir)
    return atomic_write_json(run / MANIFEST, {"format": FORMAT, "algorithm": "sha256", "files": _files(run)})


def _read(run: Path) -> dict[str, str]:
    path = run / MANIFEST
    if not path.is_file():
        raise HeadstartError(
            f"{path}: missing, so the run's files cannot be checked (runs from before headstart wrote "
            f"manifests have none); {_REFIT}"
        )
    doc: dict[str, Any] = read_json(path, "manifest")
    files = doc.get("files")
    if doc.get("algorithm") != "sha256" or not isinstance(files, dict):
        raise HeadstartError(f"{path}: not a headstart manifest (no sha256 'files'); {_REFIT}")
    for rel, digest in files.items():
        parts = PurePosixPath(str(rel)).parts
        if not isinstance(digest, str) or not parts or ".." in parts or PurePosixPath(str(rel)).is_absolute():
            raise HeadstartError(f"{path}: invalid entry {rel!r}; {_REFIT}")
    return {str(k): str(v) for k, v in files.items()}


def verify_manifest(run_dir: str | Path) -> None:
    """Raise HeadstartError naming the first listed file that is missing or differs from what fit wrote."""
    run = Path(run_dir)
    for rel, digest in sorted(_read(run).items()):
        path = run / rel
        if not path.is_file():
            raise HeadstartError(f"{path}: missing, but listed in {MANIFEST}; {_REFIT}")
        if sha256_file(path) != digest:
            raise HeadstartError(
                f"{path}: changed since the run was written (sha256 differs from {MANIFEST}); the run is "
                f"refused so that no edited model is used; {_REFIT}"
            )


def require_listed(run_dir: str | Path, entry: str) -> None:
    """Refuse a model folder (or file) that the manifest does not list: it was added after the run was written."""
    run = Path(run_dir)
    files = _read(run)
    if not any(rel == entry or rel.startswith(f"{entry}/") for rel in files):
        raise HeadstartError(
            f"{run / entry}: not listed in {MANIFEST} (it was added after the run was written); delete it, or {_REFIT}"
        )


def add_to_manifest(run_dir: str | Path, entry: str) -> Path:
    """Re-hash ``entry`` (a folder a later command wrote, e.g. export/) into an existing manifest."""
    run = Path(run_dir)
    files = {rel: d for rel, d in _read(run).items() if rel != entry and not rel.startswith(f"{entry}/")}
    files.update(_files(run, (entry,)))
    return atomic_write_json(
        run / MANIFEST, {"format": FORMAT, "algorithm": "sha256", "files": dict(sorted(files.items()))}
    )
