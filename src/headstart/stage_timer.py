"""The stopwatch and the message callback shared by the steps of a run.

:class:`Timer` is a dict of wall seconds per named stage (``with timer("load_data"): ...`` adds to it); it
ends up as ``metrics["timing"]``. :data:`Echo` is the type of the ``say`` callback the steps print progress
lines with (the CLI passes one; the library default prints nothing).
"""

from __future__ import annotations

import time
from collections.abc import Callable

Echo = Callable[[str], None]


class Timer(dict[str, float]):
    """``with timer("stage"):`` adds the stage's wall time to the dict."""

    def __call__(self, stage: str) -> _Stage:
        return _Stage(self, stage)


class _Stage:
    def __init__(self, timer: Timer, stage: str) -> None:
        self.timer, self.stage = timer, stage

    def __enter__(self) -> None:
        self.t0 = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        self.timer[self.stage] = self.timer.get(self.stage, 0.0) + time.perf_counter() - self.t0
