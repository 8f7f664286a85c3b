"""The run directory: the one place a run's results live, and the only code that creates, locks, completes,
replaces or reads one.

Life of ``--out runs/x``:

1. :meth:`RunDir.open` takes an exclusive, non-blocking ``fcntl`` lock on ``runs/.x.lock`` for the whole run
   (a second ``fit`` on the same ``--out`` fails at once, naming the holder's pid), then prepares
   ``runs/x.partial/`` (fresh, or kept for ``resume``).
2. The run writes its files into ``work``; ``metrics.json`` is written last and marks a complete run.
3. :meth:`RunDir.commit` moves a previous ``runs/x`` aside (``runs/x.old-PID``), renames the partial folder
   onto ``runs/x`` and only then deletes the old run, so a kill at any instant leaves either the old or the
   new run complete, never a half-deleted one.

:func:`load_run` reads only complete runs and refuses any ``*.partial`` folder.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from headstart.errors import HeadstartError

COMPLETE_MARKER = "metrics.json"
PARTIAL_SUFFIX = ".partial"


def partial_dir(out: Path) -> Path:
    return out.with_name(out.name + PARTIAL_SUFFIX)


def _lock_path(out: Path) -> Path:
    return out.with_name(f".{out.name}.lock")


class RunDir:
    """An exclusive handle on ``out`` and its partial folder (see the module docstring)."""

    def __init__(self, out: Path, work: Path, lock: IO[str] | None) -> None:
        self.out, self.work, self._lock = out, work, lock

    @classmethod
    def check(cls, out: Path, *, overwrite: bool, resume: bool) -> None:
        """The checks that need no lock: fail before any data is loaded."""
        if out.name.endswith(PARTIAL_SUFFIX):
            raise HeadstartError(f"--out {out} ends in {PARTIAL_SUFFIX}, which headstart reserves; pick another name")
        if out.exists() and not out.is_dir():
            raise HeadstartError(f"--out {out} is an existing file, not a folder; choose another --out")
        work = partial_dir(out)
        if resume:
            if not work.exists():
                if (out / COMPLETE_MARKER).exists():
                    raise HeadstartError(f"{out} is already complete; nothing to resume")
                raise HeadstartError(f"{work} not found: there is no interrupted run to resume at {out}")
            return
        if out.exists() and not overwrite:
            raise HeadstartError(f"{out} already exists; choose another --out or pass --overwrite")
        parent = out.parent if out.parent != Path("") else Path(".")
        probe = parent
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent
        if not os.access(probe, os.W_OK):
            raise HeadstartError(f"--out {out}: {probe} is not writable; choose a folder you can write to")

    @classmethod
    def open(cls, out: Path, *, overwrite: bool = False, resume: bool = False) -> RunDir:
        cls.check(out, overwrite=overwrite, resume=resume)
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            lock = _acquire(out)
        except OSError as e:
            raise HeadstartError(
                f"--out {out}: cannot write in {out.parent} ({e.strerror}); choose a folder you can write to"
            ) from None
        work = partial_dir(out)
        try:
            if work.exists() and not resume:
                shutil.rmtree(work)
            work.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            _release(lock, out)
            raise HeadstartError(f"--out {out}: cannot create {work} ({e.strerror}); choose another --out") from None
        return cls(out, work, lock)

    def discard_if_empty(self) -> None:
        """Remove the partial folder when nothing was written into it yet (a failed validation)."""
        with contextlib.suppress(OSError):
            if self.work.exists() and not any(self.work.iterdir()):
                self.work.rmdir()

    def commit(self) -> Path:
        """Atomically replace ``out`` with the complete partial folder (see the module docstring)."""
        if not (self.work / COMPLETE_MARKER).exists():
            raise RuntimeError(f"{self.work} has no {COMPLETE_MARKER}; refusing to mark it complete")
        old = None
        if self.out.exists():
            old = self.out.with_name(f"{self.out.name}.old-{os.getpid()}")
            self.out.rename(old)
        self.work.rename(self.out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        return self.out

    def close(self) -> None:
        if self._lock is not None:
            _release(self._lock, self.out)
            self._lock = None

    def __enter__(self) -> RunDir:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _acquire(out: Path) -> IO[str]:
    path = _lock_path(out)
    fh = path.open("a+")
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.seek(0)
        holder = fh.read().strip() or "another process"
        fh.close()
        raise HeadstartError(
            f"--out {out} is in use by a running headstart (pid {holder}); wait for it or choose another --out"
        ) from None
    fh.seek(0)
    fh.truncate()
    fh.write(str(os.getpid()))
    fh.flush()
    return fh


def _release(fh: IO[str], out: Path) -> None:
    with contextlib.suppress(OSError):
        fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
        fh.close()
    with contextlib.suppress(OSError):
        _lock_path(out).unlink()


@contextlib.contextmanager
def locked(out: Path) -> Iterator[None]:
    """Hold the run's lock without preparing a partial folder (readers that rewrite files, e.g. ``report``)."""
    fh = _acquire(out)
    try:
        yield
    finally:
        _release(fh, out)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise HeadstartError(
            f"{path}: not valid JSON ({e}); the run folder is damaged, re-run `headstart fit`"
        ) from None
    if not isinstance(doc, dict):
        raise HeadstartError(f"{path}: expected a JSON object; the run folder is damaged, re-run `headstart fit`")
    return doc


def load_run(run_dir: str | Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """(config, metrics) of a COMPLETE run directory; a clear error for a missing, partial or damaged one."""
    run = Path(run_dir)
    if run.name.endswith(PARTIAL_SUFFIX):
        final = run.with_name(run.name[: -len(PARTIAL_SUFFIX)])
        raise HeadstartError(
            f"{run} is an unfinished run; finish it with `headstart fit --resume --out {final}` and use {final}"
        )
    if not run.exists():
        partial = partial_dir(run)
        hint = f"; an interrupted run is at {partial} (finish it: `headstart fit --resume --out {run}`)"
        raise HeadstartError(f"{run}: no such run directory{hint if partial.exists() else ''}")
    if not run.is_dir() or not (run / COMPLETE_MARKER).exists() or not (run / "config.json").exists():
        raise HeadstartError(f"{run} is not a complete headstart run (no {COMPLETE_MARKER}); re-run `headstart fit`")
    return _read_json(run / "config.json"), _read_json(run / COMPLETE_MARKER)


def resume_config(out: Path) -> dict[str, Any]:
    """The settings of the interrupted run at ``out`` (its partial folder's config.json)."""
    path = partial_dir(out) / "config.json"
    if not path.exists():
        if (out / COMPLETE_MARKER).exists():
            raise HeadstartError(f"{out} is already complete; nothing to resume")
        raise HeadstartError(f"{out}: no interrupted run to resume (no {path})")
    return _read_json(path)
