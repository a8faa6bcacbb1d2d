"""The spend ledger's semantics, the same on SQLite and PostgreSQL.

Each test runs on both backends: SQLite in a fresh file, PostgreSQL in a fresh schema of
a database this run created (see ``postgres_for_tests``). Time is injected (``now=``).
"""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

import postgres_for_tests
from tta_dev_integrations.llm.budget import open_ledger
from tta_dev_integrations.llm.budget.ledger import (
    BudgetExceededError,
    Justification,
    Ledger,
    LedgerUnavailableError,
)
from tta_dev_integrations.llm.budget.migrations import MIGRATIONS, apply_sqlite
from tta_dev_integrations.llm.budget.postgres import PostgresLedger, masked_url
from tta_dev_integrations.llm.budget.sqlite import SQLiteLedger, default_ledger_path

MONTH = "2026-11"
T0 = datetime(2026, 11, 24, 12, 0, 0, tzinfo=UTC)


@dataclass
class Backend:
    name: str
    target: str  # a file path (sqlite) or a URL (postgres)

    def open(self) -> Ledger:
        if self.name == "sqlite":
            return SQLiteLedger(self.target)
        return PostgresLedger(self.target)

    def migration_rows(self) -> list[tuple[int, str]]:
        query = "SELECT position, name FROM tta_migrations ORDER BY position"
        if self.name == "sqlite":
            with closing(sqlite3.connect(self.target)) as conn:
                return [(int(p), str(n)) for p, n in conn.execute(query)]
        with psycopg.connect(self.target) as conn:
            return [(int(p), str(n)) for p, n in conn.execute(query)]


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    with postgres_for_tests.test_database() as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.needs("postgresql"))])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "sqlite":
        yield Backend("sqlite", str(tmp_path / "ledger.db"))
        return
    database = request.getfixturevalue("postgres_database")
    with postgres_for_tests.schema(database) as url:
        yield Backend("postgres", url)


@pytest.fixture
async def ledger(backend: Backend) -> AsyncIterator[Ledger]:
    opened = backend.open()
    yield opened
    await opened.close()


async def reserve(
    ledger: Ledger,
    request_id: str,
    amount: int,
    *,
    scope: str = "team",
    now: datetime = T0,
    lease_s: float = 600.0,
    model: str = "paid-model",
    correlation_id: str = "",
) -> None:
    await ledger.reserve(
        request_id=request_id,
        scope=scope,
        month=MONTH,
        amount_micros=amount,
        model=model,
        provider="vendor",
        lease_s=lease_s,
        correlation_id=correlation_id,
        now=now,
    )


async def free_call(
    ledger: Ledger,
    request_id: str,
    model: str,
    *,
    ok: bool = True,
    now: datetime = T0,
    correlation_id: str = "",
    latency_s: float | None = None,
) -> None:
    await ledger.record_free(
        request_id=request_id,
        scope="team",
        month=MONTH,
        model=model,
        provider="local",
        ok=ok,
        correlation_id=correlation_id,
        latency_s=latency_s,
        now=now,
    )


# -- reserve -----------------------------------------------------------------------


async def test_both_backends_are_ledgers(ledger: Ledger) -> None:
    assert isinstance(ledger, Ledger)


async def test_a_reservation_within_the_limit_is_set_aside_with_its_lease(
    ledger: Ledger,
) -> None:
    await ledger.set_limit("team", 1_000)
    reason = Justification("needs long context", ("free-a", "free-b"), "+20% accuracy")
    reservation = await ledger.reserve(
        request_id="r1",
        scope="team",
        month=MONTH,
        amount_micros=400,
        model="paid-model",
        provider="vendor",
        lease_s=90,
        coder="claude-code",
        profile="careful",
        correlation_id="job-7",
        justification=reason,
        justification_verified=True,
        now=T0,
    )
    assert reservation.request_id == "r1"
    assert reservation.amount_micros == 400
    assert reservation.lease_expires_at == T0 + timedelta(seconds=90)
    summary = await ledger.summary("team", MONTH, now=T0)
    assert (summary.limit_micros, summary.spent_micros, summary.reserved_micros) == (1_000, 0, 400)
    assert summary.remaining_micros == 600
    [entry] = await ledger.entries("team", MONTH)
    assert entry.state == "reserved"
    assert (entry.model, entry.provider, entry.coder, entry.profile) == (
        "paid-model",
        "vendor",
        "claude-code",
        "careful",
    )
    assert entry.correlation_id == "job-7"
    assert entry.justification == reason
    assert entry.justification_verified is True
    assert entry.created_at == T0
    assert entry.extra["lease_expires_at"] == T0 + timedelta(seconds=90)


async def test_a_reservation_over_the_limit_is_refused_naming_what_remains(
    ledger: Ledger,
) -> None:
    await ledger.set_limit("team", 1_000)
    await reserve(ledger, "r1", 700)
    with pytest.raises(BudgetExceededError) as refused:
        await reserve(ledger, "r2", 400)
    assert refused.value.remaining_micros == 300
    assert refused.value.needed_micros == 400
    assert (refused.value.scope, refused.value.month) == ("team", MONTH)
    assert "$0.000300 left" in str(refused.value)
    summary = await ledger.summary("team", MONTH, now=T0)
    assert summary.reserved_micros == 700
    assert [e.request_id for e in await ledger.entries("team", MONTH)] == ["r1"]
    await reserve(ledger, "r3", 300)  # exactly what remains still fits
    assert (await ledger.summary("team", MONTH, now=T0)).remaining_micros == 0


async def test_a_scope_without_a_limit_is_unlimited(ledger: Ledger) -> None:
    await reserve(ledger, "big", 10**12, scope="nobody-set-a-limit")
    summary = await ledger.summary("nobody-set-a-limit", MONTH, now=T0)
    assert summary.limit_micros is None
    assert summary.reserved_micros == 10**12
    assert summary.remaining_micros is None


async def test_a_limit_can_be_set_lowered_and_cleared(ledger: Ledger) -> None:
    await reserve(ledger, "r1", 500)  # first use: unlimited
    await ledger.set_limit("team", 400)  # below what is reserved: blocks new ones
    with pytest.raises(BudgetExceededError) as refused:
        await reserve(ledger, "r2", 1)
    assert refused.value.remaining_micros == 0
    await ledger.set_limit("team", None)
    await reserve(ledger, "r2", 1)
    with pytest.raises(ValueError, match="limit_micros"):
        await ledger.set_limit("team", -1)


async def test_an_unknown_scope_has_an_empty_summary(ledger: Ledger) -> None:
    summary = await ledger.summary("never-seen", MONTH, now=T0)
    assert (summary.limit_micros, summary.spent_micros, summary.reserved_micros) == (None, 0, 0)
    assert await ledger.entries("never-seen", MONTH) == []


async def test_a_request_id_is_used_once(ledger: Ledger) -> None:
    await reserve(ledger, "r1", 100)
    with pytest.raises(ValueError, match="already in the ledger"):
        await reserve(ledger, "r1", 200)
    assert (await ledger.summary("team", MONTH, now=T0)).reserved_micros == 100


async def test_negative_amounts_are_refused(ledger: Ledger) -> None:
    with pytest.raises(ValueError, match="amount_micros"):
        await reserve(ledger, "r1", -1)
    await reserve(ledger, "r1", 10)
    with pytest.raises(ValueError, match="actual_micros"):
        await ledger.settle("r1", -5)


# -- settle and release ----------------------------------------------------------------


async def test_settling_twice_counts_once(ledger: Ledger) -> None:
    await ledger.set_limit("team", 1_000)
    await reserve(ledger, "r1", 500)
    for _ in range(2):
        await ledger.settle("r1", 300, ok=True, latency_s=1.5, input_tokens=10, output_tokens=20)
    summary = await ledger.summary("team", MONTH, now=T0)
    assert (summary.spent_micros, summary.reserved_micros) == (300, 0)
    [entry] = await ledger.entries("team", MONTH)
    assert entry.state == "settled"
    assert (entry.reserved_micros, entry.actual_micros) == (500, 300)
    assert (entry.ok, entry.latency_s, entry.input_tokens, entry.output_tokens) == (
        True,
        1.5,
        10,
        20,
    )
    assert "settled_at" in entry.extra


async def test_a_settlement_above_the_reservation_is_recorded_and_blocks_the_next(
    ledger: Ledger,
) -> None:
    await ledger.set_limit("team", 1_000)
    await reserve(ledger, "r1", 500)
    await ledger.settle("r1", 900)  # the truth, though it is more than was set aside
    summary = await ledger.summary("team", MONTH, now=T0)
    assert (summary.spent_micros, summary.reserved_micros) == (900, 0)
    with pytest.raises(BudgetExceededError) as refused:
        await reserve(ledger, "r2", 200)
    assert refused.value.remaining_micros == 100
    await reserve(ledger, "r3", 100)


async def test_release_gives_the_reservation_back_once(ledger: Ledger) -> None:
    await ledger.set_limit("team", 1_000)
    await reserve(ledger, "r1", 600)
    await reserve(ledger, "r2", 300)
    await ledger.release("r1")
    await ledger.release("r1")
    summary = await ledger.summary("team", MONTH, now=T0)
    assert (summary.spent_micros, summary.reserved_micros) == (0, 300)
    states = {e.request_id: e.state for e in await ledger.entries("team", MONTH)}
    assert states == {"r1": "released", "r2": "reserved"}
    await ledger.settle("r2", 250)
    await ledger.release("r2")  # settled: releasing changes nothing
    summary = await ledger.summary("team", MONTH, now=T0)
    assert (summary.spent_micros, summary.reserved_micros) == (250, 0)


async def test_a_settlement_after_release_still_records_the_money_spent(
    ledger: Ledger,
) -> None:
    await reserve(ledger, "r1", 600)
    await ledger.release("r1")
    await ledger.settle("r1", 400)
    await ledger.settle("r1", 400)
    summary = await ledger.summary("team", MONTH, now=T0)
    assert (summary.spent_micros, summary.reserved_micros) == (400, 0)
    [entry] = await ledger.entries("team", MONTH)
    assert (entry.state, entry.actual_micros) == ("settled", 400)


async def test_settling_or_releasing_an_unknown_request_says_so(ledger: Ledger) -> None:
    with pytest.raises(ValueError, match="no reservation"):
        await ledger.settle("nope", 1)
    with pytest.raises(ValueError, match="no reservation"):
        await ledger.release("nope")


# -- leases ----------------------------------------------------------------------------


async def test_an_expired_lease_is_charged_unconfirmed_before_the_next_reservation(
    ledger: Ledger,
) -> None:
    # A worker died after sending its call: the provider billed it, so the reservation
    # is charged (not released) and marked unconfirmed; only what is left stays free.
    await ledger.set_limit("team", 1_000)
    await reserve(ledger, "crashed", 800, now=T0, lease_s=60)
    with pytest.raises(BudgetExceededError):
        await reserve(ledger, "r2", 500, now=T0 + timedelta(seconds=59))
    with pytest.raises(BudgetExceededError) as refused:
        await reserve(ledger, "r3", 500, now=T0 + timedelta(seconds=61))
    assert refused.value.remaining_micros == 200
    await reserve(ledger, "r4", 200, now=T0 + timedelta(seconds=62))
    summary = await ledger.summary("team", MONTH, now=T0 + timedelta(seconds=62))
    assert (summary.spent_micros, summary.reserved_micros) == (800, 200)
    assert (summary.unconfirmed_micros, summary.measured_micros) == (800, 0)
    entries = {e.request_id: e for e in await ledger.entries("team", MONTH)}
    crashed = entries["crashed"]
    assert (crashed.state, crashed.actual_micros, crashed.unconfirmed) == ("settled", 800, True)
    assert not crashed.measured


async def test_charge_expired_charges_every_scope_once(ledger: Ledger) -> None:
    await reserve(ledger, "a1", 100, scope="a", now=T0, lease_s=10)
    await reserve(ledger, "a2", 200, scope="a", now=T0, lease_s=1_000)
    await reserve(ledger, "b1", 300, scope="b", now=T0, lease_s=10)
    assert await ledger.reclaim_expired(now=T0 + timedelta(seconds=5)) == 0
    assert await ledger.reclaim_expired(now=T0 + timedelta(seconds=11)) == 2
    assert await ledger.reclaim_expired(now=T0 + timedelta(seconds=12)) == 0
    a = await ledger.summary("a", MONTH, now=T0)
    assert (a.reserved_micros, a.spent_micros, a.unconfirmed_micros) == (200, 100, 100)
    b = await ledger.summary("b", MONTH, now=T0)
    assert (b.reserved_micros, b.spent_micros, b.unconfirmed_micros) == (0, 300, 300)
    # The late settlement of the dead worker's call replaces the unconfirmed charge.
    await ledger.settle("b1", 50)
    await ledger.settle("b1", 70)  # settled now: a second settlement changes nothing
    b = await ledger.summary("b", MONTH, now=T0)
    assert (b.spent_micros, b.unconfirmed_micros, b.measured_micros) == (50, 0, 50)


# -- free calls and quotas ---------------------------------------------------------------


async def test_a_free_call_is_recorded_at_zero_cost_once(ledger: Ledger) -> None:
    await ledger.set_limit("team", 1_000)
    for _ in range(2):
        await free_call(ledger, "f1", "free-model", ok=True, latency_s=0.25)
    [entry] = await ledger.entries("team", MONTH)
    assert (entry.state, entry.reserved_micros, entry.actual_micros) == ("free", 0, 0)
    assert (entry.model, entry.provider, entry.ok, entry.latency_s) == (
        "free-model",
        "local",
        True,
        0.25,
    )
    summary = await ledger.summary("team", MONTH, now=T0)
    assert (summary.spent_micros, summary.reserved_micros) == (0, 0)


async def test_quota_counts_per_minute_window(ledger: Ledger) -> None:
    async def take(at: datetime) -> bool:
        return await ledger.take_quota("free-model", per_minute=2, per_day=None, now=at)

    assert await take(T0)
    assert await take(T0 + timedelta(seconds=30))
    assert not await take(T0 + timedelta(seconds=59))
    assert await take(T0 + timedelta(seconds=60))  # the next UTC minute
    assert await take(T0 + timedelta(seconds=61))
    assert not await take(T0 + timedelta(seconds=62))
    # other models have their own windows
    assert await ledger.take_quota("other", per_minute=2, per_day=None, now=T0)


async def test_quota_refusals_count_nothing_and_the_day_rolls_over(ledger: Ledger) -> None:
    async def take(at: datetime) -> bool:
        return await ledger.take_quota("free-model", per_minute=1, per_day=2, now=at)

    assert await take(T0)
    assert not await take(T0)  # the minute is full...
    assert not await take(T0 + timedelta(seconds=1))  # ...and the day was not counted
    assert await take(T0 + timedelta(minutes=1))  # day: 2 of 2
    assert not await take(T0 + timedelta(minutes=2))  # the day is full
    assert not await take(T0 + timedelta(minutes=3))
    tomorrow = T0.replace(hour=0, minute=0) + timedelta(days=1)
    assert await take(tomorrow)


async def test_quota_without_limits_or_with_zero(ledger: Ledger) -> None:
    assert await ledger.take_quota("m", per_minute=None, per_day=None, now=T0)
    assert not await ledger.take_quota("m", per_minute=0, per_day=None, now=T0)
    assert not await ledger.take_quota("m", per_minute=5, per_day=0, now=T0)


# -- what the router learns ----------------------------------------------------------------


async def test_tried_models_within_the_time_window(ledger: Ledger) -> None:
    await free_call(ledger, "old", "free-a", correlation_id="job", now=T0 - timedelta(hours=2))
    await free_call(ledger, "f1", "free-b", ok=False, correlation_id="job", now=T0)
    await free_call(ledger, "f2", "free-b", correlation_id="job", now=T0 + timedelta(seconds=1))
    await reserve(ledger, "p1", 10, model="paid-c", correlation_id="job", now=T0)
    await free_call(ledger, "x", "free-d", correlation_id="other-job", now=T0)
    since = T0 - timedelta(hours=1)
    assert await ledger.tried_models("job", since) == {"free-b", "paid-c"}
    assert await ledger.tried_models("job", T0 - timedelta(hours=3)) == {
        "free-a",
        "free-b",
        "paid-c",
    }
    assert await ledger.tried_models("unknown", since) == set()
    assert await ledger.tried_models("", since) == set()


async def test_feedback_and_model_stats(ledger: Ledger) -> None:
    for i, (ok, latency) in enumerate([(True, 1.0), (True, 2.0), (False, 3.0)]):
        await reserve(ledger, f"p{i}", 100, model="paid-x")
        await ledger.settle(f"p{i}", 50, ok=ok, latency_s=latency)
    await reserve(ledger, "open", 100, model="paid-x")  # not a call yet
    await reserve(ledger, "gone", 100, model="paid-x")
    await ledger.release("gone")  # released: not counted
    await free_call(ledger, "f1", "free-y", ok=True)
    await ledger.record_feedback("p0", True)
    await ledger.record_feedback("p1", False)
    await ledger.record_feedback("p2", True)
    await ledger.record_feedback("p2", False)  # the latest verdict counts
    stats = await ledger.model_stats(["paid-x", "free-y", "never-called"])
    assert set(stats) == {"paid-x", "free-y"}
    paid = stats["paid-x"]
    assert (paid.calls, paid.successes, paid.feedback_good, paid.feedback_bad) == (3, 2, 1, 2)
    assert paid.mean_latency_s == pytest.approx(2.0)
    assert paid.success_rate == pytest.approx(2 / 3)
    free = stats["free-y"]
    assert (free.calls, free.successes, free.feedback_good, free.feedback_bad) == (1, 1, 0, 0)
    assert free.mean_latency_s is None
    assert await ledger.model_stats([]) == {}
    with pytest.raises(ValueError, match="ledger entry"):
        await ledger.record_feedback("nope", True)


async def test_entries_come_oldest_first(ledger: Ledger) -> None:
    await reserve(ledger, "c", 1, now=T0 + timedelta(seconds=2))
    await free_call(ledger, "a", "free-a", now=T0)
    await reserve(ledger, "b", 1, now=T0 + timedelta(seconds=1))
    await reserve(ledger, "elsewhere", 1, scope="other", now=T0)
    assert [e.request_id for e in await ledger.entries("team", MONTH)] == ["a", "b", "c"]
    assert [e.created_at for e in await ledger.entries("team", MONTH)] == [
        T0,
        T0 + timedelta(seconds=1),
        T0 + timedelta(seconds=2),
    ]


# -- migrations ------------------------------------------------------------------------


def test_migration_names_are_unique_and_ordered() -> None:
    names = [m.name for m in MIGRATIONS]
    assert names == sorted(names)
    assert len(set(names)) == len(names)
    assert all(m.sqlite and m.postgres for m in MIGRATIONS)


async def test_migrations_are_recorded_by_name_and_rerunning_changes_nothing(
    backend: Backend, ledger: Ledger
) -> None:
    await ledger.migrate()
    expected = [(i, m.name) for i, m in enumerate(MIGRATIONS, start=1)]
    assert backend.migration_rows() == expected
    await reserve(ledger, "r1", 5)
    await ledger.migrate()
    again = backend.open()
    try:
        await again.migrate()
        assert (await again.summary("team", MONTH, now=T0)).reserved_micros == 5
    finally:
        await again.close()
    assert backend.migration_rows() == expected


async def test_many_ledgers_migrating_at_once_apply_each_migration_once(
    backend: Backend,
) -> None:
    ledgers = [backend.open() for _ in range(6)]
    try:
        await asyncio.gather(*(ledger.migrate() for ledger in ledgers))
    finally:
        for ledger in ledgers:
            await ledger.close()
    assert backend.migration_rows() == [(i, m.name) for i, m in enumerate(MIGRATIONS, start=1)]


def test_apply_sqlite_reports_what_it_applied(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "l.db", isolation_level=None)
    try:
        assert apply_sqlite(conn) == [m.name for m in MIGRATIONS]
        assert apply_sqlite(conn) == []
    finally:
        conn.close()


# -- SQLite specifics ------------------------------------------------------------------


async def test_sqlite_uses_wal_and_full_sync(tmp_path: Path) -> None:
    ledger = SQLiteLedger(tmp_path / "ledger.db")
    await ledger.summary("team", MONTH, now=T0)
    await ledger.close()
    with closing(sqlite3.connect(tmp_path / "ledger.db")) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert ledger.synchronous == "FULL"


async def test_sqlite_default_path_is_under_tta_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TTA_HOME", str(tmp_path / "home"))
    assert default_ledger_path() == tmp_path / "home" / "ledger.db"
    ledger = SQLiteLedger()
    assert ledger.path == tmp_path / "home" / "ledger.db"
    assert not (tmp_path / "home").exists()  # nothing happens before the first call
    await reserve(ledger, "r1", 1)
    await ledger.close()
    assert (tmp_path / "home" / "ledger.db").is_file()


def test_tta_home_defaults_to_dot_tta(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TTA_HOME", raising=False)
    assert default_ledger_path() == Path("~/.tta/ledger.db").expanduser()


async def test_sqlite_in_an_unusable_place_is_unavailable(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    ledger = SQLiteLedger(blocker / "ledger.db")
    with pytest.raises(LedgerUnavailableError) as unavailable:
        await reserve(ledger, "r1", 1)
    message = str(unavailable.value)
    assert str(blocker / "ledger.db") in message
    assert f"{blocker} is a file, not a directory" in message
    assert "TTA_HOME" in message
    assert isinstance(unavailable.value.__cause__, OSError)
    await ledger.close()


async def test_sqlite_file_that_is_not_a_database_is_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    path.write_bytes(b"this is not a database" * 100)
    ledger = SQLiteLedger(path)
    with pytest.raises(LedgerUnavailableError, match="not a database"):
        await ledger.summary("team", MONTH, now=T0)
    await ledger.close()


async def test_sqlite_locked_beyond_the_busy_timeout_is_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    ledger = SQLiteLedger(path, busy_timeout_s=0.2)
    await ledger.migrate()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process holding the write lock
    try:
        with pytest.raises(LedgerUnavailableError, match="locked") as unavailable:
            await reserve(ledger, "r1", 1)
        assert isinstance(unavailable.value.__cause__, sqlite3.OperationalError)
        assert "0.2 s" in str(unavailable.value)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    await reserve(ledger, "r1", 1)  # works again once the lock is gone
    await ledger.close()


# -- PostgreSQL specifics ----------------------------------------------------------------


async def test_postgres_on_a_closed_port_is_unavailable_and_hides_the_password() -> None:
    port = postgres_for_tests.free_port()
    url = f"postgresql://ledger:s3cr%21t-pw@127.0.0.1:{port}/budget"
    ledger = PostgresLedger(url, connect_timeout_s=2)
    assert "s3cr" not in repr(ledger)
    assert ledger.url == f"postgresql://ledger@127.0.0.1:{port}/budget"
    with pytest.raises(LedgerUnavailableError) as unavailable:
        await ledger.summary("team", MONTH, now=T0)
    text = str(unavailable.value)
    assert "s3cr" not in text
    assert f"127.0.0.1:{port}" in text
    assert "PostgreSQL is running" in text
    cause = unavailable.value.__cause__
    assert cause is None or "s3cr" not in str(cause)
    await ledger.close()


@pytest.mark.needs("postgresql")
async def test_postgres_wrong_password_is_unavailable_without_the_password(
    postgres_database: str,
) -> None:
    url = postgres_for_tests.url_with(
        postgres_database, user="no_such_user_x", password="hunter2-secret"
    )
    ledger = PostgresLedger(url, connect_timeout_s=2)
    with pytest.raises(LedgerUnavailableError) as unavailable:
        await ledger.summary("team", MONTH, now=T0)
    assert "hunter2" not in str(unavailable.value)
    assert "hunter2" not in repr(ledger)
    await ledger.close()


def test_masked_url_drops_the_password() -> None:
    assert masked_url("postgresql://u:pw@db.internal:6543/money?sslmode=require") == (
        "postgresql://u@db.internal:6543/money"
    )
    assert "pw" not in masked_url("host=h user=u password=pw dbname=d")


def test_postgres_needs_a_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TTA_LEDGER_URL", raising=False)
    with pytest.raises(ValueError, match="TTA_LEDGER_URL"):
        PostgresLedger()
    monkeypatch.setenv("TTA_LEDGER_URL", "postgresql://u:pw@h/d")
    assert PostgresLedger().url == "postgresql://u@h/d"


# -- choosing a backend ----------------------------------------------------------------


def test_open_ledger_chooses_by_url(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TTA_HOME", str(tmp_path))
    monkeypatch.delenv("TTA_LEDGER_URL", raising=False)
    default = open_ledger()
    assert isinstance(default, SQLiteLedger)
    assert default.path == tmp_path / "ledger.db"
    for url in ("postgresql://u:pw@h/d", "postgres://u@h/d"):
        assert isinstance(open_ledger(url), PostgresLedger)
    monkeypatch.setenv("TTA_LEDGER_URL", "postgresql://u:pw@h:5432/d")
    from_env = open_ledger()
    assert isinstance(from_env, PostgresLedger)
    assert from_env.url == "postgresql://u@h:5432/d"
    sqlite_url = open_ledger(f"sqlite:///{tmp_path}/x.db")
    assert isinstance(sqlite_url, SQLiteLedger)
    assert sqlite_url.path == tmp_path / "x.db"
    plain = open_ledger(str(tmp_path / "y.db"))
    assert isinstance(plain, SQLiteLedger)
    assert plain.path == tmp_path / "y.db"
    with pytest.raises(ValueError, match="mysql"):
        open_ledger("mysql://u@h/d")


def test_importing_the_budget_package_loads_no_backend() -> None:
    code = (
        "import sys, tta_dev_integrations.llm.budget as b; "
        "print([m for m in ('psycopg', 'psycopg_pool', 'sqlite3') if m in sys.modules]); "
        "print(b.SQLiteLedger.__name__, b.PostgresLedger.__name__)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split("\n")[:2] == ["[]", "SQLiteLedger PostgresLedger"]


def test_sqlite_ledgers_opening_a_new_file_together_wait_for_the_wal_switch(
    tmp_path: Path,
) -> None:
    """Six connections switching a fresh file to WAL at once: SQLite answers "database is
    locked" without waiting in about one round in ten; none of 60 rounds may fail."""
    import threading

    failures: list[str] = []
    for round_number in range(60):
        path = tmp_path / f"round-{round_number}" / "ledger.db"
        ledgers = [SQLiteLedger(path) for _ in range(6)]
        start = threading.Barrier(len(ledgers))

        def open_one(ledger: SQLiteLedger, start: threading.Barrier) -> None:
            start.wait()
            try:
                ledger._connect()
            except sqlite3.OperationalError as error:
                failures.append(str(error))

        threads = [threading.Thread(target=open_one, args=(ledger, start)) for ledger in ledgers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for ledger in ledgers:
            asyncio.run(ledger.close())
    assert failures == []
