"""Every error the database primitives raise, in one tree.

::

    TTAError
    └── DatabaseError                     .code (SQLSTATE or PGRST code), .details, .hint,
        │                                 .status (HTTP status, Supabase only)
        ├── DatabaseConnectionError       cannot connect, or the connection was lost
        │                                 (.connection_lost); the DSN's password is never shown
        ├── TransactionError              a transaction used after it ended, or nested ones
        │                                 opened concurrently on one connection
        ├── NotFoundError (LookupError)   ``fetch="one"``/``"value"`` found no row; a Supabase
        │                                 single-object request matched no row (PGRST116)
        ├── QueryError                    the database refused the statement
        │   ├── ConstraintViolationError  unique, foreign key, check, not-null, exclusion;
        │   │                             .constraint (name when known), .kind
        │   ├── QuerySyntaxError          bad SQL, unknown table/column/function
        │   ├── ParameterError (ValueError)
        │   │                             a value or the SQL text cannot be sent (an integer
        │   │                             beyond 64 bits on SQLite, a lone surrogate, a type
        │   │                             the driver cannot adapt); .parameter names it
        │   └── QueryTimeoutError (TimeoutError)
        │                                 statement timeout, lock timeout, busy database
        └── SupabaseError                 any other PostgREST error: .code, .message, ...

A request that is malformed before anything is sent (an unknown key, ``fetch="some"``,
``retry_safe="false"``, a reserved or invalid name, an unfiltered delete) raises
``ValueError`` naming the field; every failure after that is one of the types above.
Driver exceptions (psycopg, sqlite3, httpx) are converted where they cross into this
package, in one place per backend; the original stays reachable as ``__cause__`` unless
its text carries a password.
"""

from __future__ import annotations

from tta_dev_primitives.exceptions import TTAError

__all__ = [
    "ConstraintViolationError",
    "DatabaseConnectionError",
    "DatabaseError",
    "NotFoundError",
    "ParameterError",
    "QueryError",
    "QuerySyntaxError",
    "QueryTimeoutError",
    "SupabaseError",
    "TransactionError",
]


class DatabaseError(TTAError):
    """Base of every database error.

    ``code`` is the SQLSTATE (PostgreSQL, PostgREST), a ``PGRST...`` code (PostgREST
    itself) or the SQLite error name; ``details`` and ``hint`` are the server's, when
    it gave them; ``status`` is the HTTP status of a Supabase answer.
    """

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        details: str | None = None,
        hint: str | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.details = details
        self.hint = hint
        self.status = status


class DatabaseConnectionError(DatabaseError):
    """The database cannot be reached, or the connection broke during a statement.

    ``connection_lost`` is true when an established connection broke: a write sent on
    it may or may not have been applied.
    """

    def __init__(
        self,
        message: str,
        *,
        connection_lost: bool = False,
        code: str | None = None,
        details: str | None = None,
        hint: str | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message, code=code, details=details, hint=hint, status=status)
        self.connection_lost = connection_lost


class TransactionError(DatabaseError):
    """A transaction was misused: used after it ended, or nested concurrently."""


class NotFoundError(DatabaseError, LookupError):
    """A query that must return a row returned none."""


class QueryError(DatabaseError):
    """The database refused or failed the statement."""


class ConstraintViolationError(QueryError):
    """A constraint rejected the change.

    ``kind`` is ``"unique"``, ``"foreign_key"``, ``"check"``, ``"not_null"``,
    ``"exclusion"``, ``"primary_key"`` or ``"other"``; ``constraint`` is the
    constraint's name when the database tells it (SQLite names only CHECK
    constraints; for its unique and not-null failures it is ``table.column``).
    """

    def __init__(
        self,
        message: str,
        *,
        constraint: str | None = None,
        kind: str = "other",
        table: str | None = None,
        column: str | None = None,
        code: str | None = None,
        details: str | None = None,
        hint: str | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message, code=code, details=details, hint=hint, status=status)
        self.constraint = constraint
        self.kind = kind
        self.table = table
        self.column = column


class QuerySyntaxError(QueryError):
    """The statement is not valid: a syntax error, or an unknown table, column or function."""


class ParameterError(QueryError, ValueError):
    """A value, or the SQL text itself, cannot be sent to the database; nothing was run.

    ``parameter`` names it the way the request does: ``"params[1]"``,
    ``"params['email']"``, ``"many[2][0]"`` or ``"query"`` (the SQL text); ``None``
    when the driver did not say which.
    """

    def __init__(
        self, message: str, *, parameter: str | None = None, code: str | None = None
    ) -> None:
        super().__init__(message, code=code)
        self.parameter = parameter


class QueryTimeoutError(QueryError, TimeoutError):
    """The statement ran out of time: statement or lock timeout, or a busy SQLite file."""


class SupabaseError(DatabaseError):
    """A PostgREST error with no more specific type (auth, bad filter, range, ...).

    ``code``, ``message``, ``details`` and ``hint`` are PostgREST's JSON error body;
    ``status`` is the HTTP status.
    """
