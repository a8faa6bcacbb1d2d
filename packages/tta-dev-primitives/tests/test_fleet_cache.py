"""RedisCacheBackend: a cache shared by workers, single flight across them, and what
happens when Redis stops, pauses or comes back. Real Redis servers throughout."""

from __future__ import annotations

import asyncio
import pickle
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import redis

import redis_for_tests as rt
from tta_dev_primitives import CachePrimitive, WorkflowContext
from tta_dev_primitives.exceptions import SharedStateUnavailableError
from tta_dev_primitives.fleet import JsonCodec, RedisCacheBackend, RedisLink
from tta_dev_primitives.performance import MISSING
from tta_dev_primitives.testing import metric_value

pytestmark = pytest.mark.needs("redis")


@pytest.fixture
def shared() -> Iterator[tuple[str, str]]:
    """(url, prefix) on the machine's Redis; the prefix's keys are dropped afterwards."""
    url = rt.shared_redis_url()
    prefix = rt.unique_prefix()
    yield url, prefix
    rt.drop_prefix(url, prefix)


_open_links: list[RedisLink] = []


def new_link(url: str, **options: Any) -> RedisLink:
    """A link that the ``close_links`` fixture closes after the test."""
    link = RedisLink(url, **options)
    _open_links.append(link)
    return link


@pytest.fixture(autouse=True)
async def close_links() -> AsyncIterator[None]:
    yield
    while _open_links:
        await _open_links.pop().aclose()


def worker_cache(url: str, prefix: str, step: Any, **options: Any) -> CachePrimitive[Any, Any]:
    """What one worker process builds: its own link, its own CachePrimitive."""
    backend = RedisCacheBackend(new_link(url, prefix=prefix), **options)
    return CachePrimitive(step, backend=backend, ttl_seconds=30, name="fleet-cache")


class Counted:
    """A slow step that counts its runs across every 'worker'."""

    def __init__(self, delay: float = 0.05, fail_first: int = 0) -> None:
        self.calls = 0
        self.delay = delay
        self.fail_first = fail_first

    async def __call__(self, prompt: str) -> dict[str, Any]:
        self.calls += 1
        await asyncio.sleep(self.delay)
        if self.calls <= self.fail_first:
            raise RuntimeError(f"provider failed on call {self.calls}")
        return {"answer": prompt.upper(), "call": self.calls}


async def test_a_second_worker_answers_from_the_first_workers_entry(
    shared: tuple[str, str], ctx: WorkflowContext
) -> None:
    url, prefix = shared
    step = Counted(delay=0)
    first, second = worker_cache(url, prefix, step), worker_cache(url, prefix, step)
    assert await first.execute("hello", ctx) == {"answer": "HELLO", "call": 1}
    assert await second.execute("hello", ctx) == {"answer": "HELLO", "call": 1}
    assert step.calls == 1
    client = redis.Redis.from_url(url)
    keys = [k.decode() for k in client.scan_iter(match=f"{prefix}:*")]
    assert keys == [f"{prefix}:cache:{first.cache_key('hello', ctx)}"]
    assert 0 < client.pttl(keys[0]) <= 30_000
    client.close()


async def test_eight_workers_asking_the_same_question_make_one_call(
    shared: tuple[str, str], ctx: WorkflowContext
) -> None:
    url, prefix = shared
    step = Counted(delay=0.2)
    workers = [worker_cache(url, prefix, step) for _ in range(8)]
    before = metric_value("tta_redis_cache_fills_total", outcome="waited")
    results = await asyncio.gather(*(w.execute("same question", ctx) for w in workers))
    assert step.calls == 1
    assert all(r == {"answer": "SAME QUESTION", "call": 1} for r in results)
    assert metric_value("tta_redis_cache_fills_total", outcome="waited") - before == 7


async def test_when_the_leader_fails_a_waiter_takes_over_and_errors_are_not_cached(
    shared: tuple[str, str], ctx: WorkflowContext
) -> None:
    url, prefix = shared
    step = Counted(delay=0.1, fail_first=1)
    workers = [worker_cache(url, prefix, step) for _ in range(4)]
    results = await asyncio.gather(*(w.execute("q", ctx) for w in workers), return_exceptions=True)
    failures = [r for r in results if isinstance(r, RuntimeError)]
    assert len(failures) == 1
    assert step.calls == 2
    assert [r for r in results if not isinstance(r, Exception)] == [{"answer": "Q", "call": 2}] * 3


async def test_a_lock_left_by_a_dead_worker_delays_a_caller_at_most_wait_seconds(
    shared: tuple[str, str], ctx: WorkflowContext
) -> None:
    url, prefix = shared
    step = Counted(delay=0)
    cache = worker_cache(url, prefix, step, wait_seconds=0.3)
    client = redis.Redis.from_url(url)
    client.set(f"{prefix}:cache:{cache.cache_key('q', ctx)}:lock", "dead-worker", px=60_000)
    client.close()
    before = metric_value("tta_redis_cache_fills_total", outcome="timeout")
    start = time.monotonic()
    assert await cache.execute("q", ctx) == {"answer": "Q", "call": 1}
    assert 0.3 <= time.monotonic() - start < 1.5
    assert metric_value("tta_redis_cache_fills_total", outcome="timeout") - before == 1


async def test_values_are_json_never_pickle_and_foreign_entries_are_misses(
    shared: tuple[str, str], ctx: WorkflowContext
) -> None:
    url, prefix = shared
    link = new_link(url, prefix=prefix)
    backend = RedisCacheBackend(link)
    client = redis.Redis.from_url(url)
    # An entry planted by someone else, in pickle: it must never be unpickled.
    client.set(f"{prefix}:cache:planted", pickle.dumps(object()))
    before = metric_value("tta_redis_cache_lookups_total", outcome="undecodable")
    assert await backend.get("planted") is MISSING
    assert metric_value("tta_redis_cache_lookups_total", outcome="undecodable") - before == 1
    # A value JSON cannot hold is not cached; the call itself still succeeds.
    await backend.set("object", object(), 10)
    assert client.get(f"{prefix}:cache:object") is None
    await backend.set("json", {"a": [1, 2]}, 10)
    assert client.get(f"{prefix}:cache:json") == b'{"a":[1,2]}'
    client.close()


async def test_a_codec_hook_stores_other_types(shared: tuple[str, str]) -> None:
    url, prefix = shared
    codec = JsonCodec(
        to_json=lambda v: {"re": v.real, "im": v.imag},
        from_json=lambda d: complex(d["re"], d["im"]),
    )
    backend = RedisCacheBackend(new_link(url, prefix=prefix), codec=codec)
    await backend.set("z", complex(1, 2), None)
    assert await backend.get("z") == complex(1, 2)


async def test_clear_forgets_its_namespace_only(shared: tuple[str, str]) -> None:
    url, prefix = shared
    link = new_link(url, prefix=prefix)
    mine, other = RedisCacheBackend(link), RedisCacheBackend(link, namespace="other")
    await mine.set("a", 1, None)
    await other.set("a", 2, None)
    await mine.clear()
    assert await mine.get("a") is MISSING
    assert await other.get("a") == 2


def test_bad_options_are_refused_with_the_reason() -> None:
    link = RedisLink()
    with pytest.raises(ValueError, match="wait_seconds must be > 0"):
        RedisCacheBackend(link, wait_seconds=0)
    with pytest.raises(TypeError, match="encode"):
        RedisCacheBackend(link, codec=pickle)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="Redis URL"):
        RedisLink("postgresql://localhost/db")


async def test_the_password_of_the_url_appears_nowhere() -> None:
    port = rt.free_port()  # nothing listens there
    link = new_link(f"redis://:s3cr3t-pw@127.0.0.1:{port}/2", timeout_seconds=0.1)
    assert "s3cr3t" not in repr(link)
    with pytest.raises(SharedStateUnavailableError) as caught:
        await link.run("cache", lambda r: r.get("k"))
    assert "s3cr3t" not in str(caught.value)
    assert f"127.0.0.1:{port}/2" in str(caught.value)


async def test_redis_stopped_bypasses_the_cache_and_it_comes_back_on_restart(
    ctx: WorkflowContext,
) -> None:
    with rt.throwaway_redis() as server:
        step = Counted(delay=0)
        link = new_link(server.url, prefix="t", timeout_seconds=0.2, retry_interval_seconds=0.3)
        cache = CachePrimitive(step, backend=RedisCacheBackend(link), name="outage-cache")
        assert (await cache.execute("q", ctx))["call"] == 1
        assert (await cache.execute("q", ctx))["call"] == 1  # a hit
        server.stop()
        errors = metric_value("tta_redis_errors_total", feature="cache")
        start = time.monotonic()
        for expected in (2, 3, 4):
            assert (await cache.execute("q", ctx))["call"] == expected  # bypassed, still served
        assert time.monotonic() - start < 1.0
        assert metric_value("tta_redis_errors_total", feature="cache") - errors >= 1
        server.start()  # empty after the crash
        await asyncio.sleep(0.35)  # the cool-off
        assert (await cache.execute("q", ctx))["call"] == 5
        assert (await cache.execute("q", ctx))["call"] == 5  # cached again


async def test_redis_paused_costs_a_caller_about_the_timeout_then_nothing(
    ctx: WorkflowContext,
) -> None:
    with rt.throwaway_redis() as server:
        step = Counted(delay=0)
        link = new_link(server.url, prefix="t", timeout_seconds=0.2, retry_interval_seconds=5)
        cache = CachePrimitive(step, backend=RedisCacheBackend(link), name="paused-cache")
        await cache.execute("warm", ctx)
        server.pause()
        try:
            start = time.monotonic()
            assert (await cache.execute("q", ctx))["call"] == 2
            assert time.monotonic() - start < 1.0
            start = time.monotonic()
            assert (await cache.execute("q2", ctx))["call"] == 3
            assert time.monotonic() - start < 0.05  # cooling off: Redis is not even tried
        finally:
            server.resume()


async def test_a_full_redis_bypasses_the_cache_and_a_wrong_command_is_not_hidden(
    ctx: WorkflowContext,
) -> None:
    with rt.throwaway_redis() as server:
        import redis as sync_redis

        admin = sync_redis.Redis.from_url(server.url)
        link = new_link(server.url, prefix="t", retry_interval_seconds=0)
        step = Counted(delay=0)
        cache = CachePrimitive(step, backend=RedisCacheBackend(link), name="full-cache")
        admin.config_set("maxmemory", "1")  # every write now answers OOM
        admin.config_set("maxmemory-policy", "noeviction")
        errors = metric_value("tta_redis_errors_total", feature="cache")
        assert (await cache.execute("q", ctx))["call"] == 1
        assert (await cache.execute("q", ctx))["call"] == 2  # not stored, still served
        assert metric_value("tta_redis_errors_total", feature="cache") - errors >= 1
        admin.close()
        with pytest.raises(redis.exceptions.ResponseError):
            await link.run("cache", lambda r: r.execute_command("NO-SUCH-COMMAND"))
