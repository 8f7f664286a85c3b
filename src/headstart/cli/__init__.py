"""The `headstart` command line: a thin Typer shell over the Python API (parsing and display only).

Each module registers its commands on the shared ``app``; importing them here is what makes them appear.
"""

from __future__ import annotations

import os
import sys

from headstart.cli import adapt, after, generalize, run, select, ship  # noqa: F401  (register the commands)
from headstart.cli._app import app

__all__ = ["app", "main"]


def main() -> None:  # pragma: no cover - console entry point
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
