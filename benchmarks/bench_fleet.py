"""What keeping fleet state in Redis costs per call, against the in-memory backends.

Each pair runs the same primitive around the same step, once with its Redis backend and
once with its in-memory one, in the same run:

  a. a cache hit: ``CachePrimitive`` with ``RedisCacheBackend`` vs the in-memory LRU
  b. a rate-limit check that admits: ``RateLimitPrimitive`` with ``RedisRateLimitBackend``
     (one Lua script) vs ``InMemoryRateLimitBackend``; the limit never binds
  c. a breaker check on a closed breaker: ``CircuitBreakerPrimitive`` with
     ``RedisBreakerStore`` vs the in-process state
  d. for scale: one redis-py ``GET`` round trip vs an ``await`` of the step

The figure is the extra time per call (microseconds). Redis: ``--redis-url``, else
``TTA_BENCH_REDIS_URL``, else ``redis://127.0.0.1:6379/0``; the keys live under a
``tta-bench-<random>`` prefix and are deleted afterwards.

Usage: ``python benchmarks/bench_fleet.py [--quick] [--json FILE]``.
"""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from collections.abc import Sequence
from time import perf_counter
from typing import Any

from bench_primitives import FULL, QUICK, Result, Settings, compare, print_table, result
from machine import describe_machine
from report import benchmark_arguments, finish_run
from tta_dev_primitives import (
    CachePrimitive,
    CircuitBreakerPrimitive,
    RateLimit,
    RateLimitPrimitive,
    WorkflowContext,
)
from tta_dev_primitives.fleet import (
    RedisBreakerStore,
    RedisCacheBackend,
    RedisLink,
    RedisRateLimitBackend,
)

CTX = WorkflowContext(workflow_id="bench")


async def step(x: int) -> int:
    return x + 1


def _result(times: tuple[list[float], list[float]], key: str, label: str) -> Result:
    return result(times, key=key, label=label, unit="us", scale=1e6, kind="difference", target=None)


async def run_in_loop(link: RedisLink, settings: Settings) -> list[Result]:
    redis_cache = CachePrimitive(step, backend=RedisCacheBackend(link), name="bench-cache-redis")
    memory_cache = CachePrimitive(step, name="bench-cache-memory")
    never_binds = [RateLimit(10**9, 1.0)]
    redis_limit = RateLimitPrimitive(
        step, never_binds, backend=RedisRateLimitBackend(link), name="bench-rate-redis"
    )
    memory_limit = RateLimitPrimitive(step, never_binds, name="bench-rate-memory")
    redis_breaker = CircuitBreakerPrimitive(
        step, state_store=RedisBreakerStore(link), name="bench-breaker-redis"
    )
    memory_breaker = CircuitBreakerPrimitive(step, name="bench-breaker-memory")
    client = link.client()
    await client.set(link.key("bench", "k"), b"1")

    results = []
    pairs: Sequence[tuple[str, str, Any, Any]] = (
        ("cache_hit", "(a) cache hit: Redis vs in-memory", redis_cache, memory_cache),
        ("rate_limit_check", "(b) rate-limit check: Redis vs in-memory", redis_limit, memory_limit),
        ("breaker_check", "(c) breaker check: Redis vs in-process", redis_breaker, memory_breaker),
    )
    for key, label, ours, baseline in pairs:
        times = await compare(
            lambda p=ours: p.execute(1, CTX), lambda p=baseline: p.execute(1, CTX), settings
        )
        results.append(_result(times, key, label))
    get_key = link.key("bench", "k")
    times = await compare(lambda: client.get(get_key), lambda: step(1), settings)
    results.append(_result(times, "redis_get", "(d) one redis-py GET vs an await"))
    return results


async def measure(url: str, settings: Settings) -> tuple[list[Result], str]:
    prefix = f"tta-bench-{uuid.uuid4().hex[:8]}"
    link = RedisLink(url, prefix=prefix, timeout_seconds=1.0)
    try:
        results = await run_in_loop(link, settings)
        version = (await link.client().info("server"))["redis_version"]
    finally:
        client = link.client()
        keys = [k async for k in client.scan_iter(match=f"{prefix}:*")]
        if keys:
            await client.delete(*keys)
        await link.aclose()
    return results, str(version)


def main(argv: Sequence[str] | None = None) -> int:
    parser = benchmark_arguments(__doc__)
    parser.add_argument("--redis-url", help="the Redis to measure against")
    args = parser.parse_args(argv)
    settings = QUICK if args.quick else FULL
    url = args.redis_url or os.environ.get("TTA_BENCH_REDIS_URL") or "redis://127.0.0.1:6379/0"

    started = perf_counter()
    results, version = asyncio.run(measure(url, settings))
    import redis

    info = describe_machine(redis_server=version, redis_py=redis.__version__)
    print_table(results, settings, info, title="fleet (Redis) backends", imports=False)
    finish_run(
        results, started=started, settings=settings, info=info, quick=args.quick,
        json_path=args.json,
    )  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
