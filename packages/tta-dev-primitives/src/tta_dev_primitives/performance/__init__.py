"""Caching and rate limits, with pluggable backends (in memory here; Redis in ``fleet``)."""

from tta_dev_primitives.performance.backends import MISSING, CacheBackend, InMemoryCacheBackend
from tta_dev_primitives.performance.cache import CachePrimitive, default_cache_key
from tta_dev_primitives.performance.rate_limit import (
    InMemoryRateLimitBackend,
    RateLimit,
    RateLimitBackend,
    RateLimitPrimitive,
)

__all__ = [
    "MISSING",
    "CacheBackend",
    "CachePrimitive",
    "InMemoryCacheBackend",
    "InMemoryRateLimitBackend",
    "RateLimit",
    "RateLimitBackend",
    "RateLimitPrimitive",
    "default_cache_key",
]
