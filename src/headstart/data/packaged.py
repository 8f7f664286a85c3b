"""Data files that ship inside installed packages, located without importing the package."""

from __future__ import annotations

import importlib.metadata
import importlib.util
from pathlib import Path

from headstart.errors import HeadstartError


def dist_version(dist: str) -> str:
    """Installed version of a distribution, or "unknown"."""
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def package_file(module: str, dist: str, relpath: str, install: str) -> Path:
    """A data file inside an installed package, located without importing the package."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise HeadstartError(f"package {dist} is not installed; install it with: {install}")
    for base in spec.submodule_search_locations:
        path = Path(base) / relpath
        if path.is_file():
            return path
    raise HeadstartError(f"{dist} is installed but lacks {relpath}; reinstall it with: {install}")


def provenance(dist: str, path: Path | str, license_: str, extra: str = "") -> str:
    """``"<dist> <version>, file <path>, license <license>[; extra]"``."""
    text = f"{dist} {dist_version(dist)}, file {path}, license {license_}"
    return f"{text}; {extra}" if extra else text
