"""A provider for fleet tests: an OpenAI-compatible chat server on 127.0.0.1 that answers
every prompt, logs when each call arrived, and fails on demand.

``/v1/chat/completions`` and ``/flaky/v1/chat/completions`` answer ``"answer: <prompt>"``
after ``delay`` seconds; while ``failing`` is set, the flaky path answers 503. Every
call is logged as a :class:`Arrival` (monotonic time, path, model, prompt, status), so
a test asserts on what reached the provider, from however many processes.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

__all__ = ["Arrival", "FleetProvider"]


@dataclass(frozen=True)
class Arrival:
    """One call that reached the provider."""

    at: float
    path: str
    model: str
    prompt: str
    status: int


class FleetProvider:
    """The server; a context manager that starts and stops it."""

    def __init__(self, delay: float = 0.02) -> None:
        self.delay = delay
        self.failing = False
        self.arrivals: list[Arrival] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """The base URL of the steady provider (``.../v1``)."""
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    @property
    def flaky_url(self) -> str:
        """The base URL of the provider that fails while ``failing`` is set."""
        return f"http://127.0.0.1:{self._server.server_address[1]}/flaky/v1"

    def calls(self, *, flaky: bool | None = None, status: int | None = None) -> list[Arrival]:
        """The logged calls, optionally only the flaky (or steady) ones, or one status."""
        with self._lock:
            found = list(self.arrivals)
        if flaky is not None:
            found = [a for a in found if a.path.startswith("/flaky") == flaky]
        if status is not None:
            found = [a for a in found if a.status == status]
        return found

    def record(self, arrival: Arrival) -> None:
        with self._lock:
            self.arrivals.append(arrival)

    def __enter__(self) -> FleetProvider:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()


def _handler(provider: FleetProvider) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self._reply(200, {"object": "list", "data": []})

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))))
            prompt = str(body["messages"][-1]["content"])
            flaky = self.path.startswith("/flaky")
            status = 503 if flaky and provider.failing else 200
            provider.record(Arrival(time.monotonic(), self.path, body["model"], prompt, status))
            time.sleep(provider.delay)
            if status != 200:
                self._reply(status, {"error": {"message": "overloaded"}})
                return
            self._reply(
                200,
                {
                    "model": body["model"],
                    "choices": [
                        {"message": {"content": f"answer: {prompt}"}, "finish_reason": "stop"}
                    ],
                    "usage": {"prompt_tokens": 5, "completion_tokens": 3},
                },
            )

        def _reply(self, status: int, value: Any) -> None:
            data = json.dumps(value).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
