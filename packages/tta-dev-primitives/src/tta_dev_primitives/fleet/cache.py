"""``RedisCacheBackend``: one cache for every worker, with single flight across processes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from tta_dev_primitives.exceptions import SharedStateUnavailableError
from tta_dev_primitives.fleet.codec import Codec, JsonCodec
from tta_dev_primitives.observability.metrics import counter
from tta_dev_primitives.performance.backends import MISSING
from tta_dev_primitives.performance.telemetry import (
    FLEET_LOCAL_FALLBACKS,
    REDIS_CACHE_FILLS,
    REDIS_CACHE_LOOKUPS,
    annotate,
)

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from tta_dev_primitives.fleet.link import RedisLink

__all__ = ["RedisCacheBackend"]

logger = logging.getLogger("tta_dev_primitives.fleet")


class RedisCacheBackend:
    """A :class:`~tta_dev_primitives.performance.CacheBackend` in Redis, shared by a fleet.

    Keys are ``<link prefix>:<namespace>:<cache key>``; entries expire after the
    cache's TTL (Redis drops them). Values go through ``codec`` (default
    :class:`JsonCodec`: JSON only, never pickle); one it cannot encode is not cached.

    Single flight across processes: on a miss, the first worker takes a lock key
    (redis-py's Lua-scripted lock, expiring after ``lock_seconds`` in case that worker
    dies) and runs the call; the others poll for its value for up to
    ``wait_seconds``, then run the call themselves. If the leader fails, the lock is
    released and the next waiter takes over (errors are not cached).

    When Redis is unreachable the cache is bypassed: lookups miss, stores are
    skipped, every call runs (``tta_redis_cache_lookups_total{outcome="error"}`` and a
    warning say so); it is used again as soon as Redis answers.
    """

    def __init__(
        self,
        link: RedisLink,
        *,
        namespace: str = "cache",
        codec: Codec | None = None,
        lock_seconds: float = 60.0,
        wait_seconds: float = 60.0,
        poll_seconds: float = 0.01,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        for label, value in (
            ("lock_seconds", lock_seconds),
            ("wait_seconds", wait_seconds),
            ("poll_seconds", poll_seconds),
        ):
            if not value > 0:
                raise ValueError(f"{label} must be > 0, got {value!r}")
        if codec is not None and not isinstance(codec, Codec):
            raise TypeError(f"codec must have encode(value) and decode(bytes), not {codec!r}")
        self.link = link
        self.namespace = namespace
        self.codec: Codec = codec or JsonCodec()
        self.lock_seconds = lock_seconds
        self.wait_seconds = wait_seconds
        self.poll_seconds = poll_seconds
        self._clock = clock
        self._sleep = sleep
        lookups = counter(REDIS_CACHE_LOOKUPS)
        self._lookup = {o: lookups.labels(o) for o in ("hit", "miss", "error", "undecodable")}
        fills = counter(REDIS_CACHE_FILLS)
        self._fill = {o: fills.labels(o) for o in ("led", "waited", "timeout", "bypassed")}
        self._bypassed = counter(FLEET_LOCAL_FALLBACKS).labels("cache")
        self._unencodable_logged = False

    def __repr__(self) -> str:
        return f"RedisCacheBackend({self.link!r}, namespace={self.namespace!r})"

    def _key(self, key: str) -> str:
        return self.link.key(self.namespace, key)

    async def get(self, key: str) -> Any:
        """The value stored under ``key``, or ``MISSING`` (also when Redis is unreachable)."""
        full = self._key(key)
        try:
            data = await self.link.run("cache", lambda r: r.get(full))
        except SharedStateUnavailableError:
            self._lookup["error"].inc()
            self._bypassed.inc()
            return MISSING
        if not isinstance(data, bytes):  # None: absent or expired
            self._lookup["miss"].inc()
            return MISSING
        try:
            value = self.codec.decode(data)
        except (ValueError, TypeError):
            self._lookup["undecodable"].inc()
            return MISSING
        self._lookup["hit"].inc()
        return value

    async def set(self, key: str, value: Any, ttl_seconds: float | None) -> None:
        """Store ``value`` for ``ttl_seconds``; skipped if unencodable or Redis is unreachable."""
        try:
            data = self.codec.encode(value)
        except (TypeError, ValueError) as error:
            if not self._unencodable_logged:
                self._unencodable_logged = True
                logger.warning(
                    "RedisCacheBackend(%s) cannot encode a %s (%s); such values are not "
                    "cached. Pass codec= to store them",
                    self.namespace,
                    type(value).__name__,
                    type(error).__name__,
                )
            return
        full = self._key(key)
        px = None if ttl_seconds is None else max(1, round(ttl_seconds * 1000))
        try:
            await self.link.run("cache", lambda r: r.set(full, data, px=px))
        except SharedStateUnavailableError:
            return

    async def delete(self, key: str) -> None:
        """Forget ``key``; raises ``SharedStateUnavailableError`` if Redis is unreachable."""
        full = self._key(key)
        await self.link.run("cache", lambda r: r.delete(full))

    async def clear(self) -> None:
        """Forget every entry of this namespace (and only those)."""
        pattern = self._key("*")

        async def clear_all(client: Redis) -> None:
            batch: list[Any] = []
            async for found in client.scan_iter(match=pattern, count=500):
                batch.append(found)
                if len(batch) >= 500:
                    await client.unlink(*batch)
                    batch.clear()
            if batch:
                await client.unlink(*batch)

        await self.link.run("cache", clear_all)

    async def fill(
        self, key: str, produce: Callable[[], Awaitable[Any]], ttl_seconds: float | None
    ) -> Any:
        """The value for ``key``, running ``produce`` once for the whole fleet if possible."""
        from redis.exceptions import LockError

        lock = self.link.client().lock(
            self._key(key) + ":lock",
            timeout=self.lock_seconds,
            blocking=False,
            thread_local=False,
        )
        deadline = self._clock() + self.wait_seconds
        delay = self.poll_seconds
        while True:
            try:
                leader = await self.link.run("cache", lambda _: lock.acquire(blocking=False))
            except SharedStateUnavailableError:
                return await self._bypass(produce)
            if leader:
                return await self._lead(key, lock, produce, ttl_seconds, LockError)
            value = await self.get(key)
            if value is not MISSING:
                self._fill["waited"].inc()
                annotate({"tta.cache.fill": "waited"})
                return value
            if not self.link.available:
                return await self._bypass(produce)
            left = deadline - self._clock()
            if left <= 0:
                self._fill["timeout"].inc()
                annotate({"tta.cache.fill": "timeout"})
                logger.warning(
                    "RedisCacheBackend(%s): gave up waiting %.3gs for another worker's "
                    "result; running the call here",
                    self.namespace,
                    self.wait_seconds,
                )
                return await produce()
            await self._sleep(min(delay, left))
            delay = min(delay * 2, 0.25)

    async def _lead(
        self,
        key: str,
        lock: Any,
        produce: Callable[[], Awaitable[Any]],
        ttl_seconds: float | None,
        lock_error: type[Exception],
    ) -> Any:
        try:
            # Another worker may have stored it between our miss and our lock.
            value = await self.get(key)
            if value is not MISSING:
                self._fill["waited"].inc()
                return value
            self._fill["led"].inc()
            annotate({"tta.cache.fill": "led"})
            value = await produce()
            await self.set(key, value, ttl_seconds)
            return value
        finally:

            async def release(_: Redis) -> None:
                # Expired meanwhile (lock_seconds too short): nothing left to release.
                with contextlib.suppress(lock_error):
                    await lock.release()

            # Unreachable: the lock expires by itself after lock_seconds.
            with contextlib.suppress(SharedStateUnavailableError):
                await self.link.run("cache", release)

    async def _bypass(self, produce: Callable[[], Awaitable[Any]]) -> Any:
        self._fill["bypassed"].inc()
        self._bypassed.inc()
        annotate({"tta.cache.fill": "bypassed"})
        return await produce()
