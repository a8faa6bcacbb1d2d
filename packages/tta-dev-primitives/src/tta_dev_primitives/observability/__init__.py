"""Tracing, metrics and logs that every primitive emits without user code.

* :func:`setup` configures a process in one call: spans to a JSON-lines file (the
  default, ``$TTA_HOME/traces/spans.jsonl``), OTLP, the console or nowhere; the
  Prometheus ``/metrics`` endpoint; trace and correlation ids on log records.
* ``METRICS`` lists every Prometheus metric (name, type, unit, labels, meaning);
  :func:`start_metrics_server` serves them.
* :func:`load_traces` reads the span file back as trees; :func:`write_timeline` turns
  them into a self-contained HTML page (``tta traces`` shows both).
* Spans are opened only while a real OpenTelemetry tracer provider is installed; see
  :func:`use_tracer_provider` for a scoped one.

Only the metric catalogue and the tracer lookup load with the core (every primitive
needs them); the rest loads on first use, so ``import tta_dev_primitives`` stays light.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:
    from tta_dev_primitives.observability.bootstrap import (
        ObservabilityHandle,
        current_handle,
        setup,
    )
    from tta_dev_primitives.observability.config import TelemetryConfig
    from tta_dev_primitives.observability.logs import (
        CorrelationFilter,
        JsonLogFormatter,
        install_log_correlation,
        log_context,
    )
    from tta_dev_primitives.observability.prometheus_server import (
        MetricsServer,
        start_metrics_server,
    )
    from tta_dev_primitives.observability.timeline_html import render_timeline, write_timeline
    from tta_dev_primitives.observability.trace_view import (
        SpanNode,
        SpanRecord,
        TraceTree,
        default_span_files,
        load_traces,
    )

_PACKAGE = "tta_dev_primitives.observability"
_LAZY: dict[str, str] = {
    "ObservabilityHandle": "bootstrap",
    "current_handle": "bootstrap",
    "setup": "bootstrap",
    "TelemetryConfig": "config",
    "CorrelationFilter": "logs",
    "JsonLogFormatter": "logs",
    "install_log_correlation": "logs",
    "log_context": "logs",
    "MetricsServer": "prometheus_server",
    "start_metrics_server": "prometheus_server",
    "render_timeline": "timeline_html",
    "write_timeline": "timeline_html",
    "SpanNode": "trace_view",
    "SpanRecord": "trace_view",
    "TraceTree": "trace_view",
    "default_span_files": "trace_view",
    "load_traces": "trace_view",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {_PACKAGE!r} has no attribute {name!r}")
    value = getattr(import_module(f"{_PACKAGE}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


__all__ = [
    "METRICS",
    "CorrelationFilter",
    "JsonLogFormatter",
    "MetricSpec",
    "MetricsServer",
    "ObservabilityHandle",
    "SpanNode",
    "SpanRecord",
    "TelemetryConfig",
    "TraceTree",
    "active_tracer",
    "counter",
    "current_handle",
    "declare_metric",
    "default_span_files",
    "gauge",
    "histogram",
    "install_log_correlation",
    "load_traces",
    "log_context",
    "register_metrics",
    "render_timeline",
    "setup",
    "start_metrics_server",
    "use_tracer_provider",
    "write_timeline",
]
