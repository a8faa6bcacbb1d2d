"""Spans and metrics of database calls, following OpenTelemetry's database conventions.

Every call (a statement, a Supabase request) is timed into one histogram,
``tta_db_operation_duration_seconds``, labelled by system (``postgresql``, ``sqlite``,
``supabase``), operation (a fixed set, see :mod:`.statements`) and outcome (``success``
or ``error``): all code-chosen values, so the label set stays small.

While a tracer provider is installed, each call is also a ``CLIENT`` span, a child of
the primitive's own span, named ``"{operation} {target}"`` (the table or function when
the call names one, else the namespace) and carrying ``db.system.name`` (and the older
``db.system``), ``db.operation.name``, ``db.namespace``, ``db.query.text`` (sanitised:
no values), ``server.address`` and ``server.port``. A service in front of a database
(Supabase's PostgREST before PostgreSQL) keeps the registered system name
(``postgresql``) in ``db.system.name`` and names itself in ``tta.db.service``; its
metric label stays the service's name. No span is opened while tracing is off.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from time import perf_counter
from typing import TYPE_CHECKING, Any, TypeVar

from tta_dev_primitives.observability import active_tracer, declare_metric, histogram

if TYPE_CHECKING:
    from prometheus_client.metrics import Histogram

__all__ = ["DB_DURATION", "DB_RETRIES", "DatabaseTelemetry"]

T = TypeVar("T")

DB_DURATION = declare_metric(
    "tta_db_operation_duration_seconds",
    "histogram",
    "Wall time of database calls by system, operation and outcome (success, error); "
    "_count is the number of calls.",
    ("system", "operation", "outcome"),
    unit="seconds",
    buckets=(
        0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
        0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    ),
)  # fmt: skip
DB_RETRIES = declare_metric(
    "tta_db_retries_total",
    "counter",
    "Read statements sent again once after their connection was lost, by system.",
    ("system",),
)


class DatabaseTelemetry:
    """Times and traces the calls of one database primitive.

    ``attributes`` are the fixed span attributes of the connection (namespace,
    server address and port); metric children are bound on first use and kept.
    """

    __slots__ = ("_children", "_retries", "attributes", "namespace", "system")

    def __init__(
        self,
        system: str,
        namespace: str,
        attributes: Mapping[str, str | int],
        *,
        span_system: str | None = None,
    ) -> None:
        self.system = system
        self.namespace = namespace
        self.attributes: dict[str, str | int] = {
            "db.system.name": span_system or system,
            "db.system": span_system or system,
            "db.namespace": namespace,
            **attributes,
        }
        if span_system is not None and span_system != system:
            self.attributes["tta.db.service"] = system
        self._children: dict[tuple[str, str], Histogram] = {}
        self._retries: Any = None

    def _child(self, operation: str, outcome: str) -> Histogram:
        key = (operation, outcome)
        child = self._children.get(key)
        if child is None:
            child = histogram(DB_DURATION).labels(self.system, operation, outcome)
            self._children[key] = child
        return child

    def record(self, operation: str, outcome: str, seconds: float) -> None:
        """Count one call of ``operation`` that took ``seconds`` (outcome ``success``/``error``)."""
        self._child(operation, outcome).observe(seconds)

    def count_retry(self) -> None:
        """Count one retry after a lost connection."""
        if self._retries is None:
            from tta_dev_primitives.observability import counter

            self._retries = counter(DB_RETRIES).labels(self.system)
        self._retries.inc()

    async def observe(
        self,
        operation: str,
        call: Callable[[], Awaitable[T]],
        *,
        query_text: str | None = None,
        extra: Mapping[str, str | int | bool] | None = None,
    ) -> T:
        """Run ``call`` timed, inside a client span when tracing is on."""
        tracer = active_tracer()
        if tracer is None:
            start = perf_counter()
            try:
                result = await call()
            except Exception:
                self._child(operation, "error").observe(perf_counter() - start)
                raise
            self._child(operation, "success").observe(perf_counter() - start)
            return result
        return await self._traced(tracer, operation, call, query_text, extra)

    async def _traced(
        self,
        tracer: Any,
        operation: str,
        call: Callable[[], Awaitable[T]],
        query_text: str | None,
        extra: Mapping[str, str | int | bool] | None,
    ) -> T:
        from opentelemetry.trace import SpanKind, Status, StatusCode

        attributes: dict[str, str | int | bool] = {
            **self.attributes,
            "db.operation.name": operation,
        }
        if query_text is not None:
            attributes["db.query.text"] = query_text
        if extra:
            attributes.update(extra)
        target = (
            attributes.get("db.collection.name")
            or attributes.get("db.stored_procedure.name")
            or self.namespace
        )
        name = f"{operation} {target}" if target else operation
        start = perf_counter()
        with tracer.start_as_current_span(
            name,
            kind=SpanKind.CLIENT,
            attributes=attributes,
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            try:
                result = await call()
            except Exception as error:
                self._child(operation, "error").observe(perf_counter() - start)
                code = getattr(error, "code", None)
                span.set_attribute("error.type", type(error).__qualname__)
                if code:
                    span.set_attribute("db.response.status_code", str(code))
                # Our errors carry no secret in their text (DSN passwords are scrubbed).
                span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))
                raise
            self._child(operation, "success").observe(perf_counter() - start)
            return result
