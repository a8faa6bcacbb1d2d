"""Multi-provider fallback: a failing provider, retries that honour Retry-After, a fallback.

The example starts a small OpenAI-compatible server on 127.0.0.1 that stands in for
a free cloud model (kimi on OpenRouter). In round 1 it answers 503, then 429 with
`Retry-After: 1`, then 503 again: the retry waits at least the second it was asked
to, gives up after three attempts, and the fallback, the local model (SmolLM2 through
llama.cpp: no key, no network, $0), answers instead. In round 2 the server is healthy
and serves. The server's own log shows what reached it and when.

Run it with `python examples/llm/multi_provider_fallback.py` (about 3 s).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tta_dev_integrations.llm import (
    TRANSIENT_ERRORS,
    LLMError,
    LLMPrimitive,
    LLMResponse,
    Provider,
    create_provider,
)
from tta_dev_primitives import FallbackPrimitive, RetryPrimitive, TimeoutPrimitive, WorkflowContext

RETRY_AFTER_S = 1
FAILING = [(503, {}), (429, {"Retry-After": str(RETRY_AFTER_S)}), (503, {})]
COMPLETION = {  # an OpenAI chat.completion object, as OpenRouter returns it
    "id": "gen-1",
    "object": "chat.completion",
    "model": "moonshotai/kimi-k2:free",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Start with the failing test."},
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 21, "completion_tokens": 6, "total_tokens": 27},
}


class FlakyServer:
    """`POST /chat/completions` on 127.0.0.1, answering from a script of (status, headers).

    Past the end of the script it answers 503. ``hits`` records each request as
    (seconds since the server started, status answered).
    """

    def __init__(self) -> None:
        self.script: list[tuple[int, dict[str, str]]] = []
        self.hits: list[tuple[float, int]] = []
        self.started = time.monotonic()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length", 0)))
                status, headers = server.script.pop(0) if server.script else (503, {})
                server.hits.append((time.monotonic() - server.started, status))
                phrase = HTTPStatus(status).phrase
                body = COMPLETION if status == 200 else {"error": {"message": phrase}}
                data = json.dumps(body).encode()
                self.send_response(status)
                for name, value in {**headers, "Content-Type": "application/json"}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: the example prints its own log."""

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/api/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def build_chain(openrouter: Provider) -> FallbackPrimitive[Any, LLMResponse]:
    """Kimi through ``openrouter``, retried on transient errors; then the local model."""
    kimi = RetryPrimitive(
        LLMPrimitive("kimi", provider=openrouter),
        max_attempts=3,
        initial_delay=0.2,
        jitter=0,  # a fixed schedule, so the log is easy to read
        retry_on=TRANSIENT_ERRORS,  # 429, 5xx, network errors; a 400 would not be retried
        max_retry_after=5,  # asked to wait longer: give up at once and fall back
        name="kimi-with-retry",
    )
    local = TimeoutPrimitive(LLMPrimitive("local"), 30.0, name="local-model")
    return FallbackPrimitive(kimi, [local], fallback_on=(LLMError, TimeoutError), name="chat")


def show_log(server: FlakyServer, first: int) -> None:
    start = server.hits[first][0]
    for number, (at, status) in enumerate(server.hits[first:], first + 1):
        extra = f" (Retry-After: {RETRY_AFTER_S})" if status == 429 else ""
        phrase = HTTPStatus(status).phrase
        print(f"  request {number} at +{at - start:.2f} s -> {status} {phrase}{extra}")


def show_answer(response: LLMResponse) -> None:
    answer = " ".join(response.content.split())[:45]
    where = f"{response.model} on {response.provider}"
    print(f"  served by {where}, ${response.cost_usd:.2f}: {answer!r}")


async def main() -> int:
    server = FlakyServer()
    openrouter = create_provider("openrouter", base_url=server.url, api_key="example-key")
    chain = build_chain(openrouter)
    request = {"prompt": "One first step to fix a flaky test?", "max_tokens": 24, "temperature": 0}
    ctx = WorkflowContext(workflow_id="multi-provider-fallback")
    try:
        print(f"round 1: the provider at {server.url} is failing")
        server.script = list(FAILING)
        response = await chain.execute(request, ctx)
        show_log(server, 0)
        waited = server.hits[2][0] - server.hits[1][0]  # as the server saw it
        verdict = "honoured" if waited >= RETRY_AFTER_S else "NOT honoured"
        print(f"  the retry came {waited:.2f} s after the 429: Retry-After {verdict}")
        show_answer(response)

        print("round 2: the provider is back")
        server.script = [(200, {})]
        response = await chain.execute(request, ctx)
        show_log(server, 3)
        show_answer(response)
    finally:
        await openrouter.aclose()
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
