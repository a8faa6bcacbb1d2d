"""The Anthropic Messages adapter against a real local HTTP server replaying Anthropic.

The replayed answers follow Anthropic's published reference, page by page:

* ``MESSAGE`` - the example response of "Create a Message"
  (https://docs.anthropic.com/en/api/messages).
* ``TOOL_USE_MESSAGE`` - the ``get_weather`` response of "Tool use"
  (https://docs.anthropic.com/en/docs/build-with-claude/tool-use/overview).
* ``CACHED_USAGE`` - the ``usage`` object of "Prompt caching", with its
  ``cache_creation_input_tokens`` / ``cache_read_input_tokens`` fields
  (https://docs.anthropic.com/en/docs/build-with-claude/prompt-caching); the numbers
  are ours, chosen so that all three input counts differ.
* ``TEXT_STREAM`` / ``TOOL_STREAM`` / the ``error`` event - "Streaming Messages": the
  basic streaming request's event sequence (message_start, content_block_start, ping,
  content_block_delta, content_block_stop, message_delta, message_stop), the tool use
  stream with ``input_json_delta``, and the error event example
  (https://docs.anthropic.com/en/docs/build-with-claude/streaming).
* refusals - ``stop_reason: "refusal"`` from "Streaming refusals"
  (https://docs.anthropic.com/en/docs/test-and-evaluate/strengthen-guardrails/handle-streaming-refusals).
* error bodies - "Errors": ``{"type": "error", "error": {"type", "message"}, "request_id"}``
  and the status of each error type (https://docs.anthropic.com/en/api/errors); the
  "prompt is too long: N tokens > 200000 maximum" message is the one the API sends.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any

import pytest

from replay_server import ReplayServer, Reply, SSEReply
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
from tta_dev_integrations.llm.providers.anthropic import AnthropicMessagesAPI
from tta_dev_integrations.llm.providers.base import Provider, StreamPiece
from tta_dev_integrations.llm.providers.registry import create_provider
from tta_dev_integrations.llm.types import LLMRequest

MODEL = "claude-3-5-sonnet-20241022"
KEY = "test-key"
PATH = "/v1/messages"

MESSAGE: dict[str, Any] = {
    "id": "msg_013Zva2CMHLNnXjNJJKqJ2EF",
    "type": "message",
    "role": "assistant",
    "content": [{"type": "text", "text": "Hi! My name is Claude."}],
    "model": "claude-3-5-sonnet-20241022",
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {"input_tokens": 2095, "output_tokens": 503},
}

TOOL_USE_MESSAGE: dict[str, Any] = {
    "id": "msg_01Aq9w938a90dw8q",
    "type": "message",
    "role": "assistant",
    "model": "claude-3-5-sonnet-20241022",
    "stop_reason": "tool_use",
    "stop_sequence": None,
    "content": [
        {
            "type": "text",
            "text": "<thinking>I need to use get_weather, and the user wants SF, which is "
            "likely San Francisco, CA.</thinking>",
        },
        {
            "type": "tool_use",
            "id": "toolu_01A09q90qw90lq917835lq9",
            "name": "get_weather",
            "input": {"location": "San Francisco, CA", "unit": "celsius"},
        },
    ],
    "usage": {"input_tokens": 384, "output_tokens": 92},
}

CACHED_USAGE = {
    "input_tokens": 21,
    "cache_creation_input_tokens": 1024,
    "cache_read_input_tokens": 188086,
    "output_tokens": 393,
}

WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Get the current weather in a given location",
    "parameters": {
        "type": "object",
        "properties": {
            "location": {"type": "string", "description": "The city and state"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        },
        "required": ["location"],
    },
}

TEXT_STREAM: list[tuple[str, Any]] = [
    (
        "message_start",
        {
            "type": "message_start",
            "message": {
                "id": "msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY",
                "type": "message",
                "role": "assistant",
                "content": [],
                "model": "claude-3-5-sonnet-20241022",
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {"input_tokens": 25, "output_tokens": 1},
            },
        },
    ),
    (
        "content_block_start",
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    ),
    ("ping", {"type": "ping"}),
    (
        "content_block_delta",
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "text_delta", "text": "Hello"},
        },
    ),
    (
        "content_block_delta",
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "!"}},
    ),
    ("content_block_stop", {"type": "content_block_stop", "index": 0}),
    (
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn", "stop_sequence": None},
            "usage": {"output_tokens": 15},
        },
    ),
    ("message_stop", {"type": "message_stop"}),
]


def _json_delta(index: int, partial: str) -> tuple[str, Any]:
    return (
        "content_block_delta",
        {
            "type": "content_block_delta",
            "index": index,
            "delta": {"type": "input_json_delta", "partial_json": partial},
        },
    )


def _tool_stream(name: str, fragments: list[str], stop_reason: str) -> list[tuple[str, Any]]:
    """The tool use stream of "Streaming Messages": text block 0, tool_use block 1."""
    start, *_, stop = TEXT_STREAM
    return [
        start,
        TEXT_STREAM[1],
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": "Okay, let me check."},
            },
        ),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        (
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 1,
                "content_block": {
                    "type": "tool_use",
                    "id": "toolu_01T1x1fJ34qAmk2tNTrN7Up6",
                    "name": name,
                    "input": {},
                },
            },
        ),
        *(_json_delta(1, f) for f in fragments),
        ("content_block_stop", {"type": "content_block_stop", "index": 1}),
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                "usage": {"output_tokens": 89},
            },
        ),
        stop,
    ]


TOOL_STREAM = _tool_stream(
    "get_weather",
    ["", '{"location":', ' "San Francisco, CA"', ', "unit": "fahrenheit"}'],
    "tool_use",
)


def _error_body(kind: str, message: str) -> dict[str, Any]:
    return {
        "type": "error",
        "error": {"type": kind, "message": message},
        "request_id": "req_011CSHoEeqs5C35K2UUqR7Fy",
    }


@pytest.fixture
def server() -> Iterator[ReplayServer]:
    with ReplayServer() as replay:
        yield replay


@pytest.fixture
async def provider(server: ReplayServer) -> AsyncIterator[Provider]:
    anthropic = create_provider("anthropic", base_url=server.url, api_key=KEY)
    yield anthropic
    await anthropic.aclose()


async def _complete(provider: Provider, request: Mapping[str, Any] | str) -> Any:
    return await provider.complete(LLMRequest.from_value(request), MODEL)


async def _stream(
    provider: Provider, request: Mapping[str, Any] | str, into: list[StreamPiece] | None = None
) -> list[StreamPiece]:
    """The stream's pieces; ``into`` keeps those that arrived if the stream raises."""
    pieces = [] if into is None else into
    async for piece in provider.stream(LLMRequest.from_value(request), MODEL):
        pieces.append(piece)  # one by one: those that arrived survive an error
    return pieces


# --- complete -------------------------------------------------------------------------


async def test_plain_call_sends_anthropic_headers_and_separates_the_system(
    server: ReplayServer, provider: Provider
) -> None:
    server.add(PATH, Reply.json(MESSAGE))

    reply = await _complete(provider, {"system": "You are terse.", "prompt": "Hello, Claude"})

    assert reply.content == "Hi! My name is Claude."
    assert reply.finish_reason == "stop"
    assert reply.provider_model == "claude-3-5-sonnet-20241022"
    assert reply.usage is not None
    assert (reply.usage.input_tokens, reply.usage.output_tokens) == (2095, 503)
    assert reply.usage.cached_input_tokens == 0
    assert reply.tool_calls == ()
    sent = server.last
    assert (sent.method, sent.path) == ("POST", "/v1/messages")
    assert sent.headers["x-api-key"] == KEY
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert sent.headers["content-type"] == "application/json"
    assert "authorization" not in sent.headers
    assert sent.json == {
        "model": MODEL,
        "max_tokens": 1024,
        "system": "You are terse.",
        "messages": [{"role": "user", "content": "Hello, Claude"}],
    }


async def test_sampling_options_reach_the_body(server: ReplayServer, provider: Provider) -> None:
    server.add(PATH, Reply.json(MESSAGE), Reply.json(MESSAGE))

    await _complete(provider, {"prompt": "Hi", "max_tokens": 50, "temperature": 0.3, "stop": "END"})
    first = server.last.json
    await _complete(provider, {"prompt": "Hi", "temperature": 1.7, "stop": ["A", "B"]})
    second = server.last.json

    assert (first["max_tokens"], first["temperature"], first["stop_sequences"]) == (
        50,
        0.3,
        ["END"],
    )
    assert "system" not in first
    assert "tools" not in first
    assert "stream" not in first
    # Our temperature runs to 2, Anthropic's to 1: the top of its range is sent.
    assert (second["max_tokens"], second["temperature"]) == (1024, 1.0)
    assert second["stop_sequences"] == ["A", "B"]


async def test_system_messages_are_joined_and_kept_out_of_messages(
    server: ReplayServer, provider: Provider
) -> None:
    server.add(PATH, Reply.json(MESSAGE))

    await _complete(
        provider,
        {
            "messages": [
                {"role": "system", "content": "Rule one."},
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello"},
                {"role": "system", "content": "Rule two."},
                {"role": "user", "content": "Again"},
            ]
        },
    )

    body = server.last.json
    assert body["system"] == "Rule one.\n\nRule two."
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]


async def test_usage_counts_cached_input_in_the_total(
    server: ReplayServer, provider: Provider
) -> None:
    server.add(PATH, Reply.json({**MESSAGE, "usage": CACHED_USAGE}))

    reply = await _complete(provider, "Summarise the book")

    assert reply.usage is not None
    assert reply.usage.input_tokens == 21 + 1024 + 188086
    assert reply.usage.cached_input_tokens == 188086
    assert reply.usage.output_tokens == 393
    assert reply.usage.estimated is False


async def test_images_are_encoded_as_image_blocks(server: ReplayServer, provider: Provider) -> None:
    server.add(PATH, Reply.json(MESSAGE))
    png = b"\x89PNG\r\n\x1a\n-not-really"
    inline = base64.b64encode(b"GIF89a").decode()

    await _complete(
        provider,
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "What is in these images?"},
                        {"type": "image", "data": png, "media_type": "image/png"},
                        {"type": "image", "url": "https://example.com/cat.jpg"},
                        {"type": "image", "url": f"data:image/gif;base64,{inline}"},
                    ],
                }
            ]
        },
    )

    assert server.last.json["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is in these images?"},
                {
                    "type": "image",
                    "source": {
                        "type": "base64",
                        "media_type": "image/png",
                        "data": base64.b64encode(png).decode(),
                    },
                },
                {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
                {
                    "type": "image",
                    "source": {"type": "base64", "media_type": "image/gif", "data": inline},
                },
            ],
        }
    ]


async def test_tool_use_is_read_into_tool_calls(server: ReplayServer, provider: Provider) -> None:
    server.add(PATH, Reply.json(TOOL_USE_MESSAGE))

    reply = await _complete(
        provider, {"prompt": "What's the weather like in San Francisco?", "tools": [WEATHER_TOOL]}
    )

    assert server.last.json["tools"] == [
        {
            "name": "get_weather",
            "description": "Get the current weather in a given location",
            "input_schema": WEATHER_TOOL["parameters"],
        }
    ]
    assert "tool_choice" not in server.last.json
    assert reply.finish_reason == "tool_calls"
    assert reply.content.startswith("<thinking>")
    [call] = reply.tool_calls
    assert (call.id, call.name) == ("toolu_01A09q90qw90lq917835lq9", "get_weather")
    assert call.arguments == {"location": "San Francisco, CA", "unit": "celsius"}


async def test_tool_calls_and_results_are_sent_as_blocks(
    server: ReplayServer, provider: Provider
) -> None:
    server.add(PATH, Reply.json(MESSAGE))
    call_a = {"id": "toolu_a", "name": "get_weather", "arguments": {"location": "Paris"}}
    call_b = {"id": "toolu_b", "name": "get_weather", "arguments": {"location": "Oslo"}}

    await _complete(
        provider,
        {
            "tools": [WEATHER_TOOL],
            "messages": [
                {"role": "user", "content": "Weather in Paris and Oslo?"},
                {"role": "assistant", "content": "Checking both.", "tool_calls": [call_a, call_b]},
                {"role": "tool", "tool_call_id": "toolu_a", "content": "15 degrees"},
                {
                    "role": "tool",
                    "tool_call_id": "toolu_b",
                    "content": [{"type": "text", "text": "-3 degrees"}],
                },
                {"role": "user", "content": "Which is warmer?"},
            ],
        },
    )

    assert server.last.json["messages"] == [
        {"role": "user", "content": "Weather in Paris and Oslo?"},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Checking both."},
                {
                    "type": "tool_use",
                    "id": "toolu_a",
                    "name": "get_weather",
                    "input": {"location": "Paris"},
                },
                {
                    "type": "tool_use",
                    "id": "toolu_b",
                    "name": "get_weather",
                    "input": {"location": "Oslo"},
                },
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_a", "content": "15 degrees"},
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_b",
                    "content": [{"type": "text", "text": "-3 degrees"}],
                },
            ],
        },
        {"role": "user", "content": "Which is warmer?"},
    ]


async def test_an_assistant_turn_of_only_tool_calls_has_no_empty_text_block(
    server: ReplayServer, provider: Provider
) -> None:
    server.add(PATH, Reply.json(MESSAGE))
    call = {"id": "toolu_a", "name": "get_weather", "arguments": {"location": "Paris"}}

    await _complete(
        provider,
        {
            "messages": [
                {"role": "user", "content": "Weather?"},
                {"role": "assistant", "content": "", "tool_calls": [call]},
                {"role": "tool", "tool_call_id": "toolu_a", "content": "15 degrees"},
            ]
        },
    )

    assistant = server.last.json["messages"][1]
    assert [b["type"] for b in assistant["content"]] == ["tool_use"]


SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name", "age"],
}


async def test_json_schema_output_is_a_forced_tool_call(
    server: ReplayServer, provider: Provider
) -> None:
    answer = {"name": "Ada Lovelace", "age": 36}
    server.add(
        PATH,
        Reply.json(
            {
                **TOOL_USE_MESSAGE,
                "content": [
                    {
                        "type": "tool_use",
                        "id": "toolu_01",
                        "name": "json_response",
                        "input": answer,
                    }
                ],
            }
        ),
    )

    reply = await _complete(
        provider,
        {
            "prompt": "Who wrote the first program?",
            "response_format": SCHEMA,
            "tools": [WEATHER_TOOL],
        },
    )

    body = server.last.json
    assert body["tool_choice"] == {"type": "tool", "name": "json_response"}
    assert [t["name"] for t in body["tools"]] == ["get_weather", "json_response"]
    assert body["tools"][1]["input_schema"] == SCHEMA
    assert json.loads(reply.content) == answer
    assert reply.finish_reason == "stop"
    assert reply.tool_calls == ()


async def test_a_non_object_schema_is_refused_before_sending(
    server: ReplayServer, provider: Provider
) -> None:
    with pytest.raises(BadRequestError, match="must be a JSON object"):
        await _complete(provider, {"prompt": "List", "response_format": {"type": "array"}})
    assert server.requests == []


async def test_a_refusal_is_a_content_filter_error(
    server: ReplayServer, provider: Provider
) -> None:
    server.add(PATH, Reply.json({**MESSAGE, "content": [], "stop_reason": "refusal"}))

    with pytest.raises(ContentFilterError, match="refused"):
        await _complete(provider, "Something unsafe")


async def test_a_malformed_json_body_is_a_response_error(
    server: ReplayServer, provider: Provider
) -> None:
    server.add(PATH, Reply.raw('{"id": "msg_01", "content": [{"type": "te'))

    with pytest.raises(ResponseError, match="not valid JSON") as caught:
        await _complete(provider, "Hi")
    assert not isinstance(caught.value, StreamInterruptedError)
    assert caught.value.provider == "anthropic"


@pytest.mark.parametrize(
    "body",
    [
        {"type": "message", "role": "assistant"},  # no content
        [1, 2, 3],
        {**MESSAGE, "content": ["not a block"]},
        {**MESSAGE, "content": [{"type": "tool_use", "id": "t", "name": "f", "input": [1]}]},
    ],
    ids=["no-content", "not-an-object", "block-not-an-object", "tool-input-not-an-object"],
)
async def test_an_unexpected_shape_is_a_response_error(
    server: ReplayServer, provider: Provider, body: Any
) -> None:
    server.add(PATH, Reply.json(body))

    with pytest.raises(ResponseError):
        await _complete(provider, "Hi")


# --- errors -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "kind", "message", "expected"),
    [
        (400, "invalid_request_error", "messages: roles must alternate", BadRequestError),
        (
            400,
            "invalid_request_error",
            "prompt is too long: 208310 tokens > 200000 maximum",
            ContextLengthError,
        ),
        (401, "authentication_error", "invalid x-api-key", AuthenticationError),
        (403, "permission_error", "Your API key does not have permission", AuthenticationError),
        (404, "not_found_error", "model: claude-nonexistent", BadRequestError),
        (413, "request_too_large", "Request exceeds the maximum size", BadRequestError),
        (429, "rate_limit_error", "Number of request tokens has exceeded", RateLimitError),
        (500, "api_error", "Internal server error", ProviderUnavailableError),
        (529, "overloaded_error", "Overloaded", ProviderUnavailableError),
    ],
)
async def test_error_bodies_map_to_the_error_tree(
    server: ReplayServer,
    provider: Provider,
    status: int,
    kind: str,
    message: str,
    expected: type[LLMError],
) -> None:
    server.add(PATH, Reply.json(_error_body(kind, message), status=status))

    with pytest.raises(expected) as caught:
        await _complete(provider, "Hi")

    error = caught.value
    assert type(error) is expected
    assert message in str(error)
    assert error.provider == "anthropic"
    assert error.status_code == status
    assert KEY not in str(error)
    assert KEY not in repr(error)


async def test_authentication_errors_name_the_key_variable(
    server: ReplayServer, provider: Provider
) -> None:
    server.add(PATH, Reply.json(_error_body("authentication_error", "invalid x-api-key"), 401))

    with pytest.raises(AuthenticationError) as caught:
        await _complete(provider, "Hi")
    assert caught.value.env_vars == ("ANTHROPIC_API_KEY",)
    assert "ANTHROPIC_API_KEY" in str(caught.value)


async def test_rate_limit_takes_retry_after_from_the_header(
    server: ReplayServer, provider: Provider
) -> None:
    server.add(
        PATH,
        Reply.json(
            _error_body("rate_limit_error", "Number of request tokens has exceeded your limit"),
            status=429,
            headers={"retry-after": "17", "anthropic-ratelimit-requests-remaining": "0"},
        ),
    )

    with pytest.raises(RateLimitError) as caught:
        await _complete(provider, "Hi")
    assert caught.value.retry_after == 17.0
    assert "retry after 17s" in str(caught.value)


async def test_a_non_json_error_body_still_maps_by_status(
    server: ReplayServer, provider: Provider
) -> None:
    server.add(PATH, Reply.raw("<html>502 Bad Gateway</html>", 502, content_type="text/html"))

    with pytest.raises(ProviderUnavailableError, match="502 Bad Gateway"):
        await _complete(provider, "Hi")


async def test_an_error_status_on_a_stream_request_maps_the_same(
    server: ReplayServer, provider: Provider
) -> None:
    server.add(PATH, Reply.json(_error_body("overloaded_error", "Overloaded"), status=529))

    with pytest.raises(ProviderUnavailableError, match="Overloaded"):
        await _stream(provider, "Hi")


async def test_a_missing_key_names_anthropic_api_key(
    server: ReplayServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    anthropic = create_provider("anthropic", base_url=server.url)
    try:
        assert not anthropic.is_configured()
        with pytest.raises(AuthenticationError) as caught:
            await _complete(anthropic, "Hi")
        with pytest.raises(AuthenticationError):
            await _stream(anthropic, "Hi")
    finally:
        await anthropic.aclose()
    assert "ANTHROPIC_API_KEY" in str(caught.value)
    assert caught.value.env_vars == ("ANTHROPIC_API_KEY",)
    assert server.requests == []


async def test_the_key_appears_in_no_error_and_no_repr(server: ReplayServer) -> None:
    secret = "sk-ant-api03-Zq9SECRETsecret_key-value-AAAA"
    anthropic = create_provider("anthropic", base_url=server.url, api_key=secret)
    server.add(
        PATH,
        Reply.json(_error_body("authentication_error", f"invalid x-api-key: {secret}"), 401),
        Reply.json(_error_body("rate_limit_error", "slow down"), 429, {"retry-after": "1"}),
        Reply.json(_error_body("overloaded_error", "Overloaded"), 529),
        Reply.json(_error_body("invalid_request_error", f"bad request from {secret}"), 400),
        Reply.raw("{broken"),
        SSEReply([*TEXT_STREAM[:4], ("error", _error_body("api_error", f"boom {secret}"))]),
        SSEReply(TEXT_STREAM[:4]),
    )
    errors: list[BaseException] = []
    try:
        for _ in range(5):
            with pytest.raises(LLMError) as caught:
                await _complete(anthropic, "Hi")
            errors.append(caught.value)
        for _ in range(2):
            with pytest.raises(LLMError) as caught:
                await _stream(anthropic, "Hi")
            errors.append(caught.value)
        assert server.requests[0].headers["x-api-key"] == secret  # it was sent, and only there
        texts = [repr(anthropic), str(anthropic.__dict__.get("spec"))]
        for error in errors:
            texts += [str(error), repr(error), repr(error.__cause__), repr(error.args)]
    finally:
        await anthropic.aclose()
    for text in texts:
        assert secret not in text
        assert "SECRET" not in text
    assert len(errors) == 7
    assert "invalid x-api-key: [REDACTED]" in str(errors[0])  # the echo was redacted


# --- streaming --------------------------------------------------------------------------


async def test_a_stream_yields_text_then_usage_and_done(
    server: ReplayServer, provider: Provider
) -> None:
    server.add(PATH, SSEReply(TEXT_STREAM))

    pieces = await _stream(provider, {"system": "Be brief.", "prompt": "Hello"})

    assert "".join(p.text for p in pieces) == "Hello!"
    assert [p.text for p in pieces if p.text] == ["Hello", "!"]
    final = pieces[-1]
    assert final.done
    assert sum(p.done for p in pieces) == 1
    assert final.finish_reason == "stop"
    assert final.provider_model == "claude-3-5-sonnet-20241022"
    assert final.usage is not None
    assert (final.usage.input_tokens, final.usage.output_tokens) == (25, 15)
    body = server.last.json
    assert body["stream"] is True
    assert body["system"] == "Be brief."
    assert body["max_tokens"] == 1024
    assert server.last.headers["accept"] == "text/event-stream"
    assert server.last.headers["x-api-key"] == KEY
    assert server.last.headers["anthropic-version"] == "2023-06-01"


async def test_a_stream_counts_cached_input(server: ReplayServer, provider: Provider) -> None:
    name, start = TEXT_STREAM[0]
    cached_start = {**start, "message": {**start["message"], "usage": CACHED_USAGE}}
    server.add(PATH, SSEReply([(name, cached_start), *TEXT_STREAM[1:]]))

    final = (await _stream(provider, "Hello"))[-1]

    assert final.usage is not None
    assert final.usage.input_tokens == 21 + 1024 + 188086
    assert final.usage.cached_input_tokens == 188086
    assert final.usage.output_tokens == 15  # message_delta's count replaces message_start's


async def test_a_stream_reads_tool_use(server: ReplayServer, provider: Provider) -> None:
    server.add(PATH, SSEReply(TOOL_STREAM))

    pieces = await _stream(provider, {"prompt": "Weather in SF?", "tools": [WEATHER_TOOL]})

    assert "".join(p.text for p in pieces) == "Okay, let me check."
    final = pieces[-1]
    assert final.done
    assert final.finish_reason == "tool_calls"
    [call] = final.tool_calls
    assert (call.id, call.name) == ("toolu_01T1x1fJ34qAmk2tNTrN7Up6", "get_weather")
    assert call.arguments == {"location": "San Francisco, CA", "unit": "fahrenheit"}
    assert final.usage is not None
    assert final.usage.output_tokens == 89


async def test_a_stream_with_json_schema_streams_the_json_as_text(
    server: ReplayServer, provider: Provider
) -> None:
    fragments = ['{"name": "Ada', ' Lovelace", ', '"age": 36}']
    stream = _tool_stream("json_response", fragments, "tool_use")
    # A forced tool call has no text block before it.
    server.add(PATH, SSEReply([stream[0], *stream[4:]]))

    pieces = await _stream(provider, {"prompt": "Who?", "response_format": SCHEMA})

    assert json.loads("".join(p.text for p in pieces)) == {"name": "Ada Lovelace", "age": 36}
    assert pieces[-1].finish_reason == "stop"
    assert pieces[-1].tool_calls == ()
    assert server.last.json["tool_choice"] == {"type": "tool", "name": "json_response"}


async def test_a_stream_that_ends_without_message_stop_is_interrupted(
    server: ReplayServer, provider: Provider
) -> None:
    server.add(PATH, SSEReply(TEXT_STREAM[:4]))  # the body ends properly, the answer does not

    pieces: list[StreamPiece] = []
    with pytest.raises(StreamInterruptedError, match="before the provider said") as caught:
        await _stream(provider, "Hello", into=pieces)

    assert caught.value.partial_text == "Hello"
    assert [p.text for p in pieces if p.text] == ["Hello"]
    assert pieces[0].usage is not None  # message_start: the input tokens, billed already


async def test_a_stream_whose_connection_drops_is_interrupted(
    server: ReplayServer, provider: Provider
) -> None:
    server.add(PATH, SSEReply(TEXT_STREAM[:5], abort=True))

    with pytest.raises(StreamInterruptedError, match="broke off") as caught:
        await _stream(provider, "Hello")

    assert caught.value.partial_text == "Hello!"
    assert caught.value.provider == "anthropic"


async def test_an_error_event_mid_stream_raises_the_mapped_error(
    server: ReplayServer, provider: Provider
) -> None:
    error_event = (
        "error",
        {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
    )
    server.add(PATH, SSEReply([*TEXT_STREAM[:4], error_event]))

    pieces: list[StreamPiece] = []
    with pytest.raises(ProviderUnavailableError, match="Overloaded") as caught:
        await _stream(provider, "Hello", into=pieces)

    assert [p.text for p in pieces if p.text] == ["Hello"]
    assert pieces[0].usage is not None  # message_start: the input tokens, billed already
    assert caught.value.provider == "anthropic"


async def test_a_rate_limit_error_event_is_a_rate_limit_error(
    server: ReplayServer, provider: Provider
) -> None:
    server.add(PATH, SSEReply([TEXT_STREAM[0], ("error", _error_body("rate_limit_error", "slow"))]))

    with pytest.raises(RateLimitError, match="slow"):
        await _stream(provider, "Hello")


async def test_a_streamed_refusal_is_a_content_filter_error(
    server: ReplayServer, provider: Provider
) -> None:
    refusal = (
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": "refusal", "stop_sequence": None},
            "usage": {"output_tokens": 3},
        },
    )
    server.add(PATH, SSEReply([*TEXT_STREAM[:4], refusal, TEXT_STREAM[-1]]))

    with pytest.raises(ContentFilterError):
        await _stream(provider, "Something unsafe")


async def test_a_malformed_event_interrupts_the_stream(
    server: ReplayServer, provider: Provider
) -> None:
    server.add(PATH, SSEReply([*TEXT_STREAM[:4], ("content_block_delta", "{not json")]))

    with pytest.raises(StreamInterruptedError) as caught:
        await _stream(provider, "Hello")
    assert caught.value.partial_text == "Hello"


async def test_concurrent_streams_on_one_provider_keep_their_own_usage(
    server: ReplayServer, provider: Provider
) -> None:
    def stream_with(input_tokens: int, output_tokens: int) -> SSEReply:
        name, start = TEXT_STREAM[0]
        usage = {"input_tokens": input_tokens, "output_tokens": 1}
        delta_name, delta = TEXT_STREAM[-2]
        return SSEReply(
            [
                (name, {**start, "message": {**start["message"], "usage": usage}}),
                *TEXT_STREAM[1:-2],
                (delta_name, {**delta, "usage": {"output_tokens": output_tokens}}),
                TEXT_STREAM[-1],
            ]
        )

    server.add(PATH, stream_with(100, 7), stream_with(200, 9))

    first, second = await asyncio.gather(_stream(provider, "one"), _stream(provider, "two"))

    counts = {
        (p[-1].usage.input_tokens, p[-1].usage.output_tokens)
        for p in (first, second)
        if p[-1].usage is not None
    }
    assert counts == {(100, 7), (200, 9)}


def test_stream_readers_of_one_adapter_share_no_state() -> None:
    api = AnthropicMessagesAPI()
    one, two = api.stream_reader(), api.stream_reader()

    def feed(read: Any, events: list[tuple[str, Any]]) -> list[StreamPiece | None]:
        return [read(name, json.dumps(data)) for name, data in events]

    name, start = TEXT_STREAM[0]
    other_start = {**start, "message": {**start["message"], "usage": {"input_tokens": 999}}}
    feed(one, TEXT_STREAM[:3])
    feed(two, [(name, other_start), *TEXT_STREAM[1:3]])
    end_one = feed(one, TEXT_STREAM[3:])[-1]
    end_two = feed(two, TEXT_STREAM[3:])[-1]

    assert end_one is not None
    assert end_two is not None
    assert end_one.usage is not None
    assert end_two.usage is not None
    assert (end_one.usage.input_tokens, end_two.usage.input_tokens) == (25, 999)


def test_parse_event_alone_reads_text_and_the_end() -> None:
    api = AnthropicMessagesAPI()

    pieces = [api.parse_event(name, json.dumps(data)) for name, data in TEXT_STREAM]

    assert "".join(p.text for p in pieces if p is not None) == "Hello!"
    assert pieces[-1] is not None
    assert pieces[-1].done
