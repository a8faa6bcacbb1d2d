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

__all__ = [
    "PURE_FUNCTIONS",
    "StatementInfo",
    "describe",
    "is_retry_safe",
    "operation_name",
    "sanitize",
]

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

# A read that nonetheless changes something or takes a lock.
_LOCKING_CLAUSE = re.compile(
    r"\bFOR\s+(?:NO\s+KEY\s+)?(?:UPDATE|SHARE|KEY\s+SHARE)\b|\bINTO\b", re.IGNORECASE
)
_EXPLAIN_ANALYZE = re.compile(r"\bANALY[SZ]E\b", re.IGNORECASE)
# A name, plain or double-quoted, possibly schema-qualified, followed by "(": a call,
# unless the name is an SQL keyword that takes parentheses or a type with a modifier.
_CALL = re.compile(r'(?P<name>[A-Za-z_][A-Za-z0-9_$]*|"(?:[^"]|"")*")\s*\(')
_PAREN_KEYWORDS = frozenset({
    "all", "and", "any", "array", "as", "between", "by", "case", "cube", "distinct",
    "else", "except", "exists", "explain", "filter", "from", "grouping", "having", "in",
    "intersect", "is", "join", "lateral", "like", "ilike", "not", "on", "only", "or",
    "over", "partition", "recursive", "returning", "rollup", "row", "rows", "select",
    "sets", "similar", "some", "then", "union", "using", "values", "when", "where",
    "window", "with", "within", "group", "order", "limit", "offset", "tablesample",
    # types with a modifier: numeric(10, 2), varchar(20), timestamp(3), ...
    "bit", "char", "character", "decimal", "float", "interval", "numeric", "time",
    "timestamp", "timestamptz", "varbit", "varchar", "varying",
})  # fmt: skip
#: Functions that neither write nor lock, so a read calling them may be sent again.
#: Any other call (yours included) makes a statement unsafe to retry.
PURE_FUNCTIONS = frozenset({
    # aggregates and window functions
    "array_agg", "avg", "bool_and", "bool_or", "count", "cume_dist", "dense_rank",
    "every", "first_value", "group_concat", "json_agg", "json_group_array",
    "json_group_object", "json_object_agg", "jsonb_agg", "jsonb_object_agg", "lag",
    "last_value", "lead", "max", "min", "nth_value", "ntile", "percent_rank", "rank",
    "row_number", "string_agg", "sum", "total",
    # conditionals and casts
    "cast", "coalesce", "greatest", "ifnull", "iif", "least", "nullif", "typeof",
    # text
    "btrim", "char_length", "character_length", "concat", "concat_ws", "format",
    "initcap", "instr", "left", "length", "lower", "lpad", "ltrim", "md5", "octet_length",
    "position", "printf", "quote", "regexp_match", "regexp_matches", "regexp_replace",
    "repeat", "replace", "reverse", "right", "rpad", "rtrim", "split_part", "starts_with",
    "strpos", "substr", "substring", "to_char", "translate", "trim", "unicode", "upper",
    # numbers
    "abs", "ceil", "ceiling", "div", "exp", "floor", "ln", "log", "mod", "power", "round",
    "sign", "sqrt", "trunc", "width_bucket",
    # dates and times
    "age", "clock_timestamp", "date", "date_part", "date_trunc", "datetime", "extract",
    "julianday", "make_date", "make_interval", "make_timestamp", "now", "strftime",
    "time", "to_date", "to_timestamp", "unixepoch",
    # arrays, JSON, sets
    "array_length", "array_position", "array_to_string", "cardinality",
    "generate_series", "json_array", "json_array_length", "json_build_array",
    "json_build_object", "json_extract", "json_object", "jsonb_array_length",
    "jsonb_build_array", "jsonb_build_object", "jsonb_extract_path",
    "jsonb_extract_path_text", "jsonb_typeof", "row_to_json", "string_to_array",
    "to_json", "to_jsonb", "unnest",
})  # fmt: skip
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

    Safe: one ``SELECT``/``VALUES``/``SHOW`` statement, or an ``EXPLAIN`` of one
    without ``ANALYZE``/``ANALYSE``, with no locking clause (``FOR UPDATE``,
    ``FOR SHARE``, ...), no ``INTO`` and no call of a function outside
    :data:`PURE_FUNCTIONS` (``count``, ``coalesce``, ``lower``, ...): ``nextval``,
    ``pg_advisory_lock`` or a function of yours may write or lock, so a statement
    calling one, however it is spelled (quoted, schema-qualified), is not retried.
    Everything else (writes, data-modifying ``WITH``, several statements) is never
    retried. When in doubt, the answer is no; ``Query(..., retry_safe=True)`` forces a
    retry of a read the rule refuses, ``retry_safe=False`` forbids one.
    """
    return _retry_safe(_strip(sql))


def _retry_safe(sanitized: str) -> bool:
    body = sanitized.rstrip("; ")
    unquoted = _QUOTED_NAME.sub(" ", body)
    if ";" in unquoted:
        return False  # several statements: the first may have been applied
    operation = _operation(body)
    if operation == "EXPLAIN":
        if _EXPLAIN_ANALYZE.search(unquoted) or _CTE_WRITE.search(unquoted):
            return False  # EXPLAIN ANALYZE runs the statement
    elif operation not in _READ_OPERATIONS:
        return False  # a WITH holding a write is named after the write
    if _LOCKING_CLAUSE.search(unquoted):
        return False
    return all(_pure_call(match.group("name")) for match in _CALL.finditer(body))


def _pure_call(name: str) -> bool:
    if name.startswith('"'):
        # A quoted name is the function's exact name: never a keyword, never folded.
        return name[1:-1].replace('""', '"') in PURE_FUNCTIONS
    lowered = name.lower()
    return lowered in _PAREN_KEYWORDS or lowered in PURE_FUNCTIONS


@lru_cache(maxsize=1024)
def describe(sql: str) -> StatementInfo:
    """Operation, sanitised text and retry safety of ``sql`` (cached per text)."""
    full = _strip(sql)
    return StatementInfo(_operation(full), _truncate(full), _retry_safe(full))
