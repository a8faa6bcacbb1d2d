"""A span exporter that appends finished spans to a local file, as OTLP JSON lines.

This is the embedded default of :func:`~tta_dev_primitives.observability.setup`: no
collector, no network, and ``tta traces`` reads the file back. Each line is one OTLP
``ExportTraceServiceRequest`` in OTLP's JSON encoding (see :mod:`.otlp_json`), the
format of the OpenTelemetry Collector's ``file`` exporter, so its ``otlpjsonfile``
receiver (and any tool that reads OTLP JSON) can read the file too. Files written by
older versions, one flat span per line (``span_to_dict``), stay readable.

The exporter is meant to run behind a ``BatchSpanProcessor``, so ``export`` is called
on the processor's worker thread and the event loop never waits for the disk. Each
batch becomes one line, written by one ``os.write`` on a file opened with ``O_APPEND``,
made while holding an ``flock`` on a side lock file, so several processes can share
one file without interleaving lines. When the file grows past ``max_bytes`` it is
renamed to ``<name>.1`` (replacing the previous one) and a new file is started; the
other writers notice the rename by inode and reopen.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from tta_dev_primitives.observability.config import DEFAULT_MAX_BYTES
from tta_dev_primitives.observability.otlp_json import encode_spans

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan

if sys.platform != "win32":
    import fcntl

__all__ = ["DEFAULT_MAX_BYTES", "JsonLinesSpanExporter", "span_to_dict"]


def _attributes(attributes: Mapping[str, Any] | None) -> dict[str, Any]:
    # OpenTelemetry only admits str, bool, int, float and sequences of them, all of
    # which json.dumps writes as they are (tuples as arrays).
    return dict(attributes) if attributes else {}


def span_to_dict(span: ReadableSpan, *, with_resource: bool = True) -> dict[str, Any]:
    """One finished span as a flat JSON object: the span file's line before OTLP JSON.

    Readers still accept such lines (files of older versions), and the OTLP lines are
    read back into this same shape (``otlp_json.read_span_line``).

    Keys: ``trace_id`` (32 hex), ``span_id`` (16 hex), ``parent_span_id`` (16 hex or
    ``None``), ``name``, ``kind`` (``INTERNAL``, ``SERVER``, ...),
    ``start_time_unix_nano``, ``end_time_unix_nano``, ``status`` (``{"code": "UNSET" |
    "OK" | "ERROR", "description": str | None}``), ``attributes``, ``events`` (each
    ``{"name", "time_unix_nano", "attributes"}``) and ``resource`` (its attributes;
    left out with ``with_resource=False``).
    """
    context = span.get_span_context()
    parent = span.parent
    document = {
        "trace_id": format(context.trace_id, "032x") if context else None,
        "span_id": format(context.span_id, "016x") if context else None,
        "parent_span_id": format(parent.span_id, "016x") if parent is not None else None,
        "name": span.name,
        "kind": span.kind.name,
        "start_time_unix_nano": span.start_time,
        "end_time_unix_nano": span.end_time,
        "status": {
            "code": span.status.status_code.name,
            "description": span.status.description,
        },
        "attributes": _attributes(span.attributes),
        "events": [
            {
                "name": event.name,
                "time_unix_nano": event.timestamp,
                "attributes": _attributes(event.attributes),
            }
            for event in span.events
        ],
    }
    if with_resource:
        document["resource"] = _attributes(span.resource.attributes)
    return document


class JsonLinesSpanExporter(SpanExporter):
    """Append finished spans to ``path`` as OTLP JSON lines; safe for several processes.

    ``max_bytes`` bounds the file: past it, the file becomes ``<path>.1`` and a fresh
    one starts, so at most about twice ``max_bytes`` is kept on disk.
    """

    def __init__(self, path: str | os.PathLike[str], *, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        if max_bytes <= 0:
            raise ValueError(f"max_bytes must be positive, got {max_bytes}")
        self.path = Path(path)
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._lock_fd: int | None = None
        self._closed = False

    @property
    def rotated_path(self) -> Path:
        """Where the previous file is kept after a rotation."""
        return self.path.with_name(self.path.name + ".1")

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Write ``spans`` as one append of complete lines."""
        if self._closed:
            return SpanExportResult.FAILURE
        if not spans:
            return SpanExportResult.SUCCESS
        payload = (_dumps(encode_spans(spans)) + "\n").encode("utf-8")
        try:
            with self._lock, self._file_lock():
                fd = self._current_fd()
                if os.fstat(fd).st_size >= self.max_bytes:
                    fd = self._rotate()
                _write_all(fd, payload)
        except OSError:
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Nothing is buffered here: every export is written before it returns."""
        del timeout_millis
        return True

    def shutdown(self) -> None:
        """Close the file; later exports fail."""
        with self._lock:
            self._closed = True
            for fd in (self._fd, self._lock_fd):
                if fd is not None:
                    os.close(fd)
            self._fd = self._lock_fd = None

    # -- files -------------------------------------------------------------------------

    @contextmanager
    def _file_lock(self) -> Iterator[None]:
        if sys.platform == "win32":  # pragma: no cover - no flock: one process per file
            yield
            return
        if self._lock_fd is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            lock_path = self.path.with_name(self.path.name + ".lock")
            self._lock_fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def _open(self) -> int:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
        return os.open(self.path, flags, 0o600)

    def _current_fd(self) -> int:
        """Our descriptor, reopened when another writer rotated the file away from it."""
        fd = self._fd
        if fd is not None:
            try:
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                return fd
            os.close(fd)
        self._fd = self._open()
        return self._fd

    def _rotate(self) -> int:
        os.replace(self.path, self.rotated_path)
        if self._fd is not None:
            os.close(self._fd)
        self._fd = self._open()
        return self._fd


def _dumps(value: Any) -> str:
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)
    # Readers that split lines with str.splitlines() (Python's, httpx's) would also cut
    # at these three, which JSON leaves raw; escaped, every line is one request.
    for raw, escaped in _LINE_BREAKERS:
        if raw in text:
            text = text.replace(raw, escaped)
    return text


_LINE_BREAKERS = (("\u2028", "\\u2028"), ("\u2029", "\\u2029"), ("\x85", "\\u0085"))


def _write_all(fd: int, payload: bytes) -> None:
    view = memoryview(payload)
    while view:
        written = os.write(fd, view)
        view = view[written:]
