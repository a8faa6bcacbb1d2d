"""What every HTTP provider does with errors, whatever its wire API."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from replay_server import ReplayServer, Reply
from tta_dev_integrations.llm import (
    TRANSIENT_ERRORS,
    AuthenticationError,
    BadRequestError,
    LLMPrimitive,
    Provider,
    RateLimitError,
    ResponseError,
    create_provider,
)
from tta_dev_primitives import RetryPrimitive, WorkflowContext
from tta_dev_primitives.testing import FakeClock

KEY = "sk-proj-canary-5f1d2c3b4a"


@pytest.fixture
async def server() -> AsyncIterator[ReplayServer]:
    with ReplayServer() as replay:
        yield replay
        for provider in _providers:
            await provider.aclose()
        _providers.clear()


_providers: list[Provider] = []


def primitive(server: ReplayServer) -> LLMPrimitive:
    provider = create_provider("openai", base_url=server.url, api_key=KEY)
    _providers.append(provider)
    return LLMPrimitive("gpt-4o-mini", provider=provider)


async def test_a_key_echoed_by_the_provider_is_scrubbed(server: ReplayServer) -> None:
    body = {"error": {"message": f"Incorrect API key provided: {KEY}", "code": "invalid_api_key"}}
    server.add("/chat/completions", Reply.json(body, status=401))
    with pytest.raises(AuthenticationError) as info:
        await primitive(server).execute("hi", WorkflowContext())
    text = str(info.value)
    assert KEY not in text
    assert KEY not in repr(info.value)
    assert "OPENAI_API_KEY" in text
    assert "provider=openai" in text
    assert "model=gpt-4o-mini" in text
    assert server.last.headers["authorization"] == f"Bearer {KEY}"


async def test_errors_raised_while_reading_name_the_provider(server: ReplayServer) -> None:
    server.add("/chat/completions", Reply.json({"choices": []}))
    with pytest.raises(ResponseError) as info:
        await primitive(server).execute("hi", WorkflowContext())
    assert info.value.provider == "openai"
    assert info.value.model == "gpt-4o-mini"


async def test_retry_honours_the_retry_after_of_a_429(server: ReplayServer) -> None:
    rate_limited = Reply.json(
        {"error": {"message": "slow down", "code": "rate_limit_exceeded"}},
        status=429,
        headers={"retry-after": "7"},
    )
    ok = Reply.json(
        {
            "model": "gpt-4o-mini",
            "choices": [{"message": {"content": "done"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 1},
        }
    )
    server.add("/chat/completions", rate_limited, ok)
    clock = FakeClock()
    workflow = RetryPrimitive(
        primitive(server), retry_on=TRANSIENT_ERRORS, sleep=clock.sleep, jitter=0
    )
    response = await workflow.execute("hi", WorkflowContext())
    assert response.content == "done"
    assert clock.sleeps == [7.0]
    assert response.cost_usd > 0  # gpt-4o-mini is paid: priced by genai-prices


async def test_a_bad_request_is_not_retried(server: ReplayServer) -> None:
    server.add("/chat/completions", Reply.json({"error": {"message": "bad"}}, status=400))
    workflow = RetryPrimitive(primitive(server), retry_on=TRANSIENT_ERRORS, initial_delay=0)
    with pytest.raises(BadRequestError):
        await workflow.execute("hi", WorkflowContext())
    assert len(server.requests) == 1


def test_rate_limit_error_is_transient() -> None:
    assert RateLimitError in TRANSIENT_ERRORS
    assert BadRequestError not in TRANSIENT_ERRORS


async def test_streams_leave_their_connection_in_the_pool(server: ReplayServer) -> None:
    from replay_server import SSEReply

    chunk = {"model": "m", "choices": [{"delta": {"content": "hi"}, "finish_reason": None}]}
    end = {"model": "m", "choices": [{"delta": {}, "finish_reason": "stop"}]}
    for _ in range(3):
        server.add("/chat/completions", SSEReply([(None, chunk), (None, end), (None, "[DONE]")]))
    llm = primitive(server)
    for _ in range(3):
        assert await llm.stream("hi", WorkflowContext()).text() == "hi"
    # One kept-alive connection served all three streams: none was dropped at [DONE].
    assert len({r.client_port for r in server.requests}) == 1


async def test_openai_requests_carry_images_tools_and_schema_as_documented(
    server: ReplayServer,
) -> None:
    # Chat Completions reference: image_url content parts, function tools, json_schema.
    server.add(
        "/chat/completions",
        Reply.json(
            {
                "model": "gpt-4o-mini",
                "choices": [
                    {
                        "message": {
                            "content": None,
                            "tool_calls": [
                                {
                                    "id": "call_1",
                                    "type": "function",
                                    "function": {"name": "lookup", "arguments": '{"q": "cat"}'},
                                }
                            ],
                        },
                        "finish_reason": "tool_calls",
                    }
                ],
                "usage": {"prompt_tokens": 20, "completion_tokens": 5},
            }
        ),
    )
    response = await primitive(server).execute(
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "What is this?"},
                        {"type": "image", "data": "aGVsbG8=", "media_type": "image/png"},
                    ],
                }
            ],
            "tools": [{"name": "lookup", "parameters": {"type": "object"}}],
        },
        WorkflowContext(),
    )
    body = server.last.json
    image = body["messages"][0]["content"][1]
    assert image == {"type": "image_url", "image_url": {"url": "data:image/png;base64,aGVsbG8="}}
    assert body["tools"][0]["function"]["name"] == "lookup"
    assert response.tool_calls[0].arguments == {"q": "cat"}
    assert response.finish_reason == "tool_calls"


async def test_a_keyless_server_is_probed_once_per_ttl(server: ReplayServer) -> None:
    server.add("/models", Reply.json({"data": []}), Reply.json({"data": []}), method="GET")
    provider = create_provider("ollama", base_url=server.url)
    _providers.append(provider)
    assert await provider.is_available()
    assert await provider.is_available()
    assert len(server.requests) == 1  # the second answer came from the probe's cache
    provider.probe_ttl_s = 0.0  # type: ignore[attr-defined]
    assert await provider.is_available()
    assert len(server.requests) == 2
