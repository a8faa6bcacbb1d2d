"""What bounded concurrency costs over the same scheduling written by hand.

Every figure is a pair measured in the same run:

  m. ``MapPrimitive(step, max_concurrency=10)`` over 100 items vs ten hand-written
     workers taking the items from one iterator (the same scheduling), per item
  n. ``BulkheadPrimitive(step, 10)``, a free slot, vs ``async with semaphore: await step(x)``

Timing as in ``bench_primitives.py`` (whose helpers it uses): alternating samples, the
garbage collector paused, best of each, medians in brackets.

Usage: ``python benchmarks/bench_concurrency.py [--quick] [--json FILE]``. The exit code
is 0 when a target is missed (this is a report) and non-zero only on errors.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence
from time import perf_counter

from bench_primitives import (
    FULL,
    QUICK,
    Result,
    Settings,
    _check,
    compare,
    machine,
    print_table,
    result,
    step,
)
from report import benchmark_arguments, finish_run
from tta_dev_primitives import BulkheadPrimitive, MapPrimitive, WorkflowContext

ITEMS = 100
LIMIT = 10


async def bench_map(settings: Settings) -> Result:
    mapped = MapPrimitive(step, max_concurrency=LIMIT, name="bench-map")
    items = list(range(ITEMS))
    ctx = WorkflowContext()

    async def by_hand() -> list[int]:
        results = [0] * ITEMS
        pending = iter(range(ITEMS))

        async def work() -> None:
            for index in pending:
                results[index] = await step(items[index])

        workers = [asyncio.ensure_future(work()) for _ in range(LIMIT)]
        await asyncio.gather(*workers)
        return results

    expected = [item + 1 for item in items]
    _check(await mapped.execute(items, ctx) == await by_hand() == expected, "map output")
    times = await compare(lambda: mapped.execute(items, ctx), by_hand, settings, per=ITEMS)
    return result(
        times,
        key="map_item",
        label=f"(m) MapPrimitive, {ITEMS} items, {LIMIT} at once",
        unit="us/item",
        scale=1e6,
        kind="difference",
        target=3.0,
    )


async def bench_bulkhead(settings: Settings) -> Result:
    capped = BulkheadPrimitive(step, LIMIT, name="bench-bulkhead")
    slots = asyncio.Semaphore(LIMIT)
    ctx = WorkflowContext()

    async def by_hand() -> int:
        async with slots:
            return await step(1)

    _check(await capped.execute(1, ctx) == await by_hand() == 2, "bulkhead output")
    times = await compare(lambda: capped.execute(1, ctx), by_hand, settings)
    return result(
        times,
        key="bulkhead_call",
        label="(n) BulkheadPrimitive, a free slot",
        unit="us/call",
        scale=1e6,
        kind="difference",
        target=3.0,
    )


async def run_in_loop(settings: Settings) -> list[Result]:
    return [await bench_map(settings), await bench_bulkhead(settings)]


def main(argv: Sequence[str] | None = None) -> int:
    parser = benchmark_arguments(__doc__)
    args = parser.parse_args(argv)
    settings = QUICK if args.quick else FULL

    started = perf_counter()
    results = asyncio.run(run_in_loop(settings))
    info = machine()
    print_table(results, settings, info, title="bounded concurrency", imports=False)
    finish_run(
        results, started=started, settings=settings, info=info, quick=args.quick,
        json_path=args.json,
    )  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
