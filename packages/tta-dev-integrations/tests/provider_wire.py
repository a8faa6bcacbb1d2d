"""Canned answers in each API's wire format, for tests that run every provider alike.

``WIRES`` has one :class:`Wire` per HTTP provider: where its calls go, a complete
answer, a stream of the same answer, and a failing answer, each built around the
text a test chooses. The shapes are the ones the providers' API references show.

    wire = WIRES["gemini"]
    server.add(wire.path(stream=False), Reply.json(wire.answer("Hi")))
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from replay_server import Reply, SSEReply

__all__ = ["MODEL_IDS", "RESPONSE_IDS", "USAGE", "WIRES", "Wire"]

#: Token counts every canned answer reports: 12 in (4 of them cached), 3 out.
USAGE = {"input": 12, "cached": 4, "output": 3}


@dataclass(frozen=True)
class Wire:
    """One API's canned traffic."""

    path: Callable[[bool], str]
    answer: Callable[[str], dict[str, Any]]
    stream: Callable[[str], SSEReply]
    failure: Reply


def _openai_answer(text: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT",
        "object": "chat.completion",
        "model": "served-model-0125",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
        ],
        "usage": {
            "prompt_tokens": USAGE["input"],
            "completion_tokens": USAGE["output"],
            "prompt_tokens_details": {"cached_tokens": USAGE["cached"]},
        },
    }


def _openai_stream(text: str) -> SSEReply:
    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> dict[str, Any]:
        return {
            "id": "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT",
            "object": "chat.completion.chunk",
            "model": "served-model-0125",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            **extra,
        }

    half = len(text) // 2
    return SSEReply(
        [
            (None, chunk({"role": "assistant", "content": text[:half]})),
            (None, chunk({"content": text[half:]})),
            (None, chunk({}, "stop")),
            (None, {**chunk({}), "choices": [], "usage": _openai_answer("")["usage"]}),
            (None, "[DONE]"),
        ]
    )


def _anthropic_answer(text: str) -> dict[str, Any]:
    return {
        "id": "msg_013Zva2CMHLNnXjNJJKqJ2EF",
        "type": "message",
        "role": "assistant",
        "content": [{"type": "text", "text": text}],
        "model": "served-model-0125",
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {
            "input_tokens": USAGE["input"] - USAGE["cached"] - 2,
            "cache_read_input_tokens": USAGE["cached"],
            "cache_creation_input_tokens": 2,
            "output_tokens": USAGE["output"],
        },
    }


def _anthropic_stream(text: str) -> SSEReply:
    message = {**_anthropic_answer(""), "content": [], "stop_reason": None}
    half = len(text) // 2
    return SSEReply(
        [
            ("message_start", {"type": "message_start", "message": message}),
            (
                "content_block_start",
                {"type": "content_block_start", "index": 0,
                 "content_block": {"type": "text", "text": ""}},
            ),
            ("ping", {"type": "ping"}),
            *[
                (
                    "content_block_delta",
                    {"type": "content_block_delta", "index": 0,
                     "delta": {"type": "text_delta", "text": piece}},
                )
                for piece in (text[:half], text[half:])
            ],
            ("content_block_stop", {"type": "content_block_stop", "index": 0}),
            (
                "message_delta",
                {"type": "message_delta", "delta": {"stop_reason": "end_turn"},
                 "usage": {"output_tokens": USAGE["output"]}},
            ),
            ("message_stop", {"type": "message_stop"}),
        ]
    )  # fmt: skip


def _gemini_answer(text: str) -> dict[str, Any]:
    return {
        "candidates": [
            {"content": {"parts": [{"text": text}], "role": "model"}, "finishReason": "STOP"}
        ],
        "usageMetadata": {
            "promptTokenCount": USAGE["input"],
            "candidatesTokenCount": USAGE["output"],
            "cachedContentTokenCount": USAGE["cached"],
            "totalTokenCount": USAGE["input"] + USAGE["output"],
        },
        "modelVersion": "served-model-0125",
        "responseId": "mAitaLmkHPPlz7IPvtfUqQ4",
    }


def _gemini_stream(text: str) -> SSEReply:
    half = len(text) // 2
    first = {
        "candidates": [{"content": {"parts": [{"text": text[:half]}], "role": "model"}}],
        "modelVersion": "served-model-0125",
        "responseId": "mAitaLmkHPPlz7IPvtfUqQ4",
    }
    return SSEReply([(None, first), (None, _gemini_answer(text[half:]))])


MODEL_IDS = {
    "openai": "gpt-4o-2024-08-06",
    "openrouter": "moonshotai/kimi-k2:free",
    "huggingface": "meta-llama/Llama-3.1-8B-Instruct",
    "github": "openai/gpt-4.1-mini",
    "ollama": "llama3.2:1b",
    "anthropic": "claude-sonnet-4-5",
    "gemini": "gemini-2.5-flash",
}

RESPONSE_IDS = {
    "openai": "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT",
    "anthropic": "msg_013Zva2CMHLNnXjNJJKqJ2EF",
    "gemini": "mAitaLmkHPPlz7IPvtfUqQ4",
}

_OPENAI = Wire(
    path=lambda stream: "/chat/completions",
    answer=_openai_answer,
    stream=_openai_stream,
    failure=Reply.json({"error": {"message": "overloaded", "type": "server_error"}}, 503),
)

WIRES: dict[str, Wire] = {
    **dict.fromkeys(("openai", "openrouter", "huggingface", "github", "ollama"), _OPENAI),
    "anthropic": Wire(
        path=lambda stream: "/v1/messages",
        answer=_anthropic_answer,
        stream=_anthropic_stream,
        failure=Reply.json(
            {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}, 529
        ),
    ),
    "gemini": Wire(
        path=lambda stream: (
            f"/v1beta/models/{MODEL_IDS['gemini']}:"
            + ("streamGenerateContent" if stream else "generateContent")
        ),
        answer=_gemini_answer,
        stream=_gemini_stream,
        failure=Reply.json(
            {"error": {"code": 503, "message": "overloaded", "status": "UNAVAILABLE"}}, 503
        ),
    ),
}
