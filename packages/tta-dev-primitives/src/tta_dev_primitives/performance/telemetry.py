"""Metrics and span attributes of rate limits and of fleet state kept in Redis.

Declared here (not in :mod:`..observability.metrics`) because they belong to the
rate-limit primitive and the ``fleet`` backends; the catalogue lists this module.
"""

from __future__ import annotations

from typing import Any

from tta_dev_primitives.observability.metrics import declare_metric

__all__ = [
    "FLEET_LOCAL_FALLBACKS",
    "RATE_LIMIT_ADMITTED",
    "RATE_LIMIT_REJECTIONS",
    "RATE_LIMIT_WAITS",
    "RATE_LIMIT_WAIT_SECONDS",
    "REDIS_CACHE_FILLS",
    "REDIS_CACHE_LOOKUPS",
    "REDIS_ERRORS",
    "annotate",
]

RATE_LIMIT_ADMITTED = declare_metric(
    "tta_rate_limit_admitted_total",
    "counter",
    "Calls a RateLimitPrimitive let through (at once or after waiting).",
    ("primitive",),
)
RATE_LIMIT_WAITS = declare_metric(
    "tta_rate_limit_waits_total",
    "counter",
    "Calls a RateLimitPrimitive held back until the limit had room.",
    ("primitive",),
)
RATE_LIMIT_WAIT_SECONDS = declare_metric(
    "tta_rate_limit_wait_seconds_total",
    "counter",
    "Time calls spent waiting for room under a RateLimitPrimitive.",
    ("primitive",),
    unit="seconds",
)
RATE_LIMIT_REJECTIONS = declare_metric(
    "tta_rate_limit_rejections_total",
    "counter",
    "Calls a RateLimitPrimitive refused (fail fast, or the wait would exceed max_wait).",
    ("primitive",),
)
REDIS_CACHE_LOOKUPS = declare_metric(
    "tta_redis_cache_lookups_total",
    "counter",
    "Lookups of the Redis cache backend, by outcome: hit, miss, error (Redis unreachable: "
    "the cache is bypassed) or undecodable (an entry the codec could not read).",
    ("outcome",),
)
REDIS_CACHE_FILLS = declare_metric(
    "tta_redis_cache_fills_total",
    "counter",
    "Cache misses on the Redis backend, by how the value came: led (this process ran it), "
    "waited (another process's run), timeout (waited too long, ran it here) or bypassed.",
    ("outcome",),
)
REDIS_ERRORS = declare_metric(
    "tta_redis_errors_total",
    "counter",
    "Redis operations that failed or timed out, by feature (cache, rate_limit, breaker).",
    ("feature",),
)
FLEET_LOCAL_FALLBACKS = declare_metric(
    "tta_fleet_local_fallbacks_total",
    "counter",
    "Calls that went ahead on process-local state because Redis was unreachable, by "
    "feature (cache: bypassed; rate_limit and breaker: per-process state).",
    ("feature",),
)


def annotate(attributes: dict[str, Any]) -> None:
    """Set attributes on the current span, if one is recording (free otherwise)."""
    from opentelemetry import trace

    span = trace.get_current_span()
    if span.is_recording():
        span.set_attributes(attributes)
