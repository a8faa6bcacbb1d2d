"""``WorkflowPrimitive``, the one abstraction everything else is built from."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping
from time import perf_counter
from typing import TYPE_CHECKING, Any, Generic, NamedTuple, TypeVar, cast

from tta_dev_primitives.core.context import WorkflowContext
from tta_dev_primitives.exceptions import CompositionError
from tta_dev_primitives.observability.metrics import PrimitiveMetrics
from tta_dev_primitives.observability.tracing import active_tracer

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.trace import Span, Tracer
    from prometheus_client import Histogram

    from tta_dev_primitives.core.parallel import ParallelPrimitive
    from tta_dev_primitives.core.sequential import SequentialPrimitive

__all__ = [
    "AsyncStep",
    "ClientSpan",
    "LambdaPrimitive",
    "WorkflowPrimitive",
    "as_decision",
    "as_primitive",
    "takes_context",
]

# A primitive that takes a wider input, or returns a narrower output, can stand where a
# narrower-input or wider-output one is expected, so ``a >> b`` type-checks when ``b``
# accepts more than ``a`` returns. The names stay TIn/TOut, as everywhere in the docs.
TIn = TypeVar("TIn", contravariant=True)  # noqa: PLC0105
TOut = TypeVar("TOut", covariant=True)  # noqa: PLC0105
TNext = TypeVar("TNext")

AsyncStep = Callable[[TIn], Awaitable[TOut]] | Callable[[TIn, WorkflowContext], Awaitable[TOut]]
"""An async function usable as a step: ``async def f(x)`` or ``async def f(x, ctx)``."""


class WorkflowPrimitive(ABC, Generic[TIn, TOut]):
    """A unit of async work: implement :meth:`_execute_impl`, call :meth:`execute`.

    ``execute`` wraps ``_execute_impl`` with a span (when a tracer provider is set)
    and Prometheus metrics, so a subclass gets observability by implementing the
    one abstract method and must not override ``execute``.

    ``a >> b`` runs ``b`` on ``a``'s output; ``a | b`` runs both on the same input.
    Async functions compose too: ``prim >> some_async_fn``.
    """

    #: Name in spans and metric labels; defaults to the class name. Keep it a fixed,
    #: code-chosen string: it is a metric label, so it must not carry ids.
    name: str = ""
    _metrics: PrimitiveMetrics | None = None
    #: Set by a primitive that stands for one call to another service (an LLM): its
    #: span is then of kind CLIENT, named and started with these attributes (the ones
    #: the semantic conventions want at span start, for sampling), instead of an
    #: INTERNAL span named after the primitive.
    _client_span: ClientSpan | None = None

    @abstractmethod
    async def _execute_impl(self, input_data: TIn, context: WorkflowContext) -> TOut:
        """Do the work of this primitive. The only method a subclass must write."""

    @property
    def display_name(self) -> str:
        """The name used in spans and metrics."""
        return self.name or type(self).__name__

    def _bind_metrics(self) -> PrimitiveMetrics:
        self._metrics = PrimitiveMetrics(self.display_name, type(self).__name__)
        return self._metrics

    async def execute(self, input_data: TIn, context: WorkflowContext) -> TOut:
        """Run the primitive on ``input_data``; traced and measured."""
        tracer = active_tracer()
        if tracer is not None:
            return await self._execute_traced(tracer, input_data, context, None)
        metrics = self._metrics or self._bind_metrics()
        start = perf_counter()
        try:
            result = await self._execute_impl(input_data, context)
        except Exception:
            metrics.error.observe(perf_counter() - start)
            raise
        except BaseException:  # cancelled (or interrupted): not a failure of the step
            metrics.cancelled.observe(perf_counter() - start)
            raise
        metrics.success.observe(perf_counter() - start)
        return result

    async def _execute_traced(
        self, tracer: Tracer, input_data: TIn, context: WorkflowContext, attempt: int | None
    ) -> TOut:
        from opentelemetry import context as otel_context
        from opentelemetry.trace import Status, StatusCode, set_span_in_context

        metrics = self._metrics or self._bind_metrics()
        # Attributes given at creation cost a fraction of set_attribute() afterwards, so
        # the outcome starts as "success" and is overwritten only on the slow paths.
        # The primitive's name is the span's name.
        attributes: dict[str, str | int] = {
            "tta.primitive.type": type(self).__name__,
            "tta.correlation_id": context.correlation_id,
            "tta.outcome": "success",
        }
        if attempt is not None:
            attributes["tta.attempt"] = attempt
        # start_span + attach/detach is what start_as_current_span does, without its two
        # nested generator context managers (~2 us of a ~17 us span).
        client = self._client_span
        if client is None:
            span = tracer.start_span(
                self.display_name, context=_remote_parent(context), attributes=attributes
            )
        else:
            span = _start_client_span(tracer, client, attributes, _remote_parent(context))
        token = otel_context.attach(set_span_in_context(span))
        start = perf_counter()
        try:
            result = await self._execute_impl(input_data, context)
        except Exception as exc:
            _observe_traced(metrics, metrics.error, start, span)
            span.set_attributes({"tta.outcome": "error", "error.type": type(exc).__qualname__})
            span.record_exception(exc)
            span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
            raise
        except BaseException:
            metrics.cancelled.observe(perf_counter() - start)
            span.set_attribute("tta.outcome", "cancelled")
            raise
        finally:
            otel_context.detach(token)
            span.end()
        _observe_traced(metrics, metrics.success, start, span)
        return result

    # -- composition -----------------------------------------------------------------

    def __rshift__(
        self, other: WorkflowPrimitive[TOut, TNext] | AsyncStep[TOut, TNext]
    ) -> SequentialPrimitive[TIn, TNext]:
        from tta_dev_primitives.core.sequential import SequentialPrimitive

        return SequentialPrimitive._compose(self, as_primitive(other, "a `>>` sequence"))

    def __rrshift__(self, other: AsyncStep[Any, TIn]) -> SequentialPrimitive[Any, TOut]:
        from tta_dev_primitives.core.sequential import SequentialPrimitive

        return SequentialPrimitive._compose(as_primitive(other, "a `>>` sequence"), self)

    def __or__(
        self, other: WorkflowPrimitive[TIn, Any] | AsyncStep[TIn, Any]
    ) -> ParallelPrimitive[TIn]:
        from tta_dev_primitives.core.parallel import ParallelPrimitive

        return ParallelPrimitive._compose(self, as_primitive(other, "a `|` parallel"))

    def __ror__(self, other: AsyncStep[TIn, Any]) -> ParallelPrimitive[TIn]:
        from tta_dev_primitives.core.parallel import ParallelPrimitive

        return ParallelPrimitive._compose(as_primitive(other, "a `|` parallel"), self)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.display_name!r})"


class ClientSpan(NamedTuple):
    """The span of a primitive that calls another service: name, kind and attributes.

    ``internal`` keeps the kind INTERNAL for a "client" that runs in this process (an
    in-process model), as the GenAI conventions ask.
    """

    name: str
    attributes: Mapping[str, str | int | float | bool]
    internal: bool = False


def _start_client_span(
    tracer: Tracer,
    client: ClientSpan,
    attributes: dict[str, str | int],
    parent: Context | None,
) -> Span:
    from opentelemetry.trace import SpanKind

    return tracer.start_span(
        client.name,
        context=parent,
        kind=SpanKind.INTERNAL if client.internal else SpanKind.CLIENT,
        attributes={**client.attributes, **attributes},
    )


#: At most one exemplar per primitive per this many seconds: Prometheus keeps only the
#: latest exemplar of a bucket anyway, and building one costs ~2.5 us per observation.
EXEMPLAR_INTERVAL_S = 1.0


def _observe_traced(metrics: PrimitiveMetrics, child: Histogram, start: float, span: Span) -> None:
    """Observe a traced execution's duration, linking it to its trace now and then."""
    now = perf_counter()
    if now >= metrics.next_exemplar:
        metrics.next_exemplar = now + EXEMPLAR_INTERVAL_S
        child.observe(now - start, _exemplar(span))
    else:
        child.observe(now - start)


def _exemplar(span: Span) -> dict[str, str] | None:
    """The trace and span ids a duration observation links to (sampled spans only).

    Only the traced path calls this, so executions without tracing pay nothing;
    prometheus-client shows exemplars in the OpenMetrics exposition.
    """
    span_context = span.get_span_context()
    if not span_context.trace_flags.sampled:
        return None
    return {
        "trace_id": format(span_context.trace_id, "032x"),
        "span_id": format(span_context.span_id, "016x"),
    }


def _remote_parent(context: WorkflowContext) -> Context | None:
    """An OpenTelemetry context parented to the workflow's incoming trace, if any.

    Only used when no span is current, i.e. for the first span of a workflow.
    """
    if context.trace_id is None or context.span_id is None:
        return None
    from opentelemetry import trace
    from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

    if trace.get_current_span().get_span_context().is_valid:
        return None
    try:
        span_context = SpanContext(
            trace_id=int(context.trace_id, 16),
            span_id=int(context.span_id, 16),
            is_remote=True,
            trace_flags=TraceFlags(context.trace_flags),
        )
    except ValueError:
        return None
    return trace.set_span_in_context(NonRecordingSpan(span_context))


class LambdaPrimitive(WorkflowPrimitive[TIn, TOut]):
    """A primitive backed by an async function ``f(x)`` or ``f(x, ctx)``."""

    def __init__(self, func: AsyncStep[TIn, TOut], *, name: str | None = None) -> None:
        if isinstance(func, WorkflowPrimitive) or not _is_async_callable(func):
            raise CompositionError(func, "a LambdaPrimitive")
        self.func = func
        self._takes_context = takes_context(func)
        self.name = name or getattr(func, "__name__", "") or "lambda"

    async def _execute_impl(self, input_data: TIn, context: WorkflowContext) -> TOut:
        # String casts: a subscripted Callable built at run time costs ~0.7 us per call.
        if self._takes_context:
            with_context = cast("Callable[[TIn, WorkflowContext], Awaitable[TOut]]", self.func)
            return await with_context(input_data, context)
        return await cast("Callable[[TIn], Awaitable[TOut]]", self.func)(input_data)


def as_primitive(obj: object, operation: str = "a composition") -> WorkflowPrimitive[Any, Any]:
    """``obj`` itself if it is a primitive; an async callable wrapped in a LambdaPrimitive.

    Raises :class:`CompositionError` (a ``TypeError``) naming ``obj`` otherwise.
    """
    if isinstance(obj, WorkflowPrimitive):
        return obj
    if _is_async_callable(obj):
        return LambdaPrimitive(cast(AsyncStep[Any, Any], obj))
    raise CompositionError(obj, operation)


def _is_async_callable(obj: object) -> bool:
    import inspect

    if inspect.iscoroutinefunction(obj):
        return True
    call = getattr(obj, "__call__", None)  # noqa: B004 - an async __call__ counts
    return call is not None and not inspect.isclass(obj) and inspect.iscoroutinefunction(call)


def takes_context(func: Callable[..., Any]) -> bool:
    """Whether ``func`` wants the context: ``f(x, ctx)`` rather than ``f(x)``."""
    import inspect

    try:
        params = list(inspect.signature(func).parameters.values())
    except (TypeError, ValueError):
        return False
    if any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in params):
        return True
    positional = [
        p
        for p in params
        if p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    ]
    if len(positional) < 2:
        return False
    second = positional[1]
    return second.default is inspect.Parameter.empty or second.name in ("ctx", "context")


def as_decision(
    func: Callable[..., Any], what: str
) -> Callable[[Any, WorkflowContext], Awaitable[Any]]:
    """Adapt a predicate or route function to ``async f(x, ctx)``.

    Accepts ``f(x)`` or ``f(x, ctx)``, plain or async; decided once, not per call.
    """
    if not callable(func):
        raise CompositionError(func, what)
    with_context = takes_context(func)
    is_async = _is_async_callable(func)

    async def decide(value: Any, context: WorkflowContext) -> Any:
        result = func(value, context) if with_context else func(value)
        return await result if is_async else result

    return decide
