"""What observability costs on the hot path, each figure against a baseline of the same run.

  a. the metric updates of one untraced primitive execution: ``execute`` with the real
     bound histogram children vs the same primitive whose children do nothing
     (target: <= 2 us; the timing calls around the step are in both)
  b. the exemplar of one traced execution: ``observe`` with a trace/span exemplar
     (and making it from the span) vs a plain ``observe`` (context: traced path only)
  c. the on-loop cost of exporting spans to the JSON-lines file: a traced 100-step
     chain whose provider batches spans to ``JsonLinesSpanExporter`` vs the same chain
     on a provider with no processor (the spans are made either way; context: the
     file write runs on the batch thread, but serializing a span holds the GIL, so
     on a busy 2-core machine part of (d) shows up here)
  d. the off-loop cost of writing a span: ``JsonLinesSpanExporter.export`` of a batch
     of 512 spans, per span (context)

Samples alternate between the two candidates; the best (minimum) per-iteration time
of each is compared, medians in brackets, as in ``bench_primitives.py`` (whose timing
helpers this reuses). Usage: ``python benchmarks/bench_observability.py [--quick]
[--json FILE]``; the exit code is 0 when a target is missed (this is a report).
"""

from __future__ import annotations

import asyncio
import operator
import sys
import tempfile
from collections.abc import Sequence
from functools import reduce
from pathlib import Path
from time import perf_counter

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from bench_primitives import (
    FULL,
    QUICK,
    Result,
    Settings,
    compare,
    machine,
    print_table,
    result,
)
from report import benchmark_arguments, finish_run
from tta_dev_primitives import LambdaPrimitive, WorkflowContext
from tta_dev_primitives.core.base import _exemplar
from tta_dev_primitives.observability import histogram
from tta_dev_primitives.observability.metrics import EXECUTION_DURATION, PrimitiveMetrics
from tta_dev_primitives.observability.span_file import JsonLinesSpanExporter
from tta_dev_primitives.observability.trace_view import read_spans
from tta_dev_primitives.observability.tracing import active_tracer, use_tracer_provider

STEPS = 100
BATCH = 512


async def step(x: int) -> int:
    return x + 1


def _check(condition: bool, what: str) -> None:
    if not condition:
        raise RuntimeError(f"benchmark sanity check failed: {what}")


class _NoOpChild:
    __slots__ = ()

    def observe(self, amount: float, exemplar: dict[str, str] | None = None) -> None:
        pass


class _NoOpMetrics:
    __slots__ = ("cancelled", "error", "success")

    def __init__(self) -> None:
        self.success = self.error = self.cancelled = _NoOpChild()


async def bench_metric_updates(settings: Settings) -> Result:
    measured = LambdaPrimitive(step, name="bench_measured")
    unmeasured = LambdaPrimitive(step, name="bench_unmeasured")
    unmeasured._metrics = _NoOpMetrics()  # type: ignore[assignment]
    ctx = WorkflowContext()
    _check(active_tracer() is None, "tracing off")
    _check(await measured.execute(1, ctx) == await unmeasured.execute(1, ctx) == 2, "output")
    _check(isinstance(measured._metrics, PrimitiveMetrics), "real metrics bound")
    times = await compare(
        lambda: measured.execute(1, ctx), lambda: unmeasured.execute(1, ctx), settings
    )
    return result(
        times,
        key="metric_updates",
        label="(a) metric updates of one execution",
        unit="us/exec",
        scale=1e6,
        kind="difference",
        target=2.0,
    )


async def bench_exemplar(settings: Settings) -> Result:
    memory = InMemorySpanExporter()
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(memory))
    with provider.get_tracer("bench").start_as_current_span("one") as span:
        pass
    child = histogram(EXECUTION_DURATION).labels("bench_exemplar", "Bench", "success")
    _check(_exemplar(span) is not None, "sampled span gives an exemplar")

    async def with_exemplar() -> None:
        child.observe(0.000_01, _exemplar(span))

    async def plain() -> None:
        child.observe(0.000_01)

    times = await compare(with_exemplar, plain, settings)
    provider.shutdown()
    return result(
        times,
        key="exemplar",
        label="(b, context) exemplar on a traced observe",
        unit="us/obs",
        scale=1e6,
        kind="difference",
        target=None,
    )


async def bench_exporter_on_loop(settings: Settings, directory: Path) -> Result:
    chain = reduce(operator.rshift, [LambdaPrimitive(step) for _ in range(STEPS)])
    ctx = WorkflowContext()
    exported = TracerProvider(shutdown_on_exit=False)
    exporter = JsonLinesSpanExporter(directory / "spans.jsonl", max_bytes=1 << 40)
    exported.add_span_processor(BatchSpanProcessor(exporter, max_queue_size=1 << 16))
    bare = TracerProvider(shutdown_on_exit=False)

    async def to_file() -> object:
        with use_tracer_provider(exported):
            return await chain.execute(0, ctx)

    async def no_export() -> object:
        with use_tracer_provider(bare):
            return await chain.execute(0, ctx)

    _check(await to_file() == await no_export() == STEPS, "traced output")
    times = await compare(to_file, no_export, settings)
    exported.shutdown()
    bare.shutdown()
    written = read_spans([directory / "spans.jsonl"])
    _check(len(written.spans) > 0 and not written.skipped_lines, "spans reached the file")
    return result(
        times,
        key="exporter_on_loop_ratio",
        label=f"(c, context) traced {STEPS}-step chain, to file",
        unit="us/run",
        scale=1e6,
        kind="ratio",
        target=None,
    )


async def bench_exporter_write(settings: Settings, directory: Path) -> Result:
    memory = InMemorySpanExporter()
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(memory))
    chain = reduce(operator.rshift, [LambdaPrimitive(step) for _ in range(BATCH - 1)])
    with use_tracer_provider(provider):
        await chain.execute(0, WorkflowContext())
    spans: Sequence[ReadableSpan] = memory.get_finished_spans()
    _check(len(spans) == BATCH, "a full batch")
    exporter = JsonLinesSpanExporter(directory / "write.jsonl", max_bytes=1 << 40)
    to_null = JsonLinesSpanExporter(directory / "unused.jsonl")

    async def write() -> None:
        exporter.export(spans)

    async def nothing() -> None:
        to_null.force_flush()

    times = await compare(write, nothing, settings, per=BATCH)
    exporter.shutdown()
    provider.shutdown()
    return result(
        times,
        key="exporter_write",
        label="(d, context) JSON-lines write, off loop",
        unit="us/span",
        scale=1e6,
        kind="difference",
        target=None,
    )


async def run_in_loop(settings: Settings) -> list[Result]:
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch)
        return [
            await bench_metric_updates(settings),
            await bench_exemplar(settings),
            await bench_exporter_on_loop(settings, directory),
            await bench_exporter_write(settings, directory),
        ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = benchmark_arguments(__doc__)
    args = parser.parse_args(argv)
    settings = QUICK if args.quick else FULL

    started = perf_counter()
    results = asyncio.run(run_in_loop(settings))
    info = machine()
    print_table(results, settings, info, title="observability", imports=False)
    finish_run(
        results, started=started, settings=settings, info=info, quick=args.quick,
        json_path=args.json,
    )  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
