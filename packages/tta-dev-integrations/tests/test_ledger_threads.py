"""The SQLite ledger's transactions run in worker threads that finish them regardless.

A caller cancelled before its transaction reached a worker changed nothing; one
cancelled while the worker ran it finds the outcome (a reservation is given back, a
settlement stays). No task or shield is spent per call for that.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import multiprocessing.connection
import threading
from pathlib import Path

import pytest

from tta_dev_integrations.llm.budget import sqlite as sqlite_ledger
from tta_dev_integrations.llm.budget.ledger import current_month
from tta_dev_integrations.llm.budget.sqlite import SQLiteLedger

MONTH = current_month()


async def reserve(ledger: SQLiteLedger, request_id: str, micros: int) -> None:
    await ledger.reserve(
        request_id=request_id, scope="team", month=MONTH, amount_micros=micros, model="m",
        provider="p",
    )  # fmt: skip


async def test_a_reservation_cancelled_before_a_worker_took_it_changes_nothing(
    tmp_path: Path,
) -> None:
    ledger = SQLiteLedger(tmp_path / "ledger.db")
    release = threading.Event()
    pool = sqlite_ledger._workers()
    try:
        await reserve(ledger, "warm-up", 1)
        busy = [pool.submit(release.wait, 10) for _ in range(pool._max_workers)]
        reserving = asyncio.create_task(reserve(ledger, "queued", 700))
        await asyncio.sleep(0.05)  # queued behind the busy workers
        reserving.cancel()
        with pytest.raises(asyncio.CancelledError):
            await reserving
        release.set()
        for future in busy:
            future.result(5)
        entries = {e.request_id for e in await ledger.entries("team", MONTH)}
        summary = await ledger.summary("team", MONTH)
        assert entries == {"warm-up"}
        assert summary.reserved_micros == 1
    finally:
        release.set()
        await ledger.close()


def _child(path: str, answer: multiprocessing.connection.Connection) -> None:
    async def run() -> int:
        ledger = SQLiteLedger(path)
        await reserve(ledger, "from-the-child", 5)
        summary = await ledger.summary("team", MONTH)
        await ledger.close()
        return summary.reserved_micros

    answer.send(asyncio.run(run()))


async def test_a_forked_child_gets_workers_of_its_own(tmp_path: Path) -> None:
    """The parent's worker threads do not exist in a forked child: it must start its own."""
    ledger = SQLiteLedger(tmp_path / "ledger.db")
    await reserve(ledger, "from-the-parent", 1)  # the parent's pool has idle workers now
    fork = multiprocessing.get_context("fork")
    ours, theirs = fork.Pipe()
    child = fork.Process(target=_child, args=(str(ledger.path), theirs))
    child.start()
    try:
        assert await asyncio.to_thread(ours.poll, 20), "the child hung on the parent's pool"
        assert ours.recv() == 6
    finally:
        child.join(5)
        if child.is_alive():
            child.kill()
        await ledger.close()
