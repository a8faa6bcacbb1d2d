"""Bounded concurrency: :class:`MapPrimitive` and :class:`BulkheadPrimitive`.

A map applies one step to every item; a bulkhead caps how many calls of a step run
at once.

``ParallelPrimitive`` runs a fixed set of branches; a backlog of N tasks needs one step
over N items with at most K in flight, which is what a map is. A bulkhead caps a step
however many workflows call it, so one slow dependency cannot take every slot.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

from tta_dev_primitives.core.base import AsyncStep, WorkflowPrimitive, as_primitive
from tta_dev_primitives.core.context import WorkflowContext
from tta_dev_primitives.core.wrapper import WrapperPrimitive
from tta_dev_primitives.exceptions import BulkheadFullError
from tta_dev_primitives.observability.metrics import MetricSpec, counter, declare_metric, gauge
from tta_dev_primitives.observability.tracing import active_tracer

if TYPE_CHECKING:
    import asyncio

    from prometheus_client import Gauge

__all__ = [
    "BULKHEAD_REJECTED",
    "CONCURRENCY_IN_FLIGHT",
    "CONCURRENCY_WAITING",
    "BulkheadPrimitive",
    "MapPrimitive",
]

TItem = TypeVar("TItem")
TResult = TypeVar("TResult")
TIn = TypeVar("TIn")
TOut = TypeVar("TOut")

CONCURRENCY_IN_FLIGHT = declare_metric(
    "tta_concurrency_in_flight",
    "gauge",
    "Calls running now inside a BulkheadPrimitive, or items a MapPrimitive is working on "
    "(several workers: the sum).",
    ("primitive",),
    multiprocess_mode="livesum",
)
CONCURRENCY_WAITING = declare_metric(
    "tta_concurrency_waiting",
    "gauge",
    "Calls waiting for a free slot of a BulkheadPrimitive (several workers: the sum).",
    ("primitive",),
    multiprocess_mode="livesum",
)
BULKHEAD_REJECTED = declare_metric(
    "tta_bulkhead_rejected_total",
    "counter",
    "Calls a BulkheadPrimitive refused (BulkheadFullError): no slot within max_wait_seconds.",
    ("primitive",),
)


class _Tally:
    """How many calls of the primitives of one name are in one state (running, waiting).

    Its gauge reads the plain int when scraped: ``inc()``/``dec()`` on a prometheus
    child take a lock, ~0.4 us each, more than the rest of a bulkhead's fast path.
    Primitives of one name share a tally, as they would share the gauge's child. In
    multiprocess mode each worker's value must be written to its file, so there the
    child's own ``inc()``/``dec()`` are used.
    """

    __slots__ = ("child", "value")

    def __init__(self, child: Gauge | None) -> None:
        self.value = 0
        self.child = child

    def enter(self) -> None:
        if self.child is None:
            self.value += 1
        else:
            self.child.inc()

    def leave(self) -> None:
        if self.child is None:
            self.value -= 1
        else:
            self.child.dec()


_TALLIES: dict[tuple[str, str], _Tally] = {}


def _tally(spec: MetricSpec, primitive: str) -> _Tally:
    key = (spec.name, primitive)
    tally = _TALLIES.get(key)
    if tally is None:
        from prometheus_client import values

        child = gauge(spec).labels(primitive)
        if values.ValueClass is values.MutexValue:  # one process: read at scrape time
            counted = _Tally(None)
            child.set_function(lambda: counted.value)
            tally = counted
        else:
            tally = _Tally(child)
        _TALLIES[key] = tally
    return tally


def _check_limit(value: int | None, option: str) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ValueError(f"{option} must be an int >= 1 (or None for no limit), got {value!r}")


class MapPrimitive(WorkflowPrimitive[Iterable[TItem], list[TResult]]):
    """Applies ``step`` to every item of its input; returns the results in input order.

    At most ``max_concurrency`` items are in flight at once (``None``: all of them).
    By default the first failure cancels the items still running, waits for them to
    finish cancelling, and is raised as it is (with a note naming the item). With
    ``collect_errors=True`` every item runs to the end and the failures are raised
    together as one ``ExceptionGroup``, in item order.

    ``item_name`` gives each item's execution a span of its own with that name (for
    example ``lambda task: f"{task.id} {task.title}"``), so a trace tells the items
    apart; it names spans only, never metric labels, so it may hold ids.
    """

    def __init__(
        self,
        step: WorkflowPrimitive[TItem, TResult] | AsyncStep[TItem, TResult],
        *,
        max_concurrency: int | None = None,
        collect_errors: bool = False,
        item_name: Callable[[TItem], str] | None = None,
        name: str | None = None,
    ) -> None:
        _check_limit(max_concurrency, "max_concurrency")
        self.step: WorkflowPrimitive[TItem, TResult] = as_primitive(step, "a MapPrimitive")
        self.max_concurrency = max_concurrency
        self.collect_errors = collect_errors
        self.item_name = item_name
        self.name = name or f"map({self.step.display_name})"
        self._in_flight = _tally(CONCURRENCY_IN_FLIGHT, self.display_name)

    async def _execute_impl(
        self, input_data: Iterable[TItem], context: WorkflowContext
    ) -> list[TResult]:
        import asyncio  # here, not at the top: importing asyncio costs ~40 ms

        items = list(input_data)
        if not items:
            return []
        results: list[Any] = [None] * len(items)
        failures: dict[int, Exception] = {}
        pending = iter(range(len(items)))  # shared by the workers: one loop, no lock needed

        async def work() -> None:
            for index in pending:
                self._in_flight.enter()
                try:
                    results[index] = await self._run_item(items[index], index, context)
                except Exception as error:
                    error.add_note(f"item {index} of {self.display_name!r}")
                    if not self.collect_errors:
                        raise
                    failures[index] = error
                finally:
                    self._in_flight.leave()

        loop = asyncio.get_running_loop()
        workers = [
            loop.create_task(work())
            for _ in range(min(self.max_concurrency or len(items), len(items)))
        ]
        try:
            await asyncio.gather(*workers)
        except BaseException:
            for worker in workers:
                worker.cancel()
            await asyncio.wait(workers)
            raise
        if failures:
            raise ExceptionGroup(
                f"{len(failures)} of {len(items)} items of {self.display_name!r} failed",
                [failures[index] for index in sorted(failures)],
            )
        return results

    async def _run_item(self, item: TItem, index: int, context: WorkflowContext) -> TResult:
        tracer = active_tracer() if self.item_name is not None else None
        if tracer is None or self.item_name is None:
            return await self.step.execute(item, context)
        attributes: dict[str, str | int] = {"tta.primitive.type": "MapItem", "tta.map.index": index}
        with tracer.start_as_current_span(self.item_name(item), attributes=attributes):
            return await self.step.execute(item, context)

    def __repr__(self) -> str:
        limit = self.max_concurrency
        return f"MapPrimitive({self.step!r}, max_concurrency={limit}, name={self.display_name!r})"


class BulkheadPrimitive(WrapperPrimitive[TIn, TOut]):
    """Lets at most ``max_concurrency`` calls of ``inner`` run at once; the others wait.

    The limit holds for every caller of this instance (every workflow, every task of
    its event loop), so wrap the step once and share it. A waiting call takes the
    next free slot in arrival order. With ``max_wait_seconds``, a call that found no
    slot in that time raises :class:`~tta_dev_primitives.BulkheadFullError` without
    running (``0``: refuse at once when full); by default it waits as long as it takes.
    Like asyncio's own primitives, one instance serves one event loop at a time.
    """

    kind = "bulkhead"

    def __init__(
        self,
        inner: WorkflowPrimitive[TIn, TOut] | AsyncStep[TIn, TOut],
        max_concurrency: int,
        *,
        max_wait_seconds: float | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(inner, name=name)
        _check_limit(max_concurrency, "max_concurrency")
        if max_wait_seconds is not None and not (
            max_wait_seconds >= 0 and math.isfinite(max_wait_seconds)
        ):
            raise ValueError(
                f"max_wait_seconds must be a finite number >= 0 (or None), got {max_wait_seconds!r}"
            )
        self.max_concurrency = max_concurrency
        self.max_wait_seconds = max_wait_seconds
        # The slots are counted here rather than by an asyncio.Semaphore: a free slot is
        # then taken without an await, and the instance is not bound to the first loop
        # that used it. A slot freed while calls wait is handed to the first of them.
        self._running = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._in_flight = _tally(CONCURRENCY_IN_FLIGHT, self.display_name)
        self._waiting = _tally(CONCURRENCY_WAITING, self.display_name)
        self._rejected = counter(BULKHEAD_REJECTED).labels(self.display_name)

    async def _execute_impl(self, input_data: TIn, context: WorkflowContext) -> TOut:
        if self._running < self.max_concurrency and not self._waiters:
            self._running += 1
        else:
            await self._wait_for_slot()  # returns holding a slot handed over
        self._in_flight.enter()
        try:
            return await self.inner.execute(input_data, context)
        finally:
            self._in_flight.leave()
            self._release()

    def _release(self) -> None:
        """Hand the slot to the first call still waiting, or free it."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self._running -= 1

    async def _wait_for_slot(self) -> None:
        import asyncio

        wait = self.max_wait_seconds
        if wait == 0:
            self._rejected.inc()
            raise BulkheadFullError(self.display_name, self.max_concurrency, 0.0)
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        deadline = asyncio.timeout(wait)
        self._waiting.enter()
        try:
            async with deadline:
                await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self._release()  # handed a slot just as this call gave up: pass it on
            else:
                waiter.cancel()  # _release skips it
            if wait is not None and deadline.expired():
                self._rejected.inc()
                raise BulkheadFullError(self.display_name, self.max_concurrency, wait) from None
            raise
        finally:
            self._waiting.leave()

    def __repr__(self) -> str:
        return (
            f"BulkheadPrimitive({self.inner!r}, max_concurrency={self.max_concurrency}, "
            f"name={self.display_name!r})"
        )
