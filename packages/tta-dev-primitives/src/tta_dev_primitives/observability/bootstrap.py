"""Tracing, metrics and log correlation for a whole process, in one call.

``setup()`` installs an OpenTelemetry SDK tracer provider as the global one (from
then on every primitive opens spans), with the span exporters asked for, wrapped in
``tta_secrets``' redacting processor when that package is installed; optionally
starts the Prometheus ``/metrics`` server; and stamps trace, span and correlation
ids on every log record (optionally installing a JSON log handler on the root
logger). With nothing configured, spans go to ``$TTA_HOME/traces/spans.jsonl``.

Calling it again is harmless: the same configuration returns the same handle and
changes nothing; a different one reconfigures in place (the exporters are swapped
after the old ones are flushed, the metrics server moves, the log handler is
replaced). The service name and resource are fixed by the first call, because
OpenTelemetry lets a process set its global tracer provider only once; a later call
asking for another service name logs a warning and keeps the first.

At interpreter exit the handle flushes and shuts down (``atexit``), so no finished
span is lost when a program ends without calling :meth:`ObservabilityHandle.shutdown`.
"""

from __future__ import annotations

import atexit
import importlib.util
import logging
import os
import sys
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from tta_dev_primitives.observability.config import LogFormat, TelemetryConfig, resolve_config
from tta_dev_primitives.observability.logs import (
    CorrelationFilter,
    JsonLogFormatter,
    install_log_correlation,
)

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter

    from tta_dev_primitives.observability.prometheus_server import MetricsServer

__all__ = ["ObservabilityHandle", "current_handle", "setup"]

logger = logging.getLogger(__name__)

_lock = threading.Lock()


class _State:
    handle: ObservabilityHandle | None = None


def _switchable_processor_class() -> type[SpanProcessor]:
    from opentelemetry.sdk.trace import SpanProcessor

    class SwitchableSpanProcessor(SpanProcessor):
        """The one processor ``setup`` adds to a provider; what it feeds can be swapped."""

        def __init__(self) -> None:
            self.inner: SpanProcessor | None = None

        def on_start(self, span: Span, parent_context: Context | None = None) -> None:
            inner = self.inner
            if inner is not None:
                inner.on_start(span, parent_context=parent_context)

        def on_end(self, span: ReadableSpan) -> None:
            inner = self.inner
            if inner is not None:
                inner.on_end(span)

        def swap(self, new: SpanProcessor | None) -> SpanProcessor | None:
            old, self.inner = self.inner, new
            return old

        def shutdown(self) -> None:
            old = self.swap(None)
            if old is not None:
                old.shutdown()

        def force_flush(self, timeout_millis: int = 30_000) -> bool:
            inner = self.inner
            return True if inner is None else inner.force_flush(timeout_millis)

    return SwitchableSpanProcessor


def _exporter(name: str, config: TelemetryConfig) -> SpanExporter:
    if name == "jsonl":
        from tta_dev_primitives.observability.span_file import JsonLinesSpanExporter

        return JsonLinesSpanExporter(config.jsonl_path, max_bytes=config.jsonl_max_bytes)
    if name == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    except ImportError:
        raise RuntimeError(
            "OTLP export needs opentelemetry-exporter-otlp-proto-http; install it with "
            "`pip install 'tta-dev-primitives[otlp]'`"
        ) from None
    headers = dict(config.otlp_headers) or None
    return OTLPSpanExporter(endpoint=config.otlp_endpoint, headers=headers)


def _processor(config: TelemetryConfig) -> SpanProcessor | None:
    """One batching processor per exporter, behind the redacting one when available."""
    from opentelemetry.sdk.trace import SynchronousMultiSpanProcessor
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    if not config.exporters:
        return None
    batches = [BatchSpanProcessor(_exporter(name, config)) for name in config.exporters]
    processor: SpanProcessor
    if len(batches) == 1:
        processor = batches[0]
    else:
        multi = SynchronousMultiSpanProcessor()  # type: ignore[no-untyped-call]
        for batch in batches:
            multi.add_span_processor(batch)
        processor = multi
    redacting = _redacting_span_processor()
    return redacting(processor) if redacting is not None else processor


def _redaction(name: str) -> Any:
    """``tta_secrets.redaction.<name>`` when that package is installed, else ``None``."""
    if importlib.util.find_spec("tta_secrets") is None:
        return None
    try:
        from tta_secrets import redaction

        # The span processor loads the OpenTelemetry SDK on first access.
        return getattr(redaction, name, None)
    except ImportError:
        return None


def _redacting_span_processor() -> Any:
    return _redaction("RedactingSpanProcessor")


def _redacting_log_filter() -> logging.Filter | None:
    log_filter = _redaction("RedactingLogFilter")
    return log_filter() if log_filter is not None else None


class ObservabilityHandle:
    """What :func:`setup` installed; flush or shut it down.

    ``tracer_provider`` is the SDK provider spans go to (``None`` when tracing is
    disabled); ``metrics_server`` the running ``/metrics`` server, if one was asked for.
    """

    def __init__(self) -> None:
        self.config: TelemetryConfig | None = None
        self.tracer_provider: TracerProvider | None = None
        self.metrics_server: MetricsServer | None = None
        self.log_handler: logging.Handler | None = None
        self._switch: Any = None
        self._service_name: str | None = None
        self._closed = False

    @property
    def span_processor(self) -> SpanProcessor | None:
        """The processor the exporters are fed by now (``None``: no exporter)."""
        return self._switch.inner if self._switch is not None else None

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Export every finished span now; ``False`` if that did not finish in time."""
        if self._switch is None:
            return True
        return bool(self._switch.force_flush(timeout_millis))

    def shutdown(self) -> None:
        """Flush and close the exporters, stop the metrics server, remove the log handler.

        Idempotent. Tracing stays installed (OpenTelemetry cannot unset it) but exports
        nothing until ``setup`` is called again.
        """
        with _lock:
            self._shutdown_locked()

    def _shutdown_locked(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._switch is not None:
            old = self._switch.swap(None)
            if old is not None:
                old.shutdown()
        self._configure_metrics(None)
        self._configure_logs(None)
        self.config = None

    # -- the three parts -------------------------------------------------------------

    def _configure(self, config: TelemetryConfig) -> None:
        previous = self.config
        self._closed = False
        first = self._service_name
        if first is not None and config.service_name != first:
            logger.warning(
                "observability.setup(): the service name stays %r; it is fixed by the first "
                "call (OpenTelemetry sets the tracer provider once per process)",
                first,
            )
        if previous is None or _tracing_key(previous) != _tracing_key(config):
            self._configure_tracing(config)
        self._configure_metrics(config)
        self._configure_logs(config)
        self.config = config

    def _configure_tracing(self, config: TelemetryConfig) -> None:
        if config.disabled:
            if self._switch is not None:
                old = self._switch.swap(None)
                if old is not None:
                    old.shutdown()
            return
        if self._switch is None:
            self._switch = _switchable_processor_class()()
            self.tracer_provider = _install_provider(config, self._switch)
            self._service_name = config.service_name
        old = self._switch.swap(_processor(config))
        if old is not None:
            old.shutdown()

    def _configure_metrics(self, config: TelemetryConfig | None) -> None:
        server = self.metrics_server
        wanted = None if config is None else config.metrics_port
        if (
            server is not None
            and config is not None
            and wanted in (0, server.port)
            and config.metrics_addr == server.host
        ):
            return
        if server is not None:
            server.stop()
            self.metrics_server = None
        if config is not None and wanted is not None:
            from tta_dev_primitives.observability.prometheus_server import start_metrics_server

            self.metrics_server = start_metrics_server(wanted, config.metrics_addr)

    def _configure_logs(self, config: TelemetryConfig | None) -> None:
        if config is not None:
            install_log_correlation()
        root = logging.getLogger()
        if self.log_handler is not None:
            root.removeHandler(self.log_handler)
            self.log_handler = None
        if config is None or config.log_format is None:
            return
        self.log_handler = _log_handler(config.log_format)
        root.addHandler(self.log_handler)
        root.setLevel(config.log_level)

    def __repr__(self) -> str:
        return f"ObservabilityHandle({self.config!r})"


def _tracing_key(config: TelemetryConfig) -> tuple[object, ...]:
    """The part of a config that decides the exporters."""
    return (
        config.disabled,
        config.exporters,
        config.jsonl_path,
        config.jsonl_max_bytes,
        config.otlp_endpoint,
        config.otlp_headers,
    )


def _log_handler(log_format: LogFormat) -> logging.Handler:
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonLogFormatter())
    else:
        handler.setFormatter(
            logging.Formatter(
                "%(asctime)s %(levelname)s %(name)s [trace=%(trace_id)s "
                "correlation=%(correlation_id)s] %(message)s"
            )
        )
    handler.addFilter(CorrelationFilter())
    redacting = _redacting_log_filter()
    if redacting is not None:
        handler.addFilter(redacting)
    return handler


def _install_provider(config: TelemetryConfig, processor: SpanProcessor) -> TracerProvider | None:
    """Set an SDK provider as the global one, or join one that is already set."""
    from opentelemetry import trace
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider

    existing = getattr(trace, "_TRACER_PROVIDER", None)
    if isinstance(existing, TracerProvider):
        # Someone (an app, an auto-instrumentation agent) set one already: feed our
        # exporters from it rather than fight over the global.
        existing.add_span_processor(processor)
        return existing
    if existing is not None:
        logger.warning(
            "observability.setup(): a non-SDK tracer provider (%s) is already installed; "
            "spans are not exported by TTA.dev",
            type(existing).__name__,
        )
        return None
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: config.service_name}))
    provider.add_span_processor(processor)
    trace.set_tracer_provider(provider)
    return provider


def current_handle() -> ObservabilityHandle | None:
    """The handle of the last :func:`setup` call in this process, if any."""
    return _State.handle


def _at_exit() -> None:
    handle = _State.handle
    if handle is not None:
        handle.shutdown()


def setup(
    *,
    service_name: str | None = None,
    exporter: str | None = None,
    jsonl_path: str | os.PathLike[str] | None = None,
    jsonl_max_bytes: int | None = None,
    otlp_endpoint: str | None = None,
    otlp_headers: Mapping[str, str] | None = None,
    metrics_port: int | None = None,
    metrics_addr: str | None = None,
    log_format: LogFormat | None = None,
    log_level: int | str | None = None,
) -> ObservabilityHandle:
    """Configure tracing, the metrics endpoint and log correlation for this process.

    Every argument left ``None`` comes from the environment (see
    :mod:`tta_dev_primitives.observability.config` for the variables):

    * ``exporter``: ``"jsonl"`` (default: ``$TTA_HOME/traces/spans.jsonl``, or
      ``jsonl_path``), ``"otlp"`` (to ``otlp_endpoint``, e.g. ``http://localhost:4318``,
      or ``OTEL_EXPORTER_OTLP_*``), ``"console"``, ``"none"``, or a comma list.
    * ``metrics_port``: serve Prometheus ``/metrics`` there (``0``: a free port; the
      handle's ``metrics_server.port`` tells which) on ``metrics_addr`` (loopback).
    * ``log_format``: ``"json"`` or ``"text"`` installs a stderr handler on the root
      logger at ``log_level``; ids are stamped on every record either way.

    Returns the process's :class:`ObservabilityHandle` (the same object on every call).
    Requires ``opentelemetry-sdk`` (``pip install 'tta-dev-primitives[sdk]'``) unless
    ``OTEL_SDK_DISABLED=true``.
    """
    config = resolve_config(
        service_name=service_name,
        exporter=exporter,
        jsonl_path=jsonl_path,
        jsonl_max_bytes=jsonl_max_bytes,
        otlp_endpoint=otlp_endpoint,
        otlp_headers=otlp_headers,
        metrics_port=metrics_port,
        metrics_addr=metrics_addr,
        log_format=log_format,
        log_level=log_level,
    )
    with _lock:
        handle = _State.handle
        if handle is None:
            handle = _State.handle = ObservabilityHandle()
            atexit.register(_at_exit)
        if handle.config == config and not handle._closed:
            return handle
        handle._configure(config)
        return handle
