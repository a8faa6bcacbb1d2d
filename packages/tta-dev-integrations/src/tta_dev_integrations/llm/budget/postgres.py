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

Sessions set ``lock_timeout`` (10 s) and ``idle_in_transaction_session_timeout`` (60 s),
so a hung worker cannot hold a budget row for long. The URL's password never appears in
errors or reprs. Install with the ``postgres`` extra.
"""

from __future__ import annotations

import asyncio
import os
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit

import psycopg
import psycopg.errors
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import TupleRow
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from tta_dev_integrations.llm.budget.ledger import (
    BudgetExceededError,
    EntryState,
    Justification,
    LedgerEntry,
    LedgerUnavailableError,
    ModelStats,
    Reservation,
    SpendSummary,
    quota_windows,
)
from tta_dev_integrations.llm.budget.migrations import apply_postgres

__all__ = ["PostgresLedger", "masked_url"]

T = TypeVar("T")
Connection = psycopg.AsyncConnection[TupleRow]

_RETRIED = (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure)
_UNAVAILABLE = (psycopg.OperationalError, psycopg.InterfaceError)
_ATTEMPTS = 3

_ENTRY_COLUMNS = (
    "request_id, scope, month, model, provider, state, reserved_micros, actual_micros, "
    "created_at, coder, profile, correlation_id, justification, justification_verified, "
    "ok, feedback_ok, latency_s, input_tokens, output_tokens, lease_expires_at, settled_at"
)

# The one guarded statement of a reservation: it adds the amount only when it fits.
_RESERVE = """UPDATE tta_budgets SET reserved_micros = reserved_micros + %(amount)s
    WHERE scope = %(scope)s AND month = %(month)s
      AND (limit_micros IS NULL OR spent_micros + reserved_micros + %(amount)s <= limit_micros)"""

# A scope's month seen for the first time: unlimited until set_limit says otherwise.
_FIRST_RESERVE = """INSERT INTO tta_budgets (scope, month, reserved_micros)
    VALUES (%(scope)s, %(month)s, %(amount)s) ON CONFLICT (scope, month) DO NOTHING"""

_INSERT_RESERVED = """INSERT INTO tta_entries (request_id, scope, month, model, provider,
        coder, profile, correlation_id, state, reserved_micros, lease_expires_at,
        justification, justification_verified, created_at)
    VALUES (%(request_id)s, %(scope)s, %(month)s, %(model)s, %(provider)s, %(coder)s,
        %(profile)s, %(correlation_id)s, 'reserved', %(amount)s, %(lease_expires_at)s,
        %(justification)s, %(justification_verified)s, %(now)s)
    ON CONFLICT (request_id) DO NOTHING"""

_INSERT_FREE = """INSERT INTO tta_entries (request_id, scope, month, model, provider,
        coder, profile, correlation_id, state, ok, latency_s, input_tokens, output_tokens,
        created_at, settled_at)
    VALUES (%(request_id)s, %(scope)s, %(month)s, %(model)s, %(provider)s, %(coder)s,
        %(profile)s, %(correlation_id)s, 'free', %(ok)s, %(latency_s)s, %(input_tokens)s,
        %(output_tokens)s, %(now)s, %(now)s)
    ON CONFLICT (request_id) DO NOTHING"""

# SKIP LOCKED: an entry another transaction is settling (or reclaiming) is left to it.
_RECLAIM = """UPDATE tta_entries SET state = 'released'
    WHERE request_id IN (
        SELECT request_id FROM tta_entries
        WHERE state = 'reserved' AND lease_expires_at < %s
        ORDER BY request_id FOR UPDATE SKIP LOCKED)
      AND state = 'reserved'
    RETURNING scope, month, reserved_micros"""

_RECLAIM_SCOPE = """UPDATE tta_entries SET state = 'released'
    WHERE request_id IN (
        SELECT request_id FROM tta_entries
        WHERE state = 'reserved' AND lease_expires_at < %s AND scope = %s
        ORDER BY request_id FOR UPDATE SKIP LOCKED)
      AND state = 'reserved'
    RETURNING scope, month, reserved_micros"""

# Counts one request in a quota window unless the window is full.
_TAKE_QUOTA = """INSERT INTO tta_quota_counters (model, window_kind, window_start, count)
    VALUES (%s, %s, %s, 1)
    ON CONFLICT (model, window_kind, window_start) DO UPDATE
        SET count = tta_quota_counters.count + 1 WHERE tta_quota_counters.count < %s"""

_MODEL_STATS = """SELECT model, COUNT(*), COUNT(*) FILTER (WHERE ok),
        COUNT(*) FILTER (WHERE feedback_ok), COUNT(*) FILTER (WHERE NOT feedback_ok),
        AVG(latency_s)
    FROM tta_entries
    WHERE model = ANY(%s) AND state IN ('settled', 'free') AND ok IS NOT NULL
    GROUP BY model"""


def _passwords(url: str) -> set[str]:
    found: set[str] = set()
    try:
        password = conninfo_to_dict(url).get("password")
    except psycopg.Error:
        password = None
    if password:
        found.add(str(password))
    try:
        raw = urlsplit(url).password
    except ValueError:
        raw = None
    if raw:
        found.update({raw, unquote(raw)})
    return found


def masked_url(url: str) -> str:
    """``url`` without its password: ``postgresql://user@host:port/dbname``."""
    try:
        parts = conninfo_to_dict(url)
    except psycopg.Error:
        return "postgresql://<unreadable URL>"
    user = f"{parts['user']}@" if parts.get("user") else ""
    port = f":{parts['port']}" if parts.get("port") else ""
    return f"postgresql://{user}{parts.get('host', '')}{port}/{parts.get('dbname', '')}"


def _utc(moment: datetime | None) -> datetime:
    if moment is None:
        return datetime.now(UTC)
    if moment.tzinfo is None:  # a naive time is taken as UTC, never as local time
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _justification(data: dict[str, Any] | None) -> Justification | None:
    if data is None:
        return None
    return Justification(
        reason=str(data.get("reason", "")),
        free_alternatives_tried=tuple(data.get("free_alternatives_tried", ())),
        expected_quality_delta=str(data.get("expected_quality_delta", "")),
    )


def _entry(row: TupleRow) -> LedgerEntry:
    (request_id, scope, month, model, provider, state, reserved, actual, created_at,
     coder, profile, correlation_id, justification, verified, ok, feedback_ok, latency_s,
     input_tokens, output_tokens, lease_expires_at, settled_at) = row  # fmt: skip
    extra: dict[str, Any] = {}
    if lease_expires_at is not None:
        extra["lease_expires_at"] = _utc(lease_expires_at)
    if settled_at is not None:
        extra["settled_at"] = _utc(settled_at)
    entry_state: EntryState = state
    return LedgerEntry(
        request_id=request_id,
        scope=scope,
        month=month,
        model=model,
        provider=provider,
        state=entry_state,
        reserved_micros=reserved,
        actual_micros=actual,
        created_at=_utc(created_at),
        coder=coder,
        profile=profile,
        correlation_id=correlation_id,
        justification=_justification(justification),
        justification_verified=verified,
        ok=ok,
        feedback_ok=feedback_ok,
        latency_s=latency_s,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        extra=extra,
    )


class _Refused(Exception):
    """Inside a transaction: roll it back (the caller turns it into the real answer)."""


async def _reclaim(conn: Connection, now: datetime, scope: str | None) -> int:
    """Release expired reservations (of ``scope``, or all) and fix their budgets."""
    if scope is None:
        cursor = await conn.execute(_RECLAIM, (now,))
    else:
        cursor = await conn.execute(_RECLAIM_SCOPE, (now, scope))
    released = await cursor.fetchall()
    if not released:
        return 0
    give_back: dict[tuple[str, str], int] = defaultdict(int)
    for entry_scope, month, amount in released:
        give_back[(entry_scope, month)] += amount
    async with conn.cursor() as budgets:
        await budgets.executemany(
            "UPDATE tta_budgets SET reserved_micros = reserved_micros - %s"
            " WHERE scope = %s AND month = %s",
            [(amount, s, m) for (s, m), amount in sorted(give_back.items())],
        )
    return len(released)


async def _remaining(conn: Connection, scope: str, month: str) -> int:
    cursor = await conn.execute(
        "SELECT limit_micros, spent_micros, reserved_micros FROM tta_budgets"
        " WHERE scope = %s AND month = %s",
        (scope, month),
    )
    row = await cursor.fetchone()
    if row is None or row[0] is None:
        return 0  # the limit was cleared since the guard ran: the next try will fit
    limit, spent, reserved = row
    return max(0, int(limit) - int(spent) - int(reserved))


async def _configure(conn: Connection) -> None:
    await conn.execute("SET lock_timeout = '10s'")
    await conn.execute("SET idle_in_transaction_session_timeout = '60s'")


class PostgresLedger:
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
        self._secrets = _passwords(resolved)
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

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def _unavailable(self, error: BaseException) -> LedgerUnavailableError:
        detail = self._scrub(str(error).strip()) or type(error).__name__
        return LedgerUnavailableError(
            f"the spend ledger at {self.url} cannot be used ({detail}); check that "
            "PostgreSQL is running and reachable, that TTA_LEDGER_URL names the right "
            "host, port, database, user and password, and that the user may create tables"
        )

    def _cause(self, error: BaseException) -> BaseException | None:
        """The original error to chain, unless its text carries the password."""
        return None if any(secret in str(error) for secret in self._secrets) else error

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
                configure=_configure,
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

    # -- the Ledger protocol -------------------------------------------------------

    async def migrate(self) -> None:
        """Apply pending named migrations (idempotent; safe from many processes at once)."""
        try:
            async with await self._connect() as conn:
                await apply_postgres(conn)
        except _UNAVAILABLE as error:
            raise self._unavailable(error) from self._cause(error)

    async def set_limit(self, scope: str, month: str, limit_micros: int | None) -> None:
        """Set (or clear, with ``None``) the scope's limit for the month."""
        if limit_micros is not None and limit_micros < 0:
            raise ValueError(f"limit_micros must be >= 0 or None, got {limit_micros}")

        async def operation(conn: Connection) -> None:
            await conn.execute(
                "INSERT INTO tta_budgets (scope, month, limit_micros) VALUES (%s, %s, %s)"
                " ON CONFLICT (scope, month) DO UPDATE SET limit_micros = excluded.limit_micros",
                (scope, month, limit_micros),
            )

        await self._run(operation)

    async def reserve(
        self,
        *,
        request_id: str,
        scope: str,
        month: str,
        amount_micros: int,
        model: str,
        provider: str,
        lease_s: float = 600.0,
        coder: str = "none",
        profile: str = "",
        correlation_id: str = "",
        justification: Justification | None = None,
        justification_verified: bool | None = None,
        now: datetime | None = None,
    ) -> Reservation:
        """Set ``amount_micros`` aside in one guarded statement.

        Raises :class:`BudgetExceededError` when it does not fit. Expired leases of the
        scope are reclaimed first, in the same transaction.
        """
        if amount_micros < 0:
            raise ValueError(f"amount_micros must be >= 0, got {amount_micros}")
        at = _utc(now)
        expires = at + timedelta(seconds=lease_s)
        params = {
            "request_id": request_id,
            "scope": scope,
            "month": month,
            "amount": amount_micros,
            "model": model,
            "provider": provider,
            "coder": coder,
            "profile": profile,
            "correlation_id": correlation_id,
            "lease_expires_at": expires,
            "justification": Jsonb(justification.as_dict()) if justification else None,
            "justification_verified": justification_verified,
            "now": at,
        }

        async def fits(conn: Connection) -> bool:
            if (await conn.execute(_RESERVE, params)).rowcount == 1:
                return True
            if (await conn.execute(_FIRST_RESERVE, params)).rowcount == 1:
                return True
            # Another transaction created the row after our UPDATE looked: guard again.
            return (await conn.execute(_RESERVE, params)).rowcount == 1

        async def operation(conn: Connection) -> int | None:
            """``None`` when reserved, else what remained (the reclaim is kept)."""
            await _reclaim(conn, at, scope)
            # The entry first: the budget row's lock is then held only from the guarded
            # UPDATE to the COMMIT, which is what concurrent reservations queue on.
            if (await conn.execute(_INSERT_RESERVED, params)).rowcount != 1:
                raise _Refused  # the request_id is taken
            if not await fits(conn):
                await conn.execute("DELETE FROM tta_entries WHERE request_id = %s", (request_id,))
                return await _remaining(conn, scope, month)
            return None

        try:
            remaining = await self._run(operation)
        except _Refused:
            raise ValueError(
                f"request_id {request_id!r} is already in the ledger; use a new id per call"
            ) from None
        if remaining is not None:
            raise BudgetExceededError(scope, month, amount_micros, remaining)
        return Reservation(request_id, scope, month, amount_micros, expires)

    async def settle(
        self,
        request_id: str,
        actual_micros: int,
        *,
        ok: bool = True,
        latency_s: float | None = None,
        input_tokens: int = 0,
        output_tokens: int = 0,
    ) -> None:
        """Record the real cost and free the reservation.

        Idempotent by ``request_id``: settling twice changes nothing. A settlement above
        the reservation is recorded as it is. A reservation already released (its lease
        ended, or the caller gave it back) is settled too: the money was spent, and the
        ledger records the truth.
        """
        if actual_micros < 0:
            raise ValueError(f"actual_micros must be >= 0, got {actual_micros}")
        at = _utc(None)

        async def operation(conn: Connection) -> None:
            cursor = await conn.execute(
                "SELECT state, scope, month, reserved_micros FROM tta_entries"
                " WHERE request_id = %s FOR UPDATE",
                (request_id,),
            )
            row = await cursor.fetchone()
            if row is None:
                raise _Refused
            state, scope, month, reserved = row
            if state not in ("reserved", "released"):
                return  # settled already (or a free call): nothing changes
            await conn.execute(
                "UPDATE tta_entries SET state = 'settled', actual_micros = %s, ok = %s,"
                " latency_s = %s, input_tokens = %s, output_tokens = %s, settled_at = %s"
                " WHERE request_id = %s",
                (actual_micros, ok, latency_s, input_tokens, output_tokens, at, request_id),
            )
            freed = reserved if state == "reserved" else 0
            await conn.execute(
                "UPDATE tta_budgets SET reserved_micros = reserved_micros - %s,"
                " spent_micros = spent_micros + %s WHERE scope = %s AND month = %s",
                (freed, actual_micros, scope, month),
            )

        try:
            await self._run(operation)
        except _Refused:
            raise ValueError(f"no reservation with request_id {request_id!r}") from None

    async def release(self, request_id: str) -> None:
        """Give the reservation back without spending (the call failed). Idempotent."""

        async def operation(conn: Connection) -> None:
            cursor = await conn.execute(
                "UPDATE tta_entries SET state = 'released'"
                " WHERE request_id = %s AND state = 'reserved'"
                " RETURNING scope, month, reserved_micros",
                (request_id,),
            )
            row = await cursor.fetchone()
            if row is None:
                cursor = await conn.execute(
                    "SELECT 1 FROM tta_entries WHERE request_id = %s", (request_id,)
                )
                if await cursor.fetchone() is None:
                    raise _Refused
                return
            scope, month, reserved = row
            await conn.execute(
                "UPDATE tta_budgets SET reserved_micros = reserved_micros - %s"
                " WHERE scope = %s AND month = %s",
                (reserved, scope, month),
            )

        try:
            await self._run(operation)
        except _Refused:
            raise ValueError(f"no reservation with request_id {request_id!r}") from None

    async def record_free(
        self,
        *,
        request_id: str,
        scope: str,
        month: str,
        model: str,
        provider: str,
        ok: bool,
        coder: str = "none",
        profile: str = "",
        correlation_id: str = "",
        latency_s: float | None = None,
        input_tokens: int = 0,
        output_tokens: int = 0,
        now: datetime | None = None,
    ) -> None:
        """Record a $0 call (free model), for quotas, stats and justification checks.

        Idempotent by ``request_id`` (a retried record is not counted twice).
        """
        params = {
            "request_id": request_id,
            "scope": scope,
            "month": month,
            "model": model,
            "provider": provider,
            "coder": coder,
            "profile": profile,
            "correlation_id": correlation_id,
            "ok": ok,
            "latency_s": latency_s,
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "now": _utc(now),
        }

        async def operation(conn: Connection) -> None:
            await conn.execute(_INSERT_FREE, params)

        await self._run(operation)

    async def reclaim_expired(self, now: datetime | None = None) -> int:
        """Release reservations whose lease ended (a crashed worker's); returns how many."""
        at = _utc(now)

        async def operation(conn: Connection) -> int:
            return await _reclaim(conn, at, None)

        return await self._run(operation)

    async def summary(self, scope: str, month: str) -> SpendSummary:
        """Limit, spent and reserved for the scope's month."""

        async def operation(conn: Connection) -> SpendSummary:
            cursor = await conn.execute(
                "SELECT limit_micros, spent_micros, reserved_micros FROM tta_budgets"
                " WHERE scope = %s AND month = %s",
                (scope, month),
            )
            row = await cursor.fetchone()
            if row is None:
                return SpendSummary(scope, month, None, 0, 0)
            return SpendSummary(scope, month, row[0], row[1], row[2])

        return await self._run(operation)

    async def entries(self, scope: str, month: str) -> Sequence[LedgerEntry]:
        """Every entry of the scope's month, oldest first."""

        async def operation(conn: Connection) -> list[LedgerEntry]:
            cursor = await conn.execute(
                f"SELECT {_ENTRY_COLUMNS} FROM tta_entries WHERE scope = %s AND month = %s"
                " ORDER BY created_at, request_id",
                (scope, month),
            )
            return [_entry(row) for row in await cursor.fetchall()]

        return await self._run(operation)

    async def tried_models(self, correlation_id: str, since: datetime) -> set[str]:
        """Models called (successfully or not) under ``correlation_id`` since ``since``.

        An empty ``correlation_id`` ties no calls together: the answer is empty.
        """
        if not correlation_id:
            return set()
        start = _utc(since)

        async def operation(conn: Connection) -> set[str]:
            cursor = await conn.execute(
                "SELECT DISTINCT model FROM tta_entries"
                " WHERE correlation_id = %s AND created_at >= %s",
                (correlation_id, start),
            )
            return {row[0] for row in await cursor.fetchall()}

        return await self._run(operation)

    async def take_quota(
        self,
        model: str,
        *,
        per_minute: int | None,
        per_day: int | None,
        now: datetime | None = None,
    ) -> bool:
        """Count one request against a free tier's limits (UTC minute and day windows).

        Returns ``False`` (and counts nothing) when a window is full. A window without a
        limit is not counted.
        """
        windows = quota_windows(_utc(now), per_minute, per_day)
        if windows.refused:
            return False
        if not windows.counted:
            return True

        async def operation(conn: Connection) -> None:
            for kind, start, limit in windows.counted:
                cursor = await conn.execute(_TAKE_QUOTA, (model, kind, start, limit))
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

    async def record_feedback(self, request_id: str, ok: bool) -> None:
        """A caller's verdict on an answer (the latest verdict counts)."""

        async def operation(conn: Connection) -> int:
            cursor = await conn.execute(
                "UPDATE tta_entries SET feedback_ok = %s WHERE request_id = %s",
                (ok, request_id),
            )
            return cursor.rowcount

        if await self._run(operation) == 0:
            raise ValueError(f"no ledger entry with request_id {request_id!r}")

    async def model_stats(self, models: Sequence[str]) -> dict[str, ModelStats]:
        """Observed outcomes per model (models never called are absent).

        Calls are settled and free entries whose outcome is known.
        """
        wanted = list(dict.fromkeys(models))
        if not wanted:
            return {}

        async def operation(conn: Connection) -> dict[str, ModelStats]:
            cursor = await conn.execute(_MODEL_STATS, (wanted,))
            return {
                model: ModelStats(model, calls, successes, good, bad, latency)
                for model, calls, successes, good, bad, latency in await cursor.fetchall()
            }

        return await self._run(operation)

    async def close(self) -> None:
        """Close the pool's connections (a later call opens a new pool)."""
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()
