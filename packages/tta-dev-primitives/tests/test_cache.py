"""CachePrimitive: hits, TTL, LRU, keys, single flight, cancellation, backends."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from tta_dev_primitives import (
    CacheBackend,
    CachePrimitive,
    InMemoryCacheBackend,
    WorkflowContext,
)
from tta_dev_primitives.performance import MISSING, default_cache_key
from tta_dev_primitives.testing import FakeClock, FunctionPrimitive, metric_value


def counting(name: str = "expensive") -> FunctionPrimitive[Any, Any]:
    """A step returning ``(input, n)`` where ``n`` counts its calls."""
    count = 0

    def work(x: Any) -> Any:
        nonlocal count
        count += 1
        return (x, count)

    return FunctionPrimitive(work, name=name)


class Gated:
    """An async step that waits for ``release`` and then returns or raises ``outcome``."""

    def __init__(self, outcome: Any) -> None:
        self.outcome = outcome
        self.release = asyncio.Event()
        self.entered = asyncio.Event()
        self.calls = 0
        self.cancelled = False
        self.cleaned_up = False

    async def __call__(self, x: Any) -> Any:
        self.calls += 1
        self.entered.set()
        try:
            await self.release.wait()
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        finally:
            self.cleaned_up = True
        if isinstance(self.outcome, BaseException):
            raise self.outcome
        return self.outcome


def cache_metrics(name: str) -> dict[str, float]:
    return {
        kind: metric_value(f"tta_cache_{kind}_total", primitive=name)
        for kind in ("hits", "misses", "coalesced", "evictions")
    }


def deltas(before: dict[str, float], name: str) -> dict[str, float]:
    after = cache_metrics(name)
    return {kind: after[kind] - before[kind] for kind in before}


async def wait_until(
    condition: Callable[[], bool], message: str = "condition never became true"
) -> None:
    """Let other tasks run until ``condition()`` holds (a bounded number of loop turns)."""
    for _ in range(200):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError(message)


# -- hits, misses, TTL -----------------------------------------------------------------


async def test_a_hit_returns_the_cached_value_without_calling_inner(
    ctx: WorkflowContext,
) -> None:
    step = counting()
    cache = CachePrimitive(step, name="cache-hit")
    before = cache_metrics("cache-hit")

    first = await cache.execute("q", ctx)
    second = await cache.execute("q", ctx)

    assert first == ("q", 1)
    assert second is first
    assert step.call_inputs == ["q"]
    assert deltas(before, "cache-hit") == {
        "hits": 1,
        "misses": 1,
        "coalesced": 0,
        "evictions": 0,
    }


async def test_different_inputs_are_cached_separately(ctx: WorkflowContext) -> None:
    step = counting()
    cache = CachePrimitive(step)
    assert await cache.execute("a", ctx) == ("a", 1)
    assert await cache.execute("b", ctx) == ("b", 2)
    assert await cache.execute("a", ctx) == ("a", 1)
    assert step.call_inputs == ["a", "b"]


async def test_entries_expire_after_ttl(ctx: WorkflowContext, clock: FakeClock) -> None:
    step = counting()
    cache = CachePrimitive(step, ttl_seconds=10, clock=clock)

    assert await cache.execute("q", ctx) == ("q", 1)
    clock.advance(9.5)
    assert await cache.execute("q", ctx) == ("q", 1)
    clock.advance(0.5)  # exactly ttl_seconds after the fill
    assert await cache.execute("q", ctx) == ("q", 2)
    clock.advance(9.9)
    assert await cache.execute("q", ctx) == ("q", 2)
    assert len(step.calls) == 2


async def test_a_ttl_of_none_keeps_entries_until_evicted(
    ctx: WorkflowContext, clock: FakeClock
) -> None:
    step = counting()
    cache = CachePrimitive(step, ttl_seconds=None, clock=clock)
    await cache.execute("q", ctx)
    clock.advance(10**9)
    assert await cache.execute("q", ctx) == ("q", 1)
    assert len(step.calls) == 1


async def test_errors_are_not_cached(ctx: WorkflowContext) -> None:
    step = FunctionPrimitive.scripted([ConnectionError("blip"), "fine"])
    cache = CachePrimitive(step, name="cache-errors")
    before = cache_metrics("cache-errors")

    with pytest.raises(ConnectionError, match="blip"):
        await cache.execute("q", ctx)
    assert await cache.execute("q", ctx) == "fine"
    assert await cache.execute("q", ctx) == "fine"
    assert len(step.calls) == 2
    assert deltas(before, "cache-errors")["misses"] == 2
    assert deltas(before, "cache-errors")["hits"] == 1


async def test_none_results_are_cached(ctx: WorkflowContext) -> None:
    step = FunctionPrimitive(lambda _: None, name="returns-none")
    cache = CachePrimitive(step)
    assert await cache.execute("q", ctx) is None
    assert await cache.execute("q", ctx) is None
    assert len(step.calls) == 1
    assert await cache.backend.get(cache.cache_key("q", ctx)) is None
    assert await cache.backend.get("absent") is MISSING


async def test_invalidate_forgets_an_entry(ctx: WorkflowContext) -> None:
    step = counting()
    cache = CachePrimitive(step)
    await cache.execute("a", ctx)
    await cache.execute("b", ctx)

    await cache.invalidate("a", ctx)

    assert await cache.execute("a", ctx) == ("a", 3)
    assert await cache.execute("b", ctx) == ("b", 2)
    await cache.invalidate("never cached", ctx)  # no error


# -- LRU -------------------------------------------------------------------------------


async def test_lru_eviction_drops_the_least_recently_used(ctx: WorkflowContext) -> None:
    name = "cache-lru"
    step = counting()
    cache = CachePrimitive(step, max_size=2, name=name)
    before = cache_metrics(name)

    await cache.execute("a", ctx)
    await cache.execute("b", ctx)
    await cache.execute("a", ctx)  # a read: "b" is now the least recently used
    await cache.execute("c", ctx)  # evicts "b"
    assert deltas(before, name)["evictions"] == 1

    assert await cache.execute("a", ctx) == ("a", 1)
    assert await cache.execute("c", ctx) == ("c", 3)
    assert step.call_inputs == ["a", "b", "c"]
    assert await cache.execute("b", ctx) == ("b", 4)  # refilled, evicting "a"
    assert deltas(before, name)["evictions"] == 2
    assert await cache.execute("c", ctx) == ("c", 3)
    assert await cache.execute("a", ctx) == ("a", 5)


async def test_refreshing_an_entry_is_not_an_eviction(
    ctx: WorkflowContext, clock: FakeClock
) -> None:
    name = "cache-refresh"
    step = counting()
    cache = CachePrimitive(step, max_size=2, ttl_seconds=1, clock=clock, name=name)
    before = cache_metrics(name)
    await cache.execute("a", ctx)
    await cache.execute("b", ctx)
    clock.advance(1)
    await cache.execute("a", ctx)  # expired: refilled in place
    assert deltas(before, name)["evictions"] == 0
    assert isinstance(cache.backend, InMemoryCacheBackend)
    assert len(cache.backend) == 2


# -- keys ------------------------------------------------------------------------------


async def test_default_key_ignores_dict_order(ctx: WorkflowContext) -> None:
    step = counting()
    cache = CachePrimitive(step)
    first = await cache.execute({"a": 1, "b": [1, 2]}, ctx)
    second = await cache.execute({"b": [1, 2], "a": 1}, ctx)
    assert second is first
    assert len(step.calls) == 1
    assert await cache.execute({"a": 1, "b": [2, 1]}, ctx) != first


def test_default_cache_key_is_stable_and_discriminating() -> None:
    assert default_cache_key({"x": 1, "y": 2}) == default_cache_key({"y": 2, "x": 1})
    assert default_cache_key(1) != default_cache_key("1")
    assert default_cache_key([1, 2]) != default_cache_key([2, 1])
    assert default_cache_key({1, 2}) == default_cache_key({1, 2})  # not JSON: repr
    assert len(default_cache_key("anything")) == 32


async def test_a_one_argument_key_function(ctx: WorkflowContext) -> None:
    step = counting()
    cache = CachePrimitive(step, key=lambda request: str(request["user"]))
    first = await cache.execute({"user": 7, "trace": "abc"}, ctx)
    second = await cache.execute({"user": 7, "trace": "def"}, ctx)
    assert second is first
    assert len(step.calls) == 1
    assert cache.cache_key({"user": 7}, ctx) == "7"


async def test_a_key_function_taking_the_context() -> None:
    step = counting()
    cache = CachePrimitive(step, key=lambda x, ctx: f"{ctx.metadata['tenant']}:{x}")
    acme = WorkflowContext(metadata={"tenant": "acme"})
    globex = WorkflowContext(metadata={"tenant": "globex"})

    assert await cache.execute("q", acme) == ("q", 1)
    assert await cache.execute("q", globex) == ("q", 2)
    assert await cache.execute("q", WorkflowContext(metadata={"tenant": "acme"})) == ("q", 1)
    assert cache.cache_key("q", acme) == "acme:q"


# -- single flight ---------------------------------------------------------------------


async def test_concurrent_identical_requests_run_inner_once(ctx: WorkflowContext) -> None:
    name = "cache-single-flight"
    work = Gated(outcome={"answer": 42})
    cache = CachePrimitive(FunctionPrimitive(work), name=name)
    before = cache_metrics(name)

    waiters = [asyncio.create_task(cache.execute("q", ctx)) for _ in range(50)]
    await work.entered.wait()
    await wait_until(lambda: deltas(before, name)["coalesced"] == 49)
    work.release.set()
    results = await asyncio.gather(*waiters)

    assert work.calls == 1
    assert all(result is results[0] for result in results)
    assert results[0] == {"answer": 42}
    assert deltas(before, name) == {"hits": 0, "misses": 1, "coalesced": 49, "evictions": 0}
    assert await cache.execute("q", ctx) is results[0]
    assert deltas(before, name)["hits"] == 1


async def test_concurrent_identical_requests_all_get_the_same_error(
    ctx: WorkflowContext,
) -> None:
    error = ConnectionError("upstream down")
    work = Gated(outcome=error)
    cache = CachePrimitive(FunctionPrimitive(work))

    waiters = [asyncio.create_task(cache.execute("q", ctx)) for _ in range(50)]
    await work.entered.wait()
    work.release.set()
    outcomes = await asyncio.gather(*waiters, return_exceptions=True)

    assert work.calls == 1
    assert all(outcome is error for outcome in outcomes)
    # The error was not cached: the next request runs again.
    work.outcome = "recovered"
    assert await cache.execute("q", ctx) == "recovered"
    assert work.calls == 2


async def test_different_keys_do_not_share_a_flight(ctx: WorkflowContext) -> None:
    work = Gated(outcome="done")
    cache = CachePrimitive(FunctionPrimitive(work))
    waiters = [asyncio.create_task(cache.execute(x, ctx)) for x in ("a", "b", "a")]
    await wait_until(lambda: work.calls == 2)
    work.release.set()
    assert await asyncio.gather(*waiters) == ["done"] * 3
    assert work.calls == 2


async def test_cancelling_every_waiter_cancels_the_shared_run(ctx: WorkflowContext) -> None:
    work = Gated(outcome="late")
    cache = CachePrimitive(FunctionPrimitive(work))
    tasks_before = asyncio.all_tasks()

    waiters = [asyncio.create_task(cache.execute("q", ctx)) for _ in range(3)]
    await work.entered.wait()
    for waiter in waiters:
        waiter.cancel()
    outcomes = await asyncio.gather(*waiters, return_exceptions=True)
    assert all(isinstance(o, asyncio.CancelledError) for o in outcomes)

    await wait_until(lambda: work.cleaned_up)
    assert work.cancelled
    await wait_until(lambda: asyncio.all_tasks() == tasks_before)

    # Nothing was cached and a later request starts a fresh run.
    work.release.set()
    assert await cache.execute("q", ctx) == "late"
    assert work.calls == 2


async def test_one_cancelled_waiter_does_not_cancel_the_shared_run(
    ctx: WorkflowContext,
) -> None:
    work = Gated(outcome="shared")
    cache = CachePrimitive(FunctionPrimitive(work))

    waiters = [asyncio.create_task(cache.execute("q", ctx)) for _ in range(3)]
    await work.entered.wait()
    await asyncio.sleep(0)
    waiters[0].cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiters[0]

    work.release.set()
    assert await asyncio.gather(*waiters[1:]) == ["shared", "shared"]
    assert not work.cancelled
    assert work.calls == 1
    assert await cache.execute("q", ctx) == "shared"  # and it was cached
    assert work.calls == 1


async def test_a_request_after_every_waiter_left_gets_a_fresh_run(
    ctx: WorkflowContext,
) -> None:
    cleanup_may_finish = asyncio.Event()
    calls = 0

    async def work(x: str) -> str:
        nonlocal calls
        calls += 1
        call = calls
        try:
            if call == 1:
                await asyncio.Event().wait()  # runs until cancelled
            return f"{x} from run {call}"
        finally:
            if call == 1:
                await cleanup_may_finish.wait()  # slow cleanup, e.g. closing a connection

    cache = CachePrimitive(FunctionPrimitive(work))
    abandoned = asyncio.create_task(cache.execute("q", ctx))
    await wait_until(lambda: calls == 1)
    abandoned.cancel()
    with pytest.raises(asyncio.CancelledError):
        await abandoned

    # The first run is still cleaning up; a new caller must not inherit its cancellation.
    fresh = asyncio.create_task(cache.execute("q", ctx))
    await wait_until(lambda: calls == 2, "the new request joined the cancelled run")
    cleanup_may_finish.set()
    assert await fresh == "q from run 2"


# -- backends and construction ---------------------------------------------------------


class RecordingBackend:
    """A dict-backed CacheBackend that records every operation."""

    def __init__(self) -> None:
        self.entries: dict[str, Any] = {}
        self.log: list[tuple[Any, ...]] = []

    async def get(self, key: str) -> Any:
        self.log.append(("get", key))
        return self.entries.get(key, MISSING)

    async def set(self, key: str, value: Any, ttl_seconds: float | None) -> None:
        self.log.append(("set", key, value, ttl_seconds))
        self.entries[key] = value

    async def delete(self, key: str) -> None:
        self.log.append(("delete", key))
        self.entries.pop(key, None)

    async def clear(self) -> None:
        self.log.append(("clear",))
        self.entries.clear()


async def test_a_custom_backend_is_used(ctx: WorkflowContext) -> None:
    backend = RecordingBackend()
    assert isinstance(backend, CacheBackend)
    step = counting()
    cache = CachePrimitive(step, backend=backend, ttl_seconds=42, key=lambda x: f"k:{x}")

    assert await cache.execute("q", ctx) == ("q", 1)
    assert await cache.execute("q", ctx) == ("q", 1)
    await cache.invalidate("q", ctx)

    assert cache.backend is backend
    assert backend.log == [
        ("get", "k:q"),
        ("set", "k:q", ("q", 1), 42),
        ("get", "k:q"),
        ("delete", "k:q"),
    ]
    assert backend.entries == {}


async def test_a_value_stored_in_the_backend_is_served_from_it(ctx: WorkflowContext) -> None:
    backend = RecordingBackend()
    step = counting()
    cache = CachePrimitive(step, backend=backend)
    backend.entries[cache.cache_key("q", ctx)] = "precomputed"
    assert await cache.execute("q", ctx) == "precomputed"
    assert step.calls == []


def test_backend_and_max_size_together_are_rejected() -> None:
    with pytest.raises(ValueError, match="max_size"):
        CachePrimitive(counting(), backend=RecordingBackend(), max_size=10)


def test_an_object_that_is_not_a_backend_is_rejected() -> None:
    with pytest.raises(TypeError, match="CacheBackend"):
        CachePrimitive(counting(), backend={"not": "a backend"})  # type: ignore[arg-type]


@pytest.mark.parametrize("ttl", [0, -1, float("nan")])
def test_invalid_ttl_raises_value_error(ttl: float) -> None:
    with pytest.raises(ValueError, match="ttl_seconds"):
        CachePrimitive(counting(), ttl_seconds=ttl)


def test_invalid_max_size_and_key_are_rejected() -> None:
    with pytest.raises(ValueError, match="max_size"):
        CachePrimitive(counting(), max_size=0)
    with pytest.raises(TypeError, match="key"):
        CachePrimitive(counting(), key="user_id")  # type: ignore[arg-type]


def test_default_name_wraps_the_inner_name() -> None:
    assert CachePrimitive(counting("embed")).name == "cache(embed)"
