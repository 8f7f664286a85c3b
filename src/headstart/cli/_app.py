"""The Typer app, the consoles and the error wrapper every command module shares."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from rich.console import Console

from headstart.errors import HeadstartError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Transfer learning for small labeled datasets, always judged against a from-scratch baseline.",
)
console = Console()
err = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])

VERDICT_STYLE = {"helps": "bold green", "no-difference": "bold yellow", "negative-transfer": "bold red"}


def friendly(fn: F) -> F:
    """Turn a HeadstartError into one red line and exit code 2 (no traceback)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except HeadstartError as e:
            err.print(f"[bold red]error:[/] {e}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            out = kwargs.get("out")
            if fn.__name__ == "fit" and out:  # the run folder is only committed once complete
                err.print(
                    f"[yellow]interrupted[/]: partial results stay in {out}.partial; continue with "
                    f"`headstart fit --resume --out {out}`",
                    highlight=False,
                )
            else:
                err.print("[yellow]interrupted[/]: nothing was written half-way (files are written atomically)")
            raise typer.Exit(130) from None

    wrapper.__doc__ = reflow(fn.__doc__)
    return wrapper  # type: ignore[return-value]


def reflow(doc: str | None) -> str | None:
    """A docstring's paragraphs as single lines, so `--help` wraps them to the terminal (Rich keeps the
    source's line breaks, which split a command's summary mid-sentence at 80 columns)."""
    if not doc:
        return doc
    import inspect

    paragraphs = inspect.cleandoc(doc).split("\n\n")
    return "\n\n".join(" ".join(line.strip() for line in p.splitlines()) for p in paragraphs)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        console.print(f"headstart {version('headstart')}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="print the headstart version and exit"
    ),
    backend: str = typer.Option(
        "", "--backend", help="feature extraction: auto, torch, torch-bf16, onnx, onnx-fp32 or onnx-int8 (int8: opt-in)"
    ),
) -> None:
    """Transfer learning for small labeled datasets, always judged against a from-scratch baseline."""
    if backend:
        from headstart.backend_choice import use_backend

        try:
            use_backend(backend)
        except HeadstartError as e:
            raise typer.BadParameter(str(e)) from None
