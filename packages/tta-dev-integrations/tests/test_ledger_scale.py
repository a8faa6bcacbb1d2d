"""What a routed call reads from the ledger does not grow with the scope's history.

The scope's expired leases are looked for on every summary and reservation: among the
open reservations only (an index by scope over them), never by walking the scope's
settled entries. Checked on the query plans over a ledger holding thousands of settled
entries, and on behaviour (an expired lease among them is still charged).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

import postgres_for_tests
from tta_dev_integrations.llm.budget.ledger import Ledger
from tta_dev_integrations.llm.budget.postgres import PostgresLedger
from tta_dev_integrations.llm.budget.sqlite import SQLiteLedger

SCOPE = "team"
MONTH = "2026-11"
T0 = datetime(2026, 11, 24, 12, 0, 0, tzinfo=UTC)
SETTLED = 3_000
COLUMNS = (
    "request_id, scope, month, model, provider, state, reserved_micros, actual_micros,"
    " created_at, settled_at, tier, ok"
)
# The statement a summary runs first, as each backend writes it.
SQLITE_EXPIRED = (
    "SELECT 1 FROM tta_entries WHERE state = 'reserved' AND lease_expires_at < ?"
    " AND scope = ? LIMIT 1"
)


def settled_rows(at: datetime) -> Iterator[tuple[object, ...]]:
    for i in range(SETTLED):
        moment = at - timedelta(minutes=i)
        yield (f"old-{i}", SCOPE, MONTH, "gpt-4o", "openai", "settled", 10, 9, moment,
               moment, "medium", True)  # fmt: skip


def stamp(moment: object) -> float:
    assert isinstance(moment, datetime)
    return moment.timestamp()


async def expired_lease_is_charged(ledger: Ledger) -> None:
    """A lease that ended among thousands of settled entries is charged by the summary."""
    await ledger.reserve(
        request_id="open-1", scope=SCOPE, month=MONTH, amount_micros=500, model="gpt-4o",
        provider="openai", lease_s=60, now=T0,
    )  # fmt: skip
    summary = await ledger.summary(SCOPE, MONTH, now=T0 + timedelta(minutes=5))
    assert summary.reserved_micros == 0
    assert summary.unconfirmed_micros == 500


async def test_sqlite_finds_expired_leases_without_walking_the_history(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    ledger = SQLiteLedger(path)
    await ledger.migrate()
    with closing(sqlite3.connect(path)) as conn, conn:
        rows = ((*row[:8], stamp(row[8]), stamp(row[9]), *row[10:]) for row in settled_rows(T0))
        conn.executemany(f"INSERT INTO tta_entries ({COLUMNS}) VALUES ({', '.join('?' * 12)})",
                         rows)  # fmt: skip
        plan = conn.execute(f"EXPLAIN QUERY PLAN {SQLITE_EXPIRED}", (T0.timestamp(), SCOPE))
        details = " ".join(str(row[-1]) for row in plan)
    assert "tta_entries_open_by_scope" in details, details
    assert "tta_entries_by_scope_month" not in details, details
    await expired_lease_is_charged(ledger)
    await ledger.close()


@pytest.mark.needs("postgresql")
async def test_postgres_finds_expired_leases_without_walking_the_history() -> None:
    with postgres_for_tests.test_database() as database, postgres_for_tests.schema(database) as url:
        ledger = PostgresLedger(url)
        await ledger.migrate()
        with psycopg.connect(url) as conn:
            with conn.cursor().copy(f"COPY tta_entries ({COLUMNS}) FROM STDIN") as copy:
                for row in settled_rows(T0):
                    copy.write_row(row)
            conn.execute("ANALYZE tta_entries")
            plan = conn.execute(
                "EXPLAIN SELECT 1 FROM tta_entries WHERE state = 'reserved'"
                " AND lease_expires_at < %s AND scope = %s LIMIT 1",
                (T0, SCOPE),
            ).fetchall()
        details = " ".join(str(row[0]) for row in plan)
        assert "tta_entries_open_by_scope" in details, details
        await expired_lease_is_charged(ledger)
        await ledger.close()
