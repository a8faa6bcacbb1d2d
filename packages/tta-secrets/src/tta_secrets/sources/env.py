"""``EnvSource``: the process environment, read at each lookup."""

from __future__ import annotations

import os
from collections.abc import Mapping

from tta_secrets.sources.base import SecretSource

__all__ = ["EnvSource"]


class EnvSource(SecretSource):
    """Variables of the process environment (or of ``environ``, for tests).

    Read live, not copied: a variable set after the loader was built is seen.
    """

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = os.environ if environ is None else environ

    @property
    def label(self) -> str:
        """``env``."""
        return "env"

    def lookup(self, name: str) -> str | None:
        """The variable's value; unset or empty is ``None``."""
        return self._environ.get(name) or None

    def where(self, name: str) -> str:
        """``env:NAME``."""
        return f"env:{name}"

    def __repr__(self) -> str:
        return "EnvSource()"
