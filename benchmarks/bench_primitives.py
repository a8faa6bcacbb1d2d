"""What the core primitives cost over the hand-written asyncio code that does the same work.

Every figure is a pair measured in the same run, against a baseline written by hand:

  a. a 100-step ``>>`` chain of LambdaPrimitive steps vs 100 raw ``await step(x)``
  b. a 100-branch ``|`` ParallelPrimitive vs ``asyncio.gather`` of the same coroutines
  c. RetryPrimitive around a step that succeeds vs the bare call of its function
  d. the chain of (a) traced to an OpenTelemetry SDK provider vs hand-written
     ``tracer.start_as_current_span`` around the raw awaits, on an identical provider
  e. importing ``tta_dev_primitives`` in a fresh interpreter vs ``python -c pass``

Each timed sample runs one candidate in a loop sized to take ``sample_seconds``, with
the garbage collector paused (as ``timeit`` does); samples of the two candidates
alternate, and the best (minimum) per-iteration time of each is what the targets are
checked against. Medians are shown beside them.

Usage: ``python benchmarks/bench_primitives.py [--quick] [--json FILE]``. The exit code
is 0 when a target is missed (this is a report) and non-zero only on errors.
"""

from __future__ import annotations

import asyncio
import gc
import operator
import statistics
import subprocess
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date
from functools import reduce
from time import perf_counter
from typing import Any, Literal

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from machine import describe_machine
from report import benchmark_arguments, finish_run
from tta_dev_primitives import (
    LambdaPrimitive,
    ParallelPrimitive,
    RetryPrimitive,
    SequentialPrimitive,
    WorkflowContext,
)
from tta_dev_primitives.observability.tracing import active_tracer, use_tracer_provider

STEPS = 100
BRANCHES = 100

Job = Callable[[], Awaitable[object]]


@dataclass(frozen=True)
class Settings:
    sample_seconds: float  # wall time one timed sample aims at
    repeats: int  # timed samples per candidate
    import_runs: int  # fresh interpreters per candidate of the import measurement


FULL = Settings(sample_seconds=0.1, repeats=21, import_runs=40)
QUICK = Settings(sample_seconds=0.01, repeats=5, import_runs=10)


@dataclass
class Result:
    key: str
    label: str
    unit: str  # of ours, baseline and (for a difference) overhead
    kind: Literal["difference", "ratio"]  # how ours is compared with the baseline
    target: float | None  # the most overhead (or highest ratio) that passes; None: context
    ours: float  # best (minimum) of the samples
    baseline: float
    ours_median: float
    baseline_median: float
    samples: int
    overhead: float = 0.0  # ours - baseline, or ours / baseline for a ratio
    overhead_median: float = 0.0
    passed: bool | None = None

    def __post_init__(self) -> None:
        compare = operator.truediv if self.kind == "ratio" else operator.sub
        self.overhead = compare(self.ours, self.baseline)
        self.overhead_median = compare(self.ours_median, self.baseline_median)
        self.passed = None if self.target is None else self.overhead <= self.target


# -- timing ------------------------------------------------------------------------


async def _loop_seconds(job: Job, n: int) -> float:
    gc.collect()
    gc.disable()
    try:
        start = perf_counter()
        for _ in range(n):
            await job()
        return perf_counter() - start
    finally:
        gc.enable()


async def _iterations_for(job: Job, seconds: float) -> int:
    """How many runs of ``job`` take about ``seconds`` (like ``timeit.autorange``)."""
    n = 1
    while True:
        elapsed = await _loop_seconds(job, n)
        if elapsed >= seconds / 4:
            return max(1, round(n * seconds / elapsed))
        n *= 2


async def compare(
    ours: Job,
    baseline: Job,
    settings: Settings,
    *,
    per: int = 1,
    reset: Callable[[], None] = lambda: None,
) -> tuple[list[float], list[float]]:
    """Seconds per iteration of each job (divided by ``per``), one entry per sample.

    ``reset`` runs after every sample, outside the timing (to drop recorded spans).
    """
    jobs = (ours, baseline)
    for job in jobs:  # warm-up: binds metric children, fills caches, settles the loop
        await _loop_seconds(job, 3)
    counts = [await _iterations_for(job, settings.sample_seconds) for job in jobs]
    reset()
    times: tuple[list[float], list[float]] = ([], [])
    for repeat in range(settings.repeats):
        # Alternate which candidate goes first so neither always runs on a "fresher" CPU.
        order = (0, 1) if repeat % 2 == 0 else (1, 0)
        for i in order:
            times[i].append(await _loop_seconds(jobs[i], counts[i]) / counts[i] / per)
            reset()
    return times


def result(
    times: tuple[Sequence[float], Sequence[float]],
    *,
    key: str,
    label: str,
    unit: str,
    scale: float,
    kind: Literal["difference", "ratio"],
    target: float | None,
) -> Result:
    """The figures of ``compare``'s samples (seconds), scaled to ``unit``."""
    ours, base = times
    return Result(
        key=key,
        label=label,
        unit=unit,
        kind=kind,
        target=target,
        ours=min(ours) * scale,
        baseline=min(base) * scale,
        ours_median=statistics.median(ours) * scale,
        baseline_median=statistics.median(base) * scale,
        samples=len(ours),
    )


# -- the measurements --------------------------------------------------------------


async def step(x: int) -> int:
    return x + 1


def _check(condition: bool, what: str) -> None:
    # Not `assert`: the comparisons must stay apples to apples under `python -O` too.
    if not condition:
        raise RuntimeError(f"benchmark sanity check failed: {what}")


async def bench_chain(settings: Settings) -> Result:
    chain = reduce(operator.rshift, [LambdaPrimitive(step) for _ in range(STEPS)])
    _check(isinstance(chain, SequentialPrimitive) and len(chain.steps) == STEPS, "flat chain")
    ctx = WorkflowContext()
    funcs = (step,) * STEPS

    async def raw() -> int:
        x = 0
        for f in funcs:
            x = await f(x)
        return x

    _check(await chain.execute(0, ctx) == await raw() == STEPS, "chain output")
    times = await compare(lambda: chain.execute(0, ctx), raw, settings, per=STEPS)
    return result(
        times,
        key="chain_step",
        label=f"(a) {STEPS}-step >> chain",
        unit="us/step",
        scale=1e6,
        kind="difference",
        target=2.0,
    )


async def bench_parallel(settings: Settings) -> Result:
    parallel = reduce(operator.or_, [LambdaPrimitive(step) for _ in range(BRANCHES)])
    _check(
        isinstance(parallel, ParallelPrimitive) and len(parallel.branches) == BRANCHES,
        "flat parallel",
    )
    ctx = WorkflowContext()
    funcs = (step,) * BRANCHES

    async def raw() -> list[int]:
        return await asyncio.gather(*[f(1) for f in funcs])

    _check(await parallel.execute(1, ctx) == await raw() == [2] * BRANCHES, "parallel output")
    times = await compare(lambda: parallel.execute(1, ctx), raw, settings, per=BRANCHES)
    return result(
        times,
        key="parallel_branch",
        label=f"(b) {BRANCHES}-branch | parallel",
        unit="us/branch",
        scale=1e6,
        kind="difference",
        target=5.0,
    )


async def bench_retry(settings: Settings) -> Result:
    retry = RetryPrimitive(step)
    ctx = WorkflowContext()
    _check(await retry.execute(1, ctx) == 2, "retry output")
    times = await compare(lambda: retry.execute(1, ctx), lambda: step(1), settings)
    return result(
        times,
        key="retry_call",
        label="(c) RetryPrimitive, success",
        unit="us/call",
        scale=1e6,
        kind="difference",
        target=3.0,
    )


def _provider() -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


async def bench_tracing(settings: Settings) -> tuple[Result, Result]:
    """(d), and for context the same against hand-written spans with our spans' attributes.

    Three identically configured providers, so each candidate's spans stay apart.
    """
    chain = reduce(operator.rshift, [LambdaPrimitive(step) for _ in range(STEPS)])
    ctx = WorkflowContext()
    funcs = (step,) * STEPS
    ours_provider, ours_spans = _provider()
    plain_provider, plain_spans = _provider()
    attr_provider, attr_spans = _provider()
    plain = plain_provider.get_tracer("bench")
    attributed = attr_provider.get_tracer("bench")
    outer, inner = chain.display_name, chain.steps[0].display_name

    async def ours() -> object:
        return await chain.execute(0, ctx)

    async def by_hand() -> int:
        x = 0
        with plain.start_as_current_span(outer):
            for f in funcs:
                with plain.start_as_current_span(inner):
                    x = await f(x)
        return x

    def reset() -> None:
        for exporter in (ours_spans, plain_spans, attr_spans):
            exporter.clear()

    with use_tracer_provider(ours_provider):
        _check(active_tracer() is not None, "tracing on")
        _check(await ours() == await by_hand() == STEPS, "traced chain output")
        spans = [exporter.get_finished_spans() for exporter in (ours_spans, plain_spans)]
        _check(
            [[s.name for s in found] for found in spans] == [[inner] * STEPS + [outer]] * 2,
            "same spans, ours and by hand",
        )
        # Whatever attributes our spans end up with, given at creation (the cheapest way).
        inner_attrs = dict(spans[0][0].attributes or {})
        outer_attrs = dict(spans[0][-1].attributes or {})

        async def by_hand_with_attributes() -> int:
            x = 0
            with attributed.start_as_current_span(outer, attributes=outer_attrs):
                for f in funcs:
                    with attributed.start_as_current_span(inner, attributes=inner_attrs):
                        x = await f(x)
            return x

        reset()
        traced = await compare(ours, by_hand, settings, reset=reset)
        with_attributes = await compare(ours, by_hand_with_attributes, settings, reset=reset)
    _check(active_tracer() is None, "tracing off again")
    return (
        result(
            traced,
            key="tracing_ratio",
            label=f"(d) traced {STEPS}-step chain",
            unit="us/run",
            scale=1e6,
            kind="ratio",
            target=1.3,
        ),
        result(
            with_attributes,
            key="tracing_ratio_same_attributes",
            label="(d, context) vs spans with our attributes",
            unit="us/run",
            scale=1e6,
            kind="ratio",
            target=None,
        ),
    )


def _spawn_seconds(code: str) -> float:
    start = perf_counter()
    subprocess.run(
        [sys.executable, "-c", code],
        check=True,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
    )
    return perf_counter() - start


def bench_import(settings: Settings) -> Result:
    codes = ("import tta_dev_primitives", "pass")
    for code in codes:  # warm-up: writes the .pyc files, fills the OS file cache
        _spawn_seconds(code)
    times: tuple[list[float], list[float]] = ([], [])
    for run in range(settings.import_runs):
        order = (0, 1) if run % 2 == 0 else (1, 0)
        for i in order:
            times[i].append(_spawn_seconds(codes[i]))
    return result(
        times,
        key="import_time",
        label="(e) import tta_dev_primitives",
        unit="ms",
        scale=1e3,
        kind="difference",
        target=40.0,
    )


# -- report ------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    return describe_machine()


def _fmt(value: float) -> str:
    return f"{value:.3g}" if value < 10 else f"{value:.1f}"


def print_table(
    results: Sequence[Result],
    settings: Settings,
    info: dict[str, Any],
    *,
    title: str = "primitives",
    imports: bool = True,
) -> None:
    print(
        f"\nTTA.dev {title} benchmark  {date.today().isoformat()}  Python {info['python']}  "
        f"{info['cpu']} ({info['cores']} cores)"
    )
    import_note = (
        f"import: best of {settings.import_runs} fresh interpreters each; " if imports else ""
    )
    print(
        f"best (minimum) of {settings.repeats} samples of ~{settings.sample_seconds * 1e3:g} ms "
        f"each, GC paused; {import_note}medians in brackets\n"
    )
    headers = ("measurement", "ours", "baseline", "overhead / ratio", "target", "result")
    rows = []
    for r in results:
        if r.kind == "ratio":
            overhead = f"{r.overhead:.2f}x [{r.overhead_median:.2f}x]"
            unit = "x"
        else:
            overhead = f"{r.overhead:+.2f} {r.unit} [{r.overhead_median:+.2f}]"
            unit = f" {r.unit}"
        target = "-" if r.target is None else f"<= {r.target:g}{unit}"
        rows.append(
            (
                r.label,
                f"{_fmt(r.ours)} {r.unit} [{_fmt(r.ours_median)}]",
                f"{_fmt(r.baseline)} {r.unit} [{_fmt(r.baseline_median)}]",
                overhead,
                target,
                "-" if r.passed is None else "PASS" if r.passed else "MISS",
            )
        )
    widths = [max(len(row[i]) for row in (headers, *rows)) for i in range(len(headers))]
    for row in (headers, tuple("-" * w for w in widths), *rows):
        cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        print("  ".join(cells).rstrip())


async def run_in_loop(settings: Settings) -> list[Result]:
    return [
        await bench_chain(settings),
        await bench_parallel(settings),
        await bench_retry(settings),
        *await bench_tracing(settings),
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = benchmark_arguments(__doc__)
    args = parser.parse_args(argv)
    settings = QUICK if args.quick else FULL

    started = perf_counter()
    results = [*asyncio.run(run_in_loop(settings)), bench_import(settings)]
    info = machine()
    print_table(results, settings, info)
    finish_run(
        results, started=started, settings=settings, info=info, quick=args.quick,
        json_path=args.json,
    )  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
