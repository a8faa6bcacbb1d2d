"""``DotenvSource``: a ``.env`` file, read once when the source is built."""

from __future__ import annotations

from pathlib import Path

from dotenv import dotenv_values

from tta_secrets.sources.base import SecretSource

__all__ = ["DotenvSource"]


class DotenvSource(SecretSource):
    """``KEY=value`` lines of a ``.env`` file (python-dotenv syntax).

    A missing file is not an error: the source is empty. The file is read when the
    source is built (and again on :meth:`reload`), not at each lookup. ``${VAR}``
    references are not expanded: a value is taken exactly as written.
    """

    def __init__(self, path: str | Path = ".env") -> None:
        self.path = Path(path).expanduser().absolute()
        self._values: dict[str, str] = {}
        self.reload()

    @property
    def label(self) -> str:
        """``dotenv:/absolute/path/.env``."""
        return f"dotenv:{self.path}"

    @property
    def exists(self) -> bool:
        """Whether the file was there at the last read."""
        return self._exists

    def reload(self) -> None:
        """Read the file again (a missing file leaves the source empty)."""
        self._exists = self.path.is_file()
        if not self._exists:
            self._values = {}
            return
        values = dotenv_values(self.path, interpolate=False)
        self._values = {key: value for key, value in values.items() if value}

    def lookup(self, name: str) -> str | None:
        """The value from the file; absent or empty is ``None``."""
        return self._values.get(name)

    def __repr__(self) -> str:
        return f"DotenvSource({str(self.path)!r})"
