"""``CachePrimitive``: reuse results, and run identical concurrent requests once."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

from tta_dev_primitives.core.base import AsyncStep, WorkflowPrimitive, takes_context
from tta_dev_primitives.core.context import WorkflowContext
from tta_dev_primitives.core.wrapper import WrapperPrimitive
from tta_dev_primitives.observability.metrics import (
    CACHE_COALESCED,
    CACHE_EVICTIONS,
    CACHE_HITS,
    CACHE_MISSES,
    counter,
)
from tta_dev_primitives.performance.backends import MISSING, CacheBackend, InMemoryCacheBackend

if TYPE_CHECKING:
    import asyncio

__all__ = ["CachePrimitive", "default_cache_key"]

TIn = TypeVar("TIn")
TOut = TypeVar("TOut")


def default_cache_key(value: Any) -> str:
    """A stable key for JSON-like input (dict order does not matter); ``repr`` otherwise."""
    import hashlib
    import json

    try:
        text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=repr)
    except (TypeError, ValueError):
        text = repr(value)
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


class _Flight:
    """One execution under way, shared by every caller that asked for its key."""

    __slots__ = ("task", "waiters")

    def __init__(self, task: asyncio.Task[Any]) -> None:
        self.task = task
        self.waiters = 0


class CachePrimitive(WrapperPrimitive[TIn, TOut]):
    """Answers from a cache when it can; otherwise runs ``inner`` and stores the result.

    * ``key(x)`` or ``key(x, ctx)`` makes the cache key (default: :func:`default_cache_key`).
    * ``ttl_seconds`` bounds an entry's life (``None``: until evicted).
    * ``max_size`` bounds the default in-memory backend (LRU); pass ``backend`` to keep
      entries elsewhere (any :class:`CacheBackend`).
    * Identical requests that arrive while one is running wait for that one
      (single flight): ``inner`` runs once and all of them get its result or its error.
      Errors are not cached. If every waiter is cancelled, the shared run is cancelled.
      A backend with a ``fill(key, produce, ttl_seconds)`` method (the Redis one) extends
      this across processes: one run for the whole fleet.
    """

    kind = "cache"

    def __init__(
        self,
        inner: WorkflowPrimitive[TIn, TOut] | AsyncStep[TIn, TOut],
        *,
        key: Callable[..., str] | None = None,
        ttl_seconds: float | None = 300.0,
        max_size: int | None = None,
        backend: CacheBackend | None = None,
        clock: Callable[[], float] = time.monotonic,
        name: str | None = None,
    ) -> None:
        super().__init__(inner, name=name)
        if ttl_seconds is not None and not (ttl_seconds > 0 and not math.isnan(ttl_seconds)):
            raise ValueError(f"ttl_seconds must be > 0 or None, got {ttl_seconds!r}")
        if backend is not None and max_size is not None:
            raise ValueError("max_size applies to the default backend; set it on your backend")
        if backend is not None and not isinstance(backend, CacheBackend):
            raise TypeError(
                f"backend must implement CacheBackend (get/set/delete/clear), not {backend!r}"
            )
        self.ttl_seconds = ttl_seconds
        evictions = counter(CACHE_EVICTIONS).labels(self.display_name)
        self.backend: CacheBackend = backend or InMemoryCacheBackend(
            1024 if max_size is None else max_size, clock=clock, on_evict=evictions.inc
        )
        key_func: Callable[..., str] = key or default_cache_key
        if not callable(key_func):
            raise TypeError(f"key must be a function of the input, not {key_func!r}")
        self._key_takes_context = takes_context(key_func)
        self._key_func = key_func
        self._flights: dict[str, _Flight] = {}
        self._hits = counter(CACHE_HITS).labels(self.display_name)
        self._misses = counter(CACHE_MISSES).labels(self.display_name)
        self._coalesced = counter(CACHE_COALESCED).labels(self.display_name)

    def cache_key(self, input_data: TIn, context: WorkflowContext) -> str:
        """The key this cache uses for ``input_data``."""
        if self._key_takes_context:
            return self._key_func(input_data, context)
        return self._key_func(input_data)

    async def invalidate(self, input_data: TIn, context: WorkflowContext) -> None:
        """Forget the cached result for ``input_data``."""
        await self.backend.delete(self.cache_key(input_data, context))

    async def _execute_impl(self, input_data: TIn, context: WorkflowContext) -> TOut:
        import asyncio  # here, not at the top: importing asyncio costs ~40 ms

        key = self.cache_key(input_data, context)
        cached = await self.backend.get(key)
        if cached is not MISSING:
            self._hits.inc()
            return cached  # type: ignore[no-any-return]
        flight = self._flights.get(key)
        if flight is None:
            self._misses.inc()
            task = asyncio.get_running_loop().create_task(self._fill(key, input_data, context))
            flight = self._flights[key] = _Flight(task)
            task.add_done_callback(lambda _: self._land(key, flight))
        else:
            self._coalesced.inc()
        flight.waiters += 1
        try:
            return await asyncio.shield(flight.task)
        finally:
            flight.waiters -= 1
            if flight.waiters == 0 and not flight.task.done():
                flight.task.cancel()
                # Forget it now, not when it ends: its cleanup may take a while, and
                # a later request must start afresh rather than join a cancelled run.
                self._land(key, flight)

    async def _fill(self, key: str, input_data: TIn, context: WorkflowContext) -> TOut:
        shared_fill = getattr(self.backend, "fill", None)
        if shared_fill is not None:
            # A shared backend (Redis) runs it once for every process and stores it.
            produce = lambda: self.inner.execute(input_data, context)  # noqa: E731
            return cast("TOut", await shared_fill(key, produce, self.ttl_seconds))
        value = await self.inner.execute(input_data, context)
        await self.backend.set(key, value, self.ttl_seconds)
        return value

    def _land(self, key: str, flight: _Flight) -> None:
        if self._flights.get(key) is flight:
            del self._flights[key]
