"""``SQLitePrimitive``: a SQLite file through aiosqlite, safe with concurrent writers.

Every connection is set up the same way: WAL journal (readers never block the writer,
nor the writer the readers), a busy timeout (a writer waits for the lock instead of
failing at once with "database is locked"), ``synchronous=NORMAL`` (durable at each
checkpoint, safe against corruption in WAL mode) and foreign keys enforced.

A small pool of connections (each aiosqlite connection has its own thread) lets reads
run while a write waits. Transactions begin ``IMMEDIATE`` by default: they take the
write lock at ``BEGIN``, waiting up to the busy timeout, so two transactions that read
and then write cannot deadlock on the lock upgrade (which SQLite reports at once,
whatever the busy timeout). Install with the ``sqlite`` extra.

Two SQLite habits are turned off so that SQLite fails where PostgreSQL does:

* a double-quoted name that matches no column is *not* read as a string (SQLite's
  "double-quoted string literal" fallback): on Python 3.12+ through
  ``SQLITE_DBCONFIG_DQS_DML``/``DQS_DDL``, before that by sending every double-quoted
  name as a backquoted one, which SQLite never reads as a string; either way a
  misspelled ``"nmae"`` is :class:`QuerySyntaxError`;
* a connection whose statement was cancelled (``wait_for``, a timeout) is never
  reused: aiosqlite cannot stop the statement, which may still complete later (a late
  ``BEGIN`` would silently open a transaction), so the connection is closed once the
  statement is done, which rolls back anything left open.
"""

from __future__ import annotations

import asyncio
import os
import re
import sqlite3
from collections import deque
from collections.abc import Awaitable, Callable
from contextlib import suppress
from functools import lru_cache
from typing import Any, cast

import aiosqlite

from tta_dev_integrations.database.dsn import lookup_setting
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

__all__ = ["SQLitePrimitive"]

_MEMORY = ":memory:"
_JOURNAL_MODES = {"wal", "delete", "truncate", "persist", "memory", "off"}
_SYNCHRONOUS = {"off", "normal", "full", "extra"}
_BEGIN_MODES = {"deferred", "immediate", "exclusive"}
_CONSTRAINT_KINDS = {
    "SQLITE_CONSTRAINT_UNIQUE": "unique",
    "SQLITE_CONSTRAINT_PRIMARYKEY": "primary_key",
    "SQLITE_CONSTRAINT_FOREIGNKEY": "foreign_key",
    "SQLITE_CONSTRAINT_CHECK": "check",
    "SQLITE_CONSTRAINT_NOTNULL": "not_null",
}
_UNKNOWN_NAMES = ("no such table", "no such column", "no such function", "no such index")
_BINDING = re.compile(r"Error binding parameter (?:(\d+)|:?(\w+))")
# SQLite's tokens that may hold a double quote: strings, quoted names, comments.
_TOKENS = re.compile(
    r"""'(?:[^']|'')*'?|(?P<name>"(?:[^"]|"")*")|`(?:[^`]|``)*`?|\[[^\]]*\]?"""
    r"|--[^\n]*|/\*.*?(?:\*/|\Z)",
    re.DOTALL,
)
_DQS_SETTINGS = tuple(
    getattr(sqlite3, flag)
    for flag in ("SQLITE_DBCONFIG_DQS_DML", "SQLITE_DBCONFIG_DQS_DDL")
    if hasattr(sqlite3, flag)
)
#: Whether the driver can switch the double-quoted-string fallback off (Python 3.12+).
DQS_SWITCHABLE = len(_DQS_SETTINGS) == 2 and hasattr(sqlite3.Connection, "setconfig")


class _StrictConnection(sqlite3.Connection):
    """A connection with the double-quoted-string fallback off (Python 3.12+ only)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for setting in _DQS_SETTINGS:
            getattr(self, "setconfig")(setting, False)  # noqa: B009  # 3.12+ only


def _work(conn: aiosqlite.Connection, sql: str, query: Query) -> list[Any] | int:
    """What one statement does on the connection's own thread."""
    raw = conn._conn  # the sqlite3 connection, on its thread
    if query.many is not None:
        cursor = raw.executemany(sql, query.many)
        count: int = cursor.rowcount
        cursor.close()
        return count
    # The statement runs to its end (fetchall, or a write's single step), so the cursor
    # holds nothing once this returns; it is freed here, on this thread.
    cursor = raw.cursor()
    if query.fetch == "value":
        cursor.row_factory = None  # a tuple: no dict is needed for one value
    cursor.execute(sql, query.params if query.params is not None else ())
    if query.fetch == "none":
        return max(cursor.rowcount, 0)
    return cursor.fetchall()


# aiosqlite's own way to run a function on a connection's thread (untyped there).
_EXECUTE = cast(
    "Callable[..., Awaitable[list[Any] | int]]",
    aiosqlite.Connection._execute,
)


def _backquote(match: re.Match[str]) -> str:
    name = match.group("name")
    if name is None:
        return match.group(0)
    return "`" + name[1:-1].replace('""', '"').replace("`", "``") + "`"


@lru_cache(maxsize=1024)
def strict_names(sql: str) -> str:
    """``sql`` with each double-quoted name backquoted: the same name, never a string."""
    return _TOKENS.sub(_backquote, sql)


def _dict_row(cursor: sqlite3.Cursor, row: tuple[Any, ...]) -> dict[str, Any]:
    return {column[0]: value for column, value in zip(cursor.description, row, strict=True)}


def _path_from_url(url: str) -> str:
    """``sqlite:///relative.db``, ``sqlite:////abs.db`` or ``sqlite://`` (memory) -> a path."""
    if not url.startswith("sqlite:"):
        raise ValueError(
            "SQLitePrimitive reads DATABASE_URL only in the sqlite:///path/to/file.db form; "
            "pass path= instead"
        )
    rest = url.removeprefix("sqlite:").removeprefix("//")
    if rest in ("", "/", f"/{_MEMORY}"):
        return _MEMORY
    return rest.removeprefix("/")


class SQLitePrimitive(SQLDatabasePrimitive[aiosqlite.Connection]):
    """A SQLite database file as a workflow step.

    ``path`` is a file path or ``":memory:"`` (one private in-memory database, so one
    connection); it defaults to the ``DATABASE_URL`` setting in ``sqlite:///file.db``
    form. ``busy_timeout_s`` bounds how long a statement waits for another writer;
    ``statement_timeout_s`` interrupts a statement running longer. Either raises
    :class:`QueryTimeoutError`. Transactions take ``mode="immediate"`` (the default),
    ``"deferred"`` or ``"exclusive"``.
    """

    system = "sqlite"

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        max_connections: int = 4,
        busy_timeout_s: float = 5.0,
        statement_timeout_s: float | None = None,
        journal_mode: str = "wal",
        synchronous: str = "normal",
        foreign_keys: bool = True,
        name: str | None = None,
    ) -> None:
        if path is None:
            url = lookup_setting("DATABASE_URL")
            if not url:
                raise ValueError(
                    "SQLitePrimitive needs a file: pass path= or set "
                    "DATABASE_URL=sqlite:///path/to/file.db"
                )
            path = _path_from_url(url)
        self.path = os.fspath(path)
        if journal_mode.lower() not in _JOURNAL_MODES:
            raise ValueError(f"journal_mode must be one of {sorted(_JOURNAL_MODES)}")
        if synchronous.lower() not in _SYNCHRONOUS:
            raise ValueError(f"synchronous must be one of {sorted(_SYNCHRONOUS)}")
        if max_connections < 1:
            raise ValueError(f"max_connections must be >= 1, got {max_connections}")
        self.max_connections = 1 if self.path == _MEMORY else max_connections
        self.busy_timeout_s = busy_timeout_s
        self.statement_timeout_s = statement_timeout_s
        self.journal_mode = journal_mode.lower()
        self.synchronous = synchronous.lower()
        self.foreign_keys = foreign_keys
        self._idle: list[aiosqlite.Connection] = []
        self._abandoned: set[aiosqlite.Connection] = set()
        self._discarding: set[asyncio.Task[None]] = set()
        self._free = self.max_connections  # slots not leased
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._closed = False
        namespace = os.path.basename(self.path) if self.path != _MEMORY else _MEMORY
        super().__init__(DatabaseTelemetry(self.system, namespace, {}), name=name)

    def __repr__(self) -> str:
        return f"SQLitePrimitive({self.path!r})"

    # -- connections ------------------------------------------------------------------

    async def open(self) -> None:
        """Open one connection now (creating the file, setting WAL mode); idempotent."""
        async with self._connection():
            pass

    async def aclose(self) -> None:
        """Close every idle connection; ones in use close when they come back."""
        self._closed = True
        idle, self._idle = self._idle, []
        for conn in idle:
            await conn.close()
        while self._discarding:
            await asyncio.gather(*self._discarding, return_exceptions=True)

    async def _connect(self) -> aiosqlite.Connection:
        options: dict[str, Any] = {"factory": _StrictConnection} if DQS_SWITCHABLE else {}
        pending = aiosqlite.connect(
            self.path, timeout=self.busy_timeout_s, isolation_level=None, **options
        )
        try:
            conn = await pending
        except sqlite3.Error as error:
            # aiosqlite stops its worker thread without waiting for it; the thread then
            # reports to this loop, which must still be running: wait for it here.
            worker = getattr(pending, "_thread", None)
            if worker is not None:
                await asyncio.to_thread(worker.join, 5)
            raise DatabaseConnectionError(
                f"cannot open the SQLite database {self.path!r} ({error}); check that its "
                "folder exists and is writable"
            ) from error
        try:
            conn.row_factory = _dict_row  # type: ignore[assignment]  # any callable works
            pragmas = [
                f"PRAGMA busy_timeout = {max(0, round(self.busy_timeout_s * 1000))}",
                f"PRAGMA journal_mode = {self.journal_mode}",
                f"PRAGMA synchronous = {self.synchronous}",
                f"PRAGMA foreign_keys = {'ON' if self.foreign_keys else 'OFF'}",
            ]
            for pragma in pragmas:
                await conn.execute_fetchall(pragma)
        except sqlite3.Error as error:
            await conn.close()
            raise self._convert(error) from error
        except BaseException:
            await conn.close()
            raise
        return conn

    # Slots: at most max_connections leased at once. A released slot goes straight to
    # the longest waiter, so a caller arriving later cannot overtake one that waits.

    def _take_idle(self) -> aiosqlite.Connection | None:
        if self._free > 0 and self._idle and not self._waiters and not self._closed:
            self._free -= 1
            return self._idle.pop()
        return None

    def _put_idle(self, conn: aiosqlite.Connection) -> bool:
        if self._closed or conn.in_transaction or conn in self._abandoned:
            return False
        self._idle.append(conn)
        self._free_slot()
        return True

    async def _acquire(self) -> aiosqlite.Connection:
        self._refuse_if_closed()
        if self._free > 0 and not self._waiters:
            self._free -= 1
        else:
            await self._wait_for_slot()
        try:
            self._refuse_if_closed()
            return self._idle.pop() if self._idle else await self._connect()
        except BaseException:
            self._free_slot()
            raise

    async def _release(self, conn: aiosqlite.Connection) -> None:
        if self._put_idle(conn):
            return
        try:
            await self._give_back(conn)
        finally:
            self._free_slot()

    def _refuse_if_closed(self) -> None:
        if self._closed:
            raise DatabaseConnectionError(
                f"SQLitePrimitive({self.path!r}) is closed; create a new one"
            )

    def _free_slot(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot passes to this waiter
                return
        self._free += 1

    async def _wait_for_slot(self) -> None:
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self._free_slot()  # handed a slot while being cancelled: pass it on
            else:
                with suppress(ValueError):
                    self._waiters.remove(waiter)
            raise

    async def _give_back(self, conn: aiosqlite.Connection) -> None:
        if conn in self._abandoned:
            self._abandoned.discard(conn)
            task = asyncio.create_task(self._discard(conn))
            self._discarding.add(task)
            task.add_done_callback(self._discarding.discard)
            return
        healthy = True
        try:
            if conn.in_transaction:  # a transaction whose end failed, or was cancelled
                await conn.execute_fetchall("ROLLBACK")
        except (sqlite3.Error, ValueError):
            healthy = False
        if self._closed or not healthy:
            with suppress(sqlite3.Error, ValueError):
                await conn.close()
        else:
            self._idle.append(conn)

    @staticmethod
    async def _discard(conn: aiosqlite.Connection) -> None:
        """Close a connection whose statement was abandoned, once that statement is done.

        aiosqlite runs a connection's calls one after the other, so the close waits
        for the abandoned statement; closing rolls back whatever it left open.
        """
        with suppress(sqlite3.Error, ValueError):
            await conn.interrupt()
        with suppress(sqlite3.Error, ValueError):
            await conn.close()

    # -- statements -------------------------------------------------------------------

    async def _run(self, conn: aiosqlite.Connection, query: Query) -> Any:
        watchdog = None
        if self.statement_timeout_s is not None:
            watchdog = asyncio.create_task(self._interrupt_after(conn, self.statement_timeout_s))
        sql = query.query if DQS_SWITCHABLE or '"' not in query.query else strict_names(query.query)
        try:
            # One trip to the connection's thread per statement.
            rows = await _EXECUTE(conn, _work, conn, sql, query)
        except asyncio.CancelledError:
            self._abandoned.add(conn)  # the statement may still run: never reuse conn
            raise
        except (OverflowError, UnicodeEncodeError) as error:
            raise self._unsendable(query, error) from None
        except sqlite3.ProgrammingError as error:
            if _BINDING.search(str(error)):
                raise self._unsendable(query, error) from None
            raise self._convert(error) from error
        except sqlite3.Error as error:
            raise self._convert(error) from error
        finally:
            if watchdog is not None:
                watchdog.cancel()
                with suppress(asyncio.CancelledError):
                    await watchdog
        if not isinstance(rows, list):
            return rows
        fetch = query.fetch
        if fetch == "all":
            return rows
        if not rows:
            raise NotFoundError(
                f"the query returned no row (fetch={fetch!r}): {query.query[:200]!r}"
            )
        first = rows[0]
        if fetch == "one":
            return first
        return first[0] if first else None  # "value": rows came back as tuples

    def _unsendable(self, query: Query, error: Exception) -> ParameterError:
        text = str(error)
        binding = _BINDING.search(text)
        type_name = re.search(r"type '(\w+)'", text)
        found = unsendable(query, int_bits=64, type_name=type_name.group(1) if type_name else None)
        if found is None and binding is not None:
            number, name = binding.groups()
            found = (f"parameter {number or name}", text)
        if found is None:
            return ParameterError(f"SQLite cannot take a value of this request: {text}")
        parameter, reason = found
        return ParameterError(
            f"SQLite cannot take {parameter}: {reason}", parameter=parameter, code=None
        )

    @staticmethod
    async def _interrupt_after(conn: aiosqlite.Connection, delay: float) -> None:
        await asyncio.sleep(delay)
        await conn.interrupt()

    def _begin_statement(self, options: dict[str, Any]) -> str:
        unknown = set(options) - {"mode"}
        if unknown:
            raise TypeError(f"unknown SQLite transaction options {sorted(unknown)}: use mode=")
        mode = str(options.get("mode", "immediate")).lower()
        if mode not in _BEGIN_MODES:
            raise ValueError(f"mode must be one of {sorted(_BEGIN_MODES)}, got {mode!r}")
        return f"BEGIN {mode.upper()}"

    def _convert(self, error: sqlite3.Error) -> DatabaseError:
        name = getattr(error, "sqlite_errorname", "") or ""
        text = str(error)
        if isinstance(error, sqlite3.IntegrityError) or name.startswith("SQLITE_CONSTRAINT"):
            kind = _CONSTRAINT_KINDS.get(name, "other")
            _, _, subject = text.partition("constraint failed: ")
            table, _, column = subject.partition(".") if kind != "check" else ("", "", "")
            return ConstraintViolationError(
                f"SQLite: {text}",
                constraint=subject or None,
                kind=kind,
                table=table or None,
                column=column.split(",")[0] or None,
                code=name or None,
            )
        if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
            return QueryTimeoutError(
                f"SQLite: {text} (another writer held the lock for longer than "
                f"busy_timeout_s={self.busy_timeout_s}); keep write transactions short or "
                "raise busy_timeout_s",
                code=name,
            )
        if name == "SQLITE_INTERRUPT":
            return QueryTimeoutError(
                f"SQLite: the statement ran longer than statement_timeout_s="
                f"{self.statement_timeout_s} and was interrupted",
                code=name,
            )
        if "syntax error" in text or text.startswith(_UNKNOWN_NAMES) or "incomplete input" in text:
            return QuerySyntaxError(f"SQLite: {text}", code=name or None)
        if name.startswith(("SQLITE_CANTOPEN", "SQLITE_NOTADB", "SQLITE_IOERR", "SQLITE_CORRUPT")):
            return DatabaseConnectionError(f"SQLite cannot use {self.path!r}: {text}", code=name)
        return QueryError(f"SQLite: {text}", code=name or None)
