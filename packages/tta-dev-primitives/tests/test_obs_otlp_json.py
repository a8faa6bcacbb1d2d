"""The span file speaks OTLP JSON: our encoding against the official one, and back.

``opentelemetry-exporter-otlp-json-common`` is OpenTelemetry's own Python encoder of
OTLP JSON (a dev dependency); each line the exporter writes must equal its encoding
of the same spans, and ``tta traces``' reader must get every span back, from new
files and from files written in the older flat format.
"""

from __future__ import annotations

import json
from pathlib import Path

from opentelemetry.exporter.otlp.json.common.trace_encoder import (
    encode_spans as official_encode_spans,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import (
    Link,
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    set_span_in_context,
)

from tta_dev_primitives.observability.otlp_json import encode_spans, read_span_line
from tta_dev_primitives.observability.span_file import JsonLinesSpanExporter, span_to_dict
from tta_dev_primitives.observability.trace_view import read_spans

SCHEMA = "https://opentelemetry.io/schemas/1.44.0"


def make_spans() -> list[ReadableSpan]:
    """Spans with every kind of value, events, a link, an error, a remote parent."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(
        resource=Resource.create({"service.name": "otlp-test", "deployment.environment": "ci"})
    )
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("tta_dev_primitives", "1.2.3", schema_url=SCHEMA)
    other = provider.get_tracer("another.scope")
    remote = SpanContext(
        trace_id=0x0AF7651916CD43DD8448EB211C80319C,
        span_id=0xB7AD6B7169203331,
        is_remote=True,
        trace_flags=TraceFlags(1),
    )
    with tracer.start_as_current_span(
        "chat gpt-4o",
        context=set_span_in_context(NonRecordingSpan(remote)),
        kind=SpanKind.CLIENT,
        attributes={
            "text": "héllo \u2028 world",
            "count": 42,
            "big": 2**62,
            "ratio": 0.25,
            "flag": True,
            "texts": ["a", "b"],
            "counts": [1, 2, 3],
            "ratios": [0.5, 1.5],
            "flags": [True, False],
        },
        links=[Link(remote, {"why": "retry of"})],
    ) as parent:
        parent.add_event("retrying", {"attempt": 2})
        with other.start_as_current_span("inner", kind=SpanKind.INTERNAL) as inner:
            inner.set_status(Status(StatusCode.ERROR, "it broke"))
        with tracer.start_as_current_span("ok", kind=SpanKind.SERVER) as ok:
            ok.set_status(Status(StatusCode.OK))
    with tracer.start_as_current_span("second root", kind=SpanKind.PRODUCER):
        pass
    spans = list(exporter.get_finished_spans())
    provider.shutdown()
    return spans


def test_our_encoding_equals_the_official_one() -> None:
    spans = make_spans()
    ours = encode_spans(spans)
    official = official_encode_spans(spans).to_dict()
    assert ours == official
    # The ids are OTLP's hex, not protobuf JSON's base64.
    first = ours["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    assert len(first["traceId"]) == 32
    assert int(first["traceId"], 16)


def test_each_export_is_one_line_the_official_decoder_reads(tmp_path: Path) -> None:
    spans = make_spans()
    path = tmp_path / "spans.jsonl"
    exporter = JsonLinesSpanExporter(path)
    exporter.export(spans[:2])
    exporter.export(spans[2:])
    exporter.shutdown()
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    assert lines == text.split("\n")[:-1]  # U+2028 in a value is escaped, not a break
    assert len(lines) == 2
    assert json.loads(lines[0]) == official_encode_spans(spans[:2]).to_dict()
    assert json.loads(lines[1]) == official_encode_spans(spans[2:]).to_dict()
    from opentelemetry.proto_json.collector.trace.v1.trace_service import (
        ExportTraceServiceRequest,
    )

    decoded = [ExportTraceServiceRequest.from_json(line) for line in lines]
    names = [
        span.name
        for request in decoded
        for resource in request.resource_spans
        for scope in resource.scope_spans
        for span in scope.spans
    ]
    assert sorted(names) == sorted(span.name for span in spans)


def test_the_reader_gets_every_span_back_as_it_was(tmp_path: Path) -> None:
    spans = make_spans()
    path = tmp_path / "spans.jsonl"
    exporter = JsonLinesSpanExporter(path)
    exporter.export(spans)
    exporter.shutdown()
    read = read_spans([path])
    assert read.skipped_lines == 0
    got = {(r.trace_id, r.span_id): r for r in read.spans}
    for span in spans:
        expected = span_to_dict(span)
        record = got[expected["trace_id"], expected["span_id"]]
        assert record.name == expected["name"]
        assert record.parent_span_id == expected["parent_span_id"]
        assert record.kind == expected["kind"]
        assert (record.start_ns, record.end_ns) == (
            expected["start_time_unix_nano"],
            expected["end_time_unix_nano"],
        )
        assert record.status_code == expected["status"]["code"]
        assert record.status_description == expected["status"]["description"]
        assert dict(record.attributes) == json.loads(json.dumps(expected["attributes"]))
        assert list(record.events) == expected["events"]
        assert dict(record.resource) == expected["resource"]


def test_files_of_the_older_flat_format_are_still_read(tmp_path: Path) -> None:
    spans = make_spans()
    path = tmp_path / "spans.jsonl"
    old = "".join(json.dumps(span_to_dict(span)) + "\n" for span in spans[:2])
    path.write_text(old + json.dumps(encode_spans(spans[2:])) + "\n", encoding="utf-8")
    read = read_spans([path])
    assert read.skipped_lines == 0
    assert sorted(r.name for r in read.spans) == sorted(s.name for s in spans)


def test_a_broken_request_or_span_is_counted_not_fatal(tmp_path: Path) -> None:
    spans = make_spans()
    good = encode_spans(spans[:1])
    broken_span = encode_spans(spans[1:2])
    del broken_span["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["traceId"]
    path = tmp_path / "spans.jsonl"
    lines = [
        json.dumps(good),
        '{"resourceSpans": [{"scopeSpans": [{"spans": [17]}]}]}',
        json.dumps(broken_span),
        "not json",
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    read = read_spans([path])
    assert [r.name for r in read.spans] == [spans[0].name]
    assert read.skipped_lines == 3


def test_a_flat_line_is_one_span() -> None:
    (span,) = make_spans()[:1]
    assert read_span_line(json.dumps(span_to_dict(span))) == [
        json.loads(json.dumps(span_to_dict(span)))
    ]
