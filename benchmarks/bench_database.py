"""What the SQL database primitives cost over the raw drivers, each pair measured in one run.

For SQLite (``SQLitePrimitive`` against one raw ``aiosqlite`` connection) and PostgreSQL
(``PostgreSQLPrimitive`` against a raw ``psycopg_pool.AsyncConnectionPool``):

  a. ``fetch_value``: one row's value by primary key
  b. ``fetch_all``: 100 rows as dicts
  c. ``run``: an autocommit ``UPDATE`` of one row (committed when it returns)
  d. ``run_many``: 20 ``UPDATE`` s in one transaction (the primitive's all-or-nothing
     rule; the baseline writes ``BEGIN``, ``executemany``, ``COMMIT`` by hand)
  e. a transaction: ``BEGIN``, an ``UPDATE``, a read, ``COMMIT``

The raw side does the same work the way one would write it by hand: same statements,
same connection settings (WAL, ``synchronous=NORMAL``, busy timeout, foreign keys on
for SQLite; autocommit and dict rows for PostgreSQL), rows turned into dicts, one
driver call per statement (two for an SQLite write: ``execute``, then closing the
cursor). The benchmark's PostgreSQL database runs with ``synchronous_commit = off``,
for both sides, so a commit's disk flush does not drown the comparison. Ours adds the
request check, the statement description (cached), the pool lease, the metric update
and the error conversion; SQLite's writes take one trip to the connection's thread
where the raw code takes two. Target: at most 1.15x the raw driver for every pair.

Samples alternate between the two candidates; the best (minimum) per-iteration time of
each is compared, medians in brackets, as in ``bench_primitives.py`` (whose timing
helpers this reuses). PostgreSQL: ``--postgres-url``, else ``TTA_BENCH_POSTGRES_URL``,
else the server on 127.0.0.1:5432 (user postgres or root); the benchmark creates its
own database and drops it; without a server the PostgreSQL rows are skipped.

Usage: ``python benchmarks/bench_database.py [--quick] [--json FILE]``; the exit code is
0 when a target is missed (this is a report).
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from time import perf_counter
from typing import Any

import aiosqlite

from bench_ledger import bench_database, find_postgres
from bench_primitives import FULL, QUICK, Result, Settings, compare, machine, print_table, result
from report import benchmark_arguments, finish_run
from tta_dev_integrations.database import PostgreSQLPrimitive, SQLitePrimitive

TARGET = 1.15
ROWS = 1000
BATCH = 20


def _check(condition: bool, what: str) -> None:
    if not condition:
        raise RuntimeError(f"benchmark sanity check failed: {what}")


def _dict_row(cursor: sqlite3.Cursor, row: tuple[Any, ...]) -> dict[str, Any]:
    return {column[0]: value for column, value in zip(cursor.description, row, strict=True)}


class Pair:
    """The five jobs of one backend, ours and raw, and how to run a pair of them."""

    def __init__(self, name: str, ours: dict[str, Job], raw: dict[str, Job]) -> None:
        self.name = name
        self.ours = ours
        self.raw = raw


Job = Callable[[], Awaitable[object]]


def our_jobs(
    db: SQLitePrimitive | PostgreSQLPrimitive, mark: str, batch: list[tuple[int]]
) -> dict[str, Job]:
    """The primitive's five jobs on either backend (``mark``: its parameter placeholder)."""

    async def transaction() -> object:
        async with db.transaction() as tx:
            await tx.run(f"UPDATE items SET v = v + 1 WHERE id = {mark}", (8,))
            return await tx.fetch_value(f"SELECT v FROM items WHERE id = {mark}", (8,))

    return {
        "fetch_value": lambda: db.fetch_value(f"SELECT v FROM items WHERE id = {mark}", (7,)),
        "fetch_all": lambda: db.fetch_all(
            f"SELECT id, name, v FROM items WHERE id <= {mark}", (100,)
        ),
        "run": lambda: db.run(f"UPDATE items SET v = v + 1 WHERE id = {mark}", (7,)),
        "run_many": lambda: db.run_many(f"UPDATE items SET v = v + 1 WHERE id = {mark}", batch),
        "transaction": transaction,
    }


# -- SQLite --------------------------------------------------------------------------


async def sqlite_jobs(directory: Path) -> tuple[Pair, Callable[[], Awaitable[None]]]:
    path = directory / "bench.db"
    db = SQLitePrimitive(path, max_connections=1)
    await db.run("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, v INTEGER)")
    await db.run_many(
        "INSERT INTO items (id, name, v) VALUES (?, ?, 0)",
        [(i, f"item-{i}") for i in range(1, ROWS + 1)],
    )
    raw = await aiosqlite.connect(path, timeout=5.0, isolation_level=None)
    raw.row_factory = _dict_row  # type: ignore[assignment]
    for pragma in ("busy_timeout = 5000", "journal_mode = wal", "synchronous = normal",
                   "foreign_keys = ON"):  # fmt: skip
        await raw.execute_fetchall(f"PRAGMA {pragma}")
    batch = [(i,) for i in range(1, BATCH + 1)]

    async def raw_value() -> object:
        rows = list(await raw.execute_fetchall("SELECT v FROM items WHERE id = ?", (7,)))
        return next(iter(rows[0].values()))

    async def raw_all() -> object:
        return list(await raw.execute_fetchall("SELECT id, name, v FROM items WHERE id <= ?",
                                               (100,)))  # fmt: skip

    async def raw_run() -> object:
        cursor = await raw.execute("UPDATE items SET v = v + 1 WHERE id = ?", (7,))
        count = cursor.rowcount
        await cursor.close()
        return count

    async def raw_many() -> object:
        await raw.execute_fetchall("BEGIN IMMEDIATE")
        cursor = await raw.executemany("UPDATE items SET v = v + 1 WHERE id = ?", batch)
        count = cursor.rowcount
        await cursor.close()
        await raw.execute_fetchall("COMMIT")
        return count

    async def raw_transaction() -> object:
        await raw.execute_fetchall("BEGIN IMMEDIATE")
        cursor = await raw.execute("UPDATE items SET v = v + 1 WHERE id = ?", (8,))
        await cursor.close()
        rows = list(await raw.execute_fetchall("SELECT v FROM items WHERE id = ?", (8,)))
        await raw.execute_fetchall("COMMIT")
        return next(iter(rows[0].values()))

    ours = our_jobs(db, "?", batch)
    rawjobs: dict[str, Job] = {
        "fetch_value": raw_value,
        "fetch_all": raw_all,
        "run": raw_run,
        "run_many": raw_many,
        "transaction": raw_transaction,
    }

    async def close() -> None:
        await raw.close()
        await db.aclose()

    return Pair("SQLite", ours, rawjobs), close


# -- PostgreSQL ----------------------------------------------------------------------


async def postgres_jobs(url: str) -> tuple[Pair, Callable[[], Awaitable[None]]]:
    import psycopg
    from psycopg import sql
    from psycopg.conninfo import conninfo_to_dict
    from psycopg.rows import dict_row
    from psycopg_pool import AsyncConnectionPool

    # Commits wait for no disk flush, on both sides: an fsync per commit (milliseconds,
    # and very uneven) would drown the microseconds compared here.
    name = str(conninfo_to_dict(url)["dbname"])
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(
            sql.SQL("ALTER DATABASE {} SET synchronous_commit = off").format(sql.Identifier(name))
        )
    db = PostgreSQLPrimitive(url, min_size=1, max_size=1)
    await db.run("CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL, v int)")
    await db.run_many(
        "INSERT INTO items (id, name, v) VALUES (%s, %s, 0)",
        [(i, f"item-{i}") for i in range(1, ROWS + 1)],
    )
    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
        url, min_size=1, max_size=1, open=False,
        kwargs={"autocommit": True, "row_factory": dict_row},
    )  # fmt: skip
    await pool.open(wait=True)
    batch = [(i,) for i in range(1, BATCH + 1)]

    async def raw_value() -> object:
        async with pool.connection() as conn:
            cursor = await conn.execute("SELECT v FROM items WHERE id = %s", (7,))
            rows = await cursor.fetchall()
        return next(iter(rows[0].values()))

    async def raw_all() -> object:
        async with pool.connection() as conn:
            cursor = await conn.execute("SELECT id, name, v FROM items WHERE id <= %s", (100,))
            return await cursor.fetchall()

    async def raw_run() -> object:
        async with pool.connection() as conn:
            cursor = await conn.execute("UPDATE items SET v = v + 1 WHERE id = %s", (7,))
            return cursor.rowcount

    async def raw_many() -> object:
        async with pool.connection() as conn:
            await conn.execute("BEGIN")
            async with conn.cursor() as cursor:
                await cursor.executemany("UPDATE items SET v = v + 1 WHERE id = %s", batch)
                count = cursor.rowcount
            await conn.execute("COMMIT")
            return count

    async def raw_transaction() -> object:
        async with pool.connection() as conn:
            await conn.execute("BEGIN")
            await conn.execute("UPDATE items SET v = v + 1 WHERE id = %s", (8,))
            cursor = await conn.execute("SELECT v FROM items WHERE id = %s", (8,))
            rows = await cursor.fetchall()
            await conn.execute("COMMIT")
        return next(iter(rows[0].values()))

    ours = our_jobs(db, "%s", batch)
    rawjobs: dict[str, Job] = {
        "fetch_value": raw_value,
        "fetch_all": raw_all,
        "run": raw_run,
        "run_many": raw_many,
        "transaction": raw_transaction,
    }

    async def close() -> None:
        await pool.close()
        await db.aclose()

    return Pair("PostgreSQL", ours, rawjobs), close


# -- running -------------------------------------------------------------------------

LABELS = {
    "fetch_value": "(a) fetch_value by key",
    "fetch_all": "(b) fetch_all, 100 rows",
    "run": "(c) run: autocommit UPDATE",
    "run_many": f"(d) run_many: {BATCH} UPDATEs, one transaction",
    "transaction": "(e) transaction: UPDATE + read",
}


async def measure(pair: Pair, settings: Settings) -> list[Result]:
    results = []
    for name, label in LABELS.items():
        ours, raw = pair.ours[name], pair.raw[name]
        # Sanity: both sides return the same thing (a rowcount, the rows, a value).
        mine, theirs = await ours(), await raw()
        if name in ("fetch_all", "run", "run_many"):
            _check(mine == theirs, f"{pair.name} {name}: {mine!r} != {theirs!r}")
        else:
            _check(type(mine) is type(theirs), f"{pair.name} {name}: same kind of value")
        times = await compare(ours, raw, settings)
        results.append(
            result(
                times,
                key=f"{pair.name.lower()}_{name}",
                label=f"{pair.name} {label}",
                unit="us/call",
                scale=1e6,
                kind="ratio",
                target=TARGET,
            )
        )
    return results


async def run_in_loop(settings: Settings, postgres_url: str | None) -> list[Result]:
    results: list[Result] = []
    with tempfile.TemporaryDirectory() as scratch:
        pair, close = await sqlite_jobs(Path(scratch))
        try:
            results += await measure(pair, settings)
        finally:
            await close()
    if postgres_url is None:
        print("PostgreSQL: no server found; its rows are skipped", file=sys.stderr)
        return results
    with bench_database(postgres_url) as url:
        pair, close = await postgres_jobs(url)
        try:
            results += await measure(pair, settings)
        finally:
            await close()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = benchmark_arguments(__doc__)
    parser.add_argument("--postgres-url", help="an admin URL of the server to measure on")
    args = parser.parse_args(argv)
    settings = QUICK if args.quick else FULL

    started = perf_counter()
    url = find_postgres(args.postgres_url or os.environ.get("TTA_BENCH_POSTGRES_URL"))
    results = asyncio.run(run_in_loop(settings, url))
    info = machine()
    info["sqlite"] = sqlite3.sqlite_version
    info["aiosqlite"] = getattr(aiosqlite, "__version__", "?")
    print_table(results, settings, info, title="database", imports=False)
    finish_run(
        results, started=started, settings=settings, info=info, quick=args.quick,
        json_path=args.json,
    )  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
