"""Where ``CachePrimitive`` keeps its entries: the backend protocol and the in-memory one."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Final, Protocol, runtime_checkable

__all__ = ["MISSING", "CacheBackend", "InMemoryCacheBackend"]


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final[Any] = _Missing()
"""Returned by :meth:`CacheBackend.get` for an absent or expired key (``None`` is a value)."""


@runtime_checkable
class CacheBackend(Protocol):
    """Storage for cached values; async so that a shared (e.g. Redis) backend fits."""

    async def get(self, key: str) -> Any:
        """The value stored under ``key``, or :data:`MISSING`."""
        ...

    async def set(self, key: str, value: Any, ttl_seconds: float | None) -> None:
        """Store ``value`` under ``key`` for ``ttl_seconds`` (``None``: until evicted)."""
        ...

    async def delete(self, key: str) -> None:
        """Forget ``key`` if present."""
        ...

    async def clear(self) -> None:
        """Forget every entry."""
        ...


class InMemoryCacheBackend:
    """A process-local LRU cache with per-entry expiry.

    Holds at most ``max_size`` entries, dropping the least recently used first.
    Expired entries are dropped when next read. ``clock`` is injectable for tests.
    """

    def __init__(
        self,
        max_size: int = 1024,
        *,
        clock: Callable[[], float] = time.monotonic,
        on_evict: Callable[[], None] | None = None,
    ) -> None:
        if max_size < 1:
            raise ValueError(f"max_size must be at least 1, got {max_size}")
        self.max_size = max_size
        self._clock = clock
        self._on_evict = on_evict
        self._entries: OrderedDict[str, tuple[float, Any]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    async def get(self, key: str) -> Any:
        """The value stored under ``key``, or :data:`MISSING`."""
        entry = self._entries.get(key)
        if entry is None:
            return MISSING
        expires_at, value = entry
        if expires_at <= self._clock():
            del self._entries[key]
            return MISSING
        self._entries.move_to_end(key)
        return value

    async def set(self, key: str, value: Any, ttl_seconds: float | None) -> None:
        """Store ``value`` under ``key``, evicting the least recently used beyond max_size."""
        expires_at = float("inf") if ttl_seconds is None else self._clock() + ttl_seconds
        self._entries[key] = (expires_at, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_size:
            self._entries.popitem(last=False)
            if self._on_evict is not None:
                self._on_evict()

    async def delete(self, key: str) -> None:
        """Forget ``key`` if present."""
        self._entries.pop(key, None)

    async def clear(self) -> None:
        """Forget every entry."""
        self._entries.clear()
