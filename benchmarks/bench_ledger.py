"""How many reservations per second the spend ledger takes, on SQLite and PostgreSQL.

For each backend:

  a. reserve alone, sequential (one caller, one connection)
  b. reserve + settle pairs, sequential
  c. reserve alone, concurrent: SQLite from ``--processes`` processes (8) on one file,
     PostgreSQL from ``--connections`` asyncio tasks (16) over a pool of as many
     connections; every caller reserves against the same scope's budget row
  d. reserve + settle pairs, concurrent, as in (c)

and, for context, (a) on SQLite with ``synchronous=NORMAL`` (the ledger uses ``FULL``).
Every operation is durable (committed) before the next starts. Each figure is the best
of ``repeats`` runs of ``ops`` operations, in operations (or pairs) per second.

SQLite runs in a temporary directory. PostgreSQL: ``--postgres-url``, else
``TTA_BENCH_POSTGRES_URL``, else the server on 127.0.0.1:5432 (user postgres or root);
the benchmark creates its own database (``tta_bench_<random>``) and drops it. Without a
server the PostgreSQL rows are reported as skipped.

Usage: ``python benchmarks/bench_ledger.py [--quick] [--json FILE]``.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path
from typing import Any

from machine import describe_machine
from report import benchmark_arguments
from tta_dev_integrations.llm.budget.ledger import Ledger
from tta_dev_integrations.llm.budget.sqlite import SQLiteLedger

MONTH = "2026-11"


@dataclass(frozen=True)
class Settings:
    ops: int  # operations (or pairs) per run
    repeats: int  # runs per measurement; the best counts
    processes: int  # SQLite's concurrent callers
    connections: int  # PostgreSQL's concurrent callers (and pool size)


FULL = Settings(ops=3000, repeats=3, processes=8, connections=16)
QUICK = Settings(ops=200, repeats=1, processes=4, connections=8)


@dataclass
class Result:
    key: str
    label: str
    backend: str
    callers: int
    per_second: float  # best of the runs
    median_per_second: float
    ops: int
    runs: int


# -- one caller ----------------------------------------------------------------------


async def reserve_loop(ledger: Ledger, scope: str, n: int, tag: str, settle: bool) -> None:
    for i in range(n):
        request_id = f"{tag}-{i}"
        await ledger.reserve(
            request_id=request_id,
            scope=scope,
            month=MONTH,
            amount_micros=1_000,
            model="paid-model",
            provider="vendor",
        )
        if settle:
            await ledger.settle(request_id, 900, latency_s=0.5, input_tokens=10, output_tokens=5)


async def timed(job: Awaitable[object]) -> float:
    """Seconds to run ``job`` (a coroutine does nothing until awaited)."""
    start = time.perf_counter()
    await job
    return time.perf_counter() - start


def tag() -> str:
    return uuid.uuid4().hex[:10]


# -- SQLite ----------------------------------------------------------------------------


def sqlite_process(
    path: str, scope: str, n: int, settle: bool, ready: Any, start: Any, done: Any
) -> None:
    """A concurrent caller: its own ledger, started with the others by ``start``."""

    async def main() -> None:
        ledger = SQLiteLedger(path)
        await ledger.summary(scope, MONTH)  # open and migrate before the start
        ready.put(1)
        await asyncio.to_thread(start.wait)
        await reserve_loop(ledger, scope, n, tag(), settle)
        await ledger.close()

    asyncio.run(main())
    done.put(1)


def sqlite_concurrent(path: str, settings: Settings, settle: bool) -> float:
    """Seconds for ``settings.processes`` processes to do ``settings.ops`` in all."""
    spawn = multiprocessing.get_context("spawn")
    ready, done, start = spawn.Queue(), spawn.Queue(), spawn.Event()
    scope = f"bench-{tag()}"
    each = settings.ops // settings.processes
    processes = [
        spawn.Process(target=sqlite_process, args=(path, scope, each, settle, ready, start, done))
        for _ in range(settings.processes)
    ]
    for process in processes:
        process.start()
    for _ in processes:
        ready.get(timeout=120)
    began = time.perf_counter()
    start.set()
    for _ in processes:
        done.get(timeout=600)
    elapsed = time.perf_counter() - began
    for process in processes:
        process.join()
        if process.exitcode != 0:
            raise RuntimeError(f"a benchmark process exited with {process.exitcode}")
    for channel in (ready, done):
        channel.close()
        channel.join_thread()
    return elapsed * settings.ops / (each * settings.processes)


def result(
    key: str, label: str, backend: str, callers: int, ops: int, seconds: Sequence[float]
) -> Result:
    rates = sorted(ops / s for s in seconds)
    return Result(
        key=key,
        label=label,
        backend=backend,
        callers=callers,
        per_second=rates[-1],
        median_per_second=rates[len(rates) // 2],
        ops=ops,
        runs=len(rates),
    )


async def bench_sqlite(directory: Path, settings: Settings) -> list[Result]:
    path = str(directory / "ledger.db")
    results: list[Result] = []
    for synchronous in ("FULL", "NORMAL"):
        ledger = SQLiteLedger(directory / f"{synchronous}.db", synchronous=synchronous)
        await ledger.migrate()
        kinds = [(False, "reserve", "reserve")]
        if synchronous == "FULL":
            kinds.append((True, "reserve_settle", "reserve + settle pair"))
        for settle, key, what in kinds:
            seconds = []
            for _ in range(settings.repeats):
                job = reserve_loop(ledger, f"bench-{tag()}", settings.ops, tag(), settle)
                seconds.append(await timed(job))
            suffix = "" if synchronous == "FULL" else "_normal"
            note = "" if synchronous == "FULL" else ", synchronous=NORMAL (context)"
            results.append(
                result(f"sqlite_{key}_sequential{suffix}", f"SQLite {what}, sequential{note}",
                       "sqlite", 1, settings.ops, seconds)
            )  # fmt: skip
        await ledger.close()
    await SQLiteLedger(path).migrate()
    for settle, key, what in ((False, "reserve", "reserve"),
                              (True, "reserve_settle", "reserve + settle pair")):  # fmt: skip
        seconds = [
            await asyncio.to_thread(sqlite_concurrent, path, settings, settle)
            for _ in range(settings.repeats)
        ]
        results.append(
            result(f"sqlite_{key}_concurrent",
                   f"SQLite {what}, {settings.processes} processes", "sqlite",
                   settings.processes, settings.ops, seconds)
        )  # fmt: skip
    return results


# -- PostgreSQL ------------------------------------------------------------------------


def find_postgres(given: str | None) -> str | None:
    import psycopg

    candidates = [given] if given else [
        f"postgresql://{user}@127.0.0.1:5432/{db}"
        for user in ("postgres", "root") for db in ("postgres", "test")
    ]  # fmt: skip
    for url in candidates:
        try:
            with psycopg.connect(url, connect_timeout=2):
                return url
        except psycopg.Error:
            continue
    return None


@contextmanager
def bench_database(admin_url: str) -> Iterator[str]:
    import psycopg
    from psycopg import sql
    from psycopg.conninfo import make_conninfo

    name = f"tta_bench_{tag()}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield make_conninfo(admin_url, dbname=name)
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


async def bench_postgres(url: str, settings: Settings) -> list[Result]:
    from tta_dev_integrations.llm.budget.postgres import PostgresLedger

    n = settings.connections
    ledger = PostgresLedger(url, min_size=n, max_size=n)
    await ledger.migrate()
    results: list[Result] = []
    kinds = ((False, "reserve", "reserve"), (True, "reserve_settle", "reserve + settle pair"))
    try:
        for settle, key, what in kinds:
            seconds = []
            for _ in range(settings.repeats):
                job = reserve_loop(ledger, f"bench-{tag()}", settings.ops, tag(), settle)
                seconds.append(await timed(job))
            results.append(
                result(f"postgres_{key}_sequential", f"PostgreSQL {what}, sequential",
                       "postgres", 1, settings.ops, seconds)
            )  # fmt: skip
        each = settings.ops // n
        for settle, key, what in kinds:
            seconds = []
            for _ in range(settings.repeats):
                scope = f"bench-{tag()}"
                together = asyncio.gather(
                    *(reserve_loop(ledger, scope, each, tag(), settle) for _ in range(n))
                )
                seconds.append(await timed(together) * settings.ops / (each * n))
            results.append(
                result(f"postgres_{key}_concurrent", f"PostgreSQL {what}, {n} connections",
                       "postgres", n, settings.ops, seconds)
            )  # fmt: skip
    finally:
        await ledger.close()
    return results


# -- report ----------------------------------------------------------------------------


def machine(postgres_version: str | None) -> dict[str, Any]:
    return describe_machine(sqlite=sqlite3.sqlite_version, postgres=postgres_version)


def server_version(url: str) -> str:
    import psycopg

    with psycopg.connect(url) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return str(row[0]) if row else "?"


def print_table(results: Sequence[Result], info: dict[str, Any], settings: Settings) -> None:
    print(
        f"\nTTA.dev spend ledger benchmark  {date.today().isoformat()}  Python {info['python']}"
        f"  SQLite {info['sqlite']}  PostgreSQL {info['postgres'] or '-'}  "
        f"{info['cpu']} ({info['cores']} cores)"
    )
    print(f"best of {settings.repeats} runs of {settings.ops} operations; median in brackets\n")
    headers = ("measurement", "callers", "per second", "us each")
    rows = [
        (r.label, str(r.callers), f"{r.per_second:,.0f} [{r.median_per_second:,.0f}]",
         f"{1e6 / r.per_second:,.0f}")
        for r in results
    ]  # fmt: skip
    widths = [max(len(row[i]) for row in (headers, *rows)) for i in range(len(headers))]
    for row in (headers, tuple("-" * w for w in widths), *rows):
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))


def main(argv: Sequence[str] | None = None) -> int:
    parser = benchmark_arguments(__doc__)
    parser.add_argument("--postgres-url", help="a server to create the benchmark database on")
    args = parser.parse_args(argv)
    settings = QUICK if args.quick else FULL
    started = time.perf_counter()

    with tempfile.TemporaryDirectory(prefix="tta-bench-ledger-") as directory:
        results = asyncio.run(bench_sqlite(Path(directory), settings))

    skipped: str | None = None
    postgres_version = None
    admin_url = find_postgres(args.postgres_url or os.environ.get("TTA_BENCH_POSTGRES_URL"))
    if admin_url is None:
        skipped = "no PostgreSQL server answered (give --postgres-url)"
    else:
        postgres_version = server_version(admin_url)
        with bench_database(admin_url) as url:
            results += asyncio.run(bench_postgres(url, settings))

    info = machine(postgres_version)
    print_table(results, info, settings)
    if skipped:
        print(f"\nPostgreSQL skipped: {skipped}")
    print(f"\nrun took {time.perf_counter() - started:.1f} s")

    if args.json is not None:
        report = {
            "date": date.today().isoformat(),
            "mode": "quick" if args.quick else "full",
            "statistic": "max",
            "unit": "operations per second",
            "settings": asdict(settings),
            "machine": info,
            "postgres_skipped": skipped,
            "measurements": {r.key: asdict(r) for r in results},
        }
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
