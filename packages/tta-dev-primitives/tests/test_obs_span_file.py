"""The JSON-lines span exporter: the line format, rotation, several writers, no loss."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExportResult,
)
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode

from tta_dev_primitives import LambdaPrimitive, SequentialPrimitive, WorkflowContext
from tta_dev_primitives.observability import use_tracer_provider
from tta_dev_primitives.observability.otlp_json import read_span_line
from tta_dev_primitives.observability.span_file import JsonLinesSpanExporter

HEX32 = set("0123456789abcdef")


def read_lines(path: Path) -> list[dict[str, Any]]:
    """The spans of the file, flat (each line is an OTLP request of one or more)."""
    return [span for line in path.read_text().splitlines() for span in read_span_line(line)]


def provider_to(exporter: JsonLinesSpanExporter) -> TracerProvider:
    provider = TracerProvider(
        resource=Resource.create({"service.name": "span-file-test"}), shutdown_on_exit=False
    )
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider


async def step(x: int) -> int:
    return x + 1


async def test_each_span_is_one_json_line_in_the_agreed_format(tmp_path: Path) -> None:
    path = tmp_path / "traces" / "spans.jsonl"
    exporter = JsonLinesSpanExporter(path)
    provider = provider_to(exporter)
    workflow = SequentialPrimitive(
        [LambdaPrimitive(step, name="a"), LambdaPrimitive(step, name="b")], name="root"
    )
    ctx = WorkflowContext()
    with use_tracer_provider(provider):
        assert await workflow.execute(1, ctx) == 3
    provider.shutdown()

    spans = {s["name"]: s for s in read_lines(path)}
    assert set(spans) == {"root", "a", "b"}
    root, a = spans["root"], spans["a"]
    assert set(root) == {
        "trace_id", "span_id", "parent_span_id", "name", "kind", "start_time_unix_nano",
        "end_time_unix_nano", "status", "attributes", "events", "resource",
    }  # fmt: skip
    assert len(root["trace_id"]) == 32
    assert set(root["trace_id"]) <= HEX32
    assert len(root["span_id"]) == 16
    assert set(root["span_id"]) <= HEX32
    assert root["parent_span_id"] is None
    assert a["parent_span_id"] == root["span_id"]
    assert a["trace_id"] == root["trace_id"]
    assert root["kind"] == "INTERNAL"
    assert root["status"] == {"code": "UNSET", "description": None}
    assert isinstance(root["start_time_unix_nano"], int)
    assert root["end_time_unix_nano"] >= a["end_time_unix_nano"] >= a["start_time_unix_nano"]
    assert a["attributes"]["tta.correlation_id"] == ctx.correlation_id
    assert a["attributes"]["tta.outcome"] == "success"
    assert root["resource"]["service.name"] == "span-file-test"
    assert root["events"] == []


def test_errors_events_and_sequence_attributes_are_written(tmp_path: Path) -> None:
    path = tmp_path / "spans.jsonl"
    provider = provider_to(JsonLinesSpanExporter(path))
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("call", kind=SpanKind.CLIENT) as span:
        span.set_attribute("tags", ["x", "y"])
        span.add_event("retrying", {"attempt": 2})
        span.set_status(Status(StatusCode.ERROR, "boom"))
    provider.shutdown()

    (line,) = read_lines(path)
    assert line["kind"] == "CLIENT"
    assert line["status"] == {"code": "ERROR", "description": "boom"}
    assert line["attributes"]["tags"] == ["x", "y"]
    (event,) = line["events"]
    assert event["name"] == "retrying"
    assert event["attributes"] == {"attempt": 2}
    assert isinstance(event["time_unix_nano"], int)


def test_the_file_rotates_past_max_bytes_keeping_one_previous_file(tmp_path: Path) -> None:
    path = tmp_path / "spans.jsonl"
    exporter = JsonLinesSpanExporter(path, max_bytes=2_000)
    provider = provider_to(exporter)
    tracer = provider.get_tracer("test")
    for i in range(60):
        with tracer.start_as_current_span(f"span-{i}"):
            pass
    provider.shutdown()

    current, previous = read_lines(path), read_lines(exporter.rotated_path)
    assert path.stat().st_size < 2_000 + 1_000
    assert not path.with_name("spans.jsonl.2").exists()
    names = [s["name"] for s in previous + current]
    # The newest spans survive, in order, without a gap between the two files.
    assert names == [f"span-{i}" for i in range(60 - len(names), 60)]
    assert len(previous) > 0


def test_a_bad_max_bytes_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="max_bytes must be positive"):
        JsonLinesSpanExporter(tmp_path / "s.jsonl", max_bytes=0)


def test_export_after_shutdown_fails_and_an_unwritable_path_fails(tmp_path: Path) -> None:
    exporter = JsonLinesSpanExporter(tmp_path / "s.jsonl")
    exporter.shutdown()
    assert exporter.export([_one_span()]) is SpanExportResult.FAILURE
    blocker = tmp_path / "file"
    blocker.write_text("")
    stuck = JsonLinesSpanExporter(blocker / "spans.jsonl")  # a file where a dir must be
    assert stuck.export([_one_span()]) is SpanExportResult.FAILURE


def _one_span() -> ReadableSpan:
    memory = InMemorySpanExporter()
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(memory))
    with provider.get_tracer("t").start_as_current_span("one"):
        pass
    return memory.get_finished_spans()[0]


WRITER = textwrap.dedent(
    """
    import sys
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from tta_dev_primitives.observability.span_file import JsonLinesSpanExporter

    path, worker, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    provider = TracerProvider()
    provider.add_span_processor(
        BatchSpanProcessor(JsonLinesSpanExporter(path), max_export_batch_size=50)
    )
    tracer = provider.get_tracer("writer")
    for i in range(count):
        with tracer.start_as_current_span(f"{worker}-{i}") as span:
            span.set_attribute("padding", "x" * 200)
    provider.shutdown()
    """
)


def test_several_processes_append_to_one_file_without_tearing_lines(tmp_path: Path) -> None:
    path = tmp_path / "spans.jsonl"
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    workers = [
        subprocess.Popen([sys.executable, str(script), str(path), f"w{n}", "400"]) for n in range(3)
    ]
    assert [w.wait(timeout=60) for w in workers] == [0, 0, 0]

    lines = read_lines(path)  # json.loads fails on any torn or interleaved line
    assert len(lines) == 1200
    for n in range(3):
        assert sorted(s["name"] for s in lines if s["name"].startswith(f"w{n}-")) == sorted(
            f"w{n}-{i}" for i in range(400)
        )


def test_several_processes_rotating_the_same_file_lose_no_span(tmp_path: Path) -> None:
    path = tmp_path / "spans.jsonl"
    script = tmp_path / "writer.py"
    # A limit big enough that at most one rotation happens (only one previous file is
    # kept, so more rotations would drop spans by design).
    script.write_text(
        WRITER.replace(
            "JsonLinesSpanExporter(path)", "JsonLinesSpanExporter(path, max_bytes=300_000)"
        )
    )
    workers = [
        subprocess.Popen([sys.executable, str(script), str(path), f"w{n}", "300"]) for n in range(3)
    ]
    assert [w.wait(timeout=60) for w in workers] == [0, 0, 0]

    rotated = path.with_name("spans.jsonl.1")
    assert rotated.exists()
    names = [s["name"] for s in read_lines(rotated) + read_lines(path)]
    assert len(names) == len(set(names)) == 900


class GatedExporter(JsonLinesSpanExporter):
    """Blocks in export until released, like a slow disk."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.release = threading.Event()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.release.wait(timeout=30)
        return super().export(spans)


async def test_a_slow_disk_does_not_block_the_event_loop(tmp_path: Path) -> None:
    path = tmp_path / "spans.jsonl"
    exporter = GatedExporter(path)
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=10))
    chain = SequentialPrimitive([LambdaPrimitive(step, name=f"s{i}") for i in range(20)])
    with use_tracer_provider(provider):
        # The export is stuck, yet every execution and the loop go on.
        for _ in range(20):
            assert await asyncio.wait_for(chain.execute(0, WorkflowContext()), 5) == 20
    exporter.release.set()
    provider.shutdown()
    assert len(read_lines(path)) == 20 * 21
