"""Caching, with pluggable backends."""

from tta_dev_primitives.performance.backends import MISSING, CacheBackend, InMemoryCacheBackend
from tta_dev_primitives.performance.cache import CachePrimitive, default_cache_key

__all__ = [
    "MISSING",
    "CacheBackend",
    "CachePrimitive",
    "InMemoryCacheBackend",
    "default_cache_key",
]
