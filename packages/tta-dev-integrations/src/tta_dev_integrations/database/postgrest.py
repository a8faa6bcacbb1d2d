r"""The PostgREST wire format, as pure functions: filters, ordering, ranges, errors.

Everything agent-supplied that enters a request goes through here:

* table, column and function names must be plain SQL names
  (``[A-Za-z_][A-Za-z0-9_]*``): anything else is refused before a request is made,
  so a name can never add a parameter, an operator or a path segment;
* a column may not be named like one of PostgREST's own query parameters
  (:data:`RESERVED_PARAMETERS`: ``select``, ``order``, ``limit``, ...): as a filter it
  would be read as that parameter, not as a row filter, so a delete "filtered" on it
  would delete every row. Such names are refused wherever a column name is accepted,
  and the guard against an unfiltered update or delete counts only the row filters
  actually sent;
* filter values are encoded by operator following PostgREST's URL grammar: after a
  simple operator (``eq.``) the rest of the parameter is the value, so it is sent as
  is (percent-encoding is httpx's job); the items of ``in.(...)`` are always
  double-quoted with ``"`` and ``\`` escaped, so a comma or a parenthesis inside a
  value stays inside it; ``is.`` accepts only ``null``, ``true``, ``false`` and
  ``unknown``.

References: PostgREST docs, "Tables and Views" (operators, ordering), "URL Grammar"
(reserved characters), "Pagination and Count" (``Range``/``Content-Range``,
``Prefer: count=``), "Errors" (the ``{code, message, details, hint}`` body, HTTP
statuses, ``PGRST`` codes).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any, NamedTuple, cast
from uuid import UUID

from tta_dev_integrations.database.errors import (
    ConstraintViolationError,
    DatabaseConnectionError,
    DatabaseError,
    NotFoundError,
    QuerySyntaxError,
    QueryTimeoutError,
    SupabaseError,
)

__all__ = [
    "OPERATORS",
    "RESERVED_PARAMETERS",
    "Filter",
    "FilterInput",
    "check_column",
    "check_name",
    "checked_rows",
    "columns_param",
    "count_preference",
    "error_from_body",
    "filter_params",
    "flag",
    "non_negative",
    "order_param",
    "parse_content_range",
    "required_filters",
    "return_preference",
]

OPERATORS = frozenset({"eq", "neq", "gt", "gte", "lt", "lte", "like", "ilike", "in", "is"})
#: Query parameter names PostgREST reads as its own, never as a column filter.
RESERVED_PARAMETERS = frozenset(
    {"select", "order", "limit", "offset", "or", "and", "not", "on_conflict", "columns"}
)
_COUNTS = frozenset({"exact", "planned", "estimated"})
_RETURNING = frozenset({"representation", "minimal"})
_IS_VALUES = {None: "null", True: "true", False: "false"}
_IS_WORDS = frozenset({"null", "true", "false", "unknown"})
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_ORDER = re.compile(
    r"(?P<column>[A-Za-z_][A-Za-z0-9_]*)(?:\.(?P<direction>asc|desc))?"
    r"(?:\.(?P<nulls>nullsfirst|nullslast))?\Z"
)
_CONTENT_RANGE = re.compile(r"(?:(?P<start>\d+)-(?P<end>\d+)|\*)/(?P<total>\d+|\*)\Z")
_CONSTRAINT_NAME = re.compile(r'constraint "([^"]+)"')
_CONSTRAINT_KINDS = {
    "23505": "unique",
    "23503": "foreign_key",
    "23514": "check",
    "23502": "not_null",
    "23P01": "exclusion",
}
_SYNTAX_CODES = frozenset({"42601", "42P01", "42703", "42883", "PGRST100", "PGRST200",
                           "PGRST201", "PGRST202", "PGRST203", "PGRST204", "PGRST205"})  # fmt: skip


class Filter(NamedTuple):
    """One condition: ``Filter("age", "gte", 18)``; ``negate=True`` puts ``not.`` before it."""

    column: str
    op: str
    value: Any
    negate: bool = False


FilterInput = Filter | tuple[str, str, Any] | Mapping[str, Any]
"""A :class:`Filter`, a ``(column, op, value)`` tuple, or ``{column: value}`` meaning ``eq``."""


def check_name(name: object, what: str) -> str:
    """``name`` if it is a plain SQL name; ``ValueError`` otherwise (nothing is sent)."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(
            f"invalid {what} name {name!r}: use letters, digits and underscores only "
            "(starting with a letter or underscore)"
        )
    return name


def check_column(name: object) -> str:
    """``name`` if it is a plain SQL name and not a reserved PostgREST parameter."""
    column = check_name(name, "column")
    if column.lower() in RESERVED_PARAMETERS:
        raise ValueError(
            f"column name {column!r} is reserved: PostgREST reads {column}= as its own "
            "query parameter, not as a column (a filter on it would match every row); "
            "rename the column or expose it through a view under another name"
        )
    return column


def _scalar(value: object, column: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float | Decimal | UUID):
        return str(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    raise TypeError(
        f"cannot send a {type(value).__name__} as a filter value for {column!r}: "
        "use a string, number, boolean, None, date/time or UUID"
    )


def _quoted(value: object, column: str) -> str:
    if value is None:
        return "null"
    text = _scalar(value, column)
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _encode(condition: Filter) -> tuple[str, str]:
    column = check_column(condition.column)
    op = condition.op
    if op not in OPERATORS:
        raise ValueError(f"unknown filter operator {op!r}; use one of {sorted(OPERATORS)}")
    value = condition.value
    if op == "in":
        if isinstance(value, str | bytes) or not isinstance(value, Iterable):
            raise ValueError(f"the 'in' filter on {column!r} needs a list of values")
        encoded = "(" + ",".join(_quoted(item, column) for item in value) + ")"
    elif op == "is":
        word = _IS_VALUES.get(value) if not isinstance(value, str) else value.lower()
        if word not in _IS_WORDS:
            raise ValueError(
                f"the 'is' filter on {column!r} takes None, True, False or 'unknown', got {value!r}"
            )
        encoded = word
    else:
        encoded = _scalar(value, column)
    prefix = "not." if condition.negate else ""
    return column, f"{prefix}{op}.{encoded}"


def _as_filters(filters: FilterInput | Sequence[FilterInput] | None) -> list[Filter]:
    if filters is None:
        return []
    if isinstance(filters, Filter):
        return [filters]
    if isinstance(filters, Mapping):
        return [Filter(column, "eq", value) for column, value in filters.items()]
    if isinstance(filters, tuple) and len(filters) in (3, 4) and isinstance(filters[1], str):
        return [Filter(*filters)]
    found: list[Filter] = []
    for item in cast("Sequence[FilterInput]", filters):
        found.extend(_as_filters(item))
    return found


def filter_params(filters: FilterInput | Sequence[FilterInput] | None) -> list[tuple[str, str]]:
    """Query parameters for ``filters`` (all ANDed): ``[("age", "gte.18"), ...]``."""
    return [_encode(condition) for condition in _as_filters(filters)]


def order_param(order: str | Sequence[str]) -> str:
    """``order=`` for ``"age.desc"`` or ``["age.desc.nullslast", "name"]``; validated."""
    items = [order] if isinstance(order, str) else list(order)
    for item in items:
        match = _ORDER.match(item) if isinstance(item, str) else None
        if match is None:
            raise ValueError(
                f"invalid order {item!r}: use 'column', 'column.asc' or 'column.desc', "
                "optionally followed by '.nullsfirst' or '.nullslast'"
            )
        check_column(match.group("column"))
    return ",".join(items)


class ContentRange(NamedTuple):
    """A parsed ``Content-Range``: the rows returned (``None`` when none) and the total."""

    start: int | None
    end: int | None
    total: int | None


def parse_content_range(header: str | None) -> ContentRange:
    """``"0-24/3573458"``, ``"0-24/*"``, ``"*/0"`` -> its parts; ``None``s when absent."""
    if not header:
        return ContentRange(None, None, None)
    match = _CONTENT_RANGE.match(header.strip())
    if match is None:
        return ContentRange(None, None, None)
    start, end, total = match.group("start", "end", "total")
    return ContentRange(
        int(start) if start is not None else None,
        int(end) if end is not None else None,
        int(total) if total != "*" else None,
    )


def error_from_body(status: int, body: object, what: str) -> DatabaseError:
    """The typed error for a PostgREST error answer (``{code, message, details, hint}``)."""
    fields = body if isinstance(body, Mapping) else {}
    code = _text(fields.get("code"))
    message = _text(fields.get("message")) or f"HTTP {status}"
    details = _text(fields.get("details"))
    hint = _text(fields.get("hint"))
    extra: dict[str, Any] = {"code": code, "details": details, "hint": hint, "status": status}
    text = f"Supabase {what}: {message}" + (f" ({details})" if details else "")
    if code == "PGRST116" and details is not None and " 0 rows" in details:
        return NotFoundError(text, **extra)
    if code is not None and code.startswith("23"):
        found = _CONSTRAINT_NAME.search(message)
        return ConstraintViolationError(
            text,
            constraint=found.group(1) if found else None,
            kind=_CONSTRAINT_KINDS.get(code, "other"),
            **extra,
        )
    if code in _SYNTAX_CODES:
        return QuerySyntaxError(text, **extra)
    if code == "57014":
        return QueryTimeoutError(text, **extra)
    if code is not None and (
        code.startswith("08") or code in ("PGRST000", "PGRST001", "PGRST002", "PGRST003")
    ):
        return DatabaseConnectionError(text, **extra)
    return SupabaseError(text, **extra)


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def columns_param(columns: str | Sequence[str], *, star: bool = True) -> str:
    """``select=``/``on_conflict=`` value: ``*`` or validated column names, comma-joined."""
    items = [columns] if isinstance(columns, str) else list(columns)
    if star and items == ["*"]:
        return "*"
    if not items:
        raise ValueError("name at least one column")
    return ",".join(check_column(column) for column in items)


def checked_rows(rows: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> Any:
    """A JSON body of one row or many, every column name validated."""
    batch = [rows] if isinstance(rows, Mapping) else list(rows)
    for row in batch:
        if not isinstance(row, Mapping):
            raise ValueError(f"a row is a mapping of column to value, got {type(row).__name__}")
        for column in row:
            check_column(column)
    return dict(rows) if isinstance(rows, Mapping) else [dict(row) for row in batch]


def required_filters(
    filters: FilterInput | Sequence[FilterInput] | None, all_rows: bool, what: str
) -> list[tuple[str, str]]:
    """Filter parameters for an update or delete: refuses none unless ``all_rows``."""
    params = filter_params(filters)
    if not flag(all_rows, "all_rows") and not any(
        name not in RESERVED_PARAMETERS for name, _ in params
    ):
        raise ValueError(
            f"refusing to {what} every row: give filters=, or all_rows=True if that is meant"
        )
    return params


def flag(value: object, label: str) -> bool:
    """``value`` if it is a bool; ``ValueError`` otherwise (``"false"`` is not false)."""
    if not isinstance(value, bool):
        raise ValueError(f"{label} must be True or False (a bool), got {value!r}")
    return value


def non_negative(number: int, label: str) -> int:
    """``number`` if it is an int >= 0; ``ValueError`` naming ``label`` otherwise."""
    if isinstance(number, bool) or not isinstance(number, int) or number < 0:
        raise ValueError(f"{label} must be a non-negative integer, got {number!r}")
    return number


def count_preference(count: str) -> str:
    """The ``Prefer`` item for a count: ``count=exact|planned|estimated``."""
    if count not in _COUNTS:
        raise ValueError(f"count must be one of {sorted(_COUNTS)}, got {count!r}")
    return f"count={count}"


def return_preference(returning: str) -> str:
    """The ``Prefer`` item for what a write returns: ``return=representation|minimal``."""
    if returning not in _RETURNING:
        raise ValueError(f"returning must be one of {sorted(_RETURNING)}, got {returning!r}")
    return f"return={returning}"
