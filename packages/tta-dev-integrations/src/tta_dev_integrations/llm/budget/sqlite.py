"""The embedded spend ledger: one SQLite file shared by every process of one machine.

SQLite serializes writers itself: every change runs in ``BEGIN IMMEDIATE``, which takes
the database's write lock before reading anything, so the guarded ``UPDATE`` of a
reservation sees every committed reservation and no other writer can slip in between.
Processes wait for the lock up to the busy timeout (10 s), then the call fails with
:class:`LedgerUnavailableError` (paid calls fail closed).

The file is in WAL mode (readers never block the writer) with ``synchronous=FULL``: each
commit is on disk before ``reserve`` returns, so a power cut cannot forget a reservation
whose paid call already went out. A commit that can only *lower* the month (a
settlement at or under its reservation, a release, a $0 record, feedback) does not wait
for the disk: the WAL is written in order, so the next synced commit (every reservation
is one) syncs it too, and if a power cut forgets it first, the reservation it closed is
charged, unconfirmed, when its lease ends: the month over-counts until ``tta budget
correct``, never under-counts. That halves the syncs of a routed paid call; a
settlement that spends more than was reserved, or money on a released reservation,
still waits for the disk. ``NORMAL`` (WAL synced at checkpoints) survives a
crash of the process, not of the machine: a power cut may lose the last commits, paid
calls' reservations among them, and the month would show less than the providers bill.
It takes about 1.7x the reservations per second, and a routed paid call's three round
trips about half the time (``benchmarks/README.md``): a ledger of money keeps the
durable setting by default; ``SQLiteLedger(synchronous="NORMAL")`` takes the trade.

The standard library's ``sqlite3`` blocks, so each call runs in a worker thread (a pool
shared by the process's SQLite ledgers) on the ledger's one connection, guarded by a
lock. Transactions that queue while the connection is busy share one COMMIT
(:mod:`~.sqlite_group`): at 100 calls in flight, one wait for the disk serves many. A
worker finishes a transaction whatever happens to its caller, so a reservation or
settlement is awaited directly (:class:`~.core.ThreadWork`): no task or shield per call
to survive a cancellation. A routed paid call makes three round trips (``preflight``,
``reserve``, ``settle``), one synced COMMIT (the reservation's). The rules
(checks, what a settlement does to the month, cancellation) are
:class:`~tta_dev_integrations.llm.budget.base.LedgerBase`'s; this module holds the SQL.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any, Literal, TypeVar

from tta_dev_integrations.llm.budget.base import (
    LedgerBase,
    RequestIdTaken,
    Settlement,
    UnknownEntry,
    expired_charges,
)
from tta_dev_integrations.llm.budget.core import (
    AUDIT,
    COUNT_CALL,
    ENSURE_BUDGET,
    INSERT_RESERVED,
    MOVE_MONEY,
    RESERVE,
    STORED_LIMIT,
    SUMMARY,
    TAKE_QUOTA,
    TRIED_MODELS,
    BudgetDelta,
    ThreadWork,
    audit,
    call_outcome,
    correction_delta,
    settlement_delta,
)
from tta_dev_integrations.llm.budget.ledger import (
    LedgerUnavailableError,
    QuotaWindows,
    SpendSummary,
)
from tta_dev_integrations.llm.budget.migrations import apply_sqlite
from tta_dev_integrations.llm.budget.sqlite_file import (
    default_ledger_path,
    file_in_the_way,
    use_wal,
)
from tta_dev_integrations.llm.budget.sqlite_group import Job, JobQueue, run_together
from tta_dev_integrations.llm.budget.sqlite_reader import Readers
from tta_dev_integrations.llm.budget.statistics import DaysQuery, TriedQuery

__all__ = ["SQLiteLedger", "default_ledger_path"]

T = TypeVar("T")

_MODEL_DAYS = """SELECT model, SUM(calls), SUM(errors), SUM(judged), SUM(judged_score_sum),
        SUM(latency_sum), SUM(latency_count)
    FROM tta_model_days
    WHERE model IN ({models}) AND (? IS NULL OR tier = ?) AND day >= ?
    GROUP BY model"""

# Leases that ended unsettled are charged at their reserved amount, unconfirmed.
_CHARGE_EXPIRED = """UPDATE tta_entries SET state = 'settled', actual_micros = reserved_micros,
        measured = 0, unconfirmed = 1, settled_at = :now
    WHERE state = 'reserved' AND lease_expires_at < :now AND (:scope IS NULL OR scope = :scope)
    RETURNING scope, month, reserved_micros"""

_ANY_EXPIRED = """SELECT 1 FROM tta_entries
    WHERE state = 'reserved' AND lease_expires_at < ? AND scope = ? LIMIT 1"""


def _epoch(moment: datetime | None) -> float:
    return (moment or datetime.now(UTC)).timestamp()


def _utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


@cache
def _workers() -> ThreadPoolExecutor:
    """The process's worker threads for SQLite ledgers."""
    return ThreadPoolExecutor(thread_name_prefix="tta-sqlite-ledger")


# The parent's threads do not exist in a forked child: it makes a pool of its own.
os.register_at_fork(after_in_child=_workers.cache_clear)


@contextmanager
def _immediate(conn: sqlite3.Connection, *, unsynced: bool = False) -> Iterator[None]:
    """A write transaction holding the database's write lock from its first statement.

    ``unsynced``: a ``synchronous=FULL`` connection commits it without waiting for the
    disk; the next synced commit syncs it (see the module docstring). SQLite takes the
    level only between transactions. Inside a group's transaction
    (:mod:`~.sqlite_group`) it is a savepoint, committed with the group.
    """
    grouped = conn.in_transaction
    if grouped:  # one of a group's transactions: a savepoint of its own
        conn.execute("SAVEPOINT tta_job")
        try:
            yield
        except BaseException:
            conn.execute("ROLLBACK TO tta_job")
            conn.execute("RELEASE tta_job")
            raise
        conn.execute("RELEASE tta_job")
        return
    if unsynced:
        conn.execute("PRAGMA synchronous = NORMAL")
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
    finally:
        if unsynced:
            conn.execute("PRAGMA synchronous = FULL")


class _MustSync(Exception):
    """The entry changed since it was read: the settlement no longer lowers the month."""


_ENTRY = (
    "SELECT state, scope, month, reserved_micros, actual_micros, unconfirmed, model, tier"
    " FROM tta_entries WHERE request_id = ?"
)


def _charge_expired(conn: sqlite3.Connection, now: float, scope: str | None) -> int:
    """Charge expired reservations (of ``scope``, or all), unconfirmed, and fix budgets."""
    charged = conn.execute(_CHARGE_EXPIRED, {"now": now, "scope": scope}).fetchall()
    for entry_scope, month, delta in expired_charges(charged):
        conn.execute(MOVE_MONEY, delta.params(entry_scope, month))
    return len(charged)


def _summary(conn: sqlite3.Connection, scope: str, month: str) -> SpendSummary:
    row = conn.execute(SUMMARY, {"scope": scope, "month": month}).fetchone()
    if row is None:
        stored = conn.execute(STORED_LIMIT, {"scope": scope}).fetchone()
        return SpendSummary(scope, month, stored[0] if stored else None, 0, 0)
    spent, reserved, estimated, unconfirmed, limit = row
    return SpendSummary(scope, month, limit, spent, reserved, estimated, unconfirmed)


def _summary_now(conn: sqlite3.Connection, scope: str, month: str, at: float) -> SpendSummary:
    """The scope's month after charging its leases that ended (looked up by index)."""
    if conn.execute(_ANY_EXPIRED, (at, scope)).fetchone() is not None:
        with _immediate(conn):
            _charge_expired(conn, at, scope)
    return _summary(conn, scope, month)


def _model_days(conn: sqlite3.Connection, days: DaysQuery) -> list[tuple[Any, ...]]:
    models, tier, since_day = days
    if not models:
        return []
    query = _MODEL_DAYS.format(models=", ".join("?" * len(models)))
    return conn.execute(query, (*models, tier, tier, since_day)).fetchall()


class SQLiteLedger(LedgerBase):
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
        self._jobs = JobQueue(self._serve, lambda drain: _workers().submit(drain))
        self._readers = Readers(self.path)

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
            use_wal(conn, time.monotonic() + self.busy_timeout_s)
            conn.execute(f"PRAGMA synchronous = {self.synchronous}")
            apply_sqlite(conn)
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        return conn

    def _unavailable(self, error: BaseException) -> LedgerUnavailableError:
        if "not a database" in str(error) or "malformed" in str(error):
            return LedgerUnavailableError(
                f"the spend ledger file {self.path} is not a usable SQLite database "
                f"({error}); nothing was changed. Move it aside (mv '{self.path}' "
                f"'{self.path}.broken') and TTA.dev starts a new ledger there, or point "
                "TTA_HOME (or TTA_LEDGER_URL) elsewhere"
            )
        folder = file_in_the_way(self.path.parent)
        if folder is not None:
            return LedgerUnavailableError(
                f"the spend ledger {self.path} cannot be created: {folder} is a file, not a "
                "directory; "
                "point TTA_HOME at a directory (or set TTA_LEDGER_URL)"
            )
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
        self._readers.close()  # they would read the same file: start again with it
        if self._conn is not None:
            conn, self._conn = self._conn, None
            with suppress(sqlite3.Error):  # already unusable; the next call opens a new one
                conn.close()

    def _run(
        self, operation: Callable[[sqlite3.Connection], T], *, group: bool = False
    ) -> ThreadWork[T]:
        """Queue ``operation`` for the connection; ``group``: it may share a COMMIT."""
        return ThreadWork(self._jobs.put(Job(operation, groupable=group)))

    def _serve(self, jobs: list[Job[Any]]) -> None:
        """Run queued jobs in order: runs of two or more groupable ones together."""
        start = 0
        while start < len(jobs):
            end = start
            while end < len(jobs) and jobs[end].groupable:
                end += 1
            if end - start >= 2:
                self._serve_together(jobs[start:end])
                start = end
            else:
                self._serve_alone(jobs[start])
                start += 1

    def _serve_alone(self, job: Job[Any]) -> None:
        try:
            job.done.set_result(self._call(job.operation))
        except Exception as error:
            job.done.set_exception(error)

    def _serve_together(self, jobs: list[Job[Any]]) -> None:
        with self._lock:
            try:
                if run_together(self._connect(), jobs):
                    return
            except (sqlite3.Error, OSError):
                self._drop_connection()  # each job, alone, reports what is wrong
        for job in jobs:
            self._serve_alone(job)

    # -- the backend's transactions -------------------------------------------------

    async def _write_many(
        self, steps: Sequence[tuple[str, Mapping[str, Any]]], *, moves_money: bool = True
    ) -> list[int]:
        def operation(conn: sqlite3.Connection) -> list[int]:
            counts: list[int] = []
            with _immediate(conn, unsynced=not moves_money and self.synchronous == "FULL"):
                for statement, params in steps:
                    counts.append(conn.execute(statement, params).rowcount)
                    if counts[-1] == 0:
                        break
            return counts

        return await self._run(operation, group=True)

    async def _read(self, statement: str, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        def operation(conn: sqlite3.Connection) -> list[tuple[Any, ...]]:
            return conn.execute(statement, params).fetchall()

        return await self._run(operation, group=True)

    def _stamp(self, moment: datetime) -> float:
        return moment.timestamp()

    def _moment(self, stamp: float) -> datetime:
        return _utc(stamp)

    async def migrate(self) -> None:
        """Apply pending named migrations (idempotent; safe from many processes at once)."""
        await self._run(apply_sqlite)

    async def close(self) -> None:
        """Close the connection (a later call opens a new one)."""

        def operation() -> None:
            with self._lock:
                self._drop_connection()

        await ThreadWork(_workers().submit(operation))

    async def _op_set_limit(
        self, scope: str, new: int | None, actor: str, reason: str, at: datetime
    ) -> int | None:
        def operation(conn: sqlite3.Connection) -> int | None:
            with _immediate(conn):
                row = conn.execute(
                    "SELECT limit_micros FROM tta_limits WHERE scope = ?", (scope,)
                ).fetchone()
                conn.execute(
                    "INSERT INTO tta_limits (scope, limit_micros, set_by, set_at, reason)"
                    " VALUES (?, ?, ?, ?, ?) ON CONFLICT (scope) DO UPDATE SET"
                    " limit_micros = excluded.limit_micros, set_by = excluded.set_by,"
                    " set_at = excluded.set_at, reason = excluded.reason",
                    (scope, new, actor, at.timestamp(), reason),
                )
                old: int | None = row[0] if row else None
                conn.execute(
                    AUDIT,
                    audit(at.timestamp(), actor, "limit", scope, old=old, new=new, reason=reason),
                )
                return old

        return await self._run(operation)

    def _op_reserve(
        self, params: dict[str, Any], now: datetime | None, lease: timedelta
    ) -> ThreadWork[tuple[SpendSummary | None, datetime]]:
        at = _epoch(now)
        expires = at + lease.total_seconds()
        values = {**params, "now": at, "lease_expires_at": expires}
        scope, month = params["scope"], params["month"]

        def operation(conn: sqlite3.Connection) -> tuple[SpendSummary | None, datetime]:
            with _immediate(conn):
                _charge_expired(conn, at, scope)
                fits = conn.execute(RESERVE, values).rowcount == 1
                if not fits:
                    conn.execute(ENSURE_BUDGET, values)
                    fits = conn.execute(RESERVE, values).rowcount == 1
                if not fits:
                    return _summary(conn, scope, month), _utc(expires)
                if conn.execute(INSERT_RESERVED, values).rowcount != 1:
                    raise RequestIdTaken  # rolls the reservation back
            return None, _utc(expires)

        return self._run(operation, group=True)

    async def _op_renew(self, request_id: str, now: datetime | None, lease: timedelta) -> bool:
        expires = _epoch(now) + lease.total_seconds()

        def operation(conn: sqlite3.Connection) -> bool:
            with _immediate(conn):
                cursor = conn.execute(
                    "UPDATE tta_entries SET lease_expires_at = ?"
                    " WHERE request_id = ? AND state = 'reserved'",
                    (expires, request_id),
                )
                return cursor.rowcount == 1

        return await self._run(operation, group=True)

    def _op_settle(self, settlement: Settlement, at: datetime) -> ThreadWork[SpendSummary]:
        s = settlement

        def delta_of(entry: tuple[Any, ...]) -> BudgetDelta | None:
            """What settling the entry (an ``_ENTRY`` row) does to its month."""
            state, _, _, reserved, old_actual, unconfirmed, _, _ = entry
            return settlement_delta(
                state=state,
                reserved=reserved,
                old_actual=old_actual,
                old_unconfirmed=bool(unconfirmed),
                actual=s.actual_micros,
                measured=s.measured,
            )

        def settle(conn: sqlite3.Connection, unsynced: bool) -> SpendSummary:
            with _immediate(conn, unsynced=unsynced):
                row = conn.execute(_ENTRY, (s.request_id,)).fetchone()
                if row is None:
                    raise UnknownEntry
                _, scope, month, _, _, _, model, tier = row
                delta = delta_of(row)
                if delta is None:  # settled already (or a free call): nothing changes
                    return _summary(conn, scope, month)
                if unsynced and not delta.lowers_only():
                    raise _MustSync
                conn.execute(
                    "UPDATE tta_entries SET state = 'settled', actual_micros = ?, ok = ?,"
                    " measured = ?, unconfirmed = 0, latency_s = ?, input_tokens = ?,"
                    " output_tokens = ?, settled_at = ? WHERE request_id = ?",
                    (s.actual_micros, s.ok, s.measured, s.latency_s, s.input_tokens,
                     s.output_tokens, at.timestamp(), s.request_id),
                )  # fmt: skip
                conn.execute(MOVE_MONEY, delta.params(scope, month))
                outcome = call_outcome(model, tier, at, ok=s.ok, latency_s=s.latency_s)
                conn.execute(COUNT_CALL, outcome)
                return _summary(conn, scope, month)

        def operation(conn: sqlite3.Connection) -> SpendSummary:
            # The level is set between transactions, so the entry is read first to see
            # whether this settlement can only lower the month; re-checked under the lock.
            unsynced = False
            if self.synchronous == "FULL" and not conn.in_transaction:
                row = conn.execute(_ENTRY, (s.request_id,)).fetchone()
                if row is not None:
                    delta = delta_of(row)
                    unsynced = delta is not None and delta.lowers_only()
            try:
                return settle(conn, unsynced)
            except _MustSync:
                return settle(conn, False)

        return self._run(operation, group=True)

    def _op_release(self, request_id: str, failed: bool, at: datetime) -> ThreadWork[None]:
        def operation(conn: sqlite3.Connection) -> None:
            # It gives a reservation back: the commit need not wait for the disk.
            with _immediate(conn, unsynced=self.synchronous == "FULL"):
                row = conn.execute(
                    "UPDATE tta_entries SET state = 'released', ok = CASE WHEN ? THEN 0 END"
                    " WHERE request_id = ? AND state = 'reserved'"
                    " RETURNING scope, month, reserved_micros, model, tier",
                    (failed, request_id),
                ).fetchone()
                if row is None:
                    known = conn.execute(
                        "SELECT 1 FROM tta_entries WHERE request_id = ?", (request_id,)
                    ).fetchone()
                    if known is None:
                        raise UnknownEntry
                    return
                scope, month, reserved, model, tier = row
                conn.execute(MOVE_MONEY, BudgetDelta(reserved=-reserved).params(scope, month))
                if failed:
                    failure = call_outcome(model, tier, at, ok=False, latency_s=None)
                    conn.execute(COUNT_CALL, failure)

        return self._run(operation, group=True)

    async def _op_correct(
        self, request_id: str, actual: int, actor: str, reason: str, at: datetime
    ) -> None:
        def operation(conn: sqlite3.Connection) -> None:
            with _immediate(conn):
                row = conn.execute(
                    "SELECT state, scope, month, actual_micros, measured, unconfirmed"
                    " FROM tta_entries WHERE request_id = ?",
                    (request_id,),
                ).fetchone()
                if row is None or row[0] != "settled":
                    raise UnknownEntry
                _, scope, month, old_actual, measured, unconfirmed = row
                delta = correction_delta(
                    old_actual=old_actual,
                    old_measured=bool(measured),
                    old_unconfirmed=bool(unconfirmed),
                    actual=actual,
                )
                conn.execute(
                    "UPDATE tta_entries SET actual_micros = ?, measured = 1, unconfirmed = 0"
                    " WHERE request_id = ?",
                    (actual, request_id),
                )
                conn.execute(MOVE_MONEY, delta.params(scope, month))
                change = audit(
                    at.timestamp(), actor, "correct", scope, old=old_actual, new=actual,
                    reason=reason, request_id=request_id,
                )  # fmt: skip
                conn.execute(AUDIT, change)

        await self._run(operation)

    async def _op_charge_expired(self, now: datetime | None) -> int:
        at = _epoch(now)

        def operation(conn: sqlite3.Connection) -> int:
            with _immediate(conn):
                return _charge_expired(conn, at, None)

        return await self._run(operation)

    async def _op_take_quota(self, model: str, windows: QuotaWindows) -> bool:
        def operation(conn: sqlite3.Connection) -> bool:
            conn.execute("BEGIN IMMEDIATE")
            try:
                for kind, start, limit in windows.counted:
                    window = {
                        "model": model,
                        "kind": kind,
                        "start": start.timestamp(),
                        "limit": limit,
                    }
                    if conn.execute(TAKE_QUOTA, window).rowcount != 1:
                        conn.execute("ROLLBACK")  # full: undo what another window counted
                        return False
                conn.execute(
                    "DELETE FROM tta_quota_counters WHERE model = ? AND ("
                    " (window_kind = 'minute' AND window_start < ?)"
                    " OR (window_kind = 'day' AND window_start < ?))",
                    (model, windows.keep_minute_from.timestamp(),
                     windows.keep_day_from.timestamp()),
                )  # fmt: skip
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            return True

        return await self._run(operation, group=True)

    async def _op_summary(self, scope: str, month: str, now: datetime | None) -> SpendSummary:
        at = _epoch(now)
        return await self._run(lambda conn: _summary_now(conn, scope, month, at), group=True)

    async def _op_model_days(
        self, models: list[str], tier: str | None, since_day: int
    ) -> list[tuple[Any, ...]]:
        return await self._run(
            lambda conn: _model_days(conn, (models, tier, since_day)), group=True
        )

    async def _op_preflight(
        self, scope: str, month: str, now: datetime | None, days: DaysQuery, tried: TriedQuery
    ) -> tuple[SpendSummary, list[tuple[Any, ...]], list[str] | None]:
        at = _epoch(now)

        def reads(
            conn: sqlite3.Connection, summary: SpendSummary
        ) -> tuple[SpendSummary, list[tuple[Any, ...]], list[str] | None]:
            rows = _model_days(conn, days)
            if tried is None:
                return summary, rows, None
            params = {"correlation_id": tried[0], "since": tried[1].timestamp()}
            return summary, rows, [row[0] for row in conn.execute(TRIED_MODELS, params)]

        def here(
            conn: sqlite3.Connection,
        ) -> tuple[SpendSummary, list[tuple[Any, ...]], list[str] | None] | None:
            if conn.execute(_ANY_EXPIRED, (at, scope)).fetchone() is not None:
                return None  # leases to charge first: a write, the worker's
            return reads(conn, _summary(conn, scope, month))

        if self._conn is not None:  # migrated: the file is there, in WAL mode
            answer = self._readers.read(here)
            if answer is not None:
                return answer
        return await self._run(
            lambda conn: reads(conn, _summary_now(conn, scope, month, at)), group=True
        )
