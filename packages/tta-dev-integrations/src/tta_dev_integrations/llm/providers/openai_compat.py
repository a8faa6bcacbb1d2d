"""The OpenAI Chat Completions wire format, shared by every vendor that speaks it.

OpenAI, OpenRouter, HuggingFace's router, GitHub Models, Ollama and llama.cpp's
server all take ``POST {base}/chat/completions``. Their differences are few and kept
here, per vendor, in :class:`VendorQuirks`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tta_dev_integrations.llm.errors import (
    ContentFilterError,
    ContextLengthError,
    LLMError,
    ResponseError,
)
from tta_dev_integrations.llm.providers.base import (
    HTTPCall,
    ProviderSpec,
    Reply,
    StreamPiece,
    WireAPI,
    default_http_error,
    token_count,
)
from tta_dev_integrations.llm.types import ImagePart, LLMRequest, Message, ToolCall, Usage

__all__ = ["OpenAIChatAPI", "ToolCallAssembler", "VendorQuirks"]

_CONTEXT_OVERFLOW = re.compile(
    r"context[_ ]length|context window|maximum context|too many tokens|exceeds? the context",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class VendorQuirks:
    """How one vendor departs from OpenAI's own API."""

    #: OpenAI renamed ``max_tokens`` to ``max_completion_tokens``; most others kept it.
    max_tokens_field: str = "max_tokens"
    #: Whether streams report usage when asked with ``stream_options.include_usage``.
    stream_usage_option: bool = True


_OPENAI_ITSELF = VendorQuirks(max_tokens_field="max_completion_tokens")


class OpenAIChatAPI(WireAPI):
    """Chat Completions: messages, tools, JSON schema output, SSE streams with usage."""

    def __init__(self, quirks: VendorQuirks | None = None) -> None:
        self.quirks = quirks or VendorQuirks()

    @classmethod
    def for_endpoint(cls, spec: ProviderSpec, base_url: str) -> OpenAIChatAPI:
        """The adapter for ``spec`` served at ``base_url``.

        OpenAI's own API gets its current field names; a base URL pointed elsewhere
        (llama.cpp, vLLM, a proxy) gets the classic ones those servers accept.
        """
        if spec.name == "openai" and "api.openai.com" in base_url:
            return cls(_OPENAI_ITSELF)
        return cls()

    def auth_headers(self, key: str) -> dict[str, str]:
        """Bearer authentication."""
        return {"authorization": f"Bearer {key}"}

    def build(self, request: LLMRequest, model_id: str, *, stream: bool) -> HTTPCall:
        """``POST /chat/completions`` with the request in OpenAI's shape."""
        body: dict[str, Any] = {
            "model": model_id,
            "messages": [_message(m) for m in request.messages],
        }
        if request.max_tokens is not None:
            body[self.quirks.max_tokens_field] = request.max_tokens
        if request.temperature is not None:
            body["temperature"] = request.temperature
        if request.stop:
            body["stop"] = list(request.stop)
        if request.tools:
            body["tools"] = [
                {
                    "type": "function",
                    "function": {
                        "name": t.name,
                        "description": t.description,
                        "parameters": dict(t.parameters),
                    },
                }
                for t in request.tools
            ]
            if request.tool_choice != "auto":
                body["tool_choice"] = request.tool_choice
        if request.response_format is not None:
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "response", "schema": dict(request.response_format)},
            }
        if stream:
            body["stream"] = True
            if self.quirks.stream_usage_option:
                body["stream_options"] = {"include_usage": True}
        return HTTPCall("/chat/completions", body)

    def parse(self, body: Any) -> Reply:
        """Read a chat completion object."""
        if not isinstance(body, Mapping) or not body.get("choices"):
            raise ResponseError("the answer has no choices")
        choice = body["choices"][0]
        message = choice.get("message") or {}
        finish = choice.get("finish_reason")
        if finish == "content_filter":
            raise ContentFilterError("the provider's content filter stopped the answer")
        return Reply(
            content=message.get("content") or "",
            finish_reason=finish,
            usage=_usage(body.get("usage")),
            provider_model=body.get("model", ""),
            tool_calls=tuple(_tool_call(c) for c in message.get("tool_calls") or ()),
            raw=body,
            response_id=str(body.get("id") or ""),
        )

    def stream_reader(self) -> Callable[[str | None, str], StreamPiece | None]:
        """A fresh reader that assembles one stream's tool-call deltas into whole calls."""
        return ToolCallAssembler(self).read_event

    def parse_event(self, event: str | None, data: str) -> StreamPiece | None:
        """Read one ``chat.completion.chunk`` (or the ``[DONE]`` sentinel) on its own.

        Tool-call deltas need the stream's earlier chunks: :meth:`stream_reader`
        assembles them (``HTTPProvider`` uses it).
        """
        if data.strip() == "[DONE]":
            return StreamPiece(done=True)
        return self.parse_chunk(json.loads(data))

    def parse_chunk(self, chunk: Mapping[str, Any]) -> StreamPiece | None:
        """Read one decoded ``chat.completion.chunk`` (text, finish reason, usage)."""
        if "error" in chunk:
            raise _error_from_body(500, chunk, {})
        choices = chunk.get("choices") or []
        text = ""
        finish = None
        if choices:
            delta = choices[0].get("delta") or {}
            text = delta.get("content") or ""
            finish = choices[0].get("finish_reason")
            if finish == "content_filter":
                raise ContentFilterError("the provider's content filter stopped the answer")
        usage = _usage(chunk.get("usage"))
        if not text and finish is None and usage is None:
            return None
        return StreamPiece(
            text=text,
            usage=usage,
            finish_reason=finish,
            provider_model=chunk.get("model", ""),
            response_id=str(chunk.get("id") or ""),
        )

    def error(self, status: int, body: Any, headers: Mapping[str, str]) -> LLMError:
        """Map an OpenAI-style ``{"error": {...}}`` answer to our errors."""
        return _error_from_body(status, body, headers)


@dataclass
class _PartialCall:
    id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)


class ToolCallAssembler:
    """One stream's tool calls, put together from their deltas.

    A streamed call arrives in pieces keyed by ``index``: the first carries its ``id``
    and ``function.name``, the next ones fragments of ``function.arguments``. The whole
    calls go out on the piece with the finish reason (or on ``[DONE]`` when a server
    sends no finish reason), once, decoded and checked like a plain answer's. Ollama
    sends every call of a parallel batch at index 0, told apart by their ids: a new id
    at an index already in use starts a new call.
    """

    def __init__(self, api: OpenAIChatAPI) -> None:
        self.api = api
        self.calls: list[_PartialCall] = []
        self.slots: dict[int, _PartialCall] = {}  # the call each index is writing to now
        self.emitted = False

    def read_event(self, event: str | None, data: str) -> StreamPiece | None:
        """Read one server-sent event's data."""
        if data.strip() == "[DONE]":
            return StreamPiece(tool_calls=self._take(), done=True)
        return self.read_chunk(json.loads(data))

    def read_chunk(self, chunk: Mapping[str, Any]) -> StreamPiece | None:
        """Read one decoded chunk, keeping its tool-call deltas."""
        for choice in (chunk.get("choices") or ())[:1]:
            for delta in (choice.get("delta") or {}).get("tool_calls") or ():
                index, call_id = int(delta.get("index") or 0), str(delta.get("id") or "")
                partial = self.slots.get(index)
                if partial is None or (call_id and partial.id and call_id != partial.id):
                    partial = self.slots[index] = _PartialCall()
                    self.calls.append(partial)
                partial.id = partial.id or call_id
                function = delta.get("function") or {}
                partial.name += str(function.get("name") or "")
                partial.arguments.append(str(function.get("arguments") or ""))
        piece = self.api.parse_chunk(chunk)
        if piece is not None and piece.finish_reason is not None and self.calls:
            return StreamPiece(
                text=piece.text,
                usage=piece.usage,
                finish_reason=piece.finish_reason,
                provider_model=piece.provider_model,
                tool_calls=self._take(),
                response_id=piece.response_id,
            )
        return piece

    def _take(self) -> tuple[ToolCall, ...]:
        if self.emitted or not self.calls:
            return ()
        self.emitted = True
        return tuple(
            _tool_call(
                {
                    "id": call.id,
                    "function": {"name": call.name, "arguments": "".join(call.arguments)},
                }
            )
            for call in self.calls
        )


def _error_from_body(status: int, body: Any, headers: Mapping[str, str]) -> LLMError:
    detail = body.get("error") if isinstance(body, Mapping) else None
    if isinstance(detail, Mapping):
        message = str(detail.get("message") or detail)
        code = str(detail.get("code") or detail.get("type") or "")
    else:
        message = str(detail or body or f"HTTP {status}")
        code = ""
    if code == "context_length_exceeded" or _CONTEXT_OVERFLOW.search(message):
        return ContextLengthError(f"the prompt does not fit the model's context: {message}")
    if code in ("content_filter", "content_policy_violation"):
        return ContentFilterError(f"the provider refused the content: {message}")
    return default_http_error(status, message, headers)


def _message(message: Message) -> dict[str, Any]:
    out: dict[str, Any] = {"role": message.role}
    if isinstance(message.content, str):
        out["content"] = message.content
    else:
        out["content"] = [
            {"type": "image_url", "image_url": {"url": part.data_url}}
            if isinstance(part, ImagePart)
            else {"type": "text", "text": part.text}
            for part in message.content
        ]
    if message.tool_calls:
        out["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": json.dumps(call.arguments)},
            }
            for call in message.tool_calls
        ]
    if message.tool_call_id is not None:
        out["tool_call_id"] = message.tool_call_id
    return out


def _tool_call(value: Mapping[str, Any]) -> ToolCall:
    function = value["function"]
    raw = function.get("arguments") or "{}"
    try:
        arguments = json.loads(raw) if isinstance(raw, str) else dict(raw)
    except ValueError as error:
        raise ResponseError(
            f"the model called {function.get('name')!r} with arguments that are not JSON"
        ) from error
    if not isinstance(arguments, dict):
        raise ResponseError(f"the model called {function.get('name')!r} with non-object args")
    return ToolCall(id=value.get("id", ""), name=function["name"], arguments=arguments)


def _usage(value: Any) -> Usage | None:
    if not isinstance(value, Mapping):
        return None
    prompt_details = value.get("prompt_tokens_details") or {}
    completion_details = value.get("completion_tokens_details") or {}
    return Usage(
        input_tokens=token_count(value.get("prompt_tokens")),
        output_tokens=token_count(value.get("completion_tokens")),
        cached_input_tokens=token_count(prompt_details.get("cached_tokens")),
        reasoning_tokens=token_count(completion_details.get("reasoning_tokens")),
    )
