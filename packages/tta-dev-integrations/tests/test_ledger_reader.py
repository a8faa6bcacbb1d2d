"""The SQLite ledger's preflight reads on the caller's thread, without waiting.

In WAL mode a reader never waits for a writer, so the router's preflight needs no
worker thread: it reads the last committed month on a read-only connection of its own.
Leases to charge (a write) and anything that would make it wait send it to a worker.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ledger_for_tests import MONTH, budgeted, count_trips
from ledger_for_tests import reserve as reserve_for
from tta_dev_integrations.llm.budget.sqlite import SQLiteLedger


@pytest.fixture
async def ledger(tmp_path: Path) -> AsyncIterator[SQLiteLedger]:
    opened = await budgeted(tmp_path / "ledger.db")
    yield opened
    await opened.close()


async def reserve(ledger: SQLiteLedger, request_id: str, **more: Any) -> None:
    await reserve_for(ledger, request_id, tier="low", correlation_id="c1", **more)


async def test_a_preflight_reads_here_what_the_worker_would_read(ledger: SQLiteLedger) -> None:
    await reserve(ledger, "a")
    await ledger.settle("a", 500, latency_s=0.2)
    trips = count_trips(ledger)
    seen = await ledger.preflight(
        "team", MONTH, ["m"], "low", correlation_id="c1",
        tried_since=datetime.now(UTC) - timedelta(hours=1),
    )  # fmt: skip
    assert trips == [0]
    assert seen.summary == await ledger.summary("team", MONTH)
    assert dict(seen.evidence) == await ledger.routing_evidence(["m"], "low")
    assert seen.evidence["m"].calls == 1
    assert seen.tried == frozenset({"m"})


async def test_a_lease_to_charge_sends_the_preflight_to_a_worker(ledger: SQLiteLedger) -> None:
    await reserve(ledger, "short", lease_s=0.05)
    await asyncio.sleep(0.1)
    trips = count_trips(ledger)
    seen = await ledger.preflight("team", MONTH, ["m"], "low")
    assert trips == [1]
    assert (seen.summary.reserved_micros, seen.summary.unconfirmed_micros) == (0, 700)


async def test_a_preflight_does_not_wait_for_a_writer(ledger: SQLiteLedger) -> None:
    """Another process holds the write lock with changes not committed yet."""
    await reserve(ledger, "a")
    other = sqlite3.connect(ledger.path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    other.execute("UPDATE tta_budgets SET reserved_micros = reserved_micros + 5")
    try:
        started = time.perf_counter()
        seen = await ledger.preflight("team", MONTH, ["m"], "low")
        assert time.perf_counter() - started < 0.5  # the busy timeout is 10 s
        assert seen.summary.reserved_micros == 700  # the committed state
    finally:
        other.execute("ROLLBACK")
        other.close()


async def test_without_read_only_access_the_worker_answers(
    ledger: SQLiteLedger, monkeypatch: pytest.MonkeyPatch
) -> None:
    await reserve(ledger, "a")
    await ledger.close()

    def refuse(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        raise sqlite3.OperationalError("unable to open database file")

    monkeypatch.setattr(ledger._readers, "_connect", refuse)
    trips = count_trips(ledger)
    seen = await ledger.preflight("team", MONTH, ["m"], "low")
    assert trips == [1]
    assert seen.summary.reserved_micros == 700
    await ledger.preflight("team", MONTH, ["m"], "low")
    assert trips == [2]


@pytest.mark.parametrize("name", ["ledger.db", "a dir #1?/ledger %20.db"])
async def test_a_relative_or_odd_path_reads_here_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    monkeypatch.chdir(tmp_path)
    ledger = SQLiteLedger(name)
    try:
        await reserve(ledger, "a")
        trips = count_trips(ledger)
        seen = await ledger.preflight("team", MONTH, ["m"], "low")
        assert trips == [0]
        assert seen.summary.reserved_micros == 700
    finally:
        await ledger.close()
