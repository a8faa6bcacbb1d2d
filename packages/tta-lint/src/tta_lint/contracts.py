"""Import contracts: which modules may not import which."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from tta_lint.globs import PathPattern

__all__ = ["ImportContract"]


@dataclass(frozen=True, slots=True)
class ImportContract:
    """Modules matching ``sources`` (but not ``allow``) must not import ``forbidden``.

    ``sources`` and ``allow`` entries are module prefixes (``tta_secrets`` covers
    ``tta_secrets.loader``), ``*`` for every file, or path patterns when they contain
    ``/``. ``forbidden`` entries are module prefixes. With ``type_checking`` false,
    imports under ``if TYPE_CHECKING:`` are allowed.
    """

    name: str
    sources: tuple[str, ...]
    forbidden: tuple[str, ...]
    allow: tuple[str, ...] = ()
    type_checking: bool = True

    def applies_to(self, module: str, path: str) -> bool:
        """Whether the file ``path`` (module ``module``) is bound by this contract."""
        return _any_match(self.sources, module, path) and not _any_match(self.allow, module, path)

    def forbids(self, imported: str) -> str | None:
        """The forbidden prefix ``imported`` falls under, if any."""
        return next((p for p in self.forbidden if _under(imported, p)), None)


def _under(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def _any_match(entries: Iterable[str], module: str, path: str) -> bool:
    for entry in entries:
        if entry == "*":
            return True
        if "/" in entry:
            if _pattern(entry).matches(path):
                return True
        elif module and _under(module, entry):
            return True
    return False


@lru_cache(maxsize=256)
def _pattern(entry: str) -> PathPattern:
    return PathPattern(entry)
