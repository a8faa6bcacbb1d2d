"""Each provider's native tool protocol under AgentPrimitive, plain and streamed.

Replayed answers follow the providers' API references:

* OpenAI Chat Completions, "Function calling" and "Streaming" (a ``tool_calls`` message
  with ``finish_reason: "tool_calls"``; streamed ``delta.tool_calls`` whose first
  fragment carries ``index``, ``id``, ``type`` and ``function.name`` and later ones
  pieces of ``function.arguments``, then a chunk with the finish reason, a usage
  chunk with empty ``choices`` and ``[DONE]``). Ollama's variant, every call of a
  parallel batch at index 0 told apart by ids, is replayed too.
* Anthropic Messages, "Tool use" (``tool_use`` blocks, ``stop_reason: "tool_use"``,
  results as ``tool_result`` blocks in a user turn) and "Streaming Messages"
  (``input_json_delta``).
* Gemini ``generateContent``, "Function calling" and "Thought signatures"
  (``functionCall`` parts with ``id`` and a ``thoughtSignature`` that must come back on
  the same part next turn; results as ``functionResponse`` parts).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from replay_server import ReplayServer, Reply, SSEReply
from tta_dev_integrations.agents import AgentPrimitive, AgentState, ApprovalRequired, tool
from tta_dev_integrations.llm import LLMPrimitive, LLMRequest, create_provider
from tta_dev_integrations.llm.providers.base import Provider
from tta_dev_primitives import WorkflowContext


@tool
def get_weather(location: str) -> str:
    """The current weather of a city."""
    return f"15 degrees in {location}"


@tool(needs_approval=True)
def book_table(location: str) -> str:
    """Book a table (asks a person first)."""
    return f"booked in {location}"


@pytest.fixture
def server() -> Iterator[ReplayServer]:
    with ReplayServer() as replay:
        yield replay


async def _provider(name: str, server: ReplayServer) -> Provider:
    return create_provider(name, base_url=server.url, api_key="test-key-0123456789")


@pytest.fixture
async def openai(server: ReplayServer) -> AsyncIterator[Provider]:
    provider = await _provider("openai", server)
    yield provider
    await provider.aclose()


# -- OpenAI-compatible ------------------------------------------------------------------


def openai_tool_call(call_id: str, location: str) -> dict[str, Any]:
    return {
        "id": call_id,
        "type": "function",
        "function": {"name": "get_weather", "arguments": json.dumps({"location": location})},
    }


def openai_completion(message: dict[str, Any], finish: str) -> Reply:
    return Reply.json(
        {
            "id": "chatcmpl-abc123",
            "object": "chat.completion",
            "model": "gpt-4.1-2025-04-14",
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": {"prompt_tokens": 82, "completion_tokens": 17, "total_tokens": 99},
        }
    )


async def test_openai_parallel_tool_calls_round_trip(
    server: ReplayServer, openai: Provider
) -> None:
    calls = [openai_tool_call("call_a", "Paris"), openai_tool_call("call_b", "Oslo")]
    server.add(
        "/chat/completions",
        openai_completion(
            {"role": "assistant", "content": None, "tool_calls": calls}, "tool_calls"
        ),
        openai_completion({"role": "assistant", "content": "Paris 15, Oslo 15."}, "stop"),
    )
    agent = AgentPrimitive(LLMPrimitive("gpt-4.1", provider=openai), tools=[get_weather])
    result = await agent.execute("Weather in Paris and Oslo?", WorkflowContext())
    assert result.output == "Paris 15, Oslo 15."
    first, second = (r.json for r in server.requests)
    assert first["tools"][0]["function"]["name"] == "get_weather"
    assert first["tools"][0]["function"]["parameters"]["required"] == ["location"]
    assistant, *results = second["messages"][1:]
    assert [c["id"] for c in assistant["tool_calls"]] == ["call_a", "call_b"]
    assert json.loads(assistant["tool_calls"][1]["function"]["arguments"]) == {"location": "Oslo"}
    assert results == [
        {"role": "tool", "content": "15 degrees in Paris", "tool_call_id": "call_a"},
        {"role": "tool", "content": "15 degrees in Oslo", "tool_call_id": "call_b"},
    ]


def openai_stream(deltas: list[dict[str, Any]]) -> SSEReply:
    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {
            "id": "chatcmpl-xyz",
            "object": "chat.completion.chunk",
            "model": "gpt-4.1-2025-04-14",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }

    usage = {"prompt_tokens": 82, "completion_tokens": 17, "total_tokens": 99}
    events: list[tuple[str | None, Any]] = [
        (None, chunk({"role": "assistant", "content": None})),
        *((None, chunk({"tool_calls": [d]})) for d in deltas),
        (None, chunk({}, "tool_calls")),
        (None, {"id": "chatcmpl-xyz", "choices": [], "usage": usage}),
        (None, "[DONE]"),
    ]
    return SSEReply(events)


def fragments(index: int, call_id: str, location: str) -> list[dict[str, Any]]:
    arguments = json.dumps({"location": location})
    head = {
        "index": index,
        "id": call_id,
        "type": "function",
        "function": {"name": "get_weather", "arguments": ""},
    }
    return [head] + [
        {"index": index, "function": {"arguments": arguments[i : i + 5]}}
        for i in range(0, len(arguments), 5)
    ]


@pytest.mark.parametrize("ollama", [False, True], ids=["openai", "ollama-index-0"])
async def test_openai_streamed_tool_call_deltas_are_assembled(
    server: ReplayServer, openai: Provider, ollama: bool
) -> None:
    second = 0 if ollama else 1
    server.add(
        "/chat/completions",
        openai_stream(fragments(0, "call_a", "Paris") + fragments(second, "call_b", "Oslo")),
    )
    request = LLMRequest.from_value({"prompt": "Weather?", "tools": [get_weather.definition]})
    pieces = [p async for p in openai.stream(request, "gpt-4.1")]
    calls = [c for p in pieces for c in p.tool_calls]
    assert [(c.id, c.name, c.arguments) for c in calls] == [
        ("call_a", "get_weather", {"location": "Paris"}),
        ("call_b", "get_weather", {"location": "Oslo"}),
    ]
    [finished] = [p for p in pieces if p.finish_reason]
    assert finished.finish_reason == "tool_calls"
    assert finished.tool_calls == tuple(calls)  # whole, once, with the finish reason
    assert pieces[-1].done


# -- Anthropic ---------------------------------------------------------------------------


def anthropic_message(content: list[dict[str, Any]], stop: str) -> Reply:
    return Reply.json(
        {
            "id": "msg_01Aq9w938a90dw8q",
            "type": "message",
            "role": "assistant",
            "model": "claude-3-5-sonnet-20241022",
            "content": content,
            "stop_reason": stop,
            "stop_sequence": None,
            "usage": {"input_tokens": 472, "output_tokens": 89},
        }
    )


async def test_anthropic_tool_use_and_results_with_an_approval_pause(
    server: ReplayServer,
) -> None:
    provider = await _provider("anthropic", server)
    use = {
        "type": "tool_use",
        "id": "toolu_01A09q90qw90lq917835lq9",
        "name": "book_table",
        "input": {"location": "San Francisco, CA"},
    }
    weather = {**use, "id": "toolu_02", "name": "get_weather"}
    server.add(
        "/v1/messages",
        anthropic_message([{"type": "text", "text": "Let me do both."}, use, weather], "tool_use"),
        anthropic_message([{"type": "text", "text": "Booked; 15 degrees."}], "end_turn"),
    )
    llm = LLMPrimitive("claude-3.5-sonnet", provider=provider)
    agent = AgentPrimitive(llm, tools=[get_weather, book_table])
    try:
        with pytest.raises(ApprovalRequired) as paused:
            await agent.execute("Book and check the weather", WorkflowContext())
        state = AgentState.from_json(paused.value.state.to_json())
        state.approve("toolu_01A09q90qw90lq917835lq9")
        result = await agent.execute(state, WorkflowContext())
    finally:
        await provider.aclose()
    assert result.output == "Booked; 15 degrees."
    sent = server.requests[-1].json["messages"]
    assert sent[1]["content"][1:] == [
        {**use, "input": {"location": "San Francisco, CA"}},
        {**weather, "input": {"location": "San Francisco, CA"}},
    ]
    # Both results in one user turn, as Anthropic asks for parallel calls.
    assert sent[2] == {
        "role": "user",
        "content": [
            {
                "type": "tool_result",
                "tool_use_id": "toolu_02",
                "content": "15 degrees in San Francisco, CA",
            },
            {
                "type": "tool_result",
                "tool_use_id": "toolu_01A09q90qw90lq917835lq9",
                "content": "booked in San Francisco, CA",
            },
        ],
    }


# -- Gemini -----------------------------------------------------------------------------

GEMINI = "/v1beta/models/gemini-2.5-flash:generateContent"
SIGNATURE = "CiQBVKhc7pQ3c2lnbmF0dXJl"


def gemini_response(parts: list[dict[str, Any]]) -> Reply:
    return Reply.json(
        {
            "candidates": [{"content": {"parts": parts, "role": "model"}, "finishReason": "STOP"}],
            "usageMetadata": {"promptTokenCount": 40, "candidatesTokenCount": 9},
            "modelVersion": "gemini-2.5-flash",
            "responseId": "mO1uaLr9Eo2Wz7IP8fKXiQg",
        }
    )


async def test_gemini_thought_signature_travels_on_the_call_across_processes(
    server: ReplayServer,
) -> None:
    part = {
        "functionCall": {
            "id": "8f2kq0wz",
            "name": "book_table",
            "args": {"location": "Oslo"},
        },
        "thoughtSignature": SIGNATURE,
    }
    server.add("/v1beta/models/gemini-2.5-flash:generateContent", gemini_response([part]))
    server.add(GEMINI, gemini_response([{"text": "Booked."}]))
    first = await _provider("gemini", server)
    agent = AgentPrimitive(LLMPrimitive("gemini-2.5-flash", provider=first), tools=[book_table])
    try:
        with pytest.raises(ApprovalRequired) as paused:
            await agent.execute("Book in Oslo", WorkflowContext())
    finally:
        await first.aclose()
    [call] = paused.value.pending
    assert call.provider_data == {"thoughtSignature": SIGNATURE}
    saved = paused.value.state.to_json()

    # Another process: a fresh provider (no memory of the first) resumes the run.
    second = await _provider("gemini", server)
    resumed = AgentPrimitive(LLMPrimitive("gemini-2.5-flash", provider=second), tools=[book_table])
    state = AgentState.from_json(saved)
    state.approve("8f2kq0wz")
    try:
        result = await resumed.execute(state, WorkflowContext())
    finally:
        await second.aclose()
    assert result.output == "Booked."
    contents = server.requests[-1].json["contents"]
    assert contents[1] == {"role": "model", "parts": [part]}
    assert contents[2]["parts"] == [
        {
            "functionResponse": {
                "id": "8f2kq0wz",
                "name": "book_table",
                "response": {"output": "booked in Oslo"},
            }
        }
    ]


async def test_gemini_streamed_function_call_keeps_its_signature(server: ReplayServer) -> None:
    part = {"functionCall": {"name": "get_weather", "args": {"location": "Paris"}}}
    body = json.loads(gemini_response([{**part, "thoughtSignature": SIGNATURE}]).body)
    server.add("/v1beta/models/gemini-2.5-flash:streamGenerateContent", SSEReply([(None, body)]))
    provider = await _provider("gemini", server)
    request = LLMRequest.from_value({"prompt": "Weather?", "tools": [get_weather.definition]})
    try:
        pieces = [p async for p in provider.stream(request, "gemini-2.5-flash")]
    finally:
        await provider.aclose()
    [call] = [c for p in pieces for c in p.tool_calls]
    assert (call.name, call.arguments) == ("get_weather", {"location": "Paris"})
    assert call.provider_data == {"thoughtSignature": SIGNATURE}


async def test_tool_choice_required_reaches_every_provider(
    server: ReplayServer, openai: Provider
) -> None:
    server.add(
        "/chat/completions",
        openai_completion(
            {"role": "assistant", "content": None, "tool_calls": [openai_tool_call("c", "X")]},
            "tool_calls",
        ),
    )
    server.add(GEMINI, gemini_response([{"functionCall": {"name": "get_weather", "args": {}}}]))
    gemini = await _provider("gemini", server)
    request = LLMRequest.from_value(
        {"prompt": "Weather?", "tools": [get_weather.definition], "tool_choice": "required"}
    )
    try:
        await openai.complete(request, "gpt-4.1")
        await gemini.complete(request, "gemini-2.5-flash")
    finally:
        await gemini.aclose()
    server.add(
        "/v1/messages",
        anthropic_message(
            [{"type": "tool_use", "id": "t", "name": "get_weather", "input": {}}], "tool_use"
        ),
    )
    anthropic = await _provider("anthropic", server)
    try:
        await anthropic.complete(request, "claude-3-5-sonnet-20241022")
    finally:
        await anthropic.aclose()
    sent_openai, sent_gemini, sent_anthropic = (r.json for r in server.requests)
    assert sent_openai["tool_choice"] == "required"
    assert sent_gemini["toolConfig"] == {"functionCallingConfig": {"mode": "ANY"}}
    assert sent_anthropic["tool_choice"] == {"type": "any"}
    with pytest.raises(ValueError, match="needs at least one tool"):
        LLMRequest.from_value({"prompt": "x", "tool_choice": "required"})


@pytest.mark.parametrize("provider_name", ["openai", "anthropic", "gemini"])
async def test_a_streamed_answer_carries_its_tool_calls(
    server: ReplayServer, provider_name: str
) -> None:
    if provider_name == "openai":
        path, model = "/chat/completions", "gpt-4.1"
        server.add(path, openai_stream(fragments(0, "call_a", "Paris")))
    elif provider_name == "anthropic":
        path, model = "/v1/messages", "claude-3.5-sonnet"
        start = {
            "type": "message_start",
            "message": {
                "id": "msg_1",
                "model": "claude",
                "usage": {"input_tokens": 10, "output_tokens": 1},
            },
        }
        block = {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}}
        server.add(
            path,
            SSEReply(
                [
                    ("message_start", start),
                    (
                        "content_block_start",
                        {"type": "content_block_start", "index": 0, "content_block": block},
                    ),
                    (
                        "content_block_delta",
                        {
                            "type": "content_block_delta",
                            "index": 0,
                            "delta": {"type": "input_json_delta", "partial_json": '{"location": '},
                        },
                    ),
                    (
                        "content_block_delta",
                        {
                            "type": "content_block_delta",
                            "index": 0,
                            "delta": {"type": "input_json_delta", "partial_json": '"Paris"}'},
                        },
                    ),
                    ("content_block_stop", {"type": "content_block_stop", "index": 0}),
                    (
                        "message_delta",
                        {
                            "type": "message_delta",
                            "delta": {"stop_reason": "tool_use"},
                            "usage": {"output_tokens": 20},
                        },
                    ),
                    ("message_stop", {"type": "message_stop"}),
                ]
            ),
        )
    else:
        path, model = "/v1beta/models/gemini-2.5-flash:streamGenerateContent", "gemini-2.5-flash"
        part = {"functionCall": {"name": "get_weather", "args": {"location": "Paris"}}}
        server.add(path, SSEReply([(None, json.loads(gemini_response([part]).body))]))
    provider = await _provider(provider_name, server)
    llm = LLMPrimitive(model, provider=provider)
    request = {"prompt": "Weather in Paris?", "tools": [get_weather.definition]}
    try:
        stream = llm.stream(request, WorkflowContext())
        assert await stream.text() == ""
    finally:
        await provider.aclose()
    assert stream.response is not None
    [call] = stream.response.tool_calls
    assert (call.name, call.arguments) == ("get_weather", {"location": "Paris"})
    assert stream.response.finish_reason == "tool_calls"
