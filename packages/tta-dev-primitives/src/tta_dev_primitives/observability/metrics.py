"""The Prometheus metrics of the core primitives, declared once, with their catalogue.

Every metric is a :class:`MetricSpec` in ``METRICS``: the complete, code-derived
list of what the core emits. The prometheus-client families are created from it
on first use (``prometheus_client`` costs ~70 ms to import, so importing the core
does not load it), all at once, in the default registry.

Labels only ever take values fixed by code (primitive names and types, outcomes),
never ids or free text, so cardinality stays bounded. Primitives bind their label
children once (:class:`PrimitiveMetrics`), because a ``labels()`` lookup per call
would cost more than the rest of a step.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, NamedTuple

if TYPE_CHECKING:
    from prometheus_client import Counter, Gauge, Histogram

__all__ = [
    "CACHE_COALESCED",
    "CACHE_EVICTIONS",
    "CACHE_HITS",
    "CACHE_MISSES",
    "CIRCUIT_STATE",
    "CIRCUIT_TRANSITIONS",
    "DEFAULT_GAUGE_MULTIPROCESS_MODE",
    "EXECUTION_DURATION",
    "FALLBACKS",
    "METRICS",
    "PRIMITIVE_LATENCY_BUCKETS",
    "RETRIES",
    "TIMEOUTS",
    "MetricSpec",
    "PrimitiveMetrics",
    "counter",
    "declare_metric",
    "gauge",
    "histogram",
    "register_metrics",
]

MetricKind = Literal["counter", "gauge", "histogram"]

#: How several worker processes' values of a gauge are combined in multiprocess mode
#: (prometheus-client's ``multiprocess_mode``) unless its spec says otherwise: the
#: highest value among live processes (the worst breaker state; the latest spend,
#: which only grows within a month). Works with ``inc``/``dec``, unlike the
#: ``mostrecent`` modes.
DEFAULT_GAUGE_MULTIPROCESS_MODE = "livemax"

# From 5 us (a cached hit) to a minute (a slow LLM-backed step).
PRIMITIVE_LATENCY_BUCKETS: tuple[float, ...] = (
    0.000005, 0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005,
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
)  # fmt: skip


class MetricSpec(NamedTuple):
    """One metric of the catalogue: what a dashboard or alert may refer to."""

    name: str
    kind: MetricKind
    unit: str
    labels: tuple[str, ...]
    description: str
    buckets: tuple[float, ...] = ()
    #: Gauges only: how multiprocess mode combines the workers' values ("" = default).
    multiprocess_mode: str = ""


METRICS: list[MetricSpec] = []


def declare_metric(
    name: str,
    kind: MetricKind,
    description: str,
    labels: tuple[str, ...],
    *,
    unit: str = "1",
    buckets: tuple[float, ...] = (),
    multiprocess_mode: str = "",
) -> MetricSpec:
    """Add a metric to the catalogue; its family is created with the others, on first use.

    Integrations declare their metrics here too, so ``METRICS`` lists everything
    TTA.dev emits. Declare at import time, with a unique ``tta_`` name, and list the
    declaring module in ``catalogue.METRIC_MODULES`` so the generated catalogue
    (``docs/observability/METRICS.md``) includes it. Label names must be bounded
    (``catalogue.BOUNDED_LABELS``): never ids, users, prompts or other free text.
    """
    if any(m.name == name for m in METRICS):
        raise ValueError(f"metric {name!r} is declared twice")
    if multiprocess_mode and kind != "gauge":
        raise ValueError(f"multiprocess_mode applies to gauges only, not to {kind} {name!r}")
    spec = MetricSpec(name, kind, unit, labels, description, buckets, multiprocess_mode)
    METRICS.append(spec)
    return spec


# One histogram, no separate counter: its _count is the number of executions by
# outcome (as OpenTelemetry's HTTP conventions do with request duration), and one
# observation per execution is all the hot path can afford.
EXECUTION_DURATION = declare_metric(
    "tta_primitive_duration_seconds",
    "histogram",
    "Wall time of primitive executions, by outcome (success, error, cancelled); "
    "_count is the number of executions.",
    ("primitive", "primitive_type", "outcome"),
    unit="seconds",
    buckets=PRIMITIVE_LATENCY_BUCKETS,
)
RETRIES = declare_metric(
    "tta_primitive_retries_total",
    "counter",
    "Attempts a RetryPrimitive made after a failed one.",
    ("primitive",),
)
FALLBACKS = declare_metric(
    "tta_primitive_fallbacks_total",
    "counter",
    "Times a FallbackPrimitive moved on to an alternative, by the alternative that ran.",
    ("primitive", "alternative"),
)
TIMEOUTS = declare_metric(
    "tta_primitive_timeouts_total",
    "counter",
    "Executions a TimeoutPrimitive cancelled because they ran out of time.",
    ("primitive",),
)
CACHE_HITS = declare_metric(
    "tta_cache_hits_total",
    "counter",
    "CachePrimitive lookups answered from the cache.",
    ("primitive",),
)
CACHE_MISSES = declare_metric(
    "tta_cache_misses_total",
    "counter",
    "CachePrimitive lookups that ran the wrapped primitive.",
    ("primitive",),
)
CACHE_COALESCED = declare_metric(
    "tta_cache_coalesced_total",
    "counter",
    "CachePrimitive lookups that joined an identical execution already under way.",
    ("primitive",),
)
CACHE_EVICTIONS = declare_metric(
    "tta_cache_evictions_total",
    "counter",
    "Entries the in-memory cache backend dropped to stay within max_size.",
    ("primitive",),
)
CIRCUIT_STATE = declare_metric(
    "tta_circuit_breaker_state",
    "gauge",
    "Circuit breaker state: 0 closed, 1 half-open, 2 open (several workers: the worst).",
    ("primitive",),
)
CIRCUIT_TRANSITIONS = declare_metric(
    "tta_circuit_breaker_transitions_total",
    "counter",
    "Circuit breaker state changes, by the state entered.",
    ("primitive", "state"),
)

_families: dict[str, Any] = {}


def register_metrics() -> None:
    """Create every family of ``METRICS`` not created yet, in the default registry.

    Called on first use of a metric; call it yourself to have the families exported
    before anything ran.
    """
    if len(_families) == len(METRICS):
        return
    import prometheus_client

    classes = {
        "counter": prometheus_client.Counter,
        "gauge": prometheus_client.Gauge,
        "histogram": prometheus_client.Histogram,
    }
    for spec in METRICS:
        if spec.name in _families:
            continue
        options: dict[str, Any] = {"buckets": spec.buckets} if spec.buckets else {}
        if spec.unit != "1":
            # OpenMetrics output then carries a `# UNIT` line (the name already ends in it).
            options["unit"] = spec.unit
        if spec.kind == "gauge":
            options["multiprocess_mode"] = spec.multiprocess_mode or DEFAULT_GAUGE_MULTIPROCESS_MODE
        _families[spec.name] = classes[spec.kind](
            spec.name, spec.description, spec.labels, **options
        )


def _family(spec: MetricSpec) -> Any:
    family = _families.get(spec.name)
    if family is None:
        register_metrics()
        family = _families[spec.name]
    return family


def counter(spec: MetricSpec) -> Counter:
    """The prometheus-client family of a counter of the catalogue."""
    return _family(spec)  # type: ignore[no-any-return]


def gauge(spec: MetricSpec) -> Gauge:
    """The prometheus-client family of a gauge of the catalogue."""
    return _family(spec)  # type: ignore[no-any-return]


def histogram(spec: MetricSpec) -> Histogram:
    """The prometheus-client family of a histogram of the catalogue."""
    return _family(spec)  # type: ignore[no-any-return]


class PrimitiveMetrics:
    """The histogram children one primitive observes, one per outcome, bound once."""

    __slots__ = ("cancelled", "error", "next_exemplar", "success")

    def __init__(self, primitive: str, primitive_type: str) -> None:
        #: ``perf_counter()`` time after which a traced execution may attach an exemplar.
        self.next_exemplar = 0.0
        duration = histogram(EXECUTION_DURATION)
        self.success = duration.labels(primitive, primitive_type, "success")
        self.error = duration.labels(primitive, primitive_type, "error")
        self.cancelled = duration.labels(primitive, primitive_type, "cancelled")
