"""MapPrimitive (one step over many items, bounded) and BulkheadPrimitive (a concurrency cap)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tta_dev_primitives import (
    BulkheadFullError,
    BulkheadPrimitive,
    LambdaPrimitive,
    MapPrimitive,
    SequentialPrimitive,
    WorkflowContext,
)
from tta_dev_primitives.testing import capture_spans, metric_value


class Gauge:
    """Counts calls running at once, and the most seen."""

    def __init__(self) -> None:
        self.now = 0
        self.most = 0
        self.started: list[int] = []

    async def step(self, item: int) -> int:
        self.now += 1
        self.most = max(self.most, self.now)
        self.started.append(item)
        try:
            await asyncio.sleep(0.01 * (item % 3))
            return item * 10
        finally:
            self.now -= 1


async def test_map_returns_results_in_input_order_within_the_limit() -> None:
    gauge = Gauge()
    mapped = MapPrimitive(gauge.step, max_concurrency=3, name="tens")
    result = await mapped.execute(range(10), WorkflowContext())
    assert result == [item * 10 for item in range(10)]
    assert gauge.most == 3
    assert sorted(gauge.started) == list(range(10))
    assert metric_value("tta_concurrency_in_flight", primitive="tens") == 0


async def test_map_without_a_limit_runs_every_item_at_once() -> None:
    gauge = Gauge()
    assert await MapPrimitive(gauge.step).execute([1, 2, 4, 5], WorkflowContext()) == [
        10, 20, 40, 50,
    ]  # fmt: skip
    assert gauge.most == 4


async def test_map_of_nothing_is_an_empty_list() -> None:
    assert await MapPrimitive(Gauge().step, max_concurrency=2).execute([], WorkflowContext()) == []


async def test_map_fails_fast_cancels_the_items_in_flight_and_names_the_item() -> None:
    cancelled: list[int] = []
    started: list[int] = []

    async def step(item: int) -> int:
        started.append(item)
        if item == 1:
            await asyncio.sleep(0.01)
            raise ValueError("item one is bad")
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.append(item)
            raise
        return item

    mapped = MapPrimitive(step, max_concurrency=3, name="fail-fast")
    with pytest.raises(ValueError, match="item one is bad") as caught:
        await mapped.execute(range(8), WorkflowContext())
    assert "item 1 of 'fail-fast'" in caught.value.__notes__
    assert sorted(cancelled) == [0, 2]
    assert sorted(started) == [0, 1, 2]  # no new item starts after the failure
    assert metric_value("tta_concurrency_in_flight", primitive="fail-fast") == 0


async def test_map_collects_every_failure_in_item_order() -> None:
    async def step(item: int) -> int:
        await asyncio.sleep(0.001 * (5 - item))
        if item % 2:
            raise ValueError(f"odd {item}")
        return item

    mapped = MapPrimitive(step, max_concurrency=2, collect_errors=True, name="collect")
    with pytest.raises(ExceptionGroup) as caught:
        await mapped.execute(range(5), WorkflowContext())
    assert [str(error) for error in caught.value.exceptions] == ["odd 1", "odd 3"]
    assert "2 of 5 items of 'collect' failed" in str(caught.value)


async def test_cancelling_a_map_cancels_its_items() -> None:
    gauge = Gauge()

    async def slow(item: int) -> int:
        await gauge.step(item)
        await asyncio.sleep(10)
        return item

    task = asyncio.ensure_future(MapPrimitive(slow, max_concurrency=2, name="cancel").execute(
        range(6), WorkflowContext()
    ))  # fmt: skip
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert gauge.now == 0
    assert metric_value("tta_concurrency_in_flight", primitive="cancel") == 0


def test_limits_must_be_positive_ints() -> None:
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="max_concurrency"):
            MapPrimitive(Gauge().step, max_concurrency=bad)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="max_concurrency"):
            BulkheadPrimitive(Gauge().step, bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_wait_seconds"):
        BulkheadPrimitive(Gauge().step, 1, max_wait_seconds=-1)


async def test_map_names_each_items_span_and_its_steps_by_name() -> None:
    async def double(item: int) -> int:
        return item * 2

    step = SequentialPrimitive([LambdaPrimitive(double, name="double")], name="task")
    mapped = MapPrimitive(step, item_name=lambda item: f"task T{item}", name="backlog")
    with capture_spans() as spans:
        assert await mapped.execute([1, 2], WorkflowContext()) == [2, 4]
    backlog = spans.one("backlog")
    items = sorted(spans.children(backlog), key=lambda span: span.name)
    assert [span.name for span in items] == ["task T1", "task T2"]
    assert [span.attributes["tta.map.index"] for span in items] == [0, 1]
    for item in items:
        assert [child.name for child in spans.children(item)] == ["task"]


async def test_bulkhead_caps_calls_across_every_caller() -> None:
    gauge = Gauge()
    capped = BulkheadPrimitive(gauge.step, 2, name="capped")
    results = await asyncio.gather(*(capped.execute(i, WorkflowContext()) for i in range(7)))
    assert results == [i * 10 for i in range(7)]
    assert gauge.most == 2
    assert metric_value("tta_concurrency_in_flight", primitive="capped") == 0
    assert metric_value("tta_concurrency_waiting", primitive="capped") == 0


async def test_bulkhead_refuses_after_max_wait_without_running_the_step() -> None:
    release = asyncio.Event()
    ran: list[int] = []

    async def hold(item: int) -> int:
        ran.append(item)
        await release.wait()
        return item

    capped = BulkheadPrimitive(hold, 1, max_wait_seconds=0.05, name="full")
    first = asyncio.ensure_future(capped.execute(1, WorkflowContext()))
    await asyncio.sleep(0)
    before = metric_value("tta_bulkhead_rejected_total", primitive="full")
    with pytest.raises(BulkheadFullError, match="already runs 1 calls at once") as caught:
        await capped.execute(2, WorkflowContext())
    assert caught.value.max_concurrency == 1
    assert ran == [1]
    assert metric_value("tta_bulkhead_rejected_total", primitive="full") == before + 1
    release.set()
    assert await first == 1
    assert await capped.execute(3, WorkflowContext()) == 3  # the slot was given back


async def test_a_bulkhead_that_may_not_wait_refuses_at_once() -> None:
    release = asyncio.Event()

    async def hold(item: int) -> int:
        await release.wait()
        return item

    capped = BulkheadPrimitive(hold, 1, max_wait_seconds=0, name="no-wait")
    first = asyncio.ensure_future(capped.execute(1, WorkflowContext()))
    await asyncio.sleep(0)
    with pytest.raises(BulkheadFullError):
        await capped.execute(2, WorkflowContext())
    release.set()
    assert await first == 1


async def test_a_failing_call_gives_its_slot_back() -> None:
    async def boom(item: int) -> int:
        raise RuntimeError("boom")

    capped = BulkheadPrimitive(boom, 1, max_wait_seconds=0, name="gives-back")
    for _ in range(3):
        with pytest.raises(RuntimeError):
            await capped.execute(1, WorkflowContext())


def test_a_bulkhead_serves_one_event_loop_after_another() -> None:
    capped = BulkheadPrimitive(Gauge().step, 1, name="loops")
    assert asyncio.run(capped.execute(1, WorkflowContext())) == 10
    assert asyncio.run(capped.execute(2, WorkflowContext())) == 20


async def test_map_over_a_bulkhead_shares_its_limit_with_other_callers() -> None:
    gauge = Gauge()
    capped = BulkheadPrimitive(gauge.step, 2, name="shared")
    one = MapPrimitive(capped, max_concurrency=5)
    two = MapPrimitive(capped, max_concurrency=5)
    first, second = await asyncio.gather(
        one.execute(range(5), WorkflowContext()), two.execute(range(5), WorkflowContext())
    )
    assert first == second == [i * 10 for i in range(5)]
    assert gauge.most == 2


async def test_a_waiting_call_that_is_cancelled_or_times_out_takes_no_slot_with_it() -> None:
    release = asyncio.Event()
    ran: list[int] = []

    async def hold(item: int) -> int:
        ran.append(item)
        await release.wait()
        return item

    capped = BulkheadPrimitive(hold, 1, name="leak-check")
    first = asyncio.ensure_future(capped.execute(1, WorkflowContext()))
    cancelled = asyncio.ensure_future(capped.execute(2, WorkflowContext()))
    await asyncio.sleep(0)
    assert metric_value("tta_concurrency_waiting", primitive="leak-check") == 1
    cancelled.cancel()
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    with pytest.raises(TimeoutError):  # an outer deadline, not the bulkhead's: passes through
        async with asyncio.timeout(0.01):
            await capped.execute(3, WorkflowContext())
    third = asyncio.ensure_future(capped.execute(4, WorkflowContext()))
    await asyncio.sleep(0)
    release.set()
    assert await first == 1
    assert await third == 4
    assert ran == [1, 4]
    assert metric_value("tta_concurrency_waiting", primitive="leak-check") == 0
    assert metric_value("tta_concurrency_in_flight", primitive="leak-check") == 0
    # Every slot came back: two calls at once is one too many only while one runs.
    assert await capped.execute(5, WorkflowContext()) == 5


async def test_a_slot_handed_to_a_call_cancelled_at_that_moment_goes_to_the_next() -> None:
    release = asyncio.Event()

    async def hold(item: int) -> int:
        if item == 1:
            await release.wait()
        return item

    capped = BulkheadPrimitive(hold, 1, name="handover")
    first = asyncio.ensure_future(capped.execute(1, WorkflowContext()))
    second = asyncio.ensure_future(capped.execute(2, WorkflowContext()))
    third = asyncio.ensure_future(capped.execute(3, WorkflowContext()))
    await asyncio.sleep(0)
    release.set()
    await asyncio.sleep(0)  # first finishes and hands its slot to second...
    second.cancel()  # ...which is cancelled before it runs
    assert await first == 1
    with pytest.raises(asyncio.CancelledError):
        await second
    assert await third == 3
    assert capped._running == 0


_MULTIPROCESS_PROBE = """
import asyncio
from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector
from tta_dev_primitives import BulkheadPrimitive, WorkflowContext

def in_flight():
    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    value = registry.get_sample_value("tta_concurrency_in_flight", {"primitive": "mp"})
    return 0.0 if value is None else value

async def main():
    release = asyncio.Event()
    async def hold(x):
        await release.wait()
        return x
    capped = BulkheadPrimitive(hold, 2, name="mp")
    calls = [asyncio.ensure_future(capped.execute(n, WorkflowContext())) for n in range(3)]
    await asyncio.sleep(0.01)
    during = in_flight()
    release.set()
    await asyncio.gather(*calls)
    print(during, in_flight())

asyncio.run(main())
"""


def test_in_multiprocess_mode_the_workers_write_their_in_flight_counts(tmp_path: Path) -> None:

    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-c", _MULTIPROCESS_PROBE],
        capture_output=True, text=True, timeout=60, check=True, env=env,
    ).stdout  # fmt: skip
    assert out.split() == ["2.0", "0.0"]
