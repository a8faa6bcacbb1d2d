"""The shared spend ledger: PostgreSQL, for many workers on many machines.

psycopg 3 (async) over a ``psycopg_pool.AsyncConnectionPool``. Every operation runs in
an explicit transaction at PostgreSQL's default isolation, READ COMMITTED, which is
enough because each decision about money is one guarded statement: an ``UPDATE`` takes
the row's lock, and when another transaction changed the row first, PostgreSQL waits
for it to end and re-checks the ``WHERE`` clause against the newest committed version
(EvalPlanQual). The guard ``spent + reserved + amount <= limit`` therefore always sees
every committed reservation, with no lost update and none of SERIALIZABLE's retries.
Changes of several rows lock entries before budgets, in the same order everywhere, so
they do not deadlock; a deadlock or serialization failure all the same is retried.

A transaction that can only *lower* the month (a settlement at or under its
reservation, a release, a $0 record, feedback) commits with ``synchronous_commit`` off:
it returns before its WAL reaches the disk. WAL is flushed in order, so the next
synchronous commit (every reservation is one) makes it durable too; if the server
crashes first, the reservation it closed is charged, unconfirmed, when its lease ends:
the month over-counts, never under-counts. Everything else waits for the flush.

Sessions set ``lock_timeout`` (10 s) and ``idle_in_transaction_session_timeout`` (60 s),
so a hung worker cannot hold a budget row for long. Lease times come from the
database's clock (``now()``), so a worker whose clock runs ahead cannot charge live
reservations as expired. The URL's password never appears in errors or reprs. The rules
are :class:`~tta_dev_integrations.llm.budget.base.LedgerBase`'s; this module holds the
SQL. Install with the ``postgres`` extra.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any, TypeVar

import psycopg
import psycopg.errors
from psycopg.rows import TupleRow
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from tta_dev_integrations.llm.budget import postgres_month as steps
from tta_dev_integrations.llm.budget.base import (
    LedgerBase,
    RequestIdTaken,
    Settlement,
    UnknownEntry,
)
from tta_dev_integrations.llm.budget.core import (
    AUDIT,
    COUNT_CALL,
    ENSURE_BUDGET,
    INSERT_RESERVED,
    MOVE_MONEY,
    RESERVE,
    TAKE_QUOTA,
    BudgetDelta,
    audit,
    call_outcome,
    correction_delta,
    pyformat,
    settlement_delta,
)
from tta_dev_integrations.llm.budget.ledger import (
    LedgerUnavailableError,
    QuotaWindows,
    SpendSummary,
)
from tta_dev_integrations.llm.budget.migrations import apply_postgres
from tta_dev_integrations.llm.budget.postgres_url import (
    configure_session,
    masked_url,
    safe_cause,
    scrubbed,
    url_passwords,
)
from tta_dev_integrations.llm.budget.statistics import DaysQuery, TriedQuery

__all__ = ["PostgresLedger", "masked_url"]

T = TypeVar("T")
Connection = psycopg.AsyncConnection[TupleRow]

_RETRIED = (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure)
_UNAVAILABLE = (psycopg.OperationalError, psycopg.InterfaceError)
_ATTEMPTS = 3

_NOW = steps.NOW

_RESERVE = pyformat(RESERVE)
_ENSURE_BUDGET = pyformat(ENSURE_BUDGET)
_INSERT_RESERVED = (
    pyformat(INSERT_RESERVED)
    .replace("%(lease_expires_at)s", f"{_NOW} + CAST(%(lease)s AS INTERVAL)")
    .replace("%(now)s)\n", f"{_NOW})\n")
    + " RETURNING lease_expires_at"
)
_MOVE_MONEY = pyformat(MOVE_MONEY)
_COUNT_CALL = pyformat(COUNT_CALL)
# This transaction can only lower the month: its COMMIT need not wait for the WAL flush.
_NO_WAIT = "SET LOCAL synchronous_commit = off"


@cache
def _dialect(statement: str) -> str:
    """A shared statement in psycopg's parameter style (converted once per statement)."""
    return pyformat(statement)


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


class _Refused(Exception):
    """Inside a transaction: roll it back (the caller turns it into the real answer)."""


class PostgresLedger(LedgerBase):
    """The :class:`~tta_dev_integrations.llm.budget.ledger.Ledger` in a PostgreSQL database.

    ``url`` (``postgresql://user:password@host:port/dbname``) defaults to
    ``TTA_LEDGER_URL``. Nothing connects until the first call, which also applies
    pending migrations; connection failures raise :class:`LedgerUnavailableError`.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        min_size: int = 1,
        max_size: int = 10,
        connect_timeout_s: float = 10.0,
        timeout_s: float = 10.0,
    ) -> None:
        resolved = url if url is not None else os.environ.get("TTA_LEDGER_URL", "")
        if not resolved:
            raise ValueError(
                "PostgresLedger needs a URL: pass url= or set TTA_LEDGER_URL, e.g. "
                "postgresql://user:password@host:5432/dbname"
            )
        self._url = resolved
        self._secrets = url_passwords(resolved)
        self.min_size = min_size
        self.max_size = max_size
        self.connect_timeout_s = connect_timeout_s
        self.timeout_s = timeout_s
        self._pool: AsyncConnectionPool[Connection] | None = None
        self._opening = asyncio.Lock()

    @property
    def url(self) -> str:
        """The database's URL without its password."""
        return masked_url(self._url)

    def __repr__(self) -> str:
        return f"PostgresLedger({self.url!r})"

    # -- plumbing ------------------------------------------------------------------

    def _unavailable(self, error: BaseException) -> LedgerUnavailableError:
        detail = scrubbed(str(error).strip(), self._secrets) or type(error).__name__
        return LedgerUnavailableError(
            f"the spend ledger at {self.url} cannot be used ({detail}); check that "
            "PostgreSQL is running and reachable, that TTA_LEDGER_URL names the right "
            "host, port, database, user and password, and that the user may create tables"
        )

    def _cause(self, error: BaseException) -> BaseException | None:
        return safe_cause(error, self._secrets)

    async def _connect(self) -> Connection:
        return await psycopg.AsyncConnection.connect(
            self._url, autocommit=True, connect_timeout=max(2, round(self.connect_timeout_s))
        )

    async def _open(self) -> AsyncConnectionPool[Connection]:
        if self._pool is None:
            async with self._opening:
                self._pool = self._pool or await self._new_pool()
        return self._pool

    async def _new_pool(self) -> AsyncConnectionPool[Connection]:
        try:
            # One direct connection first: it fails fast when nothing listens, where the
            # pool would keep retrying until its timeout.
            async with await self._connect() as conn:
                await apply_postgres(conn)
            pool: AsyncConnectionPool[Connection] = AsyncConnectionPool(
                self._url,
                min_size=self.min_size,
                max_size=self.max_size,
                open=False,
                kwargs={
                    "autocommit": True,  # transactions are explicit: conn.transaction()
                    "connect_timeout": max(2, round(self.connect_timeout_s)),
                },
                configure=configure_session,
                timeout=self.timeout_s,
                name="tta-ledger",
            )
            try:
                await pool.open(wait=True, timeout=self.connect_timeout_s)
            except BaseException:
                await pool.close()
                raise
        except _UNAVAILABLE as error:
            raise self._unavailable(error) from self._cause(error)
        return pool

    async def _run(self, operation: Callable[[Connection], Awaitable[T]]) -> T:
        pool = await self._open()
        attempt = 1
        while True:
            try:
                async with pool.connection() as conn, conn.transaction():
                    return await operation(conn)
            except _RETRIED as error:
                if attempt == _ATTEMPTS:
                    raise self._unavailable(error) from self._cause(error)
                attempt += 1
            except _UNAVAILABLE as error:
                raise self._unavailable(error) from self._cause(error)

    # -- the backend's transactions -------------------------------------------------

    async def _write_many(
        self, steps: Sequence[tuple[str, Mapping[str, Any]]], *, moves_money: bool = True
    ) -> list[int]:
        async def operation(conn: Connection) -> list[int]:
            counts: list[int] = []
            if not moves_money:
                await conn.execute(_NO_WAIT)
            for statement, params in steps:
                counts.append((await conn.execute(_dialect(statement), params)).rowcount)
                if counts[-1] == 0:
                    break
            return counts

        return await self._run(operation)

    async def _read(self, statement: str, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        async def operation(conn: Connection) -> list[tuple[Any, ...]]:
            return await (await conn.execute(_dialect(statement), params)).fetchall()

        return await self._run(operation)

    def _stamp(self, moment: datetime) -> datetime:
        return moment

    def _moment(self, stamp: datetime) -> datetime:
        return _utc(stamp)

    async def migrate(self) -> None:
        """Apply pending named migrations (idempotent; safe from many processes at once)."""
        try:
            async with await self._connect() as conn:
                await apply_postgres(conn)
        except _UNAVAILABLE as error:
            raise self._unavailable(error) from self._cause(error)

    async def close(self) -> None:
        """Close the pool's connections (a later call opens a new pool)."""
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    async def _op_set_limit(
        self, scope: str, new: int | None, actor: str, reason: str, at: datetime
    ) -> int | None:
        async def operation(conn: Connection) -> int | None:
            cursor = await conn.execute(
                "SELECT limit_micros FROM tta_limits WHERE scope = %s FOR UPDATE", (scope,)
            )
            row = await cursor.fetchone()
            await conn.execute(
                "INSERT INTO tta_limits (scope, limit_micros, set_by, set_at, reason)"
                " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (scope) DO UPDATE SET"
                " limit_micros = excluded.limit_micros, set_by = excluded.set_by,"
                " set_at = excluded.set_at, reason = excluded.reason",
                (scope, new, actor, at, reason),
            )
            old: int | None = row[0] if row else None
            change = audit(at, actor, "limit", scope, old=old, new=new, reason=reason)
            await conn.execute(_dialect(AUDIT), change)
            return old

        return await self._run(operation)

    async def _op_reserve(
        self, params: dict[str, Any], now: datetime | None, lease: timedelta
    ) -> tuple[SpendSummary | None, datetime]:
        values = {**params, "now": now, "lease": lease}
        if values["justification"] is not None:
            values["justification"] = Jsonb(json.loads(values["justification"]))
        scope, month = params["scope"], params["month"]

        async def fits(conn: Connection) -> bool:
            if (await conn.execute(_RESERVE, values)).rowcount == 1:
                return True
            await conn.execute(_ENSURE_BUDGET, values)
            return (await conn.execute(_RESERVE, values)).rowcount == 1

        async def operation(conn: Connection) -> tuple[SpendSummary | None, datetime]:
            await steps.charge_expired(conn, now, scope)
            # The entry first: the budget row's lock is then held only from the guarded
            # UPDATE to the COMMIT, which is what concurrent reservations queue on.
            cursor = await conn.execute(_INSERT_RESERVED, values)
            row = await cursor.fetchone()
            if row is None:
                raise RequestIdTaken
            expires = _utc(row[0])
            if not await fits(conn):
                await conn.execute(
                    "DELETE FROM tta_entries WHERE request_id = %s", (params["request_id"],)
                )
                return await steps.summary(conn, scope, month), expires
            return None, expires

        return await self._run(operation)

    async def _op_renew(self, request_id: str, now: datetime | None, lease: timedelta) -> bool:
        async def operation(conn: Connection) -> bool:
            cursor = await conn.execute(
                f"UPDATE tta_entries SET lease_expires_at = {_NOW} + CAST(%(lease)s AS INTERVAL)"
                " WHERE request_id = %(request_id)s AND state = 'reserved'",
                {"now": now, "lease": lease, "request_id": request_id},
            )
            return cursor.rowcount == 1

        return await self._run(operation)

    async def _op_settle(self, settlement: Settlement, at: datetime) -> SpendSummary:
        s = settlement

        async def operation(conn: Connection) -> SpendSummary:
            cursor = await conn.execute(
                "SELECT state, scope, month, reserved_micros, actual_micros, unconfirmed,"
                " model, tier FROM tta_entries WHERE request_id = %s FOR UPDATE",
                (s.request_id,),
            )
            row = await cursor.fetchone()
            if row is None:
                raise UnknownEntry
            state, scope, month, reserved, old_actual, unconfirmed, model, tier = row
            delta = settlement_delta(
                state=state,
                reserved=reserved,
                old_actual=old_actual,
                old_unconfirmed=unconfirmed,
                actual=s.actual_micros,
                measured=s.measured,
            )
            if delta is None:  # settled already (or a free call): nothing changes
                return await steps.summary(conn, scope, month)
            if delta.lowers_only():
                await conn.execute(_NO_WAIT)
            await conn.execute(
                "UPDATE tta_entries SET state = 'settled', actual_micros = %s, ok = %s,"
                " measured = %s, unconfirmed = FALSE, latency_s = %s, input_tokens = %s,"
                " output_tokens = %s, settled_at = %s WHERE request_id = %s",
                (s.actual_micros, s.ok, s.measured, s.latency_s, s.input_tokens,
                 s.output_tokens, at, s.request_id),
            )  # fmt: skip
            await conn.execute(_MOVE_MONEY, delta.params(scope, month))
            outcome = call_outcome(model, tier, at, ok=s.ok, latency_s=s.latency_s)
            await conn.execute(_COUNT_CALL, outcome)
            return await steps.summary(conn, scope, month)

        return await self._run(operation)

    async def _op_release(self, request_id: str, failed: bool, at: datetime) -> None:
        async def operation(conn: Connection) -> None:
            cursor = await conn.execute(
                "UPDATE tta_entries SET state = 'released',"
                " ok = CASE WHEN %s THEN FALSE END"
                " WHERE request_id = %s AND state = 'reserved'"
                " RETURNING scope, month, reserved_micros, model, tier",
                (failed, request_id),
            )
            row = await cursor.fetchone()
            if row is None:
                cursor = await conn.execute(
                    "SELECT 1 FROM tta_entries WHERE request_id = %s", (request_id,)
                )
                if await cursor.fetchone() is None:
                    raise UnknownEntry
                return
            scope, month, reserved, model, tier = row
            await conn.execute(_NO_WAIT)  # it gives a reservation back
            await conn.execute(_MOVE_MONEY, BudgetDelta(reserved=-reserved).params(scope, month))
            if failed:
                failure = call_outcome(model, tier, at, ok=False, latency_s=None)
                await conn.execute(_COUNT_CALL, failure)

        await self._run(operation)

    async def _op_correct(
        self, request_id: str, actual: int, actor: str, reason: str, at: datetime
    ) -> None:
        async def operation(conn: Connection) -> None:
            cursor = await conn.execute(
                "SELECT state, scope, month, actual_micros, measured, unconfirmed"
                " FROM tta_entries WHERE request_id = %s FOR UPDATE",
                (request_id,),
            )
            row = await cursor.fetchone()
            if row is None or row[0] != "settled":
                raise UnknownEntry
            _, scope, month, old_actual, measured, unconfirmed = row
            delta = correction_delta(
                old_actual=old_actual,
                old_measured=measured,
                old_unconfirmed=unconfirmed,
                actual=actual,
            )
            await conn.execute(
                "UPDATE tta_entries SET actual_micros = %s, measured = TRUE,"
                " unconfirmed = FALSE WHERE request_id = %s",
                (actual, request_id),
            )
            await conn.execute(_MOVE_MONEY, delta.params(scope, month))
            change = audit(
                at, actor, "correct", scope, old=old_actual, new=actual, reason=reason,
                request_id=request_id,
            )  # fmt: skip
            await conn.execute(_dialect(AUDIT), change)

        await self._run(operation)

    async def _op_charge_expired(self, now: datetime | None) -> int:
        async def operation(conn: Connection) -> int:
            return await steps.charge_expired(conn, now, None)

        return await self._run(operation)

    async def _op_take_quota(self, model: str, windows: QuotaWindows) -> bool:
        async def operation(conn: Connection) -> None:
            for kind, start, limit in windows.counted:
                window = {"model": model, "kind": kind, "start": start, "limit": limit}
                cursor = await conn.execute(_dialect(TAKE_QUOTA), window)
                if cursor.rowcount != 1:
                    raise _Refused  # full: roll back what the other window counted
            await conn.execute(
                "DELETE FROM tta_quota_counters WHERE model = %s AND ("
                " (window_kind = 'minute' AND window_start < %s)"
                " OR (window_kind = 'day' AND window_start < %s))",
                (model, windows.keep_minute_from, windows.keep_day_from),
            )

        try:
            await self._run(operation)
        except _Refused:
            return False
        return True

    async def _op_summary(self, scope: str, month: str, now: datetime | None) -> SpendSummary:
        async def operation(conn: Connection) -> SpendSummary:
            return await steps.summary_now(conn, scope, month, now)

        return await self._run(operation)

    async def _op_model_days(
        self, models: list[str], tier: str | None, since_day: int
    ) -> list[tuple[Any, ...]]:
        async def operation(conn: Connection) -> list[tuple[Any, ...]]:
            return await steps.model_days(conn, models, tier, since_day)

        return await self._run(operation)

    async def _op_preflight(
        self, scope: str, month: str, now: datetime | None, days: DaysQuery, tried: TriedQuery
    ) -> tuple[SpendSummary, list[tuple[Any, ...]], list[str] | None]:
        async def operation(
            conn: Connection,
        ) -> tuple[SpendSummary, list[tuple[Any, ...]], list[str] | None]:
            summary = await steps.summary_now(conn, scope, month, now)
            rows = await steps.model_days(conn, *days) if days[0] else []
            names = None if tried is None else await steps.tried_models(conn, *tried)
            return summary, rows, names

        return await self._run(operation)
