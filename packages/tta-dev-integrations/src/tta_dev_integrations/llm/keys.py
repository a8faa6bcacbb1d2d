"""Where provider keys come from: one lookup function the whole LLM layer calls.

Today it reads the process environment; the secrets package plugs .env files and
Vault in behind the same function, so providers never change.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

__all__ = ["FoundKey", "lookup_key", "set_key_lookup"]


@dataclass(frozen=True, slots=True)
class FoundKey:
    """A key and where it was found (``"env:OPENAI_API_KEY"``); the value stays out of repr."""

    value: str = field(repr=False)
    source: str


def _from_environment(names: Sequence[str]) -> FoundKey | None:
    for name in names:
        value = os.environ.get(name)
        if value:
            return FoundKey(value, f"env:{name}")
    return None


_lookup: Callable[[Sequence[str]], FoundKey | None] = _from_environment


def lookup_key(names: Sequence[str]) -> FoundKey | None:
    """The first of the variables ``names`` that has a value, or ``None``."""
    return _lookup(names)


def set_key_lookup(lookup: Callable[[Sequence[str]], FoundKey | None] | None) -> None:
    """Replace where keys are looked up (``None`` restores the environment)."""
    global _lookup  # noqa: PLW0603 - one process-wide lookup, swapped as a whole
    _lookup = lookup or _from_environment
