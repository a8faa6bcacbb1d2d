"""The Gemini adapter against a real local HTTP server that replays Gemini's answers.

The server listens on 127.0.0.1 (a free port), records every request it gets (path,
query, headers, JSON body) and answers with canned bodies in the shapes of the Gemini
API reference. Each fixture names the page it follows:

* generateContent response, Candidate, FinishReason, UsageMetadata, PromptFeedback:
  https://ai.google.dev/api/generate-content#generatecontentresponse
* thinking usage (``thoughtsTokenCount``) and context caching (``cachedContentTokenCount``):
  https://ai.google.dev/gemini-api/docs/thinking , https://ai.google.dev/gemini-api/docs/caching
* streamGenerateContent with ``alt=sse`` (one GenerateContentResponse per ``data:``;
  the last chunk carries ``finishReason`` and the final ``usageMetadata``):
  https://ai.google.dev/api/generate-content#method:-models.streamgeneratecontent ,
  https://ai.google.dev/gemini-api/docs/text-generation#streaming-responses
* functionCall / functionResponse parts, call ids and thought signatures:
  https://ai.google.dev/gemini-api/docs/function-calling ,
  https://ai.google.dev/gemini-api/docs/thought-signatures
* images as ``inline_data`` / ``file_data``: https://ai.google.dev/gemini-api/docs/image-understanding
* structured output (``responseMimeType`` + ``responseJsonSchema``):
  https://ai.google.dev/gemini-api/docs/structured-output
* error bodies (``{"error": {code, message, status, details}}``, ``google.rpc.RetryInfo``,
  ``google.rpc.ErrorInfo`` reason ``API_KEY_INVALID``):
  https://ai.google.dev/gemini-api/docs/troubleshooting#error-codes ,
  https://ai.google.dev/gemini-api/docs/rate-limits , https://google.aip.dev/193 .
  The 429 body follows the payloads users quote from the API (QuotaFailure, Help,
  RetryInfo ``"22s"``); the context-length message is the one quoted in
  google-gemini/gemini-cli#4231.

The fixtures were written from those pages, not captured live: no test reaches Google.
"""

from __future__ import annotations

import base64
import json
import threading
from collections import deque
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tta_dev_integrations.llm.errors import (
    AuthenticationError,
    BadRequestError,
    ContentFilterError,
    ContextLengthError,
    LLMError,
    ProviderUnavailableError,
    RateLimitError,
    ResponseError,
    StreamInterruptedError,
)
from tta_dev_integrations.llm.providers.base import Provider, StreamPiece
from tta_dev_integrations.llm.providers.gemini import GeminiAPI
from tta_dev_integrations.llm.providers.registry import create_provider
from tta_dev_integrations.llm.types import LLMRequest, Message, ToolCall

# A fake key in the shape of Google API keys ("AIza" + 35 characters).
KEY = "AIzaSyFakeTestKeyNotReal-0123456789abcd"
MODEL = "gemini-1.5-flash"
GENERATE = f"/v1beta/models/{MODEL}:generateContent"
STREAM = f"/v1beta/models/{MODEL}:streamGenerateContent"


# --- the replay server ------------------------------------------------------------------


@dataclass
class Canned:
    """One answer: a JSON (or raw) body, or SSE ``data:`` payloads; ``cut`` drops the line."""

    status: int = 200
    body: Any = None
    raw: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    events: list[str] | None = None
    cut: bool = False


@dataclass
class Recorded:
    """What reached the server."""

    path: str
    target: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any


class ReplayServer:
    """Routes (path -> queue of answers; the last answer repeats) and recorded requests."""

    def __init__(self) -> None:
        self.routes: dict[str, deque[Canned]] = {}
        self.requests: list[Recorded] = []
        self._lock = threading.Lock()
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._http.replay = self  # type: ignore[attr-defined]
        host, port = self._http.server_address[:2]
        self.url = f"http://{host!s}:{port}"
        self._thread = threading.Thread(
            target=self._http.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def reply(self, path: str, *answers: Canned) -> None:
        self.routes.setdefault(path, deque()).extend(answers)

    def next_answer(self, path: str) -> Canned | None:
        with self._lock:
            queue = self.routes.get(path)
            if not queue:
                return None
            return queue.popleft() if len(queue) > 1 else queue[0]

    def record(self, request: Recorded) -> None:
        with self._lock:
            self.requests.append(request)

    @property
    def last(self) -> Recorded:
        return self.requests[-1]

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._http.shutdown()
        self._http.server_close()
        self._thread.join(timeout=5)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        replay: ReplayServer = self.server.replay  # type: ignore[attr-defined]
        raw = self.rfile.read(int(self.headers.get("content-length") or 0))
        target = urlsplit(self.path)
        replay.record(
            Recorded(
                path=target.path,
                target=self.path,
                query=parse_qs(target.query),
                headers={k.lower(): v for k, v in self.headers.items()},
                body=json.loads(raw) if raw else None,
            )
        )
        self.close_connection = True
        answer = replay.next_answer(target.path) or Canned(404, _google_error(404, "NOT_FOUND"))
        if answer.events is None:
            self._send_body(answer)
        else:
            self._send_stream(answer)

    def _send_body(self, answer: Canned) -> None:
        payload = answer.raw if answer.raw is not None else json.dumps(answer.body).encode()
        self.send_response(answer.status)
        self.send_header("content-type", "application/json; charset=UTF-8")
        for name, value in answer.headers.items():
            self.send_header(name, value)
        self.send_header("content-length", str(len(payload)))
        self.send_header("connection", "close")
        self.end_headers()
        self.wfile.write(payload)

    def _send_stream(self, answer: Canned) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("transfer-encoding", "chunked")
        self.send_header("connection", "close")
        self.end_headers()
        for data in answer.events or ():
            frame = f"data: {data}\r\n\r\n".encode()
            self.wfile.write(f"{len(frame):x}\r\n".encode() + frame + b"\r\n")
            self.wfile.flush()
        if answer.cut:  # announce a chunk, send half of it, hang up
            self.wfile.write(b'80\r\ndata: {"candidates": [{"cont')
            self.wfile.flush()
            return
        self.wfile.write(b"0\r\n\r\n")

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[ReplayServer]:
    replay = ReplayServer()
    replay.start()
    try:
        yield replay
    finally:
        replay.stop()


@pytest.fixture
async def provider(server: ReplayServer) -> AsyncIterator[Provider]:
    gemini = create_provider("gemini", base_url=server.url, api_key=KEY)
    try:
        yield gemini
    finally:
        await gemini.aclose()


# --- fixtures in the shapes of the reference ---------------------------------------------


def _response(
    parts: list[dict[str, Any]],
    *,
    finish: str | None = "STOP",
    usage: dict[str, Any] | None = None,
    model_version: str = "gemini-1.5-flash-002",
) -> dict[str, Any]:
    """A GenerateContentResponse (ai.google.dev/api/generate-content#generatecontentresponse)."""
    candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}, "index": 0}
    if finish is not None:
        candidate["finishReason"] = finish
    body: dict[str, Any] = {
        "candidates": [candidate],
        "modelVersion": model_version,
        "responseId": "mO1uaLr9Eo2Wz7IP8fKXiQg",
    }
    if usage is not None:
        body["usageMetadata"] = usage
    return body


PLAIN_USAGE = {
    "promptTokenCount": 8,
    "candidatesTokenCount": 12,
    "totalTokenCount": 20,
    "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 8}],
    "candidatesTokensDetails": [{"modality": "TEXT", "tokenCount": 12}],
}


def _google_error(
    code: int, status: str, message: str = "", details: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """A Google API error body (ai.google.dev/gemini-api/docs/troubleshooting, AIP-193)."""
    error: dict[str, Any] = {
        "code": code,
        "message": message or f"{status.lower()} (replayed)",
        "status": status,
    }
    if details is not None:
        error["details"] = details
    return {"error": error}


def _rate_limited(delay: str) -> dict[str, Any]:
    return _google_error(
        429,
        "RESOURCE_EXHAUSTED",
        "You exceeded your current quota, please check your plan and billing details. For "
        "more information on this error, head to: https://ai.google.dev/gemini-api/docs/"
        "rate-limits.",
        [
            {
                "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                "violations": [
                    {
                        "quotaMetric": "generativelanguage.googleapis.com/"
                        "generate_content_free_tier_requests",
                        "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
                        "quotaDimensions": {"location": "global", "model": MODEL},
                        "quotaValue": "15",
                    }
                ],
            },
            {
                "@type": "type.googleapis.com/google.rpc.Help",
                "links": [
                    {
                        "description": "Learn more about Gemini API quotas",
                        "url": "https://ai.google.dev/gemini-api/docs/rate-limits",
                    }
                ],
            },
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay},
        ],
    )


BAD_KEY = _google_error(
    400,
    "INVALID_ARGUMENT",
    "API key not valid. Please pass a valid API key.",
    [
        {
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": "API_KEY_INVALID",
            "domain": "googleapis.com",
            "metadata": {"service": "generativelanguage.googleapis.com"},
        },
        {
            "@type": "type.googleapis.com/google.rpc.LocalizedMessage",
            "locale": "en-US",
            "message": "API key not valid. Please pass a valid API key.",
        },
    ],
)


def _sse(*chunks: dict[str, Any]) -> list[str]:
    return [json.dumps(c, separators=(",", ":")) for c in chunks]


def _chunk(text: str, **extra: Any) -> dict[str, Any]:
    """A streamed chunk as the API sends it: intermediate ones carry the prompt count."""
    body = _response([{"text": text}], finish=None, usage=extra.pop("usage", None), **extra)
    if "usageMetadata" not in body:
        body["usageMetadata"] = {"promptTokenCount": 8, "totalTokenCount": 8}
    return body


def _request(value: dict[str, Any] | str) -> LLMRequest:
    return LLMRequest.from_value(value)


async def _drain(stream: AsyncIterator[StreamPiece], into: list[str]) -> None:
    """Keep each piece's text as it arrives, so what came before a break stays."""
    async for piece in stream:
        into.append(piece.text)  # noqa: PERF401 - a comprehension would lose it on a break


async def _collect(provider: Provider, value: dict[str, Any] | str) -> list[StreamPiece]:
    return [piece async for piece in provider.stream(_request(value), MODEL)]


# --- plain answers ------------------------------------------------------------------------


async def test_plain_completion_key_in_header_never_in_url(
    server: ReplayServer, provider: Provider
) -> None:
    server.reply(GENERATE, Canned(body=_response([{"text": "Hello there!"}], usage=PLAIN_USAGE)))

    reply = await provider.complete(_request("Say hello"), MODEL)

    assert reply.content == "Hello there!"
    assert reply.finish_reason == "stop"
    assert reply.provider_model == "gemini-1.5-flash-002"
    assert reply.tool_calls == ()
    sent = server.last
    assert sent.path == GENERATE
    assert sent.headers["x-goog-api-key"] == KEY
    assert "key" not in sent.query
    assert KEY not in sent.target
    assert "authorization" not in sent.headers
    assert sent.body == {"contents": [{"role": "user", "parts": [{"text": "Say hello"}]}]}


async def test_path_follows_the_model(server: ReplayServer, provider: Provider) -> None:
    path = "/v1beta/models/gemini-2.5-pro:generateContent"
    server.reply(path, Canned(body=_response([{"text": "ok"}])))

    reply = await provider.complete(_request("hi"), "models/gemini-2.5-pro")

    assert reply.content == "ok"
    assert server.last.path == path


async def test_usage_counts_thoughts_as_output(server: ReplayServer, provider: Provider) -> None:
    usage = {
        "promptTokenCount": 1200,
        "candidatesTokenCount": 40,
        "thoughtsTokenCount": 350,
        "cachedContentTokenCount": 1024,
        "totalTokenCount": 1590,
        "cacheTokensDetails": [{"modality": "TEXT", "tokenCount": 1024}],
    }
    server.reply(
        GENERATE,
        Canned(body=_response([{"text": "42"}], usage=usage, model_version="gemini-2.5-flash")),
    )

    reply = await provider.complete(_request("think"), MODEL)

    assert reply.usage is not None
    assert reply.usage.input_tokens == 1200
    assert reply.usage.output_tokens == 40 + 350
    assert reply.usage.reasoning_tokens == 350
    assert reply.usage.cached_input_tokens == 1024
    assert reply.usage.total_tokens == 1590
    assert not reply.usage.estimated
    assert reply.provider_model == "gemini-2.5-flash"


async def test_plain_usage(server: ReplayServer, provider: Provider) -> None:
    server.reply(GENERATE, Canned(body=_response([{"text": "a"}], usage=PLAIN_USAGE)))

    reply = await provider.complete(_request("hi"), MODEL)

    assert reply.usage is not None
    assert (reply.usage.input_tokens, reply.usage.output_tokens) == (8, 12)
    assert reply.usage.reasoning_tokens == 0


async def test_no_usage_metadata_means_none(server: ReplayServer, provider: Provider) -> None:
    server.reply(GENERATE, Canned(body=_response([{"text": "a"}])))

    reply = await provider.complete(_request("hi"), MODEL)

    assert reply.usage is None


async def test_thought_summaries_are_not_answer_text(
    server: ReplayServer, provider: Provider
) -> None:
    parts: list[dict[str, Any]] = [
        {"text": "Considering the user...", "thought": True},
        {"text": "Paris."},
    ]
    server.reply(GENERATE, Canned(body=_response(parts)))

    reply = await provider.complete(_request("capital of France?"), MODEL)

    assert reply.content == "Paris."


async def test_max_tokens_finish_is_length(server: ReplayServer, provider: Provider) -> None:
    server.reply(GENERATE, Canned(body=_response([{"text": "Once upon"}], finish="MAX_TOKENS")))

    reply = await provider.complete(_request({"prompt": "story", "max_tokens": 2}), MODEL)

    assert reply.finish_reason == "length"
    assert reply.content == "Once upon"


async def test_system_instruction_and_generation_config(
    server: ReplayServer, provider: Provider
) -> None:
    server.reply(GENERATE, Canned(body=_response([{"text": "Arr."}])))

    await provider.complete(
        _request(
            {
                "system": "You are a pirate.",
                "messages": [
                    {"role": "user", "content": "Hi"},
                    {"role": "assistant", "content": "Ahoy!"},
                    {"role": "user", "content": "Weather?"},
                ],
                "max_tokens": 64,
                "temperature": 0.3,
                "stop": ["END", "STOP"],
            }
        ),
        MODEL,
    )

    body = server.last.body
    assert body["systemInstruction"] == {"parts": [{"text": "You are a pirate."}]}
    assert body["contents"] == [
        {"role": "user", "parts": [{"text": "Hi"}]},
        {"role": "model", "parts": [{"text": "Ahoy!"}]},
        {"role": "user", "parts": [{"text": "Weather?"}]},
    ]
    assert body["generationConfig"] == {
        "maxOutputTokens": 64,
        "temperature": 0.3,
        "stopSequences": ["END", "STOP"],
    }


async def test_json_schema_output(server: ReplayServer, provider: Provider) -> None:
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "population": {"type": "integer"}},
        "required": ["city"],
        "additionalProperties": False,
    }
    answer = '{"city": "Paris", "population": 2102650}'
    server.reply(GENERATE, Canned(body=_response([{"text": answer}])))

    reply = await provider.complete(
        _request({"prompt": "Biggest city in France?", "response_format": schema}), MODEL
    )

    assert json.loads(reply.content) == {"city": "Paris", "population": 2102650}
    config = server.last.body["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    assert config["responseJsonSchema"] == schema
    assert "responseSchema" not in config


async def test_images_inline_file_and_data_url(server: ReplayServer, provider: Provider) -> None:
    png = b"\x89PNG\r\n\x1a\n fake image bytes"
    server.reply(GENERATE, Canned(body=_response([{"text": "A cat."}])))

    await provider.complete(
        _request(
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {"type": "text", "text": "What is in these?"},
                            {"type": "image", "data": png, "media_type": "image/png"},
                            {"type": "image", "url": "https://example.com/cat.jpg"},
                            {"type": "image", "url": "data:image/webp;base64,UklGRg=="},
                        ],
                    }
                ]
            }
        ),
        MODEL,
    )

    parts = server.last.body["contents"][0]["parts"]
    assert parts[0] == {"text": "What is in these?"}
    assert parts[1] == {
        "inline_data": {"mime_type": "image/png", "data": base64.b64encode(png).decode()}
    }
    assert parts[2] == {
        "file_data": {"mime_type": "image/jpeg", "file_uri": "https://example.com/cat.jpg"}
    }
    assert parts[3] == {"inline_data": {"mime_type": "image/webp", "data": "UklGRg=="}}


# --- tools --------------------------------------------------------------------------------

WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Current weather in a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


async def test_tools_declared_and_function_call_read(
    server: ReplayServer, provider: Provider
) -> None:
    parts = [{"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}]
    server.reply(GENERATE, Canned(body=_response(parts, usage=PLAIN_USAGE)))

    reply = await provider.complete(
        _request({"prompt": "Weather in Paris?", "tools": [WEATHER_TOOL]}), MODEL
    )

    assert server.last.body["tools"] == [
        {
            "functionDeclarations": [
                {
                    "name": "get_weather",
                    "description": "Current weather in a city.",
                    "parametersJsonSchema": WEATHER_TOOL["parameters"],
                }
            ]
        }
    ]
    assert reply.finish_reason == "tool_calls"
    assert reply.content == ""
    [call] = reply.tool_calls
    assert (call.name, call.arguments) == ("get_weather", {"city": "Paris"})
    assert call.id.startswith("call_0_")
    # The generated id is stable: the same answer read again gives the same id.
    assert GeminiAPI().parse(_response(parts)).tool_calls[0].id == call.id


async def test_tool_results_carry_the_function_name(
    server: ReplayServer, provider: Provider
) -> None:
    server.reply(GENERATE, Canned(body=_response([{"text": "Sunny in Paris, rainy in Oslo."}])))
    paris = ToolCall("call_0_0123abcd", "get_weather", {"city": "Paris"})
    oslo = ToolCall("call_1_4567cdef", "get_time", {"city": "Oslo"})
    request = LLMRequest(
        messages=(
            Message("user", "Weather in Paris, time in Oslo?"),
            Message("assistant", "", (paris, oslo)),
            Message("tool", '{"temperature": 21, "sky": "sunny"}', tool_call_id=paris.id),
            Message("tool", "14:05", tool_call_id=oslo.id),
        )
    )

    reply = await provider.complete(request, MODEL)

    assert reply.content == "Sunny in Paris, rainy in Oslo."
    contents = server.last.body["contents"]
    assert contents[1] == {
        "role": "model",
        "parts": [
            {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}},
            {"functionCall": {"name": "get_time", "args": {"city": "Oslo"}}},
        ],
    }
    # Both results answer the model's turn together, each under its function's name;
    # ids we generated are never sent to Google.
    assert contents[2] == {
        "role": "user",
        "parts": [
            {
                "functionResponse": {
                    "name": "get_weather",
                    "response": {"temperature": 21, "sky": "sunny"},
                }
            },
            {"functionResponse": {"name": "get_time", "response": {"output": "14:05"}}},
        ],
    }
    assert len(contents) == 3


async def test_call_ids_and_thought_signatures_go_back(
    server: ReplayServer, provider: Provider
) -> None:
    # Gemini 3 gives calls an id and a thoughtSignature that must come back next turn.
    call_part = {
        "functionCall": {"id": "8f2kq0wz", "name": "get_weather", "args": {"city": "Oslo"}},
        "thoughtSignature": "CiQBVKhc7pQ3c2lnbmF0dXJl",
    }
    server.reply(
        GENERATE,
        Canned(body=_response([call_part], model_version="gemini-3-pro-preview")),
        Canned(body=_response([{"text": "Rainy."}], model_version="gemini-3-pro-preview")),
    )
    first = _request({"prompt": "Weather in Oslo?", "tools": [WEATHER_TOOL]})

    asked = await provider.complete(first, MODEL)
    [call] = asked.tool_calls
    assert call.id == "8f2kq0wz"
    follow_up = LLMRequest(
        messages=(
            *first.messages,
            Message("assistant", asked.content, asked.tool_calls),
            Message("tool", '"rain, 9C"', tool_call_id=call.id),
        ),
        tools=first.tools,
    )
    answer = await provider.complete(follow_up, MODEL)

    assert answer.content == "Rainy."
    contents = server.last.body["contents"]
    assert contents[1]["parts"] == [call_part]
    assert contents[2]["parts"] == [
        {
            "functionResponse": {
                "id": "8f2kq0wz",
                "name": "get_weather",
                "response": {"output": "rain, 9C"},
            }
        }
    ]


async def test_tool_result_without_its_call_is_refused_before_sending(
    server: ReplayServer, provider: Provider
) -> None:
    request = LLMRequest(
        messages=(Message("user", "hi"), Message("tool", "42", tool_call_id="nowhere"))
    )

    with pytest.raises(BadRequestError, match="nowhere"):
        await provider.complete(request, MODEL)
    assert server.requests == []


# --- streaming ----------------------------------------------------------------------------

STREAM_FINAL_USAGE = {
    "promptTokenCount": 8,
    "candidatesTokenCount": 6,
    "thoughtsTokenCount": 20,
    "totalTokenCount": 34,
}


async def test_stream_text_then_final_usage_and_done(
    server: ReplayServer, provider: Provider
) -> None:
    final = _response([{"text": "!"}], finish="STOP", usage=STREAM_FINAL_USAGE)
    server.reply(STREAM, Canned(events=_sse(_chunk("Hello"), _chunk(", wor"), _chunk("ld"), final)))

    pieces = await _collect(provider, "Say hello")

    assert "".join(p.text for p in pieces) == "Hello, world!"
    *middle, last = pieces
    assert last.done
    assert last.finish_reason == "stop"
    assert last.usage is not None
    assert (last.usage.input_tokens, last.usage.output_tokens) == (8, 26)
    assert last.usage.reasoning_tokens == 20
    assert all(not p.done and p.usage is None and p.finish_reason is None for p in middle)
    assert last.provider_model == "gemini-1.5-flash-002"
    sent = server.last
    assert sent.path == STREAM
    assert sent.query == {"alt": ["sse"]}
    assert sent.headers["x-goog-api-key"] == KEY
    assert KEY not in sent.target
    assert sent.body["contents"] == [{"role": "user", "parts": [{"text": "Say hello"}]}]


async def test_stream_function_call(server: ReplayServer, provider: Provider) -> None:
    parts = [{"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}]
    server.reply(STREAM, Canned(events=_sse(_response(parts, usage=PLAIN_USAGE))))

    pieces = await _collect(provider, {"prompt": "Weather?", "tools": [WEATHER_TOOL]})

    [piece] = pieces
    assert piece.done
    assert piece.finish_reason == "tool_calls"
    assert [(c.name, c.arguments) for c in piece.tool_calls] == [("get_weather", {"city": "Paris"})]


async def test_stream_cut_midway_keeps_partial_text(
    server: ReplayServer, provider: Provider
) -> None:
    server.reply(STREAM, Canned(events=_sse(_chunk("Hello"), _chunk(", wor")), cut=True))

    received: list[str] = []
    with pytest.raises(StreamInterruptedError) as caught:
        await _drain(provider.stream(_request("Say hello"), MODEL), received)

    assert received == ["Hello", ", wor"]
    assert caught.value.partial_text == "Hello, wor"


async def test_stream_closed_without_finish_reason_is_interrupted(
    server: ReplayServer, provider: Provider
) -> None:
    server.reply(STREAM, Canned(events=_sse(_chunk("Hello"), _chunk(", wor"))))

    with pytest.raises(StreamInterruptedError) as caught:
        await _collect(provider, "Say hello")

    assert caught.value.partial_text == "Hello, wor"


async def test_stream_malformed_chunk(server: ReplayServer, provider: Provider) -> None:
    server.reply(STREAM, Canned(events=[*_sse(_chunk("Hel")), '{"candidates": [{"content":']))

    with pytest.raises(StreamInterruptedError) as caught:
        await _collect(provider, "Say hello")

    assert isinstance(caught.value, ResponseError)
    assert caught.value.partial_text == "Hel"


async def test_stream_safety_stop(server: ReplayServer, provider: Provider) -> None:
    blocked = _response([], finish="SAFETY")
    blocked["candidates"][0].pop("content")
    blocked["candidates"][0]["safetyRatings"] = [
        {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH", "blocked": True}
    ]
    server.reply(STREAM, Canned(events=_sse(_chunk("Step one:"), blocked)))

    with pytest.raises(ContentFilterError, match="HARM_CATEGORY_DANGEROUS_CONTENT"):
        await _collect(provider, "something dangerous")


async def test_stream_error_before_the_first_chunk(
    server: ReplayServer, provider: Provider
) -> None:
    server.reply(STREAM, Canned(429, _rate_limited("7s")))

    with pytest.raises(RateLimitError) as caught:
        await _collect(provider, "hi")

    assert caught.value.retry_after == 7.0


async def test_stream_error_inside_the_stream(server: ReplayServer, provider: Provider) -> None:
    overloaded = _google_error(503, "UNAVAILABLE", "The model is overloaded.")
    server.reply(STREAM, Canned(events=_sse(_chunk("Hel"), overloaded)))

    with pytest.raises(ProviderUnavailableError, match="overloaded"):
        await _collect(provider, "hi")


# --- refusals and malformed answers -------------------------------------------------------


async def test_safety_finish_is_a_content_filter_error(
    server: ReplayServer, provider: Provider
) -> None:
    for reason in ("SAFETY", "PROHIBITED_CONTENT", "BLOCKLIST", "RECITATION"):
        body = _response([], finish=reason)
        body["candidates"][0].pop("content")
        server.reply(GENERATE, Canned(body=body))
        with pytest.raises(ContentFilterError, match=reason):
            await provider.complete(_request("bad"), MODEL)
        server.routes.clear()


async def test_blocked_prompt_is_a_content_filter_error(
    server: ReplayServer, provider: Provider
) -> None:
    body = {
        "promptFeedback": {
            "blockReason": "SAFETY",
            "safetyRatings": [
                {"category": "HARM_CATEGORY_HARASSMENT", "probability": "HIGH"},
                {"category": "HARM_CATEGORY_HATE_SPEECH", "probability": "NEGLIGIBLE"},
            ],
        },
        "usageMetadata": {"promptTokenCount": 12, "totalTokenCount": 12},
        "modelVersion": "gemini-1.5-flash-002",
    }
    server.reply(GENERATE, Canned(body=body))

    with pytest.raises(ContentFilterError) as caught:
        await provider.complete(_request("bad"), MODEL)

    assert isinstance(caught.value, BadRequestError)
    assert "blockReason SAFETY" in str(caught.value)
    assert "HARM_CATEGORY_HARASSMENT" in str(caught.value)
    assert "HATE_SPEECH" not in str(caught.value)


async def test_malformed_json_is_a_response_error(server: ReplayServer, provider: Provider) -> None:
    server.reply(GENERATE, Canned(raw=b'{"candidates": [{"content": '))

    with pytest.raises(ResponseError) as caught:
        await provider.complete(_request("hi"), MODEL)

    assert not isinstance(caught.value, StreamInterruptedError)
    assert caught.value.provider == "gemini"


async def test_no_candidates_is_a_response_error(server: ReplayServer, provider: Provider) -> None:
    server.reply(GENERATE, Canned(body={"modelVersion": "gemini-1.5-flash-002"}))

    with pytest.raises(ResponseError, match="no candidates"):
        await provider.complete(_request("hi"), MODEL)


# --- errors -------------------------------------------------------------------------------

ERROR_CASES = [
    pytest.param(400, BAD_KEY, AuthenticationError, id="400-api-key-not-valid"),
    pytest.param(
        403,
        _google_error(
            403,
            "PERMISSION_DENIED",
            "Method doesn't allow unregistered callers (callers without established "
            "identity). Please use API Key or other form of API consumer identity to call "
            "this API.",
        ),
        AuthenticationError,
        id="403-permission-denied",
    ),
    pytest.param(
        401, _google_error(401, "UNAUTHENTICATED"), AuthenticationError, id="401-unauthenticated"
    ),
    pytest.param(
        400,
        _google_error(
            400,
            "INVALID_ARGUMENT",
            "The input token count (3475108) exceeds the maximum number of tokens allowed "
            "(1048576).",
        ),
        ContextLengthError,
        id="400-context-length",
    ),
    pytest.param(
        400,
        _google_error(
            400,
            "INVALID_ARGUMENT",
            "Invalid JSON payload received. Unknown name \"foo\" at 'generation_config': "
            "Cannot find field.",
        ),
        BadRequestError,
        id="400-invalid-argument",
    ),
    pytest.param(
        404,
        _google_error(
            404,
            "NOT_FOUND",
            "models/gemini-0.9 is not found for API version v1beta, or is not supported for "
            "generateContent. Call ListModels to see the list of available models and their "
            "supported methods.",
        ),
        BadRequestError,
        id="404-not-found",
    ),
    pytest.param(429, _rate_limited("22s"), RateLimitError, id="429-resource-exhausted"),
    pytest.param(
        500,
        _google_error(500, "INTERNAL", "An internal error has occurred."),
        ProviderUnavailableError,
        id="500-internal",
    ),
    pytest.param(
        503,
        _google_error(503, "UNAVAILABLE", "The model is overloaded. Please try again later."),
        ProviderUnavailableError,
        id="503-unavailable",
    ),
]


@pytest.mark.parametrize(("status", "body", "expected"), ERROR_CASES)
async def test_error_mapping(
    server: ReplayServer,
    provider: Provider,
    status: int,
    body: dict[str, Any],
    expected: type[LLMError],
) -> None:
    server.reply(GENERATE, Canned(status, body))

    with pytest.raises(expected) as caught:
        await provider.complete(_request("hi"), MODEL)

    error = caught.value
    assert error.provider == "gemini"
    assert error.status_code == status
    assert body["error"]["status"] in str(error)
    assert KEY not in str(error)
    assert KEY not in repr(error)
    if isinstance(error, AuthenticationError):
        assert error.env_vars == ("GEMINI_API_KEY", "GOOGLE_API_KEY")
    if status == 400 and expected is BadRequestError:
        assert not isinstance(error, ContextLengthError | AuthenticationError)


@pytest.mark.parametrize(
    ("delay", "seconds"), [("22s", 22.0), ("1.5s", 1.5), ("0.250s", 0.25), ("59s", 59.0)]
)
async def test_retry_after_from_retry_info(
    server: ReplayServer, provider: Provider, delay: str, seconds: float
) -> None:
    server.reply(GENERATE, Canned(429, _rate_limited(delay)))

    with pytest.raises(RateLimitError) as caught:
        await provider.complete(_request("hi"), MODEL)

    assert caught.value.retry_after == pytest.approx(seconds)


async def test_retry_after_header_when_no_retry_info(
    server: ReplayServer, provider: Provider
) -> None:
    body = _google_error(429, "RESOURCE_EXHAUSTED", "Resource has been exhausted.")
    server.reply(GENERATE, Canned(429, body, headers={"retry-after": "12"}))

    with pytest.raises(RateLimitError) as caught:
        await provider.complete(_request("hi"), MODEL)

    assert caught.value.retry_after == 12.0


async def test_rate_limit_without_any_delay(server: ReplayServer, provider: Provider) -> None:
    server.reply(GENERATE, Canned(429, _google_error(429, "RESOURCE_EXHAUSTED")))

    with pytest.raises(RateLimitError) as caught:
        await provider.complete(_request("hi"), MODEL)

    assert caught.value.retry_after is None


# --- keys ---------------------------------------------------------------------------------


async def test_missing_key_names_both_variables(
    server: ReplayServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
    gemini = create_provider("gemini", base_url=server.url)
    try:
        assert not gemini.is_configured()
        with pytest.raises(AuthenticationError) as caught:
            await gemini.complete(_request("hi"), MODEL)
        with pytest.raises(AuthenticationError):
            await _collect(gemini, "hi")
    finally:
        await gemini.aclose()

    assert "GEMINI_API_KEY" in str(caught.value)
    assert "GOOGLE_API_KEY" in str(caught.value)
    assert server.requests == []


async def test_key_from_google_api_key(
    server: ReplayServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    monkeypatch.setenv("GOOGLE_API_KEY", KEY)
    server.reply(GENERATE, Canned(body=_response([{"text": "ok"}])))
    gemini = create_provider("gemini", base_url=server.url)
    try:
        await gemini.complete(_request("hi"), MODEL)
    finally:
        await gemini.aclose()

    assert server.last.headers["x-goog-api-key"] == KEY
    assert KEY not in server.last.target


async def test_key_echoed_by_the_server_is_redacted(
    server: ReplayServer, provider: Provider
) -> None:
    echo = _google_error(
        400,
        "INVALID_ARGUMENT",
        f"API key not valid: {KEY} (request to /v1beta/models/x:generateContent?key={KEY})",
    )
    server.reply(GENERATE, Canned(400, echo))

    with pytest.raises(AuthenticationError) as caught:
        await provider.complete(_request("hi"), MODEL)

    assert KEY not in str(caught.value)
    assert KEY not in repr(caught.value)
    assert KEY not in repr(provider)
    assert "[REDACTED]" in str(caught.value)
