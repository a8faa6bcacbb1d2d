"""Read the JSON-lines span file back into workflows: trees of spans, newest first.

The file exporter writes OTLP JSON, one ``ExportTraceServiceRequest`` per line; older
versions wrote one flat span per line (``trace_id``, ``span_id``, ``parent_span_id``,
``name``, ``kind``, start and end in Unix nanoseconds, ``status``, ``attributes``,
``events``, ``resource``), and both are read (:func:`.otlp_json.read_span_line`).
:func:`load_traces` reads one or more such files (the rotated ``spans.jsonl.1``
first), skips and counts lines or spans it cannot read, groups spans by trace and
links them into trees.

Nothing is lost on the way: a span whose parent is not in the file (the process
died before the parent ended, or the parent sits in a file that was rotated away)
becomes a root of its own, and the trace is marked partial; spans that only point
at each other (a corrupt file) are shown as roots too. Everything read is untrusted
text: renderers escape it.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeGuard

from tta_dev_primitives.observability.otlp_json import read_span_line

__all__ = [
    "SPAN_FILE_NAME",
    "SpanNode",
    "SpanRead",
    "SpanRecord",
    "TraceTree",
    "build_traces",
    "default_span_files",
    "format_cost",
    "format_duration",
    "load_traces",
    "read_spans",
    "span_files",
    "trace_to_dict",
]

#: Name of the span file under ``$TTA_HOME/traces``; rotation appends ``.1``.
SPAN_FILE_NAME = "spans.jsonl"


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_text(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and value != ""


@dataclass(frozen=True, slots=True)
class SpanRecord:
    """One span as the file holds it, with the TTA attributes read out."""

    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    start_ns: int
    end_ns: int
    kind: str = "INTERNAL"
    status_code: str = "UNSET"
    status_description: str | None = None
    attributes: Mapping[str, Any] = field(default_factory=dict)
    events: Sequence[Mapping[str, Any]] = ()
    resource: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: object) -> SpanRecord:
        """The record of one decoded line; ``ValueError`` if it is not a span."""
        if not isinstance(data, dict):
            raise ValueError("a span line must be a JSON object")
        trace_id, span_id, name = data.get("trace_id"), data.get("span_id"), data.get("name")
        if not (_is_text(trace_id) and _is_text(span_id) and _is_text(name)):
            raise ValueError("a span needs non-empty trace_id, span_id and name strings")
        start, end = data.get("start_time_unix_nano"), data.get("end_time_unix_nano")
        if not (_is_int(start) and _is_int(end)):
            raise ValueError("a span needs integer start and end times")
        parent, raw_status = data.get("parent_span_id"), data.get("status")
        status: dict[str, Any] = raw_status if isinstance(raw_status, dict) else {}
        description = status.get("description")
        attributes, resource, events = (data.get(k) for k in ("attributes", "resource", "events"))
        return cls(
            trace_id=trace_id,
            span_id=span_id,
            parent_span_id=parent if _is_text(parent) else None,
            name=name,
            start_ns=start,
            end_ns=max(start, end),
            kind=str(data.get("kind") or "INTERNAL"),
            status_code=str(status.get("code") or "UNSET"),
            status_description=None if description is None else str(description),
            attributes=attributes if isinstance(attributes, dict) else {},
            events=[e for e in events if isinstance(e, dict)] if isinstance(events, list) else [],
            resource=resource if isinstance(resource, dict) else {},
        )

    @property
    def duration_ns(self) -> int:
        """How long the span lasted, in nanoseconds."""
        return self.end_ns - self.start_ns

    @property
    def primitive_type(self) -> str | None:
        """The primitive's class (``tta.primitive.type``), if a primitive made the span."""
        value = self.attributes.get("tta.primitive.type")
        return str(value) if value is not None else None

    @property
    def outcome(self) -> str:
        """``success``, ``error``, ``cancelled`` (from ``tta.outcome``, else the status)."""
        value = self.attributes.get("tta.outcome")
        if isinstance(value, str) and value:
            return value
        return "error" if self.status_code == "ERROR" else "success"

    @property
    def model(self) -> str | None:
        """The model that answered (an LLM call) or was chosen (a routed call)."""
        for key in ("tta.llm.model", "gen_ai.response.model", "gen_ai.request.model"):
            value = self.attributes.get(key)
            if isinstance(value, str) and value:
                return value
        chosen = self.attributes.get("tta.routing.chosen")
        return chosen if isinstance(chosen, str) and chosen else None

    @property
    def input_tokens(self) -> int | None:
        """``gen_ai.usage.input_tokens``, when the span is an LLM call."""
        value = _number(self.attributes.get("gen_ai.usage.input_tokens"))
        return None if value is None else int(value)

    @property
    def output_tokens(self) -> int | None:
        """``gen_ai.usage.output_tokens``, when the span is an LLM call."""
        value = _number(self.attributes.get("gen_ai.usage.output_tokens"))
        return None if value is None else int(value)

    @property
    def cost_usd(self) -> float | None:
        """``tta.llm.cost_usd``, when the span is an LLM call."""
        return _number(self.attributes.get("tta.llm.cost_usd"))

    @property
    def cost_estimated(self) -> bool:
        """Whether the cost is an estimate (``tta.llm.cost_estimated``)."""
        return self.attributes.get("tta.llm.cost_estimated") is True


@dataclass(slots=True)
class SpanNode:
    """A span and its children, ordered by start time."""

    span: SpanRecord
    children: list[SpanNode] = field(default_factory=list)
    #: True when the span names a parent that is not in the file.
    orphan: bool = False

    def walk(self) -> Iterator[tuple[int, SpanNode]]:
        """The node (depth 0) and its descendants, depth first, with their depth."""
        stack: list[tuple[int, SpanNode]] = [(0, self)]
        while stack:
            depth, node = stack.pop()
            yield depth, node
            stack.extend((depth + 1, child) for child in reversed(node.children))


@dataclass(slots=True)
class TraceTree:
    """One workflow: the spans of a trace as trees (usually one root)."""

    trace_id: str
    roots: list[SpanNode]
    spans: list[SpanRecord]

    @property
    def start_ns(self) -> int:
        """When the earliest span started."""
        return min(span.start_ns for span in self.spans)

    @property
    def end_ns(self) -> int:
        """When the latest span ended."""
        return max(span.end_ns for span in self.spans)

    @property
    def duration_ns(self) -> int:
        """Time from the first start to the last end."""
        return self.end_ns - self.start_ns

    @property
    def name(self) -> str:
        """The first root's name: what the workflow was called."""
        return self.roots[0].span.name

    @property
    def outcome(self) -> str:
        """The first root's outcome; ``error`` if any root failed."""
        outcomes = [root.span.outcome for root in self.roots]
        return "error" if "error" in outcomes else outcomes[0]

    @property
    def partial(self) -> bool:
        """Whether some span's parent is missing (a crash, or a rotated-away file)."""
        return any(root.orphan for root in self.roots)

    @property
    def error_count(self) -> int:
        """How many spans ended in error."""
        return sum(span.outcome == "error" for span in self.spans)

    @property
    def input_tokens(self) -> int:
        """Input tokens of every LLM call in the trace."""
        return sum(span.input_tokens or 0 for span in self.spans)

    @property
    def output_tokens(self) -> int:
        """Output tokens of every LLM call in the trace."""
        return sum(span.output_tokens or 0 for span in self.spans)

    @property
    def cost_usd(self) -> float:
        """Cost of every LLM call in the trace, in US dollars."""
        return sum(span.cost_usd or 0.0 for span in self.spans)

    @property
    def cost_estimated(self) -> bool:
        """Whether any of the costs is an estimate."""
        return any(span.cost_estimated for span in self.spans)

    def walk(self) -> Iterator[tuple[int, SpanNode]]:
        """Every node of every root, depth first, with its depth (roots are 0)."""
        for root in self.roots:
            yield from root.walk()

    @property
    def models(self) -> list[str]:
        """Models called by LLM spans, in order of first use."""
        seen = [s.model for s in sorted(self.spans, key=lambda s: s.start_ns) if s.model]
        return list(dict.fromkeys(m for m in seen if m))


@dataclass(slots=True)
class SpanRead:
    """What :func:`read_spans` found: the spans, and the lines it had to skip."""

    spans: list[SpanRecord]
    skipped_lines: int = 0
    files: list[Path] = field(default_factory=list)


def _constant(name: str) -> str:
    # NaN and Infinity are what Python's json writes for non-finite floats; keep them
    # as text rather than let them break a strict JSON reader downstream.
    return name


_DECODER = json.JSONDecoder(parse_constant=_constant)


def read_spans(paths: Iterable[str | os.PathLike[str]]) -> SpanRead:
    """Read every span of ``paths`` (missing files are skipped), oldest file first.

    A line that is not JSON, or not a span, is counted in ``skipped_lines``. If a
    span appears twice, its last copy wins.
    """
    found: dict[tuple[str, str], SpanRecord] = {}
    result = SpanRead(spans=[])
    for raw_path in paths:
        path = Path(raw_path)
        if not path.is_file():
            continue
        result.files.append(path)
        with path.open("rb") as lines:
            for raw in lines:
                try:
                    line = raw.decode("utf-8")
                    if not line.strip():
                        continue
                    documents = read_span_line(line, _DECODER)
                except (ValueError, RecursionError):
                    result.skipped_lines += 1
                    continue
                for document in documents:
                    try:
                        record = SpanRecord.from_json(document)
                    except ValueError:
                        result.skipped_lines += 1
                        continue
                    found.pop((record.trace_id, record.span_id), None)
                    found[record.trace_id, record.span_id] = record
    result.spans = list(found.values())
    return result


def _order(span: SpanRecord) -> tuple[int, int, str]:
    return (span.start_ns, -span.end_ns, span.span_id)


def _tree(trace_id: str, spans: list[SpanRecord]) -> TraceTree:
    by_id = {span.span_id: span for span in spans}
    children: dict[str, list[SpanRecord]] = {}
    roots: list[SpanNode] = []
    for span in sorted(spans, key=_order):
        parent = span.parent_span_id
        if parent is not None and parent in by_id and parent != span.span_id:
            children.setdefault(parent, []).append(span)
        else:
            roots.append(SpanNode(span, orphan=parent is not None and parent not in by_id))
    placed: set[str] = set()

    def grow(node: SpanNode) -> None:
        # Iterative, so a deep (or hostile) file cannot exhaust the stack.
        stack = [node]
        while stack:
            current = stack.pop()
            placed.add(current.span.span_id)
            for child in children.get(current.span.span_id, []):
                if child.span_id not in placed:
                    child_node = SpanNode(child)
                    current.children.append(child_node)
                    stack.append(child_node)

    for root in roots:
        grow(root)
    # Spans that only reach each other through their parents form a cycle no root
    # leads to; show each such group from its earliest span rather than drop it.
    for span in sorted(spans, key=_order):
        if span.span_id not in placed:
            node = SpanNode(span, orphan=True)
            roots.append(node)
            grow(node)
    roots.sort(key=lambda node: _order(node.span))
    return TraceTree(trace_id=trace_id, roots=roots, spans=spans)


def build_traces(
    spans: Iterable[SpanRecord], *, limit: int | None = None, trace_id: str | None = None
) -> list[TraceTree]:
    """Group spans by trace and link them into trees; the newest trace first.

    ``trace_id`` keeps the traces whose id starts with it (any case); ``limit`` keeps
    the newest that many. Only the traces kept are linked into trees.
    """
    grouped: dict[str, list[SpanRecord]] = {}
    for span in spans:
        grouped.setdefault(span.trace_id, []).append(span)
    if trace_id is not None:
        prefix = trace_id.strip().lower()
        grouped = {key: value for key, value in grouped.items() if key.lower().startswith(prefix)}

    def recency(item: tuple[str, list[SpanRecord]]) -> tuple[int, int, str]:
        key, members = item
        return (min(s.start_ns for s in members), max(s.end_ns for s in members), key)

    chosen = sorted(grouped.items(), key=recency, reverse=True)
    if limit is not None:
        chosen = chosen[: max(0, limit)]
    return [_tree(key, members) for key, members in chosen]


def span_files(path: str | os.PathLike[str]) -> list[Path]:
    """``path`` and its rotated copies (``path.1``, ``path.2``, ...), oldest first."""
    current = Path(path)
    rotated: list[tuple[int, Path]] = []
    if current.parent.is_dir():
        for candidate in current.parent.glob(current.name + ".*"):
            suffix = candidate.name[len(current.name) + 1 :]
            if suffix.isdigit():
                rotated.append((int(suffix), candidate))
    return [p for _, p in sorted(rotated, reverse=True)] + [current]


def default_span_files(environ: Mapping[str, str] | None = None) -> list[Path]:
    """The span files ``setup()`` writes: ``TTA_TRACES_FILE``, else ``$TTA_HOME/traces``.

    ``TTA_HOME`` defaults to ``~/.tta``; rotated copies come along.
    """
    env = os.environ if environ is None else environ
    explicit = env.get("TTA_TRACES_FILE")
    if explicit:
        return span_files(Path(explicit).expanduser())
    home = Path(env.get("TTA_HOME") or "~/.tta").expanduser()
    return span_files(home / "traces" / SPAN_FILE_NAME)


def load_traces(
    paths: Iterable[str | os.PathLike[str]],
    *,
    limit: int | None = None,
    trace_id: str | None = None,
) -> tuple[list[TraceTree], SpanRead]:
    """The newest ``limit`` traces of ``paths`` (or those whose id starts with ``trace_id``).

    Returns the traces and the :class:`SpanRead` (files read, lines skipped).
    """
    read = read_spans(paths)
    return build_traces(read.spans, limit=limit, trace_id=trace_id), read


def format_duration(nanoseconds: int) -> str:
    """A short human duration: ``850 µs``, ``12.3 ms``, ``1.24 s``, ``2m 05s``."""
    if nanoseconds < 1_000_000:
        return f"{nanoseconds / 1_000:.0f} µs"
    if nanoseconds < 1_000_000_000:
        milliseconds = nanoseconds / 1_000_000
        return f"{milliseconds:.1f} ms" if milliseconds < 100 else f"{milliseconds:.0f} ms"
    seconds = nanoseconds / 1_000_000_000
    if seconds < 60:
        return f"{seconds:.2f} s"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes}m {rest:02d}s"


def format_cost(usd: float, *, estimated: bool = False) -> str:
    """Dollars with enough digits for a fraction of a cent; ``~`` marks an estimate."""
    text = "$0" if usd == 0 else f"${usd:.2f}" if usd >= 1 else f"${usd:.6f}".rstrip("0")
    return ("~" if estimated else "") + text


def _span_dict(depth: int, node: SpanNode) -> dict[str, Any]:
    span = node.span
    return {
        "depth": depth,
        "span_id": span.span_id,
        "parent_span_id": span.parent_span_id,
        "name": span.name,
        "primitive_type": span.primitive_type,
        "kind": span.kind,
        "start_time_unix_nano": span.start_ns,
        "duration_ns": span.duration_ns,
        "outcome": span.outcome,
        "status": {"code": span.status_code, "description": span.status_description},
        "model": span.model,
        "input_tokens": span.input_tokens,
        "output_tokens": span.output_tokens,
        "cost_usd": span.cost_usd,
        "orphan": node.orphan,
        "attributes": dict(span.attributes),
        "events": list(span.events),
    }


def trace_to_dict(trace: TraceTree) -> dict[str, Any]:
    """A JSON-ready summary of ``trace`` (for ``tta traces --json``).

    ``spans`` lists the tree depth first; each span carries its ``depth`` (roots are
    0) and ``parent_span_id``, so the tree is rebuilt by reading it in order.
    """
    return {
        "trace_id": trace.trace_id,
        "name": trace.name,
        "start_time_unix_nano": trace.start_ns,
        "duration_ns": trace.duration_ns,
        "outcome": trace.outcome,
        "partial": trace.partial,
        "span_count": len(trace.spans),
        "error_count": trace.error_count,
        "input_tokens": trace.input_tokens,
        "output_tokens": trace.output_tokens,
        "cost_usd": trace.cost_usd,
        "cost_estimated": trace.cost_estimated,
        "models": trace.models,
        "spans": [_span_dict(depth, node) for depth, node in trace.walk()],
    }
