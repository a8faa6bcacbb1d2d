"""RedisRateLimitBackend: one limit for several workers, a fleet-wide pause after a 429,
and the fallbacks when Redis stops or pauses. Real Redis servers throughout."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

import redis_for_tests as rt
from tta_dev_primitives import (
    RateLimit,
    RateLimitExceededError,
    RateLimitPrimitive,
    WorkflowContext,
)
from tta_dev_primitives.exceptions import SharedStateUnavailableError
from tta_dev_primitives.fleet import RedisLink, RedisRateLimitBackend
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
    """Records when each call arrives, across every worker."""

    def __init__(self) -> None:
        self.arrivals: list[float] = []

    async def __call__(self, x: Any) -> Any:
        self.arrivals.append(time.monotonic())
        return x


def worker(
    url: str, prefix: str, step: Any, limits: list[RateLimit], **options: Any
) -> RateLimitPrimitive[Any, Any]:
    """One worker's limiter: its own link, the fleet's key."""
    backend = RedisRateLimitBackend(new_link(url, prefix=prefix))
    return RateLimitPrimitive(step, limits, key="model-a", backend=backend, **options)


def most_in_any_window(times: list[float], window: float) -> int:
    return max(sum(1 for t in times if start <= t < start + window) for start in times)


async def test_four_workers_together_stay_within_one_limit(
    shared: tuple[str, str], ctx: WorkflowContext
) -> None:
    url, prefix = shared
    provider = Provider()
    workers = [
        worker(url, prefix, provider, [RateLimit(5, 0.5)], max_wait_seconds=10) for _ in range(4)
    ]
    await asyncio.gather(*(w.execute(i, ctx) for i in range(5) for w in workers))
    assert len(provider.arrivals) == 20
    # Measured where the calls arrive, a hair inside the window for scheduling jitter.
    assert most_in_any_window(provider.arrivals, 0.5 - 0.01) <= 5
    assert provider.arrivals[-1] - provider.arrivals[0] >= 1.5  # four windows' worth


async def test_a_worker_is_refused_when_others_used_the_limit(
    shared: tuple[str, str], ctx: WorkflowContext
) -> None:
    url, prefix = shared
    provider = Provider()
    first, second = (worker(url, prefix, provider, [RateLimit(3, 60)]) for _ in range(2))
    for i in range(3):
        await first.execute(i, ctx)
    with pytest.raises(RateLimitExceededError) as caught:
        await second.execute(3, ctx)
    assert 59 < caught.value.retry_after <= 60
    assert len(provider.arrivals) == 3


async def test_tokens_and_requests_are_taken_together_or_not_at_all(
    shared: tuple[str, str], ctx: WorkflowContext
) -> None:
    url, prefix = shared
    provider = Provider()
    limits = [RateLimit(10, 60), RateLimit(1000, 60, cost=lambda n: n, unit="tokens")]
    first, second = (worker(url, prefix, provider, limits) for _ in range(2))
    await first.execute(600, ctx)
    with pytest.raises(RateLimitExceededError, match="tokens"):
        await second.execute(500, ctx)
    await second.execute(400, ctx)
    assert len(provider.arrivals) == 2


async def test_a_429_on_one_worker_slows_every_worker(
    shared: tuple[str, str], ctx: WorkflowContext
) -> None:
    url, prefix = shared

    class TooMany(Exception):
        retry_after = 0.4

    async def overloaded(x: Any) -> Any:
        raise TooMany()

    provider = Provider()
    hit = worker(url, prefix, overloaded, [RateLimit(100, 60)], pause_on=TooMany)
    other = worker(url, prefix, provider, [RateLimit(100, 60)], max_wait_seconds=5)
    with pytest.raises(TooMany):
        await hit.execute(1, ctx)
    start = time.monotonic()
    await other.execute(2, ctx)
    assert provider.arrivals[0] - start >= 0.35


async def test_redis_stopped_falls_back_to_a_local_share_or_fails_closed(
    ctx: WorkflowContext,
) -> None:
    with rt.throwaway_redis() as server:
        provider = Provider()
        link = new_link(server.url, prefix="t", timeout_seconds=0.2, retry_interval_seconds=0.3)
        local = RateLimitPrimitive(
            provider, [RateLimit(8, 60)], key="m", backend=RedisRateLimitBackend(link),
            local_share=0.25, name="rl-local",
        )  # fmt: skip
        closed = RateLimitPrimitive(
            provider, [RateLimit(8, 60)], key="m", backend=RedisRateLimitBackend(link),
            on_unavailable="reject", name="rl-closed",
        )  # fmt: skip
        await local.execute(0, ctx)
        server.stop()
        fallbacks = metric_value("tta_fleet_local_fallbacks_total", feature="rate_limit")
        start = time.monotonic()
        with pytest.raises(SharedStateUnavailableError, match="TTA_REDIS_URL"):
            await closed.execute(1, ctx)
        for i in range(2):  # this process's share: 8 x 0.25
            await local.execute(i, ctx)
        with pytest.raises(RateLimitExceededError):
            await local.execute(3, ctx)
        assert time.monotonic() - start < 1.0
        assert (
            metric_value("tta_fleet_local_fallbacks_total", feature="rate_limit") - fallbacks == 3
        )
        server.start()  # empty: the shared count starts again
        await asyncio.sleep(0.35)
        for i in range(8):
            await closed.execute(i, ctx)
        with pytest.raises(RateLimitExceededError):
            await closed.execute(8, ctx)


async def test_redis_paused_delays_a_check_by_about_the_timeout_only(ctx: WorkflowContext) -> None:
    with rt.throwaway_redis() as server:
        provider = Provider()
        link = new_link(server.url, prefix="t", timeout_seconds=0.2, retry_interval_seconds=5)
        limited = RateLimitPrimitive(
            provider, [RateLimit(100, 60)], key="m", backend=RedisRateLimitBackend(link)
        )
        await limited.execute(0, ctx)
        server.pause()
        try:
            start = time.monotonic()
            await limited.execute(1, ctx)
            assert time.monotonic() - start < 1.0
        finally:
            server.resume()
        assert len(provider.arrivals) == 2


async def test_the_running_total_matches_the_log_as_entries_leave_the_window(
    shared: tuple[str, str],
) -> None:
    import redis

    url, prefix = shared
    backend = RedisRateLimitBackend(new_link(url, prefix=prefix))
    limit = RateLimit(1000, 0.2, cost=lambda n: n, unit="tokens")
    admitted = 0
    for round_ in range(6):
        for cost in (100, 250, 50, 400, 300):  # 1100 a round: the last one waits
            if await backend.acquire("k", [(limit, cost)]) == 0:
                admitted += 1
        client = redis.Redis.from_url(url)
        log = client.zrange(f"{prefix}:rate:k:0", 0, -1)
        total = int(client.get(f"{prefix}:rate:k:0:total") or 0)
        client.close()
        assert total == sum(int(m.rsplit(b":", 1)[1]) for m in log) <= 1000, round_
        await asyncio.sleep(0.12 if round_ % 2 else 0.25)
    assert admitted >= 12  # at least the rounds that start with an empty window
