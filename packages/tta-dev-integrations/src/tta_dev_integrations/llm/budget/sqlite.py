"""The embedded spend ledger: one SQLite file shared by every process of one machine.

SQLite serializes writers itself: every change runs in ``BEGIN IMMEDIATE``, which takes
the database's write lock before reading anything, so the guarded ``UPDATE`` of a
reservation sees every committed reservation and no other writer can slip in between.
Processes wait for the lock up to the busy timeout (10 s), then the call fails with
:class:`LedgerUnavailableError` (paid calls fail closed).

The file is in WAL mode (readers never block the writer) with ``synchronous=FULL``: each
commit is on disk before ``reserve`` returns, so a power cut cannot forget a reservation
whose paid call already went out. ``NORMAL`` (WAL synced only at checkpoints) takes about
1.7x as many reservations per second on the benchmark machine (about 4,500 against
2,750; see ``benchmarks/README.md``) but may lose the last commits on power loss: a
ledger of money takes the durable setting, and a paid call takes seconds anyway.

The standard library's ``sqlite3`` blocks, so each call runs in a worker thread
(``asyncio.to_thread``) on the ledger's one connection, guarded by a lock.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TypeVar

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
from tta_dev_integrations.llm.budget.migrations import apply_sqlite

__all__ = ["SQLiteLedger", "default_ledger_path"]

T = TypeVar("T")


_ENTRY_COLUMNS = (
    "request_id, scope, month, model, provider, state, reserved_micros, actual_micros, "
    "created_at, coder, profile, correlation_id, justification, justification_verified, "
    "ok, feedback_ok, latency_s, input_tokens, output_tokens, lease_expires_at, settled_at"
)

# The one guarded statement of a reservation: it adds the amount only when it fits.
_RESERVE = """UPDATE tta_budgets SET reserved_micros = reserved_micros + :amount
    WHERE scope = :scope AND month = :month
      AND (limit_micros IS NULL OR spent_micros + reserved_micros + :amount <= limit_micros)"""

# A scope's month seen for the first time: unlimited until set_limit says otherwise.
_FIRST_RESERVE = """INSERT INTO tta_budgets (scope, month, reserved_micros)
    VALUES (:scope, :month, :amount) ON CONFLICT (scope, month) DO NOTHING"""

_INSERT_RESERVED = """INSERT INTO tta_entries (request_id, scope, month, model, provider,
        coder, profile, correlation_id, state, reserved_micros, lease_expires_at,
        justification, justification_verified, created_at)
    VALUES (:request_id, :scope, :month, :model, :provider, :coder, :profile,
        :correlation_id, 'reserved', :amount, :lease_expires_at, :justification,
        :justification_verified, :now)
    ON CONFLICT (request_id) DO NOTHING"""

_INSERT_FREE = """INSERT INTO tta_entries (request_id, scope, month, model, provider,
        coder, profile, correlation_id, state, ok, latency_s, input_tokens, output_tokens,
        created_at, settled_at)
    VALUES (:request_id, :scope, :month, :model, :provider, :coder, :profile,
        :correlation_id, 'free', :ok, :latency_s, :input_tokens, :output_tokens, :now, :now)
    ON CONFLICT (request_id) DO NOTHING"""

# Counts one request in a quota window unless the window is full.
_TAKE_QUOTA = """INSERT INTO tta_quota_counters (model, window_kind, window_start, count)
    VALUES (?, ?, ?, 1)
    ON CONFLICT (model, window_kind, window_start) DO UPDATE
        SET count = tta_quota_counters.count + 1 WHERE tta_quota_counters.count < ?"""

_MODEL_STATS = """SELECT model, COUNT(*), SUM(ok), SUM(feedback_ok = 1), SUM(feedback_ok = 0),
        AVG(latency_s)
    FROM tta_entries
    WHERE model IN ({models}) AND state IN ('settled', 'free') AND ok IS NOT NULL
    GROUP BY model"""


def default_ledger_path() -> Path:
    """``$TTA_HOME/ledger.db``, ``TTA_HOME`` defaulting to ``~/.tta``."""
    home = os.environ.get("TTA_HOME") or "~/.tta"
    return Path(home).expanduser() / "ledger.db"


def _epoch(moment: datetime | None) -> float:
    if moment is None:
        return datetime.now(UTC).timestamp()
    if moment.tzinfo is None:  # a naive time is taken as UTC, never as local time
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def _flag(value: bool | None) -> int | None:
    return None if value is None else int(value)


def _bool(value: int | None) -> bool | None:
    return None if value is None else bool(value)


def _justification(text: str | None) -> Justification | None:
    if text is None:
        return None
    data = json.loads(text)
    return Justification(
        reason=str(data.get("reason", "")),
        free_alternatives_tried=tuple(data.get("free_alternatives_tried", ())),
        expected_quality_delta=str(data.get("expected_quality_delta", "")),
    )


def _entry(row: sqlite3.Row | tuple[Any, ...]) -> LedgerEntry:
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
        justification_verified=_bool(verified),
        ok=_bool(ok),
        feedback_ok=_bool(feedback_ok),
        latency_s=latency_s,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        extra=extra,
    )


@contextmanager
def _immediate(conn: sqlite3.Connection) -> Iterator[None]:
    """A write transaction holding the database's write lock from its first statement."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


class _Refused(Exception):
    """Inside a transaction: roll it back (the caller turns it into the real answer)."""


def _reclaim(conn: sqlite3.Connection, now: float, scope: str | None) -> int:
    """Release expired reservations (of ``scope``, or all) and fix their budgets."""
    released = conn.execute(
        "UPDATE tta_entries SET state = 'released'"
        " WHERE state = 'reserved' AND lease_expires_at < ? AND (? IS NULL OR scope = ?)"
        " RETURNING scope, month, reserved_micros",
        (now, scope, scope),
    ).fetchall()
    give_back: dict[tuple[str, str], int] = defaultdict(int)
    for entry_scope, month, amount in released:
        give_back[(entry_scope, month)] += amount
    conn.executemany(
        "UPDATE tta_budgets SET reserved_micros = reserved_micros - ?"
        " WHERE scope = ? AND month = ?",
        [(amount, s, m) for (s, m), amount in sorted(give_back.items())],
    )
    return len(released)


def _remaining(conn: sqlite3.Connection, scope: str, month: str) -> int:
    row = conn.execute(
        "SELECT limit_micros, spent_micros, reserved_micros FROM tta_budgets"
        " WHERE scope = ? AND month = ?",
        (scope, month),
    ).fetchone()
    limit, spent, reserved = row
    return max(0, int(limit) - int(spent) - int(reserved))


def _use_wal(conn: sqlite3.Connection, deadline: float) -> None:
    """Switch the file to WAL, waiting out other connections doing the same.

    Changing the journal mode of a fresh file answers "database is locked" at once when
    another connection is changing it too: SQLite does not call the busy handler there
    (about one round in ten with six connections opening a new file together). The
    switch is retried until the busy timeout, like every other wait for the lock.
    """
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() >= deadline:
                raise
            time.sleep(0.005)


class SQLiteLedger:
    """The :class:`~tta_dev_integrations.llm.budget.ledger.Ledger` in one SQLite file.

    ``path`` defaults to :func:`default_ledger_path`; its directory is created on first
    use. Many processes may share the file. Nothing is opened until the first call,
    which also applies pending migrations.
    """

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        busy_timeout_s: float = 10.0,
        synchronous: Literal["FULL", "NORMAL"] = "FULL",
    ) -> None:
        self.path = Path(path).expanduser() if path is not None else default_ledger_path()
        self.busy_timeout_s = busy_timeout_s
        self.synchronous = synchronous
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None

    def __repr__(self) -> str:
        return f"SQLiteLedger({str(self.path)!r})"

    # -- plumbing ------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        if self._conn is not None:
            return self._conn
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(
            self.path,
            timeout=self.busy_timeout_s,
            isolation_level=None,  # transactions are explicit: BEGIN IMMEDIATE ... COMMIT
            check_same_thread=False,  # worker threads take turns under self._lock
        )
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_s * 1000)}")
            _use_wal(conn, time.monotonic() + self.busy_timeout_s)
            conn.execute(f"PRAGMA synchronous = {self.synchronous}")
            apply_sqlite(conn)
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        return conn

    def _unavailable(self, error: BaseException) -> LedgerUnavailableError:
        return LedgerUnavailableError(
            f"the spend ledger at {self.path} cannot be used ({error}); check that its "
            "directory exists and is writable, that the disk has room, and that no other "
            f"process holds the database's write lock for more than {self.busy_timeout_s:g} s"
        )

    def _call(self, operation: Callable[[sqlite3.Connection], T]) -> T:
        with self._lock:
            try:
                return operation(self._connect())
            except (sqlite3.OperationalError, OSError) as error:
                self._drop_connection()
                raise self._unavailable(error) from error
            except sqlite3.DatabaseError as error:
                if type(error) is not sqlite3.DatabaseError:
                    raise  # IntegrityError, ProgrammingError, ...: a bug, not an outage
                self._drop_connection()  # "file is not a database", "disk image is malformed"
                raise self._unavailable(error) from error

    def _drop_connection(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            with suppress(sqlite3.Error):  # already unusable; the next call opens a new one
                conn.close()

    async def _run(self, operation: Callable[[sqlite3.Connection], T]) -> T:
        return await asyncio.to_thread(self._call, operation)

    # -- the Ledger protocol -------------------------------------------------------

    async def migrate(self) -> None:
        """Apply pending named migrations (idempotent; safe from many processes at once)."""
        await self._run(apply_sqlite)

    async def set_limit(self, scope: str, month: str, limit_micros: int | None) -> None:
        """Set (or clear, with ``None``) the scope's limit for the month."""
        if limit_micros is not None and limit_micros < 0:
            raise ValueError(f"limit_micros must be >= 0 or None, got {limit_micros}")

        def operation(conn: sqlite3.Connection) -> None:
            with _immediate(conn):
                conn.execute(
                    "INSERT INTO tta_budgets (scope, month, limit_micros) VALUES (?, ?, ?)"
                    " ON CONFLICT (scope, month) DO UPDATE"
                    " SET limit_micros = excluded.limit_micros",
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
        at = _epoch(now)
        expires = at + lease_s
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
            "justification": json.dumps(justification.as_dict()) if justification else None,
            "justification_verified": _flag(justification_verified),
            "now": at,
        }

        def operation(conn: sqlite3.Connection) -> int | None:
            """``None`` when reserved, else what remained (the reclaim is kept)."""
            with _immediate(conn):
                _reclaim(conn, at, scope)
                fits = (
                    conn.execute(_RESERVE, params).rowcount == 1
                    or conn.execute(_FIRST_RESERVE, params).rowcount == 1
                )
                if not fits:
                    return _remaining(conn, scope, month)
                if conn.execute(_INSERT_RESERVED, params).rowcount != 1:
                    raise _Refused  # the request_id is taken: undo the reservation
            return None

        try:
            remaining = await self._run(operation)
        except _Refused:
            raise ValueError(
                f"request_id {request_id!r} is already in the ledger; use a new id per call"
            ) from None
        if remaining is not None:
            raise BudgetExceededError(scope, month, amount_micros, remaining)
        return Reservation(request_id, scope, month, amount_micros, _utc(expires))

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
        at = _epoch(None)

        def operation(conn: sqlite3.Connection) -> None:
            with _immediate(conn):
                row = conn.execute(
                    "SELECT state, scope, month, reserved_micros FROM tta_entries"
                    " WHERE request_id = ?",
                    (request_id,),
                ).fetchone()
                if row is None:
                    raise _Refused
                state, scope, month, reserved = row
                if state not in ("reserved", "released"):
                    return  # settled already (or a free call): nothing changes
                conn.execute(
                    "UPDATE tta_entries SET state = 'settled', actual_micros = ?, ok = ?,"
                    " latency_s = ?, input_tokens = ?, output_tokens = ?, settled_at = ?"
                    " WHERE request_id = ?",
                    (actual_micros, int(ok), latency_s, input_tokens, output_tokens, at,
                     request_id),
                )  # fmt: skip
                freed = reserved if state == "reserved" else 0
                conn.execute(
                    "UPDATE tta_budgets SET reserved_micros = reserved_micros - ?,"
                    " spent_micros = spent_micros + ? WHERE scope = ? AND month = ?",
                    (freed, actual_micros, scope, month),
                )

        try:
            await self._run(operation)
        except _Refused:
            raise ValueError(f"no reservation with request_id {request_id!r}") from None

    async def release(self, request_id: str) -> None:
        """Give the reservation back without spending (the call failed). Idempotent."""

        def operation(conn: sqlite3.Connection) -> None:
            with _immediate(conn):
                row = conn.execute(
                    "UPDATE tta_entries SET state = 'released'"
                    " WHERE request_id = ? AND state = 'reserved'"
                    " RETURNING scope, month, reserved_micros",
                    (request_id,),
                ).fetchone()
                if row is None:
                    known = conn.execute(
                        "SELECT 1 FROM tta_entries WHERE request_id = ?", (request_id,)
                    ).fetchone()
                    if known is None:
                        raise _Refused
                    return
                scope, month, reserved = row
                conn.execute(
                    "UPDATE tta_budgets SET reserved_micros = reserved_micros - ?"
                    " WHERE scope = ? AND month = ?",
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
            "ok": int(ok),
            "latency_s": latency_s,
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "now": _epoch(now),
        }

        def operation(conn: sqlite3.Connection) -> None:
            with _immediate(conn):
                conn.execute(_INSERT_FREE, params)

        await self._run(operation)

    async def reclaim_expired(self, now: datetime | None = None) -> int:
        """Release reservations whose lease ended (a crashed worker's); returns how many."""
        at = _epoch(now)

        def operation(conn: sqlite3.Connection) -> int:
            with _immediate(conn):
                return _reclaim(conn, at, None)

        return await self._run(operation)

    async def summary(self, scope: str, month: str) -> SpendSummary:
        """Limit, spent and reserved for the scope's month."""

        def operation(conn: sqlite3.Connection) -> SpendSummary:
            row = conn.execute(
                "SELECT limit_micros, spent_micros, reserved_micros FROM tta_budgets"
                " WHERE scope = ? AND month = ?",
                (scope, month),
            ).fetchone()
            if row is None:
                return SpendSummary(scope, month, None, 0, 0)
            return SpendSummary(scope, month, row[0], row[1], row[2])

        return await self._run(operation)

    async def entries(self, scope: str, month: str) -> Sequence[LedgerEntry]:
        """Every entry of the scope's month, oldest first."""

        def operation(conn: sqlite3.Connection) -> list[LedgerEntry]:
            rows = conn.execute(
                f"SELECT {_ENTRY_COLUMNS} FROM tta_entries WHERE scope = ? AND month = ?"
                " ORDER BY created_at, request_id",
                (scope, month),
            ).fetchall()
            return [_entry(row) for row in rows]

        return await self._run(operation)

    async def tried_models(self, correlation_id: str, since: datetime) -> set[str]:
        """Models called (successfully or not) under ``correlation_id`` since ``since``.

        An empty ``correlation_id`` ties no calls together: the answer is empty.
        """
        if not correlation_id:
            return set()
        start = _epoch(since)

        def operation(conn: sqlite3.Connection) -> set[str]:
            rows = conn.execute(
                "SELECT DISTINCT model FROM tta_entries"
                " WHERE correlation_id = ? AND created_at >= ?",
                (correlation_id, start),
            ).fetchall()
            return {row[0] for row in rows}

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
        windows = quota_windows(_utc(_epoch(now)), per_minute, per_day)
        if windows.refused:
            return False
        if not windows.counted:
            return True

        def operation(conn: sqlite3.Connection) -> bool:
            try:
                with _immediate(conn):
                    for kind, start, limit in windows.counted:
                        row = (model, kind, start.timestamp(), limit)
                        if conn.execute(_TAKE_QUOTA, row).rowcount != 1:
                            raise _Refused  # full: roll back what the other window counted
                    conn.execute(
                        "DELETE FROM tta_quota_counters WHERE model = ? AND ("
                        " (window_kind = 'minute' AND window_start < ?)"
                        " OR (window_kind = 'day' AND window_start < ?))",
                        (model, windows.keep_minute_from.timestamp(),
                         windows.keep_day_from.timestamp()),
                    )  # fmt: skip
            except _Refused:
                return False
            return True

        return await self._run(operation)

    async def record_feedback(self, request_id: str, ok: bool) -> None:
        """A caller's verdict on an answer (the latest verdict counts)."""

        def operation(conn: sqlite3.Connection) -> int:
            with _immediate(conn):
                return conn.execute(
                    "UPDATE tta_entries SET feedback_ok = ? WHERE request_id = ?",
                    (int(ok), request_id),
                ).rowcount

        if await self._run(operation) == 0:
            raise ValueError(f"no ledger entry with request_id {request_id!r}")

    async def model_stats(self, models: Sequence[str]) -> dict[str, ModelStats]:
        """Observed outcomes per model (models never called are absent).

        Calls are settled and free entries whose outcome is known.
        """
        wanted = list(dict.fromkeys(models))
        if not wanted:
            return {}
        query = _MODEL_STATS.format(models=", ".join("?" * len(wanted)))

        def operation(conn: sqlite3.Connection) -> dict[str, ModelStats]:
            return {
                model: ModelStats(model, calls, successes or 0, good or 0, bad or 0, latency)
                for model, calls, successes, good, bad, latency in conn.execute(query, wanted)
            }

        return await self._run(operation)

    async def close(self) -> None:
        """Close the connection (a later call opens a new one)."""

        def operation() -> None:
            with self._lock:
                self._drop_connection()

        await asyncio.to_thread(operation)
