from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap

import pytest
from opentelemetry.trace import StatusCode

from tta_dev_primitives import (
    CachePrimitive,
    FallbackPrimitive,
    LambdaPrimitive,
    ParallelPrimitive,
    RetryPrimitive,
    SequentialPrimitive,
    WorkflowContext,
)
from tta_dev_primitives.observability import METRICS, active_tracer
from tta_dev_primitives.testing import FakeClock, FunctionPrimitive, capture_spans, metric_value


async def step(x: int) -> int:
    return x + 1


def named(name: str) -> LambdaPrimitive[int, int]:
    return LambdaPrimitive(step, name=name)


async def test_no_spans_and_no_tracer_without_a_provider(ctx: WorkflowContext) -> None:
    assert active_tracer() is None
    assert await (named("a") >> named("b")).execute(1, ctx) == 3


async def test_nested_compositions_parent_spans_correctly(ctx: WorkflowContext) -> None:
    inner = SequentialPrimitive([named("c1"), named("c2")], name="inner")
    workflow = SequentialPrimitive(
        [
            named("a"),
            ParallelPrimitive([named("p1"), inner], name="fan"),
        ],
        name="root",
    )
    with capture_spans() as spans:
        await workflow.execute(0, ctx)

    assert spans.tree() == ["root", "  a", "  fan", "    p1", "    inner", "      c1", "      c2"]
    root = spans.one("root")
    assert root.parent is None
    trace_ids = {s.context.trace_id for s in spans.spans if s.context is not None}
    assert len(trace_ids) == 1


async def test_span_attributes_name_the_primitive_and_outcome(ctx: WorkflowContext) -> None:
    with capture_spans() as spans:
        await named("a").execute(1, ctx)
    attributes = dict(spans.one("a").attributes or {})
    assert attributes["tta.primitive.type"] == "LambdaPrimitive"
    assert attributes["tta.outcome"] == "success"
    assert attributes["tta.correlation_id"] == ctx.correlation_id


async def test_failed_execution_records_the_error_on_its_span(ctx: WorkflowContext) -> None:
    async def boom(_: int) -> int:
        raise ValueError("no good")

    with capture_spans() as spans, pytest.raises(ValueError, match="no good"):
        await (named("ok") >> LambdaPrimitive(boom, name="boom")).execute(1, ctx)

    span = spans.one("boom")
    assert span.status.status_code is StatusCode.ERROR
    assert "no good" in (span.status.description or "")
    assert dict(span.attributes or {})["error.type"] == "ValueError"
    assert [e.name for e in span.events] == ["exception"]
    assert spans.one("SequentialPrimitive").status.status_code is StatusCode.ERROR


async def test_cancelled_execution_is_marked_cancelled_not_error(ctx: WorkflowContext) -> None:
    async def sleepy(x: int) -> int:
        await asyncio.sleep(60)
        return x

    with capture_spans() as spans:
        task = asyncio.create_task(LambdaPrimitive(sleepy, name="sleepy").execute(1, ctx))
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    span = spans.one("sleepy")
    assert dict(span.attributes or {})["tta.outcome"] == "cancelled"
    assert span.status.status_code is not StatusCode.ERROR


async def test_retry_and_fallback_spans_nest_under_their_wrapper(
    ctx: WorkflowContext, clock: FakeClock
) -> None:
    flaky = FunctionPrimitive.scripted([RuntimeError("once"), 5], name="flaky")
    broken = FunctionPrimitive.scripted([KeyError("down")], name="broken")
    workflow = FallbackPrimitive(broken, [RetryPrimitive(flaky, sleep=clock.sleep)])
    with capture_spans() as spans:
        assert await workflow.execute(0, ctx) == 5
    assert spans.tree() == [
        "fallback(broken)",
        "  broken",
        "  retry(flaky)",
        "    flaky",
        "    flaky",
    ]
    attempts = [dict(s.attributes or {})["tta.attempt"] for s in spans.named("flaky")]
    assert attempts == [1, 2]
    retry_events = [e.name for e in spans.one("retry(flaky)").events]
    assert retry_events == ["retry"]


async def test_cache_fill_span_is_a_child_of_the_cache_span(ctx: WorkflowContext) -> None:
    cached = CachePrimitive(named("expensive"), name="memo")
    with capture_spans() as spans:
        await cached.execute(1, ctx)
        await cached.execute(1, ctx)
    assert spans.tree() == ["memo", "  expensive", "memo"]


async def test_first_span_continues_an_incoming_trace() -> None:
    ctx = WorkflowContext.from_traceparent(
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    )
    with capture_spans() as spans:
        await (named("a") >> named("b")).execute(1, ctx)
    root = spans.one("SequentialPrimitive")
    assert root.context is not None
    assert root.parent is not None
    assert f"{root.context.trace_id:032x}" == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert f"{root.parent.span_id:016x}" == "00f067aa0ba902b7"
    assert root.parent.is_remote
    child = spans.one("a")
    assert child.parent is not None
    assert child.parent.span_id == root.context.span_id


async def test_metrics_after_a_known_workload(ctx: WorkflowContext) -> None:
    async def maybe_fail(x: int) -> int:
        if x < 0:
            raise ValueError("negative")
        return x

    prim = LambdaPrimitive(maybe_fail, name="metrics-known-workload")
    labels = {"primitive": "metrics-known-workload", "primitive_type": "LambdaPrimitive"}
    for x in (1, 2, 3):
        await prim.execute(x, ctx)
    for x in (-1, -2):
        with pytest.raises(ValueError, match="negative"):
            await prim.execute(x, ctx)

    count = "tta_primitive_duration_seconds_count"
    assert metric_value(count, **labels, outcome="success") == 3
    assert metric_value(count, **labels, outcome="error") == 2
    assert metric_value(count, **labels, outcome="cancelled") == 0
    assert metric_value("tta_primitive_duration_seconds_sum", **labels, outcome="success") > 0
    fast_bucket = {**labels, "outcome": "success", "le": "60.0"}
    assert metric_value("tta_primitive_duration_seconds_bucket", **fast_bucket) == 3


async def test_metrics_are_the_same_with_tracing_on(ctx: WorkflowContext) -> None:
    prim = named("metrics-traced")
    labels = {"primitive": "metrics-traced", "primitive_type": "LambdaPrimitive"}
    with capture_spans():
        await prim.execute(1, ctx)
    await prim.execute(1, ctx)
    assert metric_value("tta_primitive_duration_seconds_count", **labels, outcome="success") == 2


def test_metric_catalogue_follows_prometheus_conventions() -> None:
    names = [m.name for m in METRICS]
    assert len(names) == len(set(names))
    forbidden_labels = {"id", "correlation_id", "workflow_id", "trace_id", "span_id", "input"}
    for metric in METRICS:
        assert metric.name.startswith("tta_")
        if metric.kind == "counter":
            assert metric.name.endswith("_total"), metric.name
        if metric.unit == "seconds":  # the unit comes before a counter's _total
            suffix = "_seconds_total" if metric.kind == "counter" else "_seconds"
            assert metric.name.endswith(suffix), metric.name
        assert metric.description
        assert not forbidden_labels & set(metric.labels), metric.name


def test_a_global_sdk_provider_is_picked_up_after_import() -> None:
    # The global provider can be set only once per process, so this runs apart.
    script = textwrap.dedent(
        """
        import asyncio
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
        from tta_dev_primitives import LambdaPrimitive, WorkflowContext
        from tta_dev_primitives.observability import active_tracer

        async def step(x):
            return x

        prim = LambdaPrimitive(step, name="global")
        asyncio.run(prim.execute(1, WorkflowContext()))
        assert active_tracer() is None
        exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        trace.set_tracer_provider(provider)
        asyncio.run(prim.execute(1, WorkflowContext()))
        print([s.name for s in exporter.get_finished_spans()])
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "['global']"
