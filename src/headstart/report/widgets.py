"""Small HTML building blocks every report section uses (numbers, figures, tables, sections)."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from html import escape
from typing import Any

log = logging.getLogger("headstart.report")


def pct(x: Any, digits: int = 1) -> str:
    return f"{100 * float(x):.{digits}f}%" if is_num(x) else "—"


def pts(x: Any) -> str:
    return f"{100 * float(x):+.1f}" if is_num(x) else "—"


def fnum(x: Any, digits: int = 3) -> str:
    return f"{float(x):.{digits}f}" if is_num(x) else "—"


def is_num(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(float(x))


def figure(uri: str, alt: str, caption: str = "") -> str:
    cap = f"<figcaption>{caption}</figcaption>" if caption else ""
    return f'<figure><img src="{uri}" alt="{escape(alt)}">{cap}</figure>'


def html_table(
    header: Sequence[str], rows: Sequence[Sequence[Any]], numeric: Sequence[int] = (), *, kv: bool = False
) -> str:
    """A table of pre-escaped cell strings; columns listed in ``numeric`` are right-aligned."""
    th = "".join(f'<th class="num">{h}</th>' if i in numeric else f"<th>{h}</th>" for i, h in enumerate(header))
    body = "".join(
        "<tr>"
        + "".join(f'<td class="num">{c}</td>' if i in numeric else f"<td>{c}</td>" for i, c in enumerate(r))
        + "</tr>"
        for r in rows
    )
    cls = ' class="kv"' if kv else ""
    return f'<div class="scroll"><table{cls}><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table></div>'


def dot(color: str) -> str:
    return f'<span class="dot" style="background:{color}"></span>'


class Section:
    def __init__(self, sid: str, title: str, body: str) -> None:
        self.sid, self.title, self.body = sid, title, body

    def html(self, extra_class: str = "") -> str:
        cls = f' class="{extra_class}"' if extra_class else ""
        return f'<section id="{self.sid}"{cls}><h2>{escape(self.title)}</h2>{self.body}</section>'


def safe(sid: str, title: str, fn: Callable[[], str | None]) -> Section | None:
    """Run one section renderer; None = nothing to show; an exception becomes a visible note."""
    try:
        body = fn()
    except Exception as e:  # a report section must never take the run down
        log.warning("report section %r failed: %s: %s", sid, type(e).__name__, e)
        why = escape(f"{type(e).__name__}: {e}")
        body = f'<p class="error">This section could not be rendered ({why}).</p>'
    return None if body is None else Section(sid, title, body)
