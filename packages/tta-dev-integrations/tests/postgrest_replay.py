"""A loopback HTTP server that replays PostgREST answers and records what it was sent.

For the Supabase tests: ``GET``/``POST``/``PATCH``/``DELETE`` on any path; each
``add(method, path, reply)`` queues one answer; a request with nothing queued gets a
599, so a missing fixture fails loudly. ``requests`` keeps every request as it crossed
the wire: method, path, the raw query string and its decoded ``(name, value)`` pairs in
order, lower-cased headers and the body.

Each fixture in the tests names the PostgREST reference page whose documented answer it
replays (docs.postgrest.org, "references/api/...").
"""

from __future__ import annotations

import json
import socket
import threading
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

__all__ = ["Answer", "PostgRESTReplay", "Received"]


@dataclass(frozen=True, slots=True)
class Answer:
    """One canned answer: status, JSON body (``None``: no body) and headers.

    ``drop=True`` closes the connection without answering, the way a network cut or a
    restarting proxy looks to the client.
    """

    status: int = 200
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    raw: bytes | None = None
    drop: bool = False

    def encoded(self) -> bytes:
        if self.raw is not None:
            return self.raw
        return b"" if self.body is None else json.dumps(self.body).encode()


@dataclass(frozen=True, slots=True)
class Received:
    """A request as the server saw it."""

    method: str
    path: str
    raw_query: str
    params: list[tuple[str, str]]
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    def param(self, name: str) -> list[str]:
        return [value for key, value in self.params if key == name]


class PostgRESTReplay:
    """The server; use it as a context manager. ``url`` is its base URL."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self._queues: dict[tuple[str, str], deque[Answer]] = {}
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), _handler(self))
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def last(self) -> Received:
        return self.requests[-1]

    def add(self, method: str, path: str, *answers: Answer) -> None:
        with self._lock:
            self._queues.setdefault((method.upper(), path), deque()).extend(answers)

    def __enter__(self) -> PostgRESTReplay:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _take(self, request: Received) -> Answer | None:
        with self._lock:
            self.requests.append(request)
            queue = self._queues.get((request.method, request.path))
            return queue.popleft() if queue else None


class _Server(ThreadingHTTPServer):
    daemon_threads = True


def _handler(replay: PostgRESTReplay) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = 10

        def do_GET(self) -> None:
            self._serve()

        def do_POST(self) -> None:
            self._serve()

        def do_PATCH(self) -> None:
            self._serve()

        def do_DELETE(self) -> None:
            self._serve()

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _serve(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            parts = urlsplit(self.path)
            received = Received(
                method=self.command,
                path=unquote(parts.path),
                raw_query=parts.query,
                params=parse_qsl(parts.query, keep_blank_values=True),
                headers={k.lower(): v for k, v in self.headers.items()},
                body=body,
            )
            answer = replay._take(received)
            if answer is None:
                text = f"no answer queued for {self.command} {parts.path}".encode()
                self.send_response(599)
                self.send_header("content-type", "text/plain")
                self.send_header("content-length", str(len(text)))
                self.end_headers()
                self.wfile.write(text)
                return
            if answer.drop:
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            data = answer.encoded()
            self.send_response(answer.status)
            if data:
                self.send_header("content-type", "application/json; charset=utf-8")
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler
