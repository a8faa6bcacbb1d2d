"""What a statement is, for spans, metrics and the retry rule: pure text analysis.

* :func:`sanitize` gives the statement without values: string, dollar-quoted and
  numeric literals become ``?`` and comments go, so a span's ``db.query.text`` never
  carries data even when someone formatted a value into the SQL.
* :func:`operation_name` gives the operation (``SELECT``, ``INSERT``, ...) from a fixed
  set, ``OTHER`` for the rest: it is a metric label, so its values must stay few.
* :func:`is_retry_safe` says whether the statement may be sent again after the
  connection broke under it: plain reads only (see its docstring).

:func:`describe` bundles the three, cached per statement text.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import NamedTuple

__all__ = ["StatementInfo", "describe", "is_retry_safe", "operation_name", "sanitize"]

MAX_QUERY_TEXT = 2048

_LITERALS = re.compile(
    r"""
      (?P<line_comment>--[^\n]*)
    | (?P<block_comment>/\*.*?(?:\*/|\Z))
    | (?P<dollar>\$(?P<tag>[A-Za-z_][A-Za-z0-9_]*|)\$.*?(?:\$(?P=tag)\$|\Z))
    | (?P<escaped>\b[eE]'(?:[^'\\]|\\.|'')*(?:'|\Z))
    | (?P<string>\b[xXbBnN]?'(?:[^']|'')*(?:'|\Z)|'(?:[^']|'')*(?:'|\Z))
    | (?P<quoted_name>"(?:[^"]|"")*(?:"|\Z))
    | (?P<number>(?<![\w$.:])(?:0[xX][0-9a-fA-F_]+|\d[\d_]*(?:\.\d*)?(?:[eE][-+]?\d+)?
                                |\.\d+(?:[eE][-+]?\d+)?)(?![\w]))
    """,
    re.VERBOSE | re.DOTALL,
)
_SPACE = re.compile(r"\s+")

_OPERATIONS = frozenset({
    "ALTER", "ANALYZE", "BEGIN", "CALL", "COMMIT", "COPY", "CREATE", "DELETE", "DO", "DROP",
    "EXPLAIN", "GRANT", "INSERT", "LISTEN", "LOCK", "MERGE", "NOTIFY", "PRAGMA", "RELEASE",
    "REPLACE", "RESET", "REVOKE", "ROLLBACK", "SAVEPOINT", "SELECT", "SET", "SHOW",
    "TRUNCATE", "UPDATE", "UPSERT", "VACUUM", "VALUES",
})  # fmt: skip
_FIRST_WORD = re.compile(r"[\s(]*([A-Za-z]+)")
_CTE_WRITE = re.compile(r"\b(INSERT|UPDATE|DELETE|MERGE)\b", re.IGNORECASE)
_QUOTED_NAME = re.compile(r'"(?:[^"]|"")*"')

# A read that nonetheless changes something: locks, sequences, advisory locks, ...
_WRITING_READ = re.compile(
    r"\bFOR\s+(?:NO\s+KEY\s+)?(?:UPDATE|SHARE|KEY\s+SHARE)\b|\bINTO\b"
    r"|\b(?:nextval|setval|pg_advisory\w*|pg_try_advisory\w*|pg_notify|pg_terminate_backend"
    r"|pg_cancel_backend|set_config|lo_\w+|dblink\w*|pg_sleep\w*)\s*\(",
    re.IGNORECASE,
)
_READ_OPERATIONS = frozenset({"SELECT", "VALUES", "SHOW"})


class StatementInfo(NamedTuple):
    """What :func:`describe` found out about one statement."""

    operation: str
    text: str
    retry_safe: bool


def _replace(match: re.Match[str]) -> str:
    kind = match.lastgroup
    if kind in ("line_comment", "block_comment"):
        return " "
    if kind == "quoted_name":
        return match.group(0)
    return "?"


def sanitize(sql: str) -> str:
    """``sql`` with literals replaced by ``?``, comments dropped, whitespace collapsed.

    Placeholders (``%s``, ``%(name)s``, ``?``, ``:name``, ``$1``) stay as they are.
    Longer results are cut at 2,048 characters.
    """
    return _truncate(_strip(sql))


def _strip(sql: str) -> str:
    return _SPACE.sub(" ", _LITERALS.sub(_replace, sql)).strip()


def _truncate(text: str) -> str:
    if len(text) > MAX_QUERY_TEXT:
        return text[: MAX_QUERY_TEXT - 3] + "..."
    return text


def operation_name(sql: str) -> str:
    """The statement's operation, upper-case, from a fixed set; ``OTHER`` when unknown.

    A ``WITH`` query is named after the data-changing statement inside it, if any,
    else ``SELECT``.
    """
    return _operation(_strip(sql))


def _operation(sanitized: str) -> str:
    match = _FIRST_WORD.match(sanitized)
    if match is None:
        return "OTHER"
    word = match.group(1).upper()
    if word == "WITH":
        write = _CTE_WRITE.search(_QUOTED_NAME.sub(" ", sanitized))
        return write.group(1).upper() if write else "SELECT"
    return word if word in _OPERATIONS else "OTHER"


def is_retry_safe(sql: str) -> bool:
    """Whether ``sql`` may be sent again after a lost connection (outside a transaction).

    Safe: one ``SELECT``/``VALUES``/``SHOW`` statement (or ``EXPLAIN`` without
    ``ANALYZE``) with no locking clause (``FOR UPDATE``...), no ``INTO`` and no call of
    a well-known writing function (``nextval``, ``pg_advisory_lock``, ...). A read that
    calls a function of yours that writes cannot be told apart: send it as
    ``Query(..., retry_safe=False)``. Everything else is a write and never retried.
    """
    return _retry_safe(_strip(sql))


def _retry_safe(sanitized: str) -> bool:
    body = sanitized.rstrip("; ")
    if ";" in _QUOTED_NAME.sub(" ", body):
        return False  # several statements: the first may have been applied
    operation = _operation(body)
    if operation == "EXPLAIN":
        rest = _QUOTED_NAME.sub(" ", body).upper()
        return "ANALYZE" not in rest and _CTE_WRITE.search(rest) is None
    if operation not in _READ_OPERATIONS:
        return False  # a WITH holding a write is named after the write
    return _WRITING_READ.search(_QUOTED_NAME.sub(" ", body)) is None


@lru_cache(maxsize=1024)
def describe(sql: str) -> StatementInfo:
    """Operation, sanitised text and retry safety of ``sql`` (cached per text)."""
    full = _strip(sql)
    return StatementInfo(_operation(full), _truncate(full), _retry_safe(full))
