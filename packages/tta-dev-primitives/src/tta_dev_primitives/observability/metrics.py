"""The Prometheus metrics of the core primitives, declared once, with their catalogue.

Every metric is created through :func:`_declare`, which also records a
:class:`MetricSpec`; ``METRICS`` is therefore the complete, code-derived list of
what the core emits. Labels only ever take values fixed by code (primitive names
and types, outcomes), never ids or free text, so cardinality stays bounded.

Primitives bind their label children once (:class:`PrimitiveMetrics`), because a
``labels()`` lookup per call would cost more than the rest of a step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypeVar

from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.metrics import MetricWrapperBase

__all__ = [
    "CACHE_COALESCED",
    "CACHE_EVICTIONS",
    "CACHE_HITS",
    "CACHE_MISSES",
    "CIRCUIT_STATE",
    "CIRCUIT_TRANSITIONS",
    "EXECUTIONS",
    "EXECUTION_DURATION",
    "FALLBACKS",
    "METRICS",
    "PRIMITIVE_LATENCY_BUCKETS",
    "RETRIES",
    "TIMEOUTS",
    "MetricSpec",
    "PrimitiveMetrics",
]

MetricKind = Literal["counter", "gauge", "histogram"]

# From 5 us (a cached hit) to a minute (a slow LLM-backed step).
PRIMITIVE_LATENCY_BUCKETS: tuple[float, ...] = (
    0.000005, 0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005,
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class MetricSpec:
    """One metric of the catalogue: what a dashboard or alert may refer to."""

    name: str
    kind: MetricKind
    unit: str
    labels: tuple[str, ...]
    description: str


METRICS: list[MetricSpec] = []

_M = TypeVar("_M", bound=MetricWrapperBase)


def _declare(
    cls: type[_M], name: str, description: str, labels: tuple[str, ...], unit: str, **kw: object
) -> _M:
    kinds: dict[type[MetricWrapperBase], MetricKind] = {
        Counter: "counter",
        Gauge: "gauge",
        Histogram: "histogram",
    }
    kind = kinds[cls]
    METRICS.append(MetricSpec(name, kind, unit, labels, description))
    return cls(name, description, labels, **kw)  # type: ignore[arg-type]


EXECUTIONS = _declare(
    Counter,
    "tta_primitive_executions_total",
    "Executions of a primitive, by outcome (success, error, cancelled).",
    ("primitive", "primitive_type", "outcome"),
    unit="1",
)
EXECUTION_DURATION = _declare(
    Histogram,
    "tta_primitive_duration_seconds",
    "Wall time of a primitive's execution that finished (success or error).",
    ("primitive", "primitive_type"),
    unit="seconds",
    buckets=PRIMITIVE_LATENCY_BUCKETS,
)
RETRIES = _declare(
    Counter,
    "tta_primitive_retries_total",
    "Attempts a RetryPrimitive made after a failed one.",
    ("primitive",),
    unit="1",
)
FALLBACKS = _declare(
    Counter,
    "tta_primitive_fallbacks_total",
    "Times a FallbackPrimitive moved on to an alternative, by the alternative that ran.",
    ("primitive", "alternative"),
    unit="1",
)
TIMEOUTS = _declare(
    Counter,
    "tta_primitive_timeouts_total",
    "Executions a TimeoutPrimitive cancelled because they ran out of time.",
    ("primitive",),
    unit="1",
)
CACHE_HITS = _declare(
    Counter,
    "tta_cache_hits_total",
    "CachePrimitive lookups answered from the cache.",
    ("primitive",),
    unit="1",
)
CACHE_MISSES = _declare(
    Counter,
    "tta_cache_misses_total",
    "CachePrimitive lookups that ran the wrapped primitive.",
    ("primitive",),
    unit="1",
)
CACHE_COALESCED = _declare(
    Counter,
    "tta_cache_coalesced_total",
    "CachePrimitive lookups that joined an identical execution already under way.",
    ("primitive",),
    unit="1",
)
CACHE_EVICTIONS = _declare(
    Counter,
    "tta_cache_evictions_total",
    "Entries the in-memory cache backend dropped to stay within max_size.",
    ("primitive",),
    unit="1",
)
CIRCUIT_STATE = _declare(
    Gauge,
    "tta_circuit_breaker_state",
    "Circuit breaker state: 0 closed, 1 half-open, 2 open.",
    ("primitive",),
    unit="1",
)
CIRCUIT_TRANSITIONS = _declare(
    Counter,
    "tta_circuit_breaker_transitions_total",
    "Circuit breaker state changes, by the state entered.",
    ("primitive", "state"),
    unit="1",
)


class PrimitiveMetrics:
    """The label children one primitive updates on every execution, bound once."""

    __slots__ = ("cancelled", "duration", "error", "success")

    def __init__(self, primitive: str, primitive_type: str) -> None:
        self.success = EXECUTIONS.labels(primitive, primitive_type, "success")
        self.error = EXECUTIONS.labels(primitive, primitive_type, "error")
        self.cancelled = EXECUTIONS.labels(primitive, primitive_type, "cancelled")
        self.duration = EXECUTION_DURATION.labels(primitive, primitive_type)
