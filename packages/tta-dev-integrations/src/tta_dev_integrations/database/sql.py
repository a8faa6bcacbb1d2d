"""What the SQL primitives share: the request path, the retry rule, transactions.

A backend (:mod:`.postgres`, :mod:`.sqlite`) supplies a pooled connection, a way to
run one :class:`Query` on it with errors already converted, and its ``BEGIN``; this
module does the rest the same way for both:

* **one call path**: ``await db.query(request)`` (or the ``fetch_*``/``run*``
  shortcuts, or ``db.execute(request, ctx)`` in a workflow) is timed and traced;
* **one retry**: a statement whose connection broke under it is sent once more on a
  fresh connection, only if it is a plain read (:func:`.statements.is_retry_safe`)
  and not inside a transaction;
* **batches are all or nothing**: ``run_many`` (a request with ``many``) runs in a
  transaction of its own, or, inside a transaction, in a savepoint: when any row
  fails, no row of the batch stays, and the enclosing transaction can go on;
* **transactions**: ``async with db.transaction() as tx:`` commits on success and
  rolls back on any exception (cancellation included). While the block runs, every
  call of the same primitive *in that task and the tasks it starts* goes through the
  transaction's connection (a context variable), so a composed workflow needs no
  handle passed around. A transaction opened inside another becomes a savepoint:
  its failure rolls back its own work only, if the outer code catches the error.
  Two savepoints open at once on one transaction (parallel branches each opening
  one) are refused with :class:`TransactionError`.
"""

from __future__ import annotations

import asyncio
import itertools
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Coroutine, Sequence
from contextlib import asynccontextmanager, suppress
from contextvars import ContextVar, Token
from functools import lru_cache
from time import perf_counter
from types import TracebackType
from typing import Any, ClassVar, Generic, TypeVar, cast

from tta_dev_integrations.database.errors import DatabaseConnectionError, TransactionError
from tta_dev_integrations.database.request import (
    Params,
    Query,
    QueryInput,
    as_query,
    quick_query,
)
from tta_dev_integrations.database.statements import StatementInfo, describe
from tta_dev_integrations.database.telemetry import DatabaseTelemetry
from tta_dev_primitives.core.base import WorkflowPrimitive
from tta_dev_primitives.core.context import WorkflowContext
from tta_dev_primitives.observability import active_tracer

__all__ = ["QueryRunner", "SQLDatabasePrimitive", "Transaction", "TransactionScope"]

C = TypeVar("C")

_ACTIVE: ContextVar[tuple[Transaction[Any], ...]] = ContextVar("tta_db_transactions", default=())
_savepoint_numbers = itertools.count(1)
# Control statements return no row: fetch="all" gives [] in one driver call.
_COMMIT = Query("COMMIT", fetch="all")
_ROLLBACK = Query("ROLLBACK", fetch="all")


class QueryRunner(ABC):
    """``query()`` and its shortcuts, the same on a primitive and on a transaction."""

    @abstractmethod
    async def query(self, request: QueryInput) -> Any:
        """Run one request (see :mod:`.request`) and return what its ``fetch`` mode asks."""

    # The shortcuts hand back query()'s coroutine rather than awaiting it in one more
    # frame of their own: they are the hot path. A malformed request raises at the call.

    def fetch_all(
        self, sql: str, params: Params | None = None
    ) -> Coroutine[Any, Any, list[dict[str, Any]]]:
        """Every row of ``sql``, as dicts."""
        return self.query(quick_query(sql, params, "all"))

    def fetch_one(
        self, sql: str, params: Params | None = None
    ) -> Coroutine[Any, Any, dict[str, Any]]:
        """The first row of ``sql``; :class:`NotFoundError` when there is none."""
        return self.query(quick_query(sql, params, "one"))

    def fetch_value(self, sql: str, params: Params | None = None) -> Coroutine[Any, Any, Any]:
        """The first column of the first row; :class:`NotFoundError` when there is no row."""
        return self.query(quick_query(sql, params, "value"))

    def run(self, sql: str, params: Params | None = None) -> Coroutine[Any, Any, int]:
        """Run a statement for its effect; the number of rows it changed."""
        return self.query(quick_query(sql, params, "none"))

    def run_many(self, sql: str, many: Sequence[Params]) -> Coroutine[Any, Any, int]:
        """Run ``sql`` once per parameter set (executemany); the total rows changed."""
        return self.query(Query(sql, fetch="none", many=many))


class SQLDatabasePrimitive(WorkflowPrimitive[QueryInput, Any], QueryRunner, Generic[C]):
    """Base of :class:`PostgreSQLPrimitive` and :class:`SQLitePrimitive`.

    As a workflow step its input is a request (a :class:`Query`, a mapping or bare
    SQL) and its output what the request's ``fetch`` mode returns. Use it as an
    async context manager, or call :meth:`aclose`, so its connections close.
    """

    system: ClassVar[str] = ""

    def __init__(self, telemetry: DatabaseTelemetry, *, name: str | None = None) -> None:
        self._telemetry = telemetry
        self._default_begin: str | None = None
        if name:
            self.name = name

    # -- what a backend provides ------------------------------------------------------

    @abstractmethod
    async def _acquire(self) -> C:
        """A pooled connection, to be given back with :meth:`_release`."""

    @abstractmethod
    async def _release(self, conn: C) -> None:
        """Give back a connection from :meth:`_acquire` (rolled back or dropped if unfit)."""

    def _take_idle(self) -> C | None:
        """A free pooled connection taken without waiting, or ``None`` (then :meth:`_acquire`)."""
        return None

    def _put_idle(self, conn: C) -> bool:
        """Give back a healthy connection without waiting; ``False``: use :meth:`_release`."""
        return False

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[C]:
        """A pooled connection for the duration of the block."""
        conn = await self._acquire()
        try:
            yield conn
        finally:
            await self._release(conn)

    @abstractmethod
    async def _run(self, conn: C, query: Query) -> Any:
        """Run ``query`` on ``conn``; driver errors converted to :mod:`.errors` types."""

    async def _after_connection_lost(self) -> None:
        """Called before the one retry: drop other broken connections, say."""

    @abstractmethod
    async def open(self) -> None:
        """Connect now (otherwise the first call does); idempotent."""

    @abstractmethod
    async def aclose(self) -> None:
        """Close every connection; idempotent."""

    async def __aenter__(self) -> SQLDatabasePrimitive[C]:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- the request path -------------------------------------------------------------

    async def _execute_impl(self, input_data: QueryInput, context: WorkflowContext) -> Any:
        return await self.query(input_data)

    async def query(self, request: QueryInput) -> Any:
        """Run one request; inside a transaction of this primitive, on its connection."""
        query = request if type(request) is Query else as_query(request)
        info = describe(query.query)
        if _ACTIVE.get():
            transaction = self.current_transaction()
            if transaction is not None:
                return await transaction._query(query, info)
        telemetry = self._telemetry
        if active_tracer() is not None:
            return await telemetry.observe(
                info.operation, lambda: self._run_pooled(query, info), query_text=info.text
            )
        start = perf_counter()  # the untraced path of telemetry.observe, inlined: hot
        try:
            result = await self._run_pooled(query, info)
        except Exception:
            telemetry.record(info.operation, "error", perf_counter() - start)
            raise
        telemetry.record(info.operation, "success", perf_counter() - start)
        return result

    async def _run_pooled(self, query: Query, info: StatementInfo) -> Any:
        conn = self._take_idle() or await self._acquire()
        try:
            if query.many is None:
                return await self._run(conn, query)
            return await self._run_alone(conn, query)
        except DatabaseConnectionError as error:
            retry_safe = info.retry_safe if query.retry_safe is None else query.retry_safe
            if not (error.connection_lost and retry_safe):
                raise
        finally:
            if not self._put_idle(conn):
                await self._release(conn)
        self._telemetry.count_retry()
        await self._after_connection_lost()
        conn = await self._acquire()
        try:
            return await self._run_alone(conn, query)
        finally:
            await self._release(conn)

    async def _run_alone(self, conn: C, query: Query) -> Any:
        """``query`` outside any transaction: a batch gets one of its own."""
        if query.many is None:
            return await self._run(conn, query)
        begin = self._default_begin
        if begin is None:
            begin = self._default_begin = self._begin_statement({})
        await self._run(conn, _control_query(begin))
        try:
            result = await self._run(conn, query)
        except BaseException:
            with suppress(Exception):  # the batch's error matters more
                await self._run(conn, _ROLLBACK)
            raise
        await self._run(conn, _COMMIT)
        return result

    # -- transactions -----------------------------------------------------------------

    def current_transaction(self) -> Transaction[C] | None:
        """The innermost open transaction of this primitive in the current context."""
        for transaction in reversed(_ACTIVE.get()):
            if transaction.database is self and not transaction.closed:
                return cast("Transaction[C]", transaction)
        return None

    def transaction(self, **options: Any) -> TransactionScope[C]:
        """``async with db.transaction() as tx:``: commit on success, roll back on error.

        ``options`` set how the outermost transaction begins (see the backend:
        ``isolation``/``read_only`` for PostgreSQL, ``mode`` for SQLite); a nested
        transaction is a savepoint and takes none.
        """
        if options:
            return TransactionScope(self, self._begin_statement(options), has_options=True)
        begin = self._default_begin
        if begin is None:
            begin = self._default_begin = self._begin_statement({})
        return TransactionScope(self, begin, has_options=False)

    def _begin_statement(self, options: dict[str, Any]) -> str:
        if options:
            raise TypeError(f"unknown transaction options: {sorted(options)}")
        return "BEGIN"

    async def _control(self, conn: C, statement: str) -> None:
        info = describe(statement)
        query = _control_query(statement)
        await self._telemetry.observe(info.operation, lambda: self._run(conn, query))


@lru_cache(maxsize=64)
def _control_query(statement: str) -> Query:
    """``BEGIN``, ``COMMIT``, ``SAVEPOINT x``, ... as a request (no row comes back)."""
    return Query(statement, fetch="all")


class Transaction(QueryRunner, Generic[C]):
    """An open transaction, or a savepoint inside one; it ends with its ``async with``."""

    def __init__(
        self,
        database: SQLDatabasePrimitive[C],
        conn: C,
        *,
        parent: Transaction[C] | None = None,
        savepoint: str | None = None,
    ) -> None:
        self.database = database
        self.parent = parent
        self.savepoint = savepoint
        self.closed = False
        self._conn = conn
        self.root: Transaction[C] = parent.root if parent is not None else self
        # One statement at a time on the connection, and the open savepoints, in order.
        self._lock: asyncio.Lock = parent._lock if parent is not None else asyncio.Lock()
        self._open: list[Transaction[C]] = parent._open if parent is not None else [self]

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        kind = f"savepoint {self.savepoint}" if self.savepoint else "transaction"
        return f"<{kind} of {self.database!r}, {state}>"

    async def query(self, request: QueryInput) -> Any:
        """Run one request inside this transaction."""
        query = request if type(request) is Query else as_query(request)
        return await self._query(query, describe(query.query))

    async def _query(self, query: Query, info: StatementInfo) -> Any:
        if self.closed:
            raise TransactionError(
                "this transaction has ended: run statements inside its `async with` block"
            )
        database, conn = self.database, self._conn
        async with self._lock:
            return await database._telemetry.observe(
                info.operation,
                (lambda: database._run(conn, query))
                if query.many is None
                else (lambda: self._run_in_place(query)),
                query_text=info.text,
            )

    async def _run_in_place(self, query: Query) -> Any:
        """``query`` on the connection; a batch inside a savepoint of its own."""
        database, conn = self.database, self._conn
        if query.many is None:
            return await database._run(conn, query)
        name = f"tta_sp_{next(_savepoint_numbers)}"
        await database._run(conn, Query(f"SAVEPOINT {name}"))
        try:
            result = await database._run(conn, query)
        except BaseException:
            with suppress(Exception):  # the batch's error matters more
                await database._run(conn, Query(f"ROLLBACK TO SAVEPOINT {name}"))
                await database._run(conn, Query(f"RELEASE SAVEPOINT {name}"))
            raise
        await database._run(conn, Query(f"RELEASE SAVEPOINT {name}"))
        return result

    async def _control(self, statement: str) -> None:
        async with self._lock:
            await self.database._control(self._conn, statement)


class TransactionScope(Generic[C]):
    """What :meth:`SQLDatabasePrimitive.transaction` returns: use it with ``async with``."""

    def __init__(self, database: SQLDatabasePrimitive[C], begin: str, *, has_options: bool) -> None:
        self._database = database
        self._begin = begin
        self._has_options = has_options
        self._transaction: Transaction[C] | None = None
        self._leased: C | None = None  # the root's connection, to give back at the end
        self._token: Token[tuple[Transaction[Any], ...]] | None = None

    async def __aenter__(self) -> Transaction[C]:
        if self._transaction is not None:
            raise TransactionError("a transaction() scope can be entered only once")
        parent = self._database.current_transaction()
        if parent is None:
            transaction = await self._begin_root()
        else:
            transaction = await self._begin_savepoint(parent)
        self._transaction = transaction
        self._token = _ACTIVE.set((*_ACTIVE.get(), transaction))
        return transaction

    async def _begin_root(self) -> Transaction[C]:
        database = self._database
        conn = database._take_idle() or await database._acquire()
        try:
            await database._control(conn, self._begin)
        except BaseException:
            await database._release(conn)
            raise
        self._leased = conn
        return Transaction(database, conn)

    async def _begin_savepoint(self, parent: Transaction[C]) -> Transaction[C]:
        if self._has_options:
            raise TransactionError(
                "transaction options (isolation, read_only, mode) apply to the outermost "
                "transaction only; this one is nested, so it would be a savepoint"
            )
        if parent._open[-1] is not parent:
            raise TransactionError(
                "another nested transaction is already open on this connection (parallel "
                "branches each opening one?): open them one after the other, or give each "
                "branch its own top-level transaction"
            )
        name = f"tta_sp_{next(_savepoint_numbers)}"
        transaction = Transaction(self._database, parent._conn, parent=parent, savepoint=name)
        parent._open.append(transaction)  # before the await, so a concurrent one sees it
        try:
            await parent._control(f"SAVEPOINT {name}")
        except BaseException:
            parent._open.remove(transaction)
            raise
        return transaction

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        transaction = self._transaction
        assert transaction is not None, "__aexit__ without __aenter__"
        self._leave_context(transaction)
        try:
            if transaction.savepoint is None:
                await self._end_root(transaction, failed=exc is not None)
            else:
                await self._end_savepoint(transaction, failed=exc is not None)
        finally:
            transaction.closed = True
            if transaction.savepoint is not None and transaction in transaction._open:
                transaction._open.remove(transaction)
            leased, self._leased = self._leased, None
            if leased is not None and not self._database._put_idle(leased):
                await self._database._release(leased)

    def _leave_context(self, transaction: Transaction[C]) -> None:
        token, self._token = self._token, None
        if token is None:
            return
        try:
            _ACTIVE.reset(token)
        except ValueError:  # left in another context than entered: drop just this one
            _ACTIVE.set(tuple(t for t in _ACTIVE.get() if t is not transaction))

    async def _end_root(self, transaction: Transaction[C], *, failed: bool) -> None:
        if not failed:
            await transaction._control("COMMIT")
            return
        # The original error matters more than a failed rollback (say, on a broken
        # connection, which the pool then discards).
        with suppress(Exception):
            await transaction._control("ROLLBACK")

    async def _end_savepoint(self, transaction: Transaction[C], *, failed: bool) -> None:
        name = transaction.savepoint
        if transaction._open[-1] is not transaction:
            raise TransactionError(
                f"savepoint {name} ended while a savepoint opened after it is still open: "
                "nested transactions must end in the reverse order they began"
            )
        if not failed:
            await transaction._control(f"RELEASE SAVEPOINT {name}")
            return
        with suppress(Exception):
            await transaction._control(f"ROLLBACK TO SAVEPOINT {name}")
            await transaction._control(f"RELEASE SAVEPOINT {name}")
