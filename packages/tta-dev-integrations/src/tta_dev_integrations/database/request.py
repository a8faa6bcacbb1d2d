"""The one request shape of the SQL primitives: a statement, its bound parameters, a fetch mode.

A request is a :class:`Query` or a plain mapping with the same keys::

    {"query": "SELECT * FROM users WHERE id = %s", "params": [7], "fetch": "one"}
    {"query": "INSERT INTO tags (name) VALUES (?)", "many": [["a"], ["b"]]}

``fetch`` decides what comes back:

* ``"all"`` (default): every row, as a list of dicts;
* ``"one"``: the first row as a dict; :class:`NotFoundError` when there is none;
* ``"value"``: the first column of the first row; :class:`NotFoundError` when no row;
* ``"none"``: the number of rows the statement changed (``rowcount``).

``many`` runs the statement once per parameter set (executemany) and returns the total
row count, so it goes with ``fetch="none"`` only. Parameters are always bound by the
driver, never formatted into the text: PostgreSQL takes ``%s``/``%(name)s``, SQLite
``?``/``:name``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

__all__ = ["FetchMode", "Params", "Query", "QueryInput", "as_query", "quick_query", "unsendable"]

FetchMode = Literal["all", "one", "value", "none"]
Params = Sequence[Any] | Mapping[str, Any]

_FETCH_MODES: frozenset[str] = frozenset(get_args(FetchMode))
_KEYS = frozenset({"query", "params", "fetch", "many", "retry_safe"})


@dataclass(frozen=True, slots=True)
class Query:
    """A statement with bound parameters and a fetch mode.

    ``retry_safe`` overrides the classification of the statement for the one retry
    after a lost connection: ``None`` lets TTA.dev decide (plain reads are safe),
    ``False`` forbids the retry (say, a ``SELECT`` of a function that writes).
    """

    query: str
    params: Params | None = None
    fetch: FetchMode = "all"
    many: Sequence[Params] | None = None
    retry_safe: bool | None = None

    def __post_init__(self) -> None:
        if type(self.query) is not str or not self.query or self.query.isspace():
            raise ValueError(
                f"a database query needs a non-empty SQL string in 'query', got "
                f"{type(self.query).__name__}"
            )
        if not isinstance(self.fetch, str) or self.fetch not in _FETCH_MODES:
            raise ValueError(f"fetch must be one of {sorted(_FETCH_MODES)}, got {self.fetch!r}")
        if self.retry_safe is not None and not isinstance(self.retry_safe, bool):
            raise ValueError(
                f"retry_safe must be True, False or None (a bool, not a "
                f"{type(self.retry_safe).__name__}), got {self.retry_safe!r}"
            )
        if self.params is not None and type(self.params) not in _PLAIN_PARAMS:
            _check_params(self.params, "params")
        if self.many is not None:
            if self.params is not None:
                raise ValueError("give either 'params' (one run) or 'many' (executemany), not both")
            if self.fetch != "none":
                raise ValueError(
                    "'many' (executemany) returns a row count: use fetch='none' with it"
                )
            if isinstance(self.many, str | bytes) or not isinstance(self.many, Sequence):
                raise ValueError("'many' must be a list of parameter sets, e.g. [[1], [2]]")
            for index, params in enumerate(self.many):
                if type(params) not in _PLAIN_PARAMS:
                    _check_params(params, f"many[{index}]")


QueryInput = Query | Mapping[str, Any] | str
"""What the SQL primitives accept: a :class:`Query`, a mapping of its fields, or bare SQL."""


_set = object.__setattr__
_PLAIN_PARAMS = (tuple, list, dict)  # certainly a sequence or a mapping: no ABC check


def quick_query(sql: str, params: Params | None, fetch: FetchMode) -> Query:
    """``Query(sql, params, fetch)`` for the shortcuts, whose ``fetch`` is a literal.

    The common case (SQL text, parameters as a tuple, list or dict) is built without
    the dataclass's generic checks; anything else goes through them.
    """
    if (
        type(sql) is str
        and sql
        and not sql.isspace()
        and (params is None or type(params) in _PLAIN_PARAMS)
    ):
        query = object.__new__(Query)
        _set(query, "query", sql)
        _set(query, "params", params)
        _set(query, "fetch", fetch)
        _set(query, "many", None)
        _set(query, "retry_safe", None)
        return query
    return Query(sql, params, fetch)


def _check_params(params: object, where: str) -> None:
    if isinstance(params, str | bytes | bytearray):
        raise ValueError(
            f"{where} must be a sequence or a mapping of values, not a {type(params).__name__}: "
            "wrap a single value as (value,)"
        )
    if not isinstance(params, Sequence | Mapping):
        raise ValueError(
            f"{where} must be a sequence or a mapping of values, got {type(params).__name__}"
        )


def as_query(request: QueryInput) -> Query:
    """``request`` as a :class:`Query`; ``ValueError`` naming what is wrong with it."""
    if isinstance(request, Query):
        return request
    if isinstance(request, str):
        return Query(request)
    if isinstance(request, Mapping):
        unknown = set(request) - _KEYS
        if unknown:
            raise ValueError(
                f"unknown keys in a database request: {sorted(unknown)}; "
                f"the keys are {sorted(_KEYS)}"
            )
        if "query" not in request:
            raise ValueError("a database request needs a 'query' (the SQL text)")
        return Query(**request)
    raise ValueError(
        f"a database request is a Query, a mapping or an SQL string, got {type(request).__name__}"
    )


def unsendable(
    query: Query, *, int_bits: int | None = None, type_name: str | None = None
) -> tuple[str, str] | None:
    """Which part of ``query`` a driver cannot send, and why; ``None`` when none is found.

    The part is named as the request names it (``"query"``, ``"params[1]"``,
    ``"params['e']"``, ``"many[2][0]"``). Looked for: text that is not valid UTF-8 (a
    lone surrogate), an integer beyond ``int_bits`` (signed), a value whose type is
    called ``type_name`` (what the driver said it cannot adapt). Called after a driver
    failed, so the common path pays nothing for it.
    """
    problem = _text_problem(query.query)
    if problem is not None:
        return "query", problem
    if query.params is not None:
        sets: list[tuple[str, Params]] = [("params", query.params)]
    else:
        sets = [(f"many[{index}]", params) for index, params in enumerate(query.many or ())]
    for where, params in sets:
        items = params.items() if isinstance(params, Mapping) else enumerate(params)
        for key, value in items:
            reason = _value_problem(value, int_bits, type_name)
            if reason is not None:
                return f"{where}[{key!r}]", reason
    return None


def _text_problem(text: str) -> str | None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        bad = text[error.start]
        return (
            f"it holds a lone surrogate (U+{ord(bad):04X} at index {error.start}), which is "
            "not valid UTF-8; decode the text it came from with errors='replace'"
        )
    return None


def _value_problem(value: object, int_bits: int | None, type_name: str | None) -> str | None:
    if isinstance(value, str):
        return _text_problem(value)
    if int_bits is not None and isinstance(value, int) and not isinstance(value, bool):
        limit = 1 << (int_bits - 1)
        if not -limit <= value < limit:
            return (
                f"the integer is beyond the {int_bits}-bit range the database stores; "
                "send it as text or a float"
            )
    if type_name is not None and type(value).__name__ == type_name:
        return f"the driver cannot send a {type_name}; convert it (JSON text, say) first"
    return None
