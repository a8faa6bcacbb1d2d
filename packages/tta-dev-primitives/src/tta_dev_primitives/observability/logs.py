"""Log records that join up with traces: ids on every record, and one JSON object a line.

* :class:`CorrelationFilter` stamps ``trace_id``, ``span_id`` and ``correlation_id``
  on each record it sees (``None`` when there is nothing to join), so a format
  string may use ``%(trace_id)s`` and the JSON formatter writes them out.
* :func:`install_log_correlation` stamps every record of the process, whichever
  handler it reaches, by wrapping the log record factory (once).
* :class:`JsonLogFormatter` writes ``time``, ``level``, ``logger``, ``message``,
  ``exception`` (the formatted traceback or ``None``) and the three ids.

The ids come from the current OpenTelemetry span. The correlation id is the one of
the innermost :func:`log_context` block if there is one, else the current span's
``tta.correlation_id`` attribute (set by every primitive's span), so logs written
inside a traced workflow carry it with no code at the call site.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tta_dev_primitives.core.context import WorkflowContext

__all__ = [
    "CorrelationFilter",
    "JsonLogFormatter",
    "install_log_correlation",
    "log_context",
    "uninstall_log_correlation",
]

_correlation: ContextVar[str | None] = ContextVar("tta_log_correlation_id", default=None)
_modules = sys.modules


def _span_ids() -> tuple[str | None, str | None, object]:
    """Hex trace and span ids of the current span, and the span (or ``None``)."""
    api = _modules.get("opentelemetry.trace")
    if api is None:  # nobody imported the API, so no span can be current
        return None, None, None
    span = api.get_current_span()
    context = span.get_span_context()
    if not context.is_valid:
        return None, None, None
    return format(context.trace_id, "032x"), format(context.span_id, "016x"), span


def _stamp(record: logging.LogRecord) -> None:
    trace_id, span_id, span = _span_ids()
    correlation_id = _correlation.get()
    if correlation_id is None and span is not None:
        attributes = getattr(span, "attributes", None)
        if attributes:
            value = attributes.get("tta.correlation_id")
            correlation_id = value if isinstance(value, str) else None
    record.trace_id = trace_id
    record.span_id = span_id
    record.correlation_id = correlation_id


class CorrelationFilter(logging.Filter):
    """Add ``trace_id``, ``span_id`` and ``correlation_id`` to every record; drop none.

    Attach it to a handler (``handler.addFilter(CorrelationFilter())``). Records
    already stamped by :func:`install_log_correlation` keep their ids.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Stamp ``record`` unless it already carries the ids; always keep it."""
        if not hasattr(record, "trace_id"):
            _stamp(record)
        return True


@contextmanager
def log_context(context: WorkflowContext | str) -> Iterator[None]:
    """Inside the block, log records carry this workflow's correlation id.

    For code that logs outside any traced primitive (tracing off, or before the first
    step); inside a traced primitive the span already provides it.
    """
    correlation_id = context if isinstance(context, str) else context.correlation_id
    token = _correlation.set(correlation_id)
    try:
        yield
    finally:
        _correlation.reset(token)


class _CorrelatingFactory:
    """The log record factory wrapper: the previous factory, then the ids."""

    def __init__(self, inner: Callable[..., logging.LogRecord]) -> None:
        self.inner = inner

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record = self.inner(*args, **kwargs)
        _stamp(record)
        return record


def install_log_correlation() -> None:
    """Stamp the ids on every log record made in this process from now on (idempotent)."""
    factory = logging.getLogRecordFactory()
    if isinstance(factory, _CorrelatingFactory):
        return
    logging.setLogRecordFactory(_CorrelatingFactory(factory))


def uninstall_log_correlation() -> None:
    """Undo :func:`install_log_correlation` (for tests and tools)."""
    factory = logging.getLogRecordFactory()
    if isinstance(factory, _CorrelatingFactory):
        logging.setLogRecordFactory(factory.inner)


class JsonLogFormatter(logging.Formatter):
    """One JSON object per record, on one line, with the correlation ids.

    Keys: ``time`` (ISO 8601, UTC), ``level``, ``logger``, ``message``, ``exception``
    (formatted traceback or ``None``), ``trace_id``, ``span_id``, ``correlation_id``,
    plus any string keys given in ``extra_fields`` when the record has them.
    """

    def __init__(self, extra_fields: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.extra_fields = extra_fields

    def format(self, record: logging.LogRecord) -> str:
        """Render ``record`` as a JSON line (no trailing newline)."""
        if not hasattr(record, "trace_id"):
            _stamp(record)
        exception = None
        if record.exc_info:
            exception = self.formatException(record.exc_info)
        elif record.exc_text:
            exception = record.exc_text
        document: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "exception": exception,
            "trace_id": getattr(record, "trace_id", None),
            "span_id": getattr(record, "span_id", None),
            "correlation_id": getattr(record, "correlation_id", None),
        }
        for key in self.extra_fields:
            if hasattr(record, key):
                document[key] = getattr(record, key)
        return json.dumps(document, default=str, ensure_ascii=False)
