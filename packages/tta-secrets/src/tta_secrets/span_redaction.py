"""``RedactingSpanProcessor``: hand the next span processor a copy with secrets scrubbed.

An ended span (``ReadableSpan``) is immutable, so the processor builds a new
``ReadableSpan`` with the same identity and timing and scrubbed name, attributes,
event names and attributes, link attributes and status description. When nothing
needs scrubbing (or nothing is registered) the original span is passed on as is.
Needs opentelemetry-sdk (the ``otel`` extra of tta-secrets).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry.context import Context
from opentelemetry.sdk.trace import Event, ReadableSpan, Span, SpanProcessor
from opentelemetry.trace import Link, Status

from tta_secrets import redaction

__all__ = ["RedactingSpanProcessor"]


def _scrub_value(value: Any) -> Any:
    if isinstance(value, str):
        return redaction.scrub(value)
    if isinstance(value, tuple | list):
        return tuple(_scrub_value(item) for item in value)
    return value


def _scrub_attributes(attributes: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if attributes is None:
        return None
    return {key: _scrub_value(value) for key, value in attributes.items()}


def _has_secret(value: Any) -> bool:
    if isinstance(value, str):
        return redaction.contains_secret(value)
    if isinstance(value, tuple | list):
        return any(_has_secret(item) for item in value)
    return False


def _attributes_have_secret(attributes: Mapping[str, Any] | None) -> bool:
    return attributes is not None and any(_has_secret(v) for v in attributes.values())


def _needs_scrubbing(span: ReadableSpan) -> bool:
    return (
        redaction.contains_secret(span.name)
        or _attributes_have_secret(span.attributes)
        or any(
            redaction.contains_secret(event.name) or _attributes_have_secret(event.attributes)
            for event in span.events
        )
        or any(_attributes_have_secret(link.attributes) for link in span.links)
        or (
            span.status.description is not None
            and redaction.contains_secret(span.status.description)
        )
    )


def _scrubbed_events(events: Sequence[Event]) -> list[Event]:
    return [
        Event(
            redaction.scrub(event.name),
            _scrub_attributes(event.attributes),
            timestamp=event.timestamp,
            limit=None,
        )
        for event in events
    ]


def scrubbed_copy(span: ReadableSpan) -> ReadableSpan:
    """A copy of ``span`` with every registered secret scrubbed (``span`` if none is in it)."""
    if not _needs_scrubbing(span):
        return span
    status = span.status
    if status.description is not None:
        status = Status(status.status_code, redaction.scrub(status.description))
    return ReadableSpan(
        name=redaction.scrub(span.name),
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=_scrub_attributes(span.attributes),
        events=_scrubbed_events(span.events),
        links=[Link(link.context, _scrub_attributes(link.attributes)) for link in span.links],
        kind=span.kind,
        status=status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


class RedactingSpanProcessor(SpanProcessor):
    """Wrap ``inner`` (an exporting processor): it only ever sees scrubbed spans.

    ``on_start`` passes the live span through (an exporter reads spans at their
    end, which is where scrubbing happens); flush and shutdown are forwarded.
    """

    def __init__(self, inner: SpanProcessor) -> None:
        self.inner = inner

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        """Forward to the inner processor."""
        self.inner.on_start(span, parent_context=parent_context)

    def on_end(self, span: ReadableSpan) -> None:
        """Pass a scrubbed copy of ``span`` to the inner processor."""
        if redaction.registered_count() == 0:
            self.inner.on_end(span)
            return
        self.inner.on_end(scrubbed_copy(span))

    def shutdown(self) -> None:
        """Shut the inner processor down."""
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Flush the inner processor."""
        return self.inner.force_flush(timeout_millis)
