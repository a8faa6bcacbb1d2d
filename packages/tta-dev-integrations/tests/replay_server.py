"""A real HTTP server on 127.0.0.1 that replays canned answers and records requests.

Provider adapters are tested against it over real sockets, so what is asserted is what
actually crossed the wire: path, query, headers and JSON body on the way in; status,
headers, JSON, raw bytes or a server-sent-event stream on the way out.

Usage::

    with ReplayServer() as server:
        server.add("/v1/messages", Reply.json({...}))             # one answer, used once
        server.add("/v1/messages", SSEReply([("ping", {"type": "ping"}), ...]))
        provider = create_provider("anthropic", base_url=server.url, api_key="k")
        ...
        request = server.requests[-1]        # RecordedRequest: .path .headers .json ...

Each ``add`` queues answers for one method and path (the query string is not part of
the match); each request takes the next one. ``respond(path, answer)`` sets a standing
answer, a function of the recorded request, for requests that find nothing queued (a
server that bills by what it was asked, for example). A request with nothing queued
and no standing answer gets a 599 with a plain-text explanation, so a missing fixture
fails loudly.

``SSEReply`` writes each event as its own HTTP chunk (``Transfer-Encoding: chunked``),
so clients see a real stream. ``SSEReply(..., abort=True)`` drops the connection after
the last event without ending the chunked body, the way a network cut looks; without
it the body ends properly, so a stream can also be "complete at the HTTP level but
missing its final event".

The test configuration puts this directory on ``sys.path`` (``pythonpath`` in the
root ``pyproject.toml``), so test modules import it by name::

    from replay_server import ReplayServer, Reply, SSEReply
"""

from __future__ import annotations

import contextlib
import json
import socket
import sys
import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

__all__ = ["RecordedRequest", "ReplayServer", "Reply", "SSEReply"]


@dataclass(frozen=True, slots=True)
class Reply:
    """A complete HTTP answer: status, headers and body bytes."""

    status: int = 200
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    content_type: str = "application/json"

    @classmethod
    def json(cls, value: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Reply:
        """An answer whose body is ``value`` encoded as JSON."""
        return cls(status, json.dumps(value).encode(), dict(headers or {}))

    @classmethod
    def raw(
        cls,
        body: bytes | str,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        content_type: str = "application/json",
    ) -> Reply:
        """An answer with exactly these body bytes (e.g. malformed JSON)."""
        data = body.encode() if isinstance(body, str) else body
        return cls(status, data, dict(headers or {}), content_type)


@dataclass(frozen=True, slots=True)
class SSEReply:
    """A ``text/event-stream`` answer: ``(event name or None, data)`` pairs.

    ``data`` is a string sent as is, or any other value sent as JSON. ``abort`` cuts
    the connection after the last event instead of ending the body.
    """

    events: Sequence[tuple[str | None, Any]]
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    abort: bool = False

    def encoded(self) -> list[bytes]:
        """Each event in wire form (``event:``/``data:`` lines and a blank line)."""
        out = []
        for name, data in self.events:
            text = data if isinstance(data, str) else json.dumps(data)
            lines = [f"event: {name}"] if name is not None else []
            lines += [f"data: {line}" for line in text.split("\n")]
            out.append(("\n".join(lines) + "\n\n").encode())
        return out


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """A request the server received. ``headers`` has lower-cased names.

    ``client_port`` tells connections apart: requests on one kept-alive connection
    share it.
    """

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    client_port: int = 0

    @property
    def json(self) -> Any:
        """The body decoded as JSON."""
        return json.loads(self.body)


class ReplayServer:
    """A threaded HTTP/1.1 server on a free 127.0.0.1 port; use it as a context manager."""

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self._queues: dict[tuple[str, str], deque[Reply | SSEReply]] = {}
        self._standing: dict[tuple[str, str], Callable[[RecordedRequest], Reply | SSEReply]] = {}
        self._lock = threading.Lock()
        self._server = _QuietServer(("127.0.0.1", 0), _handler_for(self))
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        """The base URL, ``http://127.0.0.1:<port>``."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def add(self, path: str, *replies: Reply | SSEReply, method: str = "POST") -> None:
        """Queue ``replies`` for ``method path``; each request takes the next one."""
        with self._lock:
            self._queues.setdefault((method.upper(), path), deque()).extend(replies)

    def respond(
        self,
        path: str,
        answer: Callable[[RecordedRequest], Reply | SSEReply],
        method: str = "POST",
    ) -> None:
        """Answer ``method path`` with ``answer(request)`` whenever nothing is queued."""
        with self._lock:
            self._standing[(method.upper(), path)] = answer

    @property
    def last(self) -> RecordedRequest:
        """The most recent request."""
        return self.requests[-1]

    def start(self) -> ReplayServer:
        """Start serving in a daemon thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the listening socket."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> ReplayServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _take(self, request: RecordedRequest) -> Reply | SSEReply | None:
        with self._lock:
            self.requests.append(request)
            queue = self._queues.get((request.method, request.path))
            if queue:
                return queue.popleft()
            standing = self._standing.get((request.method, request.path))
        return standing(request) if standing is not None else None


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client closing its kept-alive connection resets it: expected, not news.
        if not isinstance(sys.exception(), ConnectionError):
            super().handle_error(request, client_address)


def _handler_for(server: ReplayServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = 10  # a kept-alive connection nobody closes ends after this

        def do_GET(self) -> None:
            self._serve()

        def do_POST(self) -> None:
            self._serve()

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep test output quiet

        def _serve(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            parts = urlsplit(self.path)
            recorded = RecordedRequest(
                method=self.command,
                path=parts.path,
                query=parse_qs(parts.query),
                headers={k.lower(): v for k, v in self.headers.items()},
                body=body,
                client_port=int(self.client_address[1]),
            )
            reply = server._take(recorded)
            if reply is None:
                text = f"no canned reply queued for {self.command} {parts.path}".encode()
                self._send_head(599, "text/plain", {"content-length": str(len(text))})
                self.wfile.write(text)
            elif isinstance(reply, Reply):
                headers = {**reply.headers, "content-length": str(len(reply.body))}
                self._send_head(reply.status, reply.content_type, headers)
                self.wfile.write(reply.body)
            else:
                self._send_stream(reply)

        def _send_head(self, status: int, content_type: str, headers: Mapping[str, str]) -> None:
            self.send_response(status)
            self.send_header("content-type", content_type)
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()

        def _send_stream(self, reply: SSEReply) -> None:
            headers = {**reply.headers, "transfer-encoding": "chunked", "cache-control": "no-cache"}
            self._send_head(reply.status, "text/event-stream", headers)
            for chunk in reply.encoded():
                self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                self.wfile.flush()
            if reply.abort:
                self.wfile.flush()
                with contextlib.suppress(OSError):  # the client may have hung up first
                    self.connection.shutdown(socket.SHUT_RDWR)
                self.close_connection = True
                return
            self.wfile.write(b"0\r\n\r\n")

    return Handler
