"""Small formatting helpers every command uses: money, durations, the console."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["console", "duration", "money", "tokens"]


def console(*, stderr: bool = False) -> Console:
    """A Rich console; honours ``COLUMNS`` and never colours a pipe (``NO_COLOR`` too)."""
    from rich.console import Console

    width = os.environ.get("COLUMNS")
    return Console(
        stderr=stderr,
        width=int(width) if width and width.isdigit() else None,
        highlight=False,
        soft_wrap=False,
        file=sys.stderr if stderr else sys.stdout,
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
