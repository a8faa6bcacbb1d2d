"""Which SQLite commits wait for the disk, and which may ride on the next one.

A commit that can only *lower* what the month shows (a settlement at or under its
reservation, a release, a $0 record, feedback) is not synced by itself: if a power cut
forgets it, the reservation it closed stays open and is charged, unconfirmed, when its
lease ends, which over-counts and never under-counts. The WAL is written in order, so
the next synced commit (every reservation is one) makes it durable too. Everything
else waits for the disk before returning. Checked on the statements the connection
really runs (sqlite3's trace callback), not on a mock.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tta_dev_integrations.llm.budget.ledger import current_month
from tta_dev_integrations.llm.budget.sqlite import SQLiteLedger

SCOPE = "team"
MONTH = current_month()


class Trace:
    """The statements a ledger's connection runs, grouped into transactions."""

    def __init__(self, ledger: SQLiteLedger) -> None:
        self.statements: list[str] = []
        ledger._call(lambda conn: conn.set_trace_callback(self.statements.append))

    def commits(self) -> list[tuple[str, bool]]:
        """(first statement after BEGIN, synced?) for every committed transaction."""
        found: list[tuple[str, bool]] = []
        first, synced = "", True
        for statement in self.statements:
            text = " ".join(statement.split())
            if text == "BEGIN IMMEDIATE":
                first = ""
            elif text.startswith("PRAGMA synchronous = "):
                synced = text.endswith("FULL")
            elif text == "COMMIT":
                found.append((first, synced))
            elif not first:
                first = text
        self.statements.clear()
        return found

    def level_after(self, ledger: SQLiteLedger) -> int:
        return int(ledger._call(lambda conn: conn.execute("PRAGMA synchronous").fetchone()[0]))


@pytest.fixture
async def ledger(tmp_path: Path) -> AsyncIterator[SQLiteLedger]:
    opened = SQLiteLedger(tmp_path / "ledger.db")
    await opened.set_limit(SCOPE, 10_000_000, actor="test", reason="a budget")
    yield opened
    await opened.close()


async def reserve(ledger: SQLiteLedger, request_id: str, micros: int = 1_000) -> None:
    await ledger.reserve(
        request_id=request_id, scope=SCOPE, month=MONTH, amount_micros=micros, model="m",
        provider="p",
    )  # fmt: skip


FULL = 2


async def test_a_reservation_waits_for_the_disk(ledger: SQLiteLedger) -> None:
    trace = Trace(ledger)
    await reserve(ledger, "r1")
    assert [synced for _, synced in trace.commits()] == [True]
    assert trace.level_after(ledger) == FULL


async def test_a_settlement_under_its_reservation_rides_on_the_next_commit(
    ledger: SQLiteLedger,
) -> None:
    await reserve(ledger, "r1")
    trace = Trace(ledger)
    await ledger.settle("r1", 600)
    assert [synced for _, synced in trace.commits()] == [False]
    assert trace.level_after(ledger) == FULL  # the connection is back to FULL
    await reserve(ledger, "r2")
    assert [synced for _, synced in trace.commits()] == [True]
    summary = await ledger.summary(SCOPE, MONTH)
    assert (summary.spent_micros, summary.reserved_micros) == (600, 1_000)


async def test_a_settlement_at_its_reservation_rides_too(ledger: SQLiteLedger) -> None:
    await reserve(ledger, "r1")
    trace = Trace(ledger)
    await ledger.settle("r1", 1_000)
    assert [synced for _, synced in trace.commits()] == [False]


async def test_a_settlement_over_its_reservation_waits_for_the_disk(
    ledger: SQLiteLedger,
) -> None:
    await reserve(ledger, "r1")
    trace = Trace(ledger)
    await ledger.settle("r1", 1_001)  # forgetting it would under-count by 1 micro
    assert [synced for _, synced in trace.commits()] == [True]


async def test_a_released_entry_settled_after_all_waits_for_the_disk(
    ledger: SQLiteLedger,
) -> None:
    await reserve(ledger, "r1")
    await ledger.release("r1")
    trace = Trace(ledger)
    await ledger.settle("r1", 10)  # the month had freed it all: forgetting it under-counts
    assert [synced for _, synced in trace.commits()] == [True]
    assert (await ledger.summary(SCOPE, MONTH)).spent_micros == 10


async def test_a_release_a_free_record_and_feedback_ride_on_the_next_commit(
    ledger: SQLiteLedger,
) -> None:
    await reserve(ledger, "r1")
    trace = Trace(ledger)
    await ledger.release("r1")
    await ledger.record_free(
        request_id="f1", scope=SCOPE, month=MONTH, model="free", provider="p", ok=True
    )
    await ledger.record_feedback("f1", True)
    assert [synced for _, synced in trace.commits()] == [False, False, False]
    assert trace.level_after(ledger) == FULL


async def test_limits_and_corrections_wait_for_the_disk(ledger: SQLiteLedger) -> None:
    await reserve(ledger, "r1")
    await ledger.settle("r1", 500)
    trace = Trace(ledger)
    await ledger.set_limit(SCOPE, 20_000_000, actor="test", reason="more")
    await ledger.correct("r1", 400, reason="the bill", actor="test")
    assert [synced for _, synced in trace.commits()] == [True, True]


async def test_a_normal_ledger_never_switches_to_full(tmp_path: Path) -> None:
    ledger = SQLiteLedger(tmp_path / "ledger.db", synchronous="NORMAL")
    try:
        await ledger.set_limit(SCOPE, 10_000, actor="test", reason="a budget")
        trace = Trace(ledger)
        await reserve(ledger, "r1")
        await ledger.settle("r1", 10)
        assert not any("FULL" in statement for statement in trace.statements)
        assert trace.level_after(ledger) == 1
    finally:
        await ledger.close()


async def test_a_failed_settlement_leaves_the_connection_synced(
    ledger: SQLiteLedger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A settlement that fails must not leave later reservations unsynced."""
    await reserve(ledger, "r1")
    await reserve(ledger, "r2")

    def fail_commits(conn: sqlite3.Connection) -> None:
        conn.execute("CREATE TEMP TRIGGER no_settle BEFORE UPDATE ON tta_budgets BEGIN"
                     " SELECT RAISE(ABORT, 'disk full'); END")  # fmt: skip

    ledger._call(fail_commits)
    with pytest.raises(sqlite3.IntegrityError):
        await ledger.settle("r1", 10)
    ledger._call(lambda conn: conn.execute("DROP TRIGGER temp.no_settle"))
    trace = Trace(ledger)
    assert trace.level_after(ledger) == FULL
    await ledger.settle("r2", 10)
    await reserve(ledger, "r3")
    assert [synced for _, synced in trace.commits()] == [False, True]


async def test_an_entry_released_between_the_read_and_the_lock_is_settled_synced(
    ledger: SQLiteLedger,
) -> None:
    """The settlement reads the entry before taking the lock; the lock's view decides."""
    await reserve(ledger, "r1")
    other = sqlite3.connect(ledger.path, isolation_level=None, check_same_thread=False)
    statements: list[str] = []

    def release_after_the_read(statement: str) -> None:
        statements.append(statement)
        if statement == "PRAGMA synchronous = NORMAL":
            # Another process gives the reservation back after the first read.
            other.execute("BEGIN IMMEDIATE")
            other.execute("UPDATE tta_entries SET state = 'released' WHERE request_id = 'r1'")
            other.execute(
                "UPDATE tta_budgets SET reserved_micros = reserved_micros - 1000"
                " WHERE scope = ? AND month = ?",
                (SCOPE, MONTH),
            )
            other.execute("COMMIT")

    ledger._call(lambda conn: conn.set_trace_callback(release_after_the_read))
    try:
        await ledger.settle("r1", 700)
    finally:
        other.close()
    pragmas = [s for s in statements if s.startswith("PRAGMA synchronous")]
    commits = [s for s in statements if s == "COMMIT"]
    assert pragmas == ["PRAGMA synchronous = NORMAL", "PRAGMA synchronous = FULL"]
    assert len(commits) == 1  # the unsynced attempt rolled back; the synced one committed
    assert statements.index("COMMIT") > statements.index("PRAGMA synchronous = FULL")
    summary = await ledger.summary(SCOPE, MONTH)
    assert (summary.spent_micros, summary.reserved_micros) == (700, 0)
