"""``PostgreSQLPrimitive``: PostgreSQL through psycopg 3 and a psycopg-pool connection pool.

Connections run in autocommit mode, so each statement outside a transaction is its own
transaction and transactions are explicit (``BEGIN`` ... ``COMMIT``). Rows come back as
dicts (with duplicate column names, the last one wins: alias them). Install with the
``postgres`` extra.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import psycopg
import psycopg.errors
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import DictRow, dict_row
from psycopg_pool import AsyncConnectionPool, PoolClosed, PoolTimeout

from tta_dev_integrations.database.dsn import dsn_secrets, lookup_setting, redact_dsn, scrub
from tta_dev_integrations.database.errors import (
    ConstraintViolationError,
    DatabaseConnectionError,
    DatabaseError,
    NotFoundError,
    ParameterError,
    QueryError,
    QuerySyntaxError,
    QueryTimeoutError,
)
from tta_dev_integrations.database.request import Query, unsendable
from tta_dev_integrations.database.sql import SQLDatabasePrimitive
from tta_dev_integrations.database.telemetry import DatabaseTelemetry

__all__ = ["PostgreSQLPrimitive"]

Connection = psycopg.AsyncConnection[DictRow]

_CONSTRAINT_KINDS = {
    "23505": "unique",
    "23503": "foreign_key",
    "23514": "check",
    "23502": "not_null",
    "23P01": "exclusion",
    "23001": "restrict",
}
_TIMEOUTS = {"57014", "55P03"}  # query_canceled (statement_timeout), lock_not_available
_SERVER_GONE = {"57P01", "57P02", "57P03"}  # admin/crash shutdown, cannot connect now
_CANNOT_ADAPT = re.compile(r"cannot adapt type '(\w+)'")
_ISOLATION_LEVELS = {"read committed", "repeatable read", "serializable"}


class PostgreSQLPrimitive(SQLDatabasePrimitive[Connection]):
    """A PostgreSQL database as a workflow step, with a connection pool.

    ``url`` (``postgresql://user:password@host:5432/dbname``, or a ``key=value`` DSN)
    defaults to the ``DATABASE_URL`` setting (see :func:`.dsn.lookup_setting`). Nothing
    connects until :meth:`open` or the first call. ``statement_timeout_s`` and
    ``lock_timeout_s`` are set on every session; running out of either raises
    :class:`QueryTimeoutError`. The password never appears in errors, spans or reprs.

    ::

        async with PostgreSQLPrimitive() as db:
            user = await db.fetch_one("SELECT * FROM users WHERE id = %s", [7])
            async with db.transaction(isolation="serializable") as tx:
                await tx.run("UPDATE users SET name = %s WHERE id = %s", ["Ada", 7])
    """

    system = "postgresql"

    def __init__(
        self,
        url: str | None = None,
        *,
        min_size: int = 1,
        max_size: int = 10,
        connect_timeout_s: float = 10.0,
        pool_timeout_s: float = 30.0,
        statement_timeout_s: float | None = None,
        lock_timeout_s: float | None = None,
        name: str | None = None,
    ) -> None:
        resolved = url if url is not None else lookup_setting("DATABASE_URL")
        if not resolved:
            raise ValueError(
                "PostgreSQLPrimitive needs a connection string: pass url= or set "
                "DATABASE_URL, e.g. postgresql://user:password@localhost:5432/dbname"
            )
        self._secrets = dsn_secrets(resolved)
        self._url = resolved
        self.safe_url = redact_dsn(resolved)
        try:
            params = conninfo_to_dict(resolved)
        except psycopg.Error as error:
            raise ValueError(
                f"cannot read the PostgreSQL connection string {self.safe_url!r}: "
                f"{scrub(str(error), self._secrets)}; use postgresql://user:password@host:port/db"
            ) from None
        if min_size < 0 or max_size < max(1, min_size):
            raise ValueError(
                f"need 0 <= min_size <= max_size and max_size >= 1, got {min_size}, {max_size}"
            )
        self.min_size = min_size
        self.max_size = max_size
        self.connect_timeout_s = connect_timeout_s
        self.pool_timeout_s = pool_timeout_s
        self.statement_timeout_s = statement_timeout_s
        self.lock_timeout_s = lock_timeout_s
        self._pool: AsyncConnectionPool[Connection] | None = None
        self._opening = asyncio.Lock()
        self._closed = False
        host = str(params.get("host") or "localhost")
        attributes: dict[str, str | int] = {"server.address": host.split(",", maxsplit=1)[0]}
        port = str(params.get("port") or "5432").split(",")[0]
        if port.isdigit():
            attributes["server.port"] = int(port)
        telemetry = DatabaseTelemetry(self.system, str(params.get("dbname") or ""), attributes)
        super().__init__(telemetry, name=name)

    def __repr__(self) -> str:
        return f"PostgreSQLPrimitive({self.safe_url!r})"

    # -- pool -------------------------------------------------------------------------

    async def open(self) -> None:
        """Open the pool now, failing fast with :class:`DatabaseConnectionError`."""
        await self._open_pool()

    async def aclose(self) -> None:
        """Close the pool and its connections; idempotent. The primitive cannot reopen."""
        self._closed = True
        async with self._opening:
            pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    async def _open_pool(self) -> AsyncConnectionPool[Connection]:
        pool = self._pool
        if pool is not None:
            return pool
        async with self._opening:
            if self._closed:
                raise DatabaseConnectionError(f"{self!r} is closed; create a new one")
            if self._pool is None:
                self._pool = await self._new_pool()
            return self._pool

    async def _new_pool(self) -> AsyncConnectionPool[Connection]:
        connect_timeout = max(2, round(self.connect_timeout_s))
        try:
            # One direct connection first: it fails fast when nothing listens, where the
            # pool would keep trying until its timeout.
            conn = await psycopg.AsyncConnection.connect(
                self._url, autocommit=True, connect_timeout=connect_timeout
            )
            await conn.close()
        except psycopg.Error as error:
            raise self._unreachable(error) from self._cause(error)
        pool: AsyncConnectionPool[Connection] = AsyncConnectionPool(
            self._url,
            min_size=self.min_size,
            max_size=self.max_size,
            open=False,
            kwargs={
                "autocommit": True,
                "row_factory": dict_row,
                "connect_timeout": connect_timeout,
            },
            configure=self._configure,
            timeout=self.pool_timeout_s,
            name="tta-db",
        )
        try:
            await pool.open(wait=True, timeout=self.connect_timeout_s)
        except BaseException as error:
            await pool.close()
            if isinstance(error, PoolTimeout | psycopg.Error):
                raise self._unreachable(error) from None
            raise
        return pool

    async def _configure(self, conn: Connection) -> None:
        for setting, seconds in (
            ("statement_timeout", self.statement_timeout_s),
            ("lock_timeout", self.lock_timeout_s),
        ):
            if seconds is not None:
                await conn.execute(
                    "SELECT set_config(%s, %s, false)", (setting, f"{round(seconds * 1000)}ms")
                )

    async def _acquire(self) -> Connection:
        pool = self._pool or await self._open_pool()
        try:
            return await pool.getconn()
        except (PoolTimeout, PoolClosed) as error:
            raise DatabaseConnectionError(
                f"no PostgreSQL connection to {self.safe_url} within {self.pool_timeout_s} s "
                f"({type(error).__name__}); raise max_size or pool_timeout_s, or look for "
                "transactions held open too long"
            ) from None

    async def _release(self, conn: Connection) -> None:
        pool = self._pool
        if pool is None:  # closed meanwhile: its pool is gone
            await conn.close()
        else:
            await pool.putconn(conn)

    async def _after_connection_lost(self) -> None:
        pool = self._pool
        if pool is not None:
            await pool.check()  # drop the other idle connections that broke too

    # -- statements -------------------------------------------------------------------

    async def _run(self, conn: Connection, query: Query) -> Any:
        try:
            # A client-side cursor holds nothing on the server: no close needed (one
            # await less per statement); it goes with its last reference.
            cursor = conn.cursor()
            if query.many is not None:
                await cursor.executemany(query.query, query.many)
                return cursor.rowcount
            await cursor.execute(query.query, query.params)
            if query.fetch == "none":
                return cursor.rowcount
            rows = await cursor.fetchall() if cursor.description is not None else []
        except UnicodeEncodeError as error:
            raise self._unsendable(query, error) from None
        except psycopg.Error as error:
            adapt = _CANNOT_ADAPT.search(str(error))
            if isinstance(error, psycopg.ProgrammingError) and adapt is not None:
                raise self._unsendable(query, error, adapt.group(1)) from None
            raise self._convert(error, conn) from self._cause(error)
        if query.fetch == "all":
            return rows
        if not rows:
            raise NotFoundError(
                f"the query returned no row (fetch={query.fetch!r}): {query.query[:200]!r}"
            )
        return rows[0] if query.fetch == "one" else next(iter(rows[0].values()), None)

    @staticmethod
    def _unsendable(query: Query, error: Exception, type_name: str | None = None) -> ParameterError:
        found = unsendable(query, type_name=type_name)
        if found is None:
            return ParameterError(f"PostgreSQL cannot take a value of this request: {error}")
        parameter, reason = found
        return ParameterError(f"PostgreSQL cannot take {parameter}: {reason}", parameter=parameter)

    def _begin_statement(self, options: dict[str, Any]) -> str:
        unknown = set(options) - {"isolation", "read_only"}
        if unknown:
            raise TypeError(
                f"unknown PostgreSQL transaction options {sorted(unknown)}: "
                "use isolation= and read_only="
            )
        statement = "BEGIN"
        isolation = options.get("isolation")
        if isolation is not None:
            level = str(isolation).lower().replace("_", " ")
            if level not in _ISOLATION_LEVELS:
                raise ValueError(
                    f"isolation must be one of {sorted(_ISOLATION_LEVELS)}, got {isolation!r}"
                )
            statement += f" ISOLATION LEVEL {level.upper()}"
        if options.get("read_only"):
            statement += " READ ONLY"
        return statement

    # -- errors -----------------------------------------------------------------------

    def _cause(self, error: BaseException) -> BaseException | None:
        """The driver's error to chain, unless its text carries the password."""
        text = str(error)
        return None if any(secret in text for secret in self._secrets) else error

    def _unreachable(self, error: BaseException) -> DatabaseConnectionError:
        detail = scrub(str(error).strip(), self._secrets) or type(error).__name__
        return DatabaseConnectionError(
            f"cannot connect to PostgreSQL at {self.safe_url} ({detail}); check that the "
            "server runs and that DATABASE_URL (or url=) names the right host, port, "
            "database, user and password"
        )

    def _convert(self, error: psycopg.Error, conn: Connection) -> DatabaseError:
        sqlstate = error.sqlstate or ""
        diag = error.diag
        primary = diag.message_primary or str(error).strip()
        text = scrub(primary, self._secrets) or type(error).__name__
        fields: dict[str, Any] = {
            "code": error.sqlstate,
            "details": diag.message_detail,
            "hint": diag.message_hint,
        }
        if sqlstate.startswith("23"):
            return ConstraintViolationError(
                f"PostgreSQL: {text}",
                constraint=diag.constraint_name,
                kind=_CONSTRAINT_KINDS.get(sqlstate, "other"),
                table=diag.table_name,
                column=diag.column_name,
                **fields,
            )
        if sqlstate in _TIMEOUTS:
            return QueryTimeoutError(f"PostgreSQL: {text}", **fields)
        if sqlstate.startswith("42") and sqlstate != "42501":
            return QuerySyntaxError(f"PostgreSQL: {text}", **fields)
        if (
            conn.broken
            or conn.closed
            or sqlstate.startswith("08")
            or sqlstate in _SERVER_GONE
            or (isinstance(error, psycopg.OperationalError) and not sqlstate)
        ):
            return DatabaseConnectionError(
                f"the connection to PostgreSQL at {self.safe_url} was lost ({text}); a read "
                "outside a transaction is retried once, anything else is not: check whether "
                "a write was applied before sending it again",
                connection_lost=True,
                **fields,
            )
        return QueryError(f"PostgreSQL: {text}", **fields)
