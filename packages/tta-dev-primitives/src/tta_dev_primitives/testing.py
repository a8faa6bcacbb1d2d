"""Helpers for testing workflows built on TTA.dev: spans, time, scripted steps, metrics.

* :func:`capture_spans`: record the spans primitives emit inside a block
  (needs ``opentelemetry-sdk``: ``pip install 'tta-dev-primitives[sdk]'``).
* :class:`FakeClock`: a clock and an async ``sleep`` that advance instantly, for
  ``RetryPrimitive(sleep=...)``, ``CircuitBreakerPrimitive(clock=...)`` and
  ``CachePrimitive(clock=...)``.
* :class:`FunctionPrimitive`: a primitive backed by a function, recording its calls;
  :meth:`FunctionPrimitive.scripted` replays a list of results and errors.
* :func:`metric_value`: read a Prometheus sample of the default registry.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from prometheus_client import REGISTRY

from tta_dev_primitives.core.base import WorkflowPrimitive, takes_context
from tta_dev_primitives.core.context import WorkflowContext
from tta_dev_primitives.observability.tracing import use_tracer_provider

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan

__all__ = ["CapturedSpans", "FakeClock", "FunctionPrimitive", "capture_spans", "metric_value"]

TIn = TypeVar("TIn")
TOut = TypeVar("TOut")


class CapturedSpans:
    """The finished spans recorded by :func:`capture_spans`, oldest first."""

    def __init__(self, exporter: Any) -> None:
        self._exporter = exporter

    @property
    def spans(self) -> list[ReadableSpan]:
        """Every finished span, in the order they ended."""
        return list(self._exporter.get_finished_spans())

    def names(self) -> list[str]:
        """Names of the finished spans, in the order they ended."""
        return [span.name for span in self.spans]

    def named(self, name: str) -> list[ReadableSpan]:
        """The spans called ``name``."""
        return [span for span in self.spans if span.name == name]

    def one(self, name: str) -> ReadableSpan:
        """The one span called ``name``; ``AssertionError`` if there are none or several."""
        found = self.named(name)
        assert len(found) == 1, f"expected one span named {name!r}, found {len(found)}"
        return found[0]

    def children(self, parent: ReadableSpan) -> list[ReadableSpan]:
        """The spans whose parent is ``parent``, in the order they started."""
        parent_id = parent.context.span_id if parent.context is not None else None
        kids = [s for s in self.spans if s.parent is not None and s.parent.span_id == parent_id]
        return sorted(kids, key=lambda s: s.start_time or 0)

    def tree(self) -> list[str]:
        """An indented outline of span names, roots first, e.g. ``["seq", "  a", "  b"]``."""
        ids = {s.context.span_id for s in self.spans if s.context is not None}
        roots = [s for s in self.spans if s.parent is None or s.parent.span_id not in ids]
        lines: list[str] = []

        def walk(span: ReadableSpan, depth: int) -> None:
            lines.append("  " * depth + span.name)
            for child in self.children(span):
                walk(child, depth + 1)

        for root in sorted(roots, key=lambda s: s.start_time or 0):
            walk(root, 0)
        return lines

    def clear(self) -> None:
        """Forget the spans captured so far."""
        self._exporter.clear()


@contextmanager
def capture_spans() -> Iterator[CapturedSpans]:
    """Record the spans primitives emit inside the block, apart from any global provider."""
    try:
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
            InMemorySpanExporter,
        )
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise RuntimeError(
            "capture_spans() needs the OpenTelemetry SDK; install it with "
            "`pip install 'tta-dev-primitives[sdk]'`"
        ) from error
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with use_tracer_provider(provider):
        yield CapturedSpans(exporter)
    provider.shutdown()


class FakeClock:
    """A monotonic clock whose time moves only when told to, or when something sleeps.

    ``clock()`` (or ``clock.now()``) reads it; ``await clock.sleep(s)`` advances it by
    ``s`` at once and records ``s`` in ``sleeps``; ``clock.advance(s)`` moves it by hand.
    """

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        """The current fake time, in seconds (so the clock itself is a ``clock=``)."""
        return self._now

    def now(self) -> float:
        """The current fake time, in seconds."""
        return self._now

    def advance(self, seconds: float) -> None:
        """Move the clock forward by ``seconds``."""
        if seconds < 0:
            raise ValueError("a FakeClock cannot go backwards")
        self._now += seconds

    async def sleep(self, seconds: float) -> None:
        """Record the sleep and advance the clock, without waiting."""
        self.sleeps.append(seconds)
        self.advance(max(0.0, seconds))


class FunctionPrimitive(WorkflowPrimitive[TIn, TOut], Generic[TIn, TOut]):
    """A primitive backed by a plain or async function ``f(x)`` / ``f(x, ctx)``.

    Every call is recorded in ``calls`` as ``(input, context)``, so a test can assert
    what reached the step.
    """

    def __init__(
        self,
        func: Callable[..., TOut] | Callable[..., Awaitable[TOut]],
        *,
        name: str | None = None,
    ) -> None:
        self.func = func
        self.name = name or getattr(func, "__name__", "") or "function"
        self.calls: list[tuple[TIn, WorkflowContext]] = []
        self._with_context = takes_context(func)

    @classmethod
    def scripted(
        cls, outcomes: Iterable[Any], *, name: str = "scripted"
    ) -> FunctionPrimitive[Any, Any]:
        """Return (or raise, for exceptions) each of ``outcomes`` in turn, one per call.

        A call past the end raises ``AssertionError``.
        """
        queue = list(outcomes)

        def next_outcome(_: Any) -> Any:
            if not queue:
                raise AssertionError(f"{name!r} was called more often than scripted")
            outcome = queue.pop(0)
            if isinstance(outcome, BaseException):
                raise outcome
            return outcome

        return cls(next_outcome, name=name)

    @property
    def call_inputs(self) -> Sequence[TIn]:
        """The inputs of every call so far."""
        return [call[0] for call in self.calls]

    async def _execute_impl(self, input_data: TIn, context: WorkflowContext) -> TOut:
        self.calls.append((input_data, context))
        result = self.func(input_data, context) if self._with_context else self.func(input_data)
        if inspect.isawaitable(result):
            return await result
        return result


def metric_value(name: str, **labels: str) -> float:
    """The value of a sample of the default Prometheus registry; 0.0 when absent.

    ``name`` is the sample name (``tta_cache_hits_total``,
    ``tta_primitive_duration_seconds_count``, ...).
    """
    value = REGISTRY.get_sample_value(name, labels)
    return 0.0 if value is None else value
