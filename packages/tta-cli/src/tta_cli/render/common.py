"""Small formatting helpers every command uses: money, durations, the console."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["PIPE_WIDTH", "console", "duration", "money", "tokens"]


PIPE_WIDTH = 400
"""Columns of output that is no terminal (a pipe, a file, CI): wide enough that no table
row wraps, so an alias or an id is never broken across lines."""


def console(*, stderr: bool = False) -> Console:
    """A Rich console; honours ``COLUMNS`` and never colours a pipe (``NO_COLOR`` too).

    Without ``COLUMNS``, a terminal's own width is used, and output that is no terminal
    gets :data:`PIPE_WIDTH` columns instead of Rich's 80, so tables are never folded.
    """
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    width = os.environ.get("COLUMNS")
    columns = int(width) if width and width.isdigit() else None
    if columns is None and not stream.isatty():
        columns = PIPE_WIDTH
    return Console(
        stderr=stderr,
        width=columns,
        highlight=False,
        soft_wrap=False,
        file=stream,
    )


def money(usd: float | None, *, estimated: bool = False) -> str:
    """``$0.0123``: four decimals below a cent, two above; ``~`` marks an estimate."""
    if usd is None:
        return "-"
    text = f"${usd:.4f}" if 0 < abs(usd) < 0.01 else f"${usd:.2f}"
    return f"~{text}" if estimated else text


def duration(seconds: float) -> str:
    """``850 ms`` below a second, ``3.2 s`` above."""
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.1f} s"


def tokens(count: int) -> str:
    """``1,234``."""
    return f"{count:,}"
