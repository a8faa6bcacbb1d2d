"""Inline suppression: ``# tta: ignore`` and ``# tta: ignore[TTA001, TTA008]``."""

from __future__ import annotations

import io
import re
import tokenize

__all__ = ["ALL", "suppressions"]

#: The value of a line whose comment is a bare ``# tta: ignore``.
ALL: frozenset[str] = frozenset({"*"})

_DIRECTIVE = re.compile(r"#\s*tta:\s*ignore\b(?:\[([^\]]*)\])?")


def suppressions(source: str, names: dict[str, str]) -> dict[int, frozenset[str]]:
    """Line -> rule ids suppressed there (:data:`ALL` for a bare ignore).

    Only comment tokens are read, so the directive inside a string is not one.
    ``names`` maps rule names to ids, so ``ignore[secret-literal]`` works too.
    """
    if "tta:" not in source:  # the common case: no tokenizing at all
        return {}
    found: dict[int, frozenset[str]] = {}
    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if token.type != tokenize.COMMENT or "tta:" not in token.string:
                continue
            for match in _DIRECTIVE.finditer(token.string):
                line = token.start[0]
                if match.group(1) is None:
                    found[line] = ALL
                    continue
                ids = {
                    names.get(part.strip(), part.strip().upper())
                    for part in match.group(1).split(",")
                    if part.strip()
                }
                if found.get(line) is not ALL:
                    found[line] = found.get(line, frozenset()) | ids
    except (tokenize.TokenError, SyntaxError):
        pass  # the parser reports the file; what was read so far still counts
    return found
