"""Tracing and metrics that every primitive emits without user code.

``METRICS`` lists every Prometheus metric the core declares (name, type, unit,
labels, meaning). Spans are opened only while a real OpenTelemetry tracer provider
is installed; see :func:`use_tracer_provider` for a scoped one.
"""

from tta_dev_primitives.observability.metrics import (
    METRICS,
    MetricSpec,
    counter,
    declare_metric,
    gauge,
    histogram,
    register_metrics,
)
from tta_dev_primitives.observability.tracing import active_tracer, use_tracer_provider

__all__ = [
    "METRICS",
    "MetricSpec",
    "active_tracer",
    "counter",
    "declare_metric",
    "gauge",
    "histogram",
    "register_metrics",
    "use_tracer_provider",
]
