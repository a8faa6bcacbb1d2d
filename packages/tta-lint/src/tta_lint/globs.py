"""Path patterns of the configuration: ``*``, ``?`` and ``**``, gitignore style."""

from __future__ import annotations

import re

__all__ = ["PathPattern"]


class PathPattern:
    """A glob over ``/``-separated relative paths.

    ``*`` and ``?`` stay within one path segment, ``**`` spans any number of them.
    A pattern matches a path or any directory above it (``build`` matches
    ``build/x.py``); a pattern without ``/`` matches at any depth, like a
    ``.gitignore`` entry (``__pycache__`` matches ``a/b/__pycache__/c.pyc``).
    """

    __slots__ = ("_regex", "pattern")

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        body = pattern.strip("/")
        anywhere = "/" not in body
        parts: list[str] = ["(?:.*/)?" if anywhere else ""]
        index = 0
        while index < len(body):
            if body.startswith("**/", index):
                parts.append("(?:.*/)?")
                index += 3
            elif body.startswith("**", index):
                parts.append(".*")
                index += 2
            else:
                char = body[index]
                parts.append("[^/]*" if char == "*" else "[^/]" if char == "?" else re.escape(char))
                index += 1
        self._regex = re.compile("".join(parts) + r"(?:/.*)?\Z")

    def matches(self, path: str) -> bool:
        """Whether ``path`` (relative, ``/``-separated) or a directory above it matches."""
        return self._regex.match(path) is not None

    def __repr__(self) -> str:
        return f"PathPattern({self.pattern!r})"
