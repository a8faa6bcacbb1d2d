"""What routing and the budget cost on top of a plain LLM call, and how that scales.

Every overhead is a pair measured in the same run against the same canned
OpenAI-compatible server (``bench_llm.canned_server``): a budgeted call of a paid model
through ``UniversalLLMPrimitive`` (route, reserve the worst case in the ledger, call,
settle the priced usage, read the month back) against the same request through
``LLMPrimitive`` of the same model, on the same provider and connection pool.

For each ledger backend (SQLite in a temporary directory; PostgreSQL on 127.0.0.1:5432
or ``--postgres-url``, in a database of its own that is dropped afterwards):

  1. sequential calls, with an empty ledger
  2. 100 calls at a time (``asyncio.gather``), per call, with an empty ledger (on
     PostgreSQL over a pool of 16 connections, as ``bench_ledger.py``)
  3. and 4. the same with ``--entries`` (100,000) settled entries already in the
     ledger's scope, spread over 90 days and three months, with their per-day rollup
     rows, written by direct SQL (no call goes through the ledger to build them)
  5. the routed call's time in (3) over (1) and in (4) over (2): it must stay flat as
     the ledger grows (target: within 10%)
  6. routed calls per second on one scope from 1 and from 8 processes, each with its
     own ledger connection and ``--callers`` (4) calls in flight, sharing the ledger

Timing follows ``bench_llm.py``: the two candidates' samples alternate, the garbage
collector is paused during each, and the best sample is checked against the target
(medians beside it). The machine may be shared: medians tell how steady a run was.

Usage: ``python benchmarks/bench_universal.py [--quick] [--json FILE]
[--postgres-url URL]``. The exit code is 0 when a target is missed (a report).
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import sqlite3
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from time import perf_counter
from typing import Any, Literal

from bench_ledger import bench_database, find_postgres, server_version
from bench_llm import (
    API_KEY,
    CONCURRENCY,
    REQUEST,
    Job,
    Result,
    _check,
    _fmt,
    _table,
    canned_server,
    compare,
    result,
)
from machine import describe_machine
from report import benchmark_arguments, finish_run
from tta_dev_integrations.llm import LLMPrimitive, create_provider, load_catalog
from tta_dev_integrations.llm.budget.journal import PendingJournal
from tta_dev_integrations.llm.budget.ledger import Ledger, current_month
from tta_dev_integrations.llm.budget.sqlite import SQLiteLedger
from tta_dev_integrations.llm.catalog import Catalog
from tta_dev_integrations.llm.providers.base import Provider
from tta_dev_integrations.llm.universal import UniversalLLMPrimitive
from tta_dev_primitives import WorkflowContext

PAID = "canned-paid"
SCOPE = "bench"
ROUTED: dict[str, Any] = {**REQUEST, "complexity": "medium"}
TARGET_MS = 0.3  # routed call over the plain one, per call
FLAT = 1.1  # the big ledger's overhead over the empty one's
CONNECTIONS = 16  # PostgreSQL pool of the 100 concurrent calls (the server allows 100 in all)


@dataclass(frozen=True)
class Settings:
    sample_seconds: float  # wall time of one timed sample of sequential calls
    repeats: int  # timed samples per candidate, sequential
    burst_sample_seconds: float  # wall time of one sample of 100-call bursts
    burst_repeats: int  # timed samples per candidate at 100 concurrent calls
    entries: int  # settled entries in the big ledger
    process_counts: tuple[int, ...]  # processes of the throughput rows
    callers: int  # calls in flight per process
    process_seconds: float  # how long each throughput run lasts


FULL = Settings(
    sample_seconds=0.2,
    repeats=15,
    burst_sample_seconds=0.5,
    burst_repeats=9,
    entries=100_000,
    process_counts=(1, 8),
    callers=4,
    process_seconds=3.0,
)
QUICK = Settings(
    sample_seconds=0.02,
    repeats=3,
    burst_sample_seconds=0.02,
    burst_repeats=2,
    entries=2_000,
    process_counts=(1, 2),
    callers=2,
    process_seconds=0.5,
)


def write_catalog(directory: Path) -> Path:
    """One paid model on the canned server, priced by genai-prices as gpt-4o-mini."""
    entry = {
        "provider": "openai",
        "model_id": "canned-model",
        "free": False,
        "price": {"provider_id": "openai", "model_ref": "gpt-4o-mini"},
        "max_output_tokens": 1024,
        "quality": {"low": 0.9, "medium": 0.85, "high": 0.8},
    }
    path = directory / "catalog.json"
    path.write_text(json.dumps({"models": {PAID: entry}}), encoding="utf-8")
    return path


# -- the ledgers ---------------------------------------------------------------------


@dataclass(frozen=True)
class Backend:
    """Where a ledger lives: a SQLite file or a PostgreSQL URL."""

    name: str
    where: str
    synchronous: Literal["FULL", "NORMAL"] = "FULL"  # SQLite's

    def open(self, connections: int = 4) -> Ledger:
        if self.name == "sqlite":
            return SQLiteLedger(self.where, synchronous=self.synchronous)
        from tta_dev_integrations.llm.budget.postgres import PostgresLedger

        return PostgresLedger(self.where, min_size=1, max_size=connections)


def _big_rows(n: int, now: datetime) -> Iterator[tuple[Any, ...]]:
    """Settled entries of the benchmark scope, newest first, over the last 90 days."""
    step = timedelta(days=90) / max(n, 1)
    for i in range(n):
        at = now - step * (i + 1)
        yield (
            f"big-{i:07d}", SCOPE, at.strftime("%Y-%m"), PAID, "openai", "settled",
            1_000, 900, at, at, 0.4, 12, 8, "medium", True,
        )  # fmt: skip


_COLUMNS = (
    "request_id, scope, month, model, provider, state, reserved_micros, actual_micros,"
    " created_at, settled_at, latency_s, input_tokens, output_tokens, tier, ok"
)
# The months' money and the router's per-day rollup, from the entries just written.
_BUDGETS = """INSERT INTO tta_budgets (scope, month, spent_micros)
    SELECT scope, month, SUM(actual_micros) FROM tta_entries GROUP BY scope, month
    ON CONFLICT (scope, month) DO UPDATE SET spent_micros = excluded.spent_micros"""
_MODEL_DAYS = """INSERT INTO tta_model_days (model, tier, day, calls, errors, latency_sum,
        latency_count)
    SELECT model, tier, {day}, COUNT(*), 0, SUM(latency_s), COUNT(*)
    FROM tta_entries GROUP BY model, tier, {day}
    ON CONFLICT (tier, model, day) DO UPDATE SET calls = excluded.calls,
        latency_sum = excluded.latency_sum, latency_count = excluded.latency_count"""


async def fill(backend: Backend, n: int) -> None:
    """Write ``n`` settled entries straight into the (migrated) ledger."""
    ledger = backend.open()
    await ledger.migrate()
    await ledger.close()
    now = datetime.now(UTC)
    if backend.name == "sqlite":
        with sqlite3.connect(backend.where) as conn:
            rows = (
                (*row[:8], row[8].timestamp(), row[9].timestamp(), *row[10:])
                for row in _big_rows(n, now)
            )
            marks = ", ".join("?" * 15)
            conn.executemany(f"INSERT INTO tta_entries ({_COLUMNS}) VALUES ({marks})", rows)
            conn.execute(_BUDGETS)
            conn.execute(_MODEL_DAYS.format(day="CAST(created_at / 86400 AS INTEGER)"))
        return
    import psycopg

    with psycopg.connect(backend.where) as conn:
        with conn.cursor().copy(f"COPY tta_entries ({_COLUMNS}) FROM STDIN") as copy:
            for row in _big_rows(n, now):
                copy.write_row(row)
        conn.execute(_BUDGETS)
        day = "CAST(floor(extract(epoch FROM created_at) / 86400) AS INTEGER)"
        conn.execute(_MODEL_DAYS.format(day=day))
        conn.execute("ANALYZE")


# -- the two candidates --------------------------------------------------------------


class Pair:
    """The routed call and the plain one, on one provider (one pool) and one ledger."""

    def __init__(self, base_url: str, catalog: Catalog, ledger: Ledger, home: Path) -> None:
        self.provider: Provider = create_provider("openai", base_url=base_url, api_key=API_KEY)
        self.plain = LLMPrimitive(PAID, catalog=catalog, provider=self.provider)
        self.routed = universal(catalog, self.provider, ledger, home)
        self.ledger = ledger
        self.context = WorkflowContext()

    async def ours(self) -> str:
        return (await self.routed.execute(ROUTED, self.context)).content

    async def baseline(self) -> str:
        return (await self.plain.execute(REQUEST, self.context)).content

    async def check(self) -> None:
        routed = await self.routed.execute(ROUTED, self.context)
        plain = await self.plain.execute(REQUEST, self.context)
        _check(routed.content == plain.content, "same answer")
        _check(routed.model == PAID and routed.routing is not None, "routed to the paid model")
        # The ledger keeps micro-dollars: the routed cost is the plain one, rounded.
        same = abs(routed.cost_usd - plain.cost_usd) <= 1e-6
        _check(same and plain.cost_usd > 0, "both priced the same, above $0")
        entries = await self.ledger.entries(SCOPE, current_month())
        _check(any(e.state == "settled" and e.model == PAID for e in entries), "settled")

    async def aclose(self) -> None:
        await self.provider.aclose()
        await self.ledger.close()


def universal(
    catalog: Catalog, provider: Provider, ledger: Ledger, home: Path
) -> UniversalLLMPrimitive:
    return UniversalLLMPrimitive(
        coder="none",
        budget_profile="unlimited",
        monthly_limit=1_000_000.0,
        free_models=[],
        paid_models=[PAID],
        scope=SCOPE,
        ledger=ledger,
        catalog=catalog,
        providers={"openai": provider},
        journal=PendingJournal(home / "pending.jsonl"),
    )


async def bench_pair(pair: Pair, settings: Settings, tag: str, what: str) -> list[Result]:
    await pair.check()
    walls, _ = await compare(pair.ours, pair.baseline, settings.sample_seconds, settings.repeats)

    async def ours() -> list[str]:
        return await asyncio.gather(*[pair.ours() for _ in range(CONCURRENCY)])

    async def baseline() -> list[str]:
        return await asyncio.gather(*[pair.baseline() for _ in range(CONCURRENCY)])

    bursts: tuple[Job, Job] = (ours, baseline)
    burst_walls, _ = await compare(
        *bursts, settings.burst_sample_seconds, settings.burst_repeats, per=CONCURRENCY,
        warm_up=1,
    )  # fmt: skip
    return [
        result(walls, key=f"{tag}_sequential", label=f"routed call, sequential, {what}",
               unit="ms/call", scale=1e3, target=TARGET_MS),
        result(burst_walls, key=f"{tag}_concurrent",
               label=f"routed call, {CONCURRENCY} concurrent, {what}", unit="ms/call",
               scale=1e3, target=TARGET_MS),
    ]  # fmt: skip


def flatness(empty: Result, big: Result, key: str, label: str) -> Result:
    """The routed call with the big ledger over the same call with the empty one.

    Times per routed call, not overheads: on a shared machine a difference of two
    noisy figures can come out near zero or below, and a ratio of those means nothing.
    """
    return Result(
        key=key,
        label=label,
        unit="x",
        kind="ratio",
        better="lower",
        target=FLAT,
        ours=big.ours,
        baseline=empty.ours,
        ours_median=big.ours_median,
        baseline_median=empty.ours_median,
        samples=big.samples,
    )


# -- the ledger's part alone -------------------------------------------------------


async def ledger_trips(backends: dict[str, Backend], settings: Settings) -> list[Result]:
    """The three ledger round trips of a routed paid call, without the HTTP call around.

    With the big ledger over the empty one (flatness, less noisy than the whole call),
    and on SQLite ``synchronous=NORMAL`` over ``FULL`` (context: the durability trade).
    """
    month = current_month()
    opened: list[Ledger] = []

    def trips(backend: Backend) -> Job:
        ledger = backend.open()
        opened.append(ledger)

        async def job() -> None:
            request_id = uuid.uuid4().hex
            await ledger.preflight(SCOPE, month, [PAID], "medium")
            await ledger.reserve(request_id=request_id, scope=SCOPE, month=month,
                                 amount_micros=20, model=PAID, provider="openai",
                                 tier="medium")  # fmt: skip
            await ledger.settle(request_id, 15, latency_s=0.001, input_tokens=12,
                                output_tokens=8)  # fmt: skip

        return job

    empty, big = backends["empty"], backends["big"]
    name = empty.name
    pairs = [(trips(big), trips(empty), f"{name}_ledger_flat",
              f"ledger trips of a routed call, {settings.entries:,} entries over empty, {name}",
              FLAT)]  # fmt: skip
    if name == "sqlite":
        normal = replace(empty, synchronous="NORMAL")
        label = "ledger trips, synchronous=NORMAL over FULL, sqlite (context)"
        pairs.append((trips(normal), trips(empty), "sqlite_ledger_normal", label, None))
    results = []
    try:
        for ours, baseline, key, label, target in pairs:
            walls, _ = await compare(ours, baseline, settings.sample_seconds, settings.repeats)
            results.append(
                result(walls, key=key, label=label, unit="ms/call", scale=1e3,
                       kind="ratio", target=target)
            )  # fmt: skip
    finally:
        for ledger in opened:
            await ledger.close()
    return results


# -- calls per second from several processes -----------------------------------------


def _worker(
    base_url: str, catalog_path: str, backend: Backend, home: str, callers: int,
    seconds: float, ready: Any, start: Any, done: Any,
) -> None:  # fmt: skip
    """One process: its own ledger and pool, ``callers`` calls in flight for ``seconds``."""

    async def main() -> int:
        catalog = load_catalog(Path(catalog_path))
        provider = create_provider("openai", base_url=base_url, api_key=API_KEY)
        routed = universal(catalog, provider, backend.open(callers), Path(home))
        context = WorkflowContext()
        await routed.execute(ROUTED, context)  # connect, migrate, warm up
        ready.put(1)
        await asyncio.to_thread(start.wait)
        deadline = perf_counter() + seconds
        count = 0

        async def caller() -> None:
            nonlocal count
            while perf_counter() < deadline:
                await routed.execute(ROUTED, context)
                count += 1

        await asyncio.gather(*(caller() for _ in range(callers)))
        await provider.aclose()
        await routed.ledger.close()
        return count

    done.put(asyncio.run(main()))


def calls_per_second(
    base_url: str, catalog_path: Path, backend: Backend, home: Path, processes: int,
    settings: Settings,
) -> float:  # fmt: skip
    spawn = multiprocessing.get_context("spawn")
    ready, done, start = spawn.Queue(), spawn.Queue(), spawn.Event()
    args = (base_url, str(catalog_path), backend, str(home), settings.callers,
            settings.process_seconds, ready, start, done)  # fmt: skip
    workers = [spawn.Process(target=_worker, args=args) for _ in range(processes)]
    for worker in workers:
        worker.start()
    for _ in workers:
        ready.get(timeout=180)
    began = perf_counter()
    start.set()
    total = sum(done.get(timeout=600) for _ in workers)
    elapsed = perf_counter() - began
    for worker in workers:
        worker.join()
        _check(worker.exitcode == 0, f"a worker process exited with {worker.exitcode}")
    return total / elapsed


def throughput(
    base_url: str, catalog_path: Path, backend: Backend, home: Path, settings: Settings
) -> list[Result]:
    results = []
    for processes in settings.process_counts:
        rates = [
            calls_per_second(base_url, catalog_path, backend, home, processes, settings)
            for _ in range(2)
        ]
        results.append(
            Result(key=f"{backend.name}_calls_per_second_{processes}p",
                   label=f"routed calls/s on one scope, {processes} process(es), {backend.name}",
                   unit="calls/s", kind="ratio", better="higher", target=None,
                   ours=max(rates), baseline=1.0, ours_median=min(rates),
                   baseline_median=1.0, samples=len(rates))
        )  # fmt: skip
    return results


# -- one backend ---------------------------------------------------------------------


async def bench_backend(
    base_url: str, catalog_path: Path, make: Callable[[str], Backend], home: Path,
    settings: Settings,
) -> list[Result]:  # fmt: skip
    catalog = load_catalog(catalog_path)
    results: list[Result] = []
    by_size: dict[str, list[Result]] = {}
    backends: dict[str, Backend] = {}
    for size, entries in (("empty", 0), ("big", settings.entries)):
        backend = backends[size] = make(size)
        if entries:
            await fill(backend, entries)
        what = f"{backend.name}, " + (f"{entries:,} entries" if entries else "empty ledger")
        pair = Pair(base_url, catalog, backend.open(CONNECTIONS), home)
        try:
            by_size[size] = await bench_pair(pair, settings, f"{backend.name}_{size}", what)
        finally:
            await pair.aclose()
        results += by_size[size]
    name = results[0].key.split("_", 1)[0]
    for i, mode in enumerate(("sequential", "concurrent")):
        results.append(
            flatness(by_size["empty"][i], by_size["big"][i], f"{name}_flat_{mode}",
                     f"routed, {settings.entries:,} entries over empty, {mode}, {name}")
        )  # fmt: skip
    results += await ledger_trips(backends, settings)
    throughput_backend = make("throughput")
    results += await asyncio.to_thread(
        throughput, base_url, catalog_path, throughput_backend, home, settings
    )
    return results


def print_results(results: Sequence[Result], settings: Settings, info: dict[str, Any]) -> None:
    print(
        f"\nTTA.dev routed call benchmark  {datetime.now(UTC).date().isoformat()}  Python "
        f"{info['python']}  {info['cpu']} ({info['cores']} cores)  SQLite {info['sqlite']}  "
        f"PostgreSQL {info['postgres'] or '-'}"
    )
    print(
        f"best of {settings.repeats} samples of ~{settings.sample_seconds * 1e3:g} ms "
        f"(sequential), {settings.burst_repeats} samples of >= 1 burst of {CONCURRENCY}; "
        "GC paused; medians in brackets\n"
    )
    rows: list[tuple[str, ...]] = [
        ("measurement", "routed", "plain", "overhead / ratio", "target", "result")
    ]
    for r in results:
        if r.unit == "calls/s":
            continue
        if r.kind == "ratio":
            ours, base = "-", "-"
            if r.unit != "x":
                ours = f"{_fmt(r.ours)} {r.unit} [{_fmt(r.ours_median)}]"
                base = f"{_fmt(r.baseline)} {r.unit} [{_fmt(r.baseline_median)}]"
            overhead = f"{r.overhead:.2f}x [{r.overhead_median:.2f}x]"
        else:
            ours = f"{_fmt(r.ours)} {r.unit} [{_fmt(r.ours_median)}]"
            base = f"{_fmt(r.baseline)} {r.unit} [{_fmt(r.baseline_median)}]"
            overhead = f"{r.overhead:+.3f} {r.unit} [{r.overhead_median:+.3f}]"
        unit = "x" if r.kind == "ratio" else f" {r.unit}"
        rows.append(
            (r.label, ours, base, overhead, "-" if r.target is None else f"<= {r.target:g}{unit}",
             "-" if r.passed is None else "PASS" if r.passed else "MISS")
        )  # fmt: skip
    _table(rows)
    print()
    for r in results:
        if r.unit == "calls/s":
            print(f"{r.label}: {r.ours:,.0f} calls/s (best of 2; other run {r.ours_median:,.0f})")


def describe(postgres: str | None = None) -> dict[str, Any]:
    from importlib import metadata

    packages = {}
    for name in ("httpx", "httpcore", "llama_cpp_python"):
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            packages[name] = None
    return describe_machine(packages=packages, sqlite=sqlite3.sqlite_version, postgres=postgres)


def main(argv: Sequence[str] | None = None) -> int:
    parser = benchmark_arguments(__doc__)
    parser.add_argument("--postgres-url", help="a server to create the benchmark database on")
    parser.add_argument("--entries", type=int, help="settled entries of the big ledger")
    parser.add_argument("--only", choices=("sqlite", "postgres"), help="one backend only")
    args = parser.parse_args(argv)
    settings = QUICK if args.quick else FULL
    if args.entries is not None:
        settings = replace(settings, entries=args.entries)
    started = perf_counter()
    results: list[Result] = []
    skipped: str | None = None
    postgres_version = None
    with tempfile.TemporaryDirectory(prefix="tta-bench-universal-") as directory:
        home = Path(directory)
        catalog_path = write_catalog(home)
        with canned_server() as base_url:
            if args.only != "postgres":

                def sqlite_at(size: str) -> Backend:
                    return Backend("sqlite", str(home / f"{size}-{uuid.uuid4().hex[:6]}.db"))

                results += asyncio.run(
                    bench_backend(base_url, catalog_path, sqlite_at, home, settings)
                )
            admin_url = None
            if args.only != "sqlite":
                given = args.postgres_url or os.environ.get("TTA_BENCH_POSTGRES_URL")
                admin_url = find_postgres(given)
            if admin_url is None:
                skipped = "no PostgreSQL server answered (give --postgres-url)"
            else:
                postgres_version = server_version(admin_url)
                with contextmanager_stack(admin_url) as make:
                    results += asyncio.run(
                        bench_backend(base_url, catalog_path, make, home, settings)
                    )
    info = describe(postgres_version)
    print_results(results, settings, info)
    if skipped:
        print(f"\nPostgreSQL skipped: {skipped}")
    finish_run(
        results, started=started, settings=settings, info=info, quick=args.quick,
        json_path=args.json, statistic="best (min time, max rate)",
        extra={"postgres_skipped": skipped},
    )  # fmt: skip
    return 0


@contextmanager
def contextmanager_stack(admin_url: str) -> Iterator[Callable[[str], Backend]]:
    """A fresh database per ledger size, all dropped at the end."""
    from contextlib import ExitStack

    with ExitStack() as stack:

        def make(_size: str) -> Backend:
            return Backend("postgres", stack.enter_context(bench_database(admin_url)))

        yield make


if __name__ == "__main__":
    sys.exit(main())
