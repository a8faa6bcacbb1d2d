"""Spans in OTLP JSON, the encoding other OpenTelemetry tools read and write.

The span file holds one ``ExportTraceServiceRequest`` per line in OTLP's JSON
encoding (the protobuf JSON mapping with OTLP's two departures: trace and span ids in
hex, enums as integers), which is what the Collector's ``file`` exporter writes and
its ``otlpjsonfile`` receiver reads. :func:`encode_spans` makes one such request from
finished spans, grouped by resource and instrumentation scope; the test suite checks
it against the official ``opentelemetry-exporter-otlp-json-common`` encoding.

:func:`read_span_line` turns a line of the file, in this encoding or in the flat
format TTA.dev wrote before (one span per line, see ``span_to_dict``), into flat span
dicts, so files written by older versions stay readable. Nothing here imports the
OpenTelemetry SDK: ``tta traces`` reads files without it.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import ReadableSpan
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope
    from opentelemetry.trace import SpanContext

__all__ = ["decode_request", "encode_attributes", "encode_spans", "read_span_line"]

# OTLP's SpanKind is the SDK's plus one (0 is SPAN_KIND_UNSPECIFIED).
_KIND_NAMES = {1: "INTERNAL", 2: "SERVER", 3: "CLIENT", 4: "PRODUCER", 5: "CONSUMER"}
_STATUS_NAMES = {0: "UNSET", 1: "OK", 2: "ERROR"}
# SpanFlags: the context says whether its parent is remote (bit 8), and if so (bit 9).
_HAS_IS_REMOTE = 0x100
_IS_REMOTE = 0x200


def _value(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        if math.isfinite(value):
            return {"doubleValue": value}
        return {"doubleValue": "NaN" if math.isnan(value) else ("-" * (value < 0)) + "Infinity"}
    if isinstance(value, str):
        return {"stringValue": value}
    if isinstance(value, bytes):
        return {"bytesValue": base64.b64encode(value).decode("ascii")}
    if isinstance(value, Sequence):
        return {"arrayValue": {"values": [_value(item) for item in value]}}
    if isinstance(value, Mapping):
        return {"kvlistValue": {"values": encode_attributes(value)}}
    return {"stringValue": str(value)}


def encode_attributes(attributes: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """Attributes as OTLP ``KeyValue`` objects."""
    return [{"key": key, "value": _value(value)} for key, value in (attributes or {}).items()]


def _with_attributes(target: dict[str, Any], attributes: Mapping[str, Any] | None) -> None:
    if attributes:
        target["attributes"] = encode_attributes(attributes)


def _flags(parent: SpanContext | None) -> int:
    if parent is not None and parent.is_remote:
        return _HAS_IS_REMOTE | _IS_REMOTE
    return _HAS_IS_REMOTE


def _span(span: ReadableSpan) -> dict[str, Any]:
    context = span.get_span_context()
    out: dict[str, Any] = {
        "traceId": format(context.trace_id, "032x") if context else "",
        "spanId": format(context.span_id, "016x") if context else "",
    }
    if context is not None and context.trace_state:
        out["traceState"] = ",".join(f"{k}={v}" for k, v in context.trace_state.items())
    if span.parent is not None:
        out["parentSpanId"] = format(span.parent.span_id, "016x")
    out["flags"] = _flags(span.parent)
    out["name"] = span.name
    out["kind"] = span.kind.value + 1
    out["startTimeUnixNano"] = str(span.start_time or 0)
    out["endTimeUnixNano"] = str(span.end_time or 0)
    _with_attributes(out, span.attributes)
    if span.dropped_attributes:
        out["droppedAttributesCount"] = span.dropped_attributes
    if span.events:
        out["events"] = [_event(event) for event in span.events]
    if span.dropped_events:
        out["droppedEventsCount"] = span.dropped_events
    if span.links:
        out["links"] = [_link(link) for link in span.links]
    if span.dropped_links:
        out["droppedLinksCount"] = span.dropped_links
    status: dict[str, Any] = {}
    if span.status.description is not None:
        status["message"] = span.status.description
    if span.status.status_code.value:
        status["code"] = span.status.status_code.value
    out["status"] = status
    return out


def _event(event: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"timeUnixNano": str(event.timestamp), "name": event.name}
    _with_attributes(out, event.attributes)
    if event.dropped_attributes:
        out["droppedAttributesCount"] = event.dropped_attributes
    return out


def _link(link: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "traceId": format(link.context.trace_id, "032x"),
        "spanId": format(link.context.span_id, "016x"),
    }
    _with_attributes(out, link.attributes)
    if link.dropped_attributes:
        out["droppedAttributesCount"] = link.dropped_attributes
    out["flags"] = _flags(link.context)
    return out


def _scope(scope: InstrumentationScope | None) -> dict[str, Any]:
    if scope is None:
        return {}
    out: dict[str, Any] = {"name": scope.name}
    if scope.version:
        out["version"] = scope.version
    _with_attributes(out, scope.attributes)
    return out


def encode_spans(spans: Sequence[ReadableSpan]) -> dict[str, Any]:
    """One ``ExportTraceServiceRequest`` holding ``spans``, as OTLP JSON."""
    groups: dict[int, tuple[Resource, dict[int, tuple[Any, list[dict[str, Any]]]]]] = {}
    for span in spans:
        resource = span.resource
        _, scopes = groups.setdefault(id(resource), (resource, {}))
        scope = span.instrumentation_scope
        scopes.setdefault(id(scope), (scope, []))[1].append(_span(span))
    resource_spans = []
    for resource, scopes in groups.values():
        scope_spans = []
        for scope, encoded in scopes.values():
            entry: dict[str, Any] = {"scope": _scope(scope), "spans": encoded}
            if scope is not None and scope.schema_url:
                entry["schemaUrl"] = scope.schema_url
            scope_spans.append(entry)
        item: dict[str, Any] = {"resource": {}, "scopeSpans": scope_spans}
        _with_attributes(item["resource"], resource.attributes)
        if resource.schema_url:
            item["schemaUrl"] = resource.schema_url
        resource_spans.append(item)
    return {"resourceSpans": resource_spans}


# -- reading ---------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """An OTLP ``AnyValue`` as a plain JSON value."""
    if not isinstance(value, Mapping) or len(value) != 1:
        raise ValueError(f"not an OTLP AnyValue: {value!r}"[:200])
    ((kind, inner),) = value.items()
    if kind == "stringValue":
        return str(inner)
    if kind == "boolValue":
        return bool(inner)
    if kind == "intValue":
        return int(inner)
    if kind == "doubleValue":
        return float(inner)
    if kind == "bytesValue":
        return str(inner)
    if kind == "arrayValue":
        return [_plain(item) for item in inner.get("values") or []]
    if kind == "kvlistValue":
        return _attributes(inner.get("values"))
    raise ValueError(f"unknown OTLP value type {kind!r}")


def _attributes(values: Any) -> dict[str, Any]:
    if values is None:
        return {}
    if not isinstance(values, list):
        raise ValueError("OTLP attributes must be a list of key-value objects")
    return {str(item["key"]): _plain(item.get("value") or {"stringValue": ""}) for item in values}


def _flat_span(span: Mapping[str, Any], resource: dict[str, Any]) -> dict[str, Any]:
    status = span.get("status") or {}
    parent = span.get("parentSpanId")
    return {
        "trace_id": str(span["traceId"]),
        "span_id": str(span["spanId"]),
        "parent_span_id": str(parent) if parent else None,
        "name": str(span["name"]),
        "kind": _KIND_NAMES.get(int(span.get("kind") or 1), "INTERNAL"),
        "start_time_unix_nano": int(span["startTimeUnixNano"]),
        "end_time_unix_nano": int(span["endTimeUnixNano"]),
        "status": {
            "code": _STATUS_NAMES.get(int(status.get("code") or 0), "UNSET"),
            "description": status.get("message"),
        },
        "attributes": _attributes(span.get("attributes")),
        "events": [
            {
                "name": str(event.get("name", "")),
                "time_unix_nano": int(event.get("timeUnixNano") or 0),
                "attributes": _attributes(event.get("attributes")),
            }
            for event in span.get("events") or []
        ],
        "resource": resource,
    }


def decode_request(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The spans of one OTLP JSON ``ExportTraceServiceRequest``, as flat dicts.

    The dicts have the keys ``span_to_dict`` writes (hex ids, kind and status code by
    name, plain attributes, ``resource``). Raises ``ValueError`` on a malformed one.
    """
    try:
        spans: list[dict[str, Any]] = []
        for resource_spans in document["resourceSpans"]:
            resource = _attributes((resource_spans.get("resource") or {}).get("attributes"))
            for scope_spans in resource_spans.get("scopeSpans") or []:
                spans.extend(_flat_span(s, resource) for s in scope_spans.get("spans") or [])
    except (KeyError, TypeError, AttributeError) as error:
        raise ValueError(f"not an OTLP JSON trace request ({type(error).__name__})") from error
    return spans


def read_span_line(line: str, decoder: json.JSONDecoder | None = None) -> list[dict[str, Any]]:
    """The spans of one line of a span file: OTLP JSON, or one flat span (older files)."""
    data = (decoder or _DECODER).decode(line)
    if isinstance(data, dict) and "resourceSpans" in data:
        return decode_request(data)
    if isinstance(data, dict):
        return [data]
    raise ValueError("a span line must be a JSON object")


_DECODER = json.JSONDecoder()
