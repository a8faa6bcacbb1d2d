"""The ledger under load and under crashes: never a cent over the limit, never a lost cent.

- 10,000 reservations of random amounts against one limit, from 8 processes on one
  SQLite file and from 16 connections on PostgreSQL: overspend is exactly $0, the
  budget's total equals the sum of its entries, and every refusal was a real one.
- 25 times, a process reserving and settling in a tight loop is killed with SIGKILL at a
  random moment; after each kill the invariants hold.

Processes are started with ``spawn``; each opens its own ledger.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import queue
import random
import signal
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import postgres_for_tests
from ledger_stress import crash_writer, open_backend, reserve_all, reserve_process, violations
from tta_dev_integrations.llm.budget.ledger import Ledger
from tta_dev_integrations.llm.budget.postgres import PostgresLedger

SCOPE = "team"
MONTH = "2026-11"
RESERVATIONS = 10_000
ROUNDS = 25

SPAWN = multiprocessing.get_context("spawn")


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    with postgres_for_tests.test_database() as url:
        yield url


@pytest.fixture
def postgres_url(postgres_database: str) -> Iterator[str]:
    with postgres_for_tests.schema(postgres_database) as url:
        yield url


def random_amounts(workers: int, seed: int) -> list[list[int]]:
    rng = random.Random(seed)
    per_worker = RESERVATIONS // workers
    return [[rng.randint(1, 10_000) for _ in range(per_worker)] for _ in range(workers)]


Outcomes = list[tuple[int, int, list[tuple[int, int]]]]  # accepted, micros, refusals


def run_reserving_processes(backend: str, target: str, amounts: Sequence[list[int]]) -> Outcomes:
    """One process per list of amounts, all started at once; their outcomes."""
    ready, results, start = SPAWN.Queue(), SPAWN.Queue(), SPAWN.Event()
    processes = [
        SPAWN.Process(
            target=reserve_process,
            args=(backend, target, SCOPE, MONTH, mine, f"w{i}", ready, start, results),
        )
        for i, mine in enumerate(amounts)
    ]
    for process in processes:
        process.start()
    try:
        for _ in processes:
            ready.get(timeout=60)
        began = time.perf_counter()
        start.set()
        outcomes: Outcomes = []
        while len(outcomes) < len(processes):
            try:
                _, accepted, micros, refusals = results.get(timeout=1)
            except queue.Empty:
                failed = [p.exitcode for p in processes if p.exitcode not in (None, 0)]
                assert not failed, f"a worker died: exit codes {failed}"
                assert time.perf_counter() - began < 300, "workers took over 300 s"
                continue
            outcomes.append((accepted, micros, refusals))
        elapsed = time.perf_counter() - began
        print(f"{backend}: {RESERVATIONS} reservations from {len(processes)} processes "
              f"in {elapsed:.1f} s ({RESERVATIONS / elapsed:.0f}/s)")  # fmt: skip
    finally:
        for process in processes:
            process.join(timeout=30)
            if process.is_alive():  # pragma: no cover - only when the test failed
                process.kill()
                process.join()
        for channel in (ready, results):
            channel.close()
            channel.join_thread()
    return outcomes


async def assert_exact(ledger: Ledger, limit: int, outcomes: Outcomes) -> None:
    summary = await ledger.summary(SCOPE, MONTH)
    entries = await ledger.entries(SCOPE, MONTH)
    accepted = sum(o[0] for o in outcomes)
    accepted_micros = sum(o[1] for o in outcomes)
    refusals = [r for o in outcomes for r in o[2]]
    total = summary.spent_micros + summary.reserved_micros
    overspend = max(0, total - limit)
    print(f"accepted {accepted}, refused {len(refusals)}, reserved ${total / 1e6:.6f} of "
          f"${limit / 1e6:.6f}, overspend ${overspend / 1e6:.6f}")  # fmt: skip
    assert overspend == 0
    assert accepted + len(refusals) == RESERVATIONS
    assert 0 < accepted < RESERVATIONS  # the limit did bite
    assert len(entries) == accepted
    assert total == accepted_micros == sum(e.reserved_micros for e in entries)
    assert all(e.state == "reserved" for e in entries)
    # Each refusal was real: the amount did not fit in what remained then...
    assert all(remaining < needed for needed, remaining in refusals)
    # ...and with reservations only ever growing, what remains at the end is less than
    # the smallest refused amount: no room was wasted.
    assert limit - total < min(needed for needed, _ in refusals)
    assert await violations(ledger, SCOPE, MONTH) == []


async def test_sqlite_10000_reservations_from_8_processes_never_overspend(
    tmp_path: Path,
) -> None:
    path = str(tmp_path / "ledger.db")
    amounts = random_amounts(8, seed=2026)
    limit = sum(map(sum, amounts)) * 3 // 4
    ledger = open_backend("sqlite", path)
    try:
        await ledger.set_limit(SCOPE, limit)
        outcomes = await asyncio.to_thread(run_reserving_processes, "sqlite", path, amounts)
        await assert_exact(ledger, limit, outcomes)
    finally:
        await ledger.close()


@pytest.mark.needs("postgresql")
async def test_postgres_10000_reservations_from_16_connections_never_overspend(
    postgres_url: str,
) -> None:
    amounts = random_amounts(16, seed=2027)
    limit = sum(map(sum, amounts)) * 3 // 4
    ledger = PostgresLedger(postgres_url, min_size=16, max_size=16)
    try:
        await ledger.set_limit(SCOPE, limit)
        began = time.perf_counter()
        results = await asyncio.gather(
            *(reserve_all(ledger, SCOPE, MONTH, mine, f"c{i}") for i, mine in enumerate(amounts))
        )
        elapsed = time.perf_counter() - began
        print(f"postgres: {RESERVATIONS} reservations over 16 connections in {elapsed:.1f} s "
              f"({RESERVATIONS / elapsed:.0f}/s)")  # fmt: skip
        outcomes = [(r.accepted, r.accepted_micros, r.refusals) for r in results]
        await assert_exact(ledger, limit, outcomes)
    finally:
        await ledger.close()


def kill_writers(backend: str, target: str, check: Any) -> tuple[list[str], int]:
    """``ROUNDS`` writers, each SIGKILLed at a random moment, checked after each kill.

    Returns the violations found and how many operations the writers finished.
    """
    rng = random.Random(25)
    found: list[str] = []
    operations = 0
    for round_ in range(ROUNDS):
        progress = SPAWN.Value("i", 0, lock=False)
        writer = SPAWN.Process(
            target=crash_writer, args=(backend, target, SCOPE, MONTH, round_, progress)
        )
        writer.start()
        deadline = time.monotonic() + 60
        while progress.value < 1:  # it is in its loop, writing
            assert writer.is_alive(), f"the writer exited with {writer.exitcode}"
            assert time.monotonic() < deadline, "the writer never started writing"
            time.sleep(0.005)
        time.sleep(rng.uniform(0.0, 0.15))
        os.kill(writer.pid or 0, signal.SIGKILL)
        writer.join()
        assert writer.exitcode == -signal.SIGKILL
        operations += progress.value
        found += [f"round {round_}: {problem}" for problem in check()]
    return found, operations


def test_sqlite_survives_25_sigkills_mid_write(tmp_path: Path) -> None:
    path = str(tmp_path / "ledger.db")

    async def prepare() -> None:
        ledger = open_backend("sqlite", path)
        await ledger.set_limit(SCOPE, 1_000_000)
        await ledger.close()

    async def check_async() -> list[str]:
        ledger = open_backend("sqlite", path)  # a new process would open it like this
        try:
            return await violations(ledger, SCOPE, MONTH)
        finally:
            await ledger.close()

    def check() -> list[str]:
        with closing(sqlite3.connect(path)) as conn:
            integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
        problems = [] if integrity == "ok" else [f"integrity_check: {integrity}"]
        return problems + asyncio.run(check_async())

    asyncio.run(prepare())
    found, operations = kill_writers("sqlite", path, check)
    print(f"sqlite: {ROUNDS} kills, {operations} operations, {len(found)} violations")
    assert found == []
    assert operations >= ROUNDS
    assert asyncio.run(final_state("sqlite", path)) == 0


@pytest.mark.needs("postgresql")
def test_postgres_survives_25_sigkills_mid_write(postgres_url: str) -> None:
    async def prepare() -> None:
        ledger = open_backend("postgres", postgres_url)
        await ledger.set_limit(SCOPE, 1_000_000)
        await ledger.close()

    async def check_async() -> list[str]:
        ledger = open_backend("postgres", postgres_url)
        try:
            return await violations(ledger, SCOPE, MONTH)
        finally:
            await ledger.close()

    asyncio.run(prepare())
    found, operations = kill_writers("postgres", postgres_url, lambda: asyncio.run(check_async()))
    print(f"postgres: {ROUNDS} kills, {operations} operations, {len(found)} violations")
    assert found == []
    assert operations >= ROUNDS
    assert asyncio.run(final_state("postgres", postgres_url)) == 0


async def final_state(backend: str, target: str) -> int:
    """Reclaim every lease the killed writers left; what stays reserved (0 expected)."""
    ledger = open_backend(backend, target)
    try:
        await ledger.reclaim_expired(datetime.now(UTC) + timedelta(seconds=1))  # leases: 0.2 s
        assert await violations(ledger, SCOPE, MONTH) == []
        return (await ledger.summary(SCOPE, MONTH)).reserved_micros
    finally:
        await ledger.close()
