"""Database primitives: PostgreSQL, SQLite and Supabase as composable workflow steps.

* :class:`PostgreSQLPrimitive` (psycopg 3 + a pool; extra ``postgres``) and
  :class:`SQLitePrimitive` (aiosqlite, WAL, busy timeout; extra ``sqlite``) share one
  request shape (:class:`Query`: SQL, bound parameters, a ``fetch`` mode), rows as
  dicts, transactions (``async with db.transaction()``, :class:`TransactionPrimitive`)
  and one retry of plain reads after a lost connection.
* :class:`SupabasePrimitive` speaks PostgREST over httpx: select with filters, order,
  ranges and counts; insert, upsert, update, delete; rpc.
* Dynamic table and column names go through :func:`quote_identifier`; values are
  always bound. Errors are typed (:mod:`.errors`); passwords and keys never appear in
  errors, spans or reprs (:func:`redact_dsn`).

The three backends load on first use, so importing this package loads neither
psycopg, aiosqlite nor httpx.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from tta_dev_integrations.database.dsn import lookup_setting, redact_dsn
from tta_dev_integrations.database.errors import (
    ConstraintViolationError,
    DatabaseConnectionError,
    DatabaseError,
    NotFoundError,
    ParameterError,
    QueryError,
    QuerySyntaxError,
    QueryTimeoutError,
    SupabaseError,
    TransactionError,
)
from tta_dev_integrations.database.identifiers import Identifier, quote_identifier
from tta_dev_integrations.database.postgrest import Filter
from tta_dev_integrations.database.request import FetchMode, Query, QueryInput
from tta_dev_integrations.database.sql import SQLDatabasePrimitive, Transaction
from tta_dev_integrations.database.statements import is_retry_safe, sanitize
from tta_dev_integrations.database.transaction import TransactionPrimitive

if TYPE_CHECKING:
    from tta_dev_integrations.database.postgres import PostgreSQLPrimitive
    from tta_dev_integrations.database.sqlite import SQLitePrimitive
    from tta_dev_integrations.database.supabase import SupabasePrimitive, SupabaseResult

__all__ = [
    "ConstraintViolationError",
    "DatabaseConnectionError",
    "DatabaseError",
    "FetchMode",
    "Filter",
    "Identifier",
    "NotFoundError",
    "ParameterError",
    "PostgreSQLPrimitive",
    "Query",
    "QueryError",
    "QueryInput",
    "QuerySyntaxError",
    "QueryTimeoutError",
    "SQLDatabasePrimitive",
    "SQLitePrimitive",
    "SupabaseError",
    "SupabasePrimitive",
    "SupabaseResult",
    "Transaction",
    "TransactionError",
    "TransactionPrimitive",
    "is_retry_safe",
    "lookup_setting",
    "quote_identifier",
    "redact_dsn",
    "sanitize",
]

_LAZY = {
    "PostgreSQLPrimitive": "tta_dev_integrations.database.postgres",
    "SQLitePrimitive": "tta_dev_integrations.database.sqlite",
    "SupabasePrimitive": "tta_dev_integrations.database.supabase",
    "SupabaseResult": "tta_dev_integrations.database.supabase",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value
