"""Shared circuit-breaker state in Redis: one worker opens it for all, one probe for the
fleet, and per-process state (or failing closed) when Redis stops. Real Redis servers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

import redis_for_tests as rt
from tta_dev_primitives import CircuitBreakerPrimitive, CircuitOpenError, WorkflowContext
from tta_dev_primitives.exceptions import SharedStateUnavailableError
from tta_dev_primitives.fleet import RedisBreakerStore, RedisLink
from tta_dev_primitives.testing import metric_value

pytestmark = pytest.mark.needs("redis")

_open_links: list[RedisLink] = []


def new_link(url: str, **options: Any) -> RedisLink:
    link = RedisLink(url, **options)
    _open_links.append(link)
    return link


@pytest.fixture(autouse=True)
async def close_links() -> AsyncIterator[None]:
    yield
    while _open_links:
        await _open_links.pop().aclose()


@pytest.fixture
def shared() -> Iterator[tuple[str, str]]:
    url = rt.shared_redis_url()
    prefix = rt.unique_prefix()
    yield url, prefix
    rt.drop_prefix(url, prefix)


class Provider:
    """Fails while ``down``; counts the calls that reached it."""

    def __init__(self, delay: float = 0.0) -> None:
        self.down = True
        self.calls = 0
        self.delay = delay

    async def __call__(self, x: Any) -> Any:
        self.calls += 1
        await asyncio.sleep(self.delay)
        if self.down:
            raise ConnectionError("provider down")
        return x


def workers(
    url: str, prefix: str, provider: Provider, count: int, **options: Any
) -> list[CircuitBreakerPrimitive[Any, Any]]:
    """``count`` workers, each with its own link and breaker, all named for one provider."""
    return [
        CircuitBreakerPrimitive(
            provider,
            failure_threshold=3,
            reset_timeout=0.3,
            state_store=RedisBreakerStore(new_link(url, prefix=prefix)),
            name="breaker(provider-x)",
            **options,
        )
        for _ in range(count)
    ]


async def call(worker: CircuitBreakerPrimitive[Any, Any], ctx: WorkflowContext) -> str:
    try:
        await worker.execute("q", ctx)
    except CircuitOpenError:
        return "refused"
    except ConnectionError:
        return "failed"
    return "ok"


async def test_calls_stop_after_the_threshold_for_the_whole_fleet_and_one_probe_reopens_it(
    shared: tuple[str, str], ctx: WorkflowContext
) -> None:
    url, prefix = shared
    provider = Provider(delay=0.05)
    fleet = workers(url, prefix, provider, 8)
    outcomes = [await call(fleet[i % 8], ctx) for i in range(24)]
    assert outcomes[:3] == ["failed"] * 3
    assert outcomes[3:] == ["refused"] * 21
    assert provider.calls == 3  # the threshold, not threshold x workers
    # Every worker that asked shows it open.
    assert metric_value("tta_circuit_breaker_state", primitive="breaker(provider-x)") == 2

    await asyncio.sleep(0.35)
    provider.down = False
    outcomes = await asyncio.gather(*(call(w, ctx) for w in fleet))
    assert sorted(outcomes) == ["ok"] + ["refused"] * 7
    assert provider.calls == 4  # one probe for the fleet
    outcomes = await asyncio.gather(*(call(w, ctx) for w in fleet))
    assert outcomes == ["ok"] * 8  # closed for everyone


async def test_a_failed_probe_opens_it_again_for_everyone(
    shared: tuple[str, str], ctx: WorkflowContext
) -> None:
    url, prefix = shared
    provider = Provider()
    first, second = workers(url, prefix, provider, 2)
    for _ in range(3):
        await call(first, ctx)
    await asyncio.sleep(0.35)
    assert await call(second, ctx) == "failed"  # the probe
    assert await call(first, ctx) == "refused"
    assert provider.calls == 4


async def test_a_probe_whose_worker_died_frees_its_slot_after_probe_seconds(
    shared: tuple[str, str], ctx: WorkflowContext
) -> None:
    url, prefix = shared
    store = RedisBreakerStore(new_link(url, prefix=prefix), probe_seconds=0.2)
    provider = Provider()
    breaker = CircuitBreakerPrimitive(
        provider, failure_threshold=1, reset_timeout=0.1, state_store=store, name="b-dead"
    )
    await call(breaker, ctx)
    await asyncio.sleep(0.15)
    from tta_dev_primitives.recovery.breaker_state import BreakerPolicy

    policy = BreakerPolicy(1, 0.1, 1, 1)
    taken = await store.admit("b-dead", policy, "worker-that-dies")
    assert taken.probing
    assert await call(breaker, ctx) == "refused"
    await asyncio.sleep(0.25)
    provider.down = False
    assert await call(breaker, ctx) == "ok"


async def test_redis_stopped_falls_back_to_each_process_or_fails_closed(
    ctx: WorkflowContext,
) -> None:
    with rt.throwaway_redis() as server:
        provider = Provider()
        link = new_link(server.url, prefix="t", timeout_seconds=0.2, retry_interval_seconds=0.3)
        local = CircuitBreakerPrimitive(
            provider, failure_threshold=2, reset_timeout=60,
            state_store=RedisBreakerStore(link), name="b-local",
        )  # fmt: skip
        closed = CircuitBreakerPrimitive(
            provider, failure_threshold=2, reset_timeout=60,
            state_store=RedisBreakerStore(link), on_unavailable="reject", name="b-closed",
        )  # fmt: skip
        assert await call(local, ctx) == "failed"
        server.stop()
        start = time.monotonic()
        with pytest.raises(SharedStateUnavailableError):
            await closed.execute("q", ctx)
        # This process's own breaker takes over, from the last shared count (1 failure).
        assert [await call(local, ctx) for _ in range(3)] == ["failed", "refused", "refused"]
        assert time.monotonic() - start < 1.0
        server.start()
        await asyncio.sleep(0.35)
        provider.down = False
        assert await call(closed, ctx) == "ok"  # shared again (the restarted Redis is empty)


async def test_reset_closes_it_for_every_worker(
    shared: tuple[str, str], ctx: WorkflowContext
) -> None:
    url, prefix = shared
    provider = Provider()
    first, second = workers(url, prefix, provider, 2)
    for _ in range(3):
        await call(first, ctx)
    assert first.state_store is not None
    await first.state_store.reset(first.display_name)
    provider.down = False
    assert await call(second, ctx) == "ok"
