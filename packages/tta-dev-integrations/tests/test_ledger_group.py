"""Group commit on the SQLite ledger: transactions that queue up share one COMMIT.

Each keeps its own outcome: a refusal or an error in one rolls back only its own work,
limits hold as if the transactions had run one by one, and nobody learns an outcome
before the shared COMMIT is done. Checked on the statements the connection runs.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ledger_for_tests import MONTH, budgeted, reserve, statements
from tta_dev_integrations.llm.budget.ledger import BudgetExceededError
from tta_dev_integrations.llm.budget.sqlite import SQLiteLedger


@pytest.fixture
async def ledger(tmp_path: Path) -> AsyncIterator[SQLiteLedger]:
    opened = await budgeted(tmp_path / "ledger.db")
    yield opened
    await opened.close()


async def test_concurrent_reservations_share_commits(ledger: SQLiteLedger) -> None:
    ran = statements(ledger)
    await asyncio.gather(*(reserve(ledger, f"r{i}") for i in range(50)))
    commits = ran.count("COMMIT")
    assert 1 <= commits < 25  # 50 alone would be 50
    assert ran.count("SAVEPOINT tta_job") >= 50 - commits
    summary = await ledger.summary("team", MONTH)
    assert summary.reserved_micros == 50 * 700


async def test_a_cap_holds_inside_a_group(ledger: SQLiteLedger) -> None:
    async def one(i: int) -> bool:
        try:
            await reserve(ledger, f"c{i}", 700, cap_micros=5_000)
        except BudgetExceededError:
            return False
        return True

    taken = await asyncio.gather(*(one(i) for i in range(20)))
    assert sum(taken) == 7  # 7 x 700 fits in 5,000; an 8th does not
    assert (await ledger.summary("team", MONTH)).reserved_micros == 4_900


async def test_a_refusal_in_a_group_rolls_back_only_its_own_work(ledger: SQLiteLedger) -> None:
    await reserve(ledger, "taken")
    outcomes = await asyncio.gather(
        *(reserve(ledger, "taken" if i == 5 else f"g{i}") for i in range(10)),
        return_exceptions=True,
    )
    errors = [o for o in outcomes if isinstance(o, BaseException)]
    assert len(errors) == 1
    assert isinstance(errors[0], ValueError)
    assert "already in the ledger" in str(errors[0])
    summary = await ledger.summary("team", MONTH)
    assert summary.reserved_micros == 10 * 700  # "taken" once, and 9 new ones


async def test_a_group_that_fails_as_a_whole_runs_each_alone(ledger: SQLiteLedger) -> None:
    """A constraint breaks the shared transaction: every other job still gets served."""
    await reserve(ledger, "warm-up")

    def forbid(conn: sqlite3.Connection) -> None:
        conn.execute(
            "CREATE TEMP TRIGGER no_bad BEFORE INSERT ON tta_entries"
            " WHEN NEW.request_id = 'bad' BEGIN SELECT RAISE(ABORT, 'refused'); END"
        )

    ledger._call(forbid)
    ran = statements(ledger)
    outcomes = await asyncio.gather(
        *(reserve(ledger, "bad" if i == 3 else f"ok{i}") for i in range(8)),
        return_exceptions=True,
    )
    failed = [i for i, o in enumerate(outcomes) if isinstance(o, BaseException)]
    assert failed == [3]
    assert isinstance(outcomes[3], sqlite3.IntegrityError)
    assert "ROLLBACK" in ran  # the group was rolled back and served again alone
    entries = {e.request_id for e in await ledger.entries("team", MONTH)}
    assert entries == {"warm-up"} | {f"ok{i}" for i in range(8) if i != 3}
    assert (await ledger.summary("team", MONTH)).reserved_micros == 8 * 700


async def test_settlements_and_releases_group_with_reservations(ledger: SQLiteLedger) -> None:
    await asyncio.gather(*(reserve(ledger, f"s{i}") for i in range(20)))
    await asyncio.gather(
        *(ledger.settle(f"s{i}", 300) for i in range(10)),
        *(ledger.release(f"s{i}") for i in range(10, 20)),
        *(reserve(ledger, f"n{i}") for i in range(5)),
    )
    summary = await ledger.summary("team", MONTH)
    assert (summary.spent_micros, summary.reserved_micros) == (3_000, 5 * 700)


async def test_a_lone_transaction_runs_alone(ledger: SQLiteLedger) -> None:
    ran = statements(ledger)
    await reserve(ledger, "alone")
    assert "SAVEPOINT tta_job" not in ran
    assert ran.count("BEGIN IMMEDIATE") == 1
