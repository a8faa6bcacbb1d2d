"""A paid call's lease is renewed while the call runs, and only when a renewal is due."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from tta_dev_integrations.llm.budget.lease import LeaseKeeper
from tta_dev_integrations.llm.budget.ledger import current_month
from tta_dev_integrations.llm.budget.sqlite import SQLiteLedger

MONTH = current_month()


async def reserved(tmp_path: Path, lease_s: float) -> SQLiteLedger:
    ledger = SQLiteLedger(tmp_path / "ledger.db")
    await ledger.reserve(
        request_id="call", scope="team", month=MONTH, amount_micros=500, model="m",
        provider="p", lease_s=lease_s,
    )  # fmt: skip
    return ledger


def lease_end(ledger: SQLiteLedger) -> float:
    with sqlite3.connect(ledger.path) as conn:
        row = conn.execute("SELECT lease_expires_at FROM tta_entries WHERE request_id = 'call'")
        return float(row.fetchone()[0])


async def test_a_call_longer_than_its_lease_keeps_its_reservation(tmp_path: Path) -> None:
    ledger = await reserved(tmp_path, lease_s=0.3)
    keeper = LeaseKeeper(ledger, "call", 0.3, paid=True)
    try:
        await asyncio.sleep(0.75)  # two and a half leases
        assert keeper.renewing
        summary = await ledger.summary("team", MONTH)
        assert (summary.reserved_micros, summary.spent_micros) == (500, 0)
    finally:
        keeper.cancel()
        await ledger.close()


async def test_without_a_keeper_the_lease_ends_and_is_charged(tmp_path: Path) -> None:
    """The control: the same wait with nobody renewing charges the reservation."""
    ledger = await reserved(tmp_path, lease_s=0.3)
    try:
        await asyncio.sleep(0.75)
        summary = await ledger.summary("team", MONTH)
        assert (summary.reserved_micros, summary.unconfirmed_micros) == (0, 500)
    finally:
        await ledger.close()


async def test_a_short_call_runs_nothing(tmp_path: Path) -> None:
    ledger = await reserved(tmp_path, lease_s=30)
    before = lease_end(ledger)
    keeper = LeaseKeeper(ledger, "call", 30, paid=True)
    tasks = len(asyncio.all_tasks())
    await asyncio.sleep(0.05)
    keeper.cancel()
    await asyncio.sleep(0)
    assert not keeper.renewing
    assert len(asyncio.all_tasks()) == tasks  # a timer waited, no task was started
    assert lease_end(ledger) == before  # never renewed
    await ledger.close()


async def test_a_cancelled_keeper_stops_renewing(tmp_path: Path) -> None:
    ledger = await reserved(tmp_path, lease_s=0.3)
    keeper = LeaseKeeper(ledger, "call", 0.3, paid=True)
    try:
        await asyncio.sleep(0.15)  # the first renewal has run
        keeper.cancel()
        await asyncio.sleep(0.5)  # the renewed lease ends too
        summary = await ledger.summary("team", MONTH)
        assert summary.unconfirmed_micros == 500
    finally:
        await ledger.close()


async def test_a_free_call_keeps_nothing(tmp_path: Path) -> None:
    ledger = SQLiteLedger(tmp_path / "ledger.db")
    keeper = LeaseKeeper(ledger, "free-call", 0.01, paid=False)
    await asyncio.sleep(0.05)
    assert not keeper.renewing
    keeper.cancel()
    await ledger.close()
