"""The Anthropic Messages API: ``POST /v1/messages`` with ``anthropic-version: 2023-06-01``.

How our provider-neutral request maps onto it:

* system messages go to the top-level ``system`` field (joined by blank lines);
* text and images are content blocks; an image is a ``base64`` source (bytes, or a
  ``data:`` URL taken apart) or a ``url`` source;
* an assistant's tool calls are ``tool_use`` blocks; a ``tool`` message becomes a user
  turn with a ``tool_result`` block (consecutive results share one user turn, as
  Anthropic asks for parallel calls);
* ``tool_choice`` ``"required"`` is Anthropic's ``{"type": "any"}``, ``"none"`` its
  ``{"type": "none"}``;
* ``max_tokens`` is required by Anthropic, so it defaults to :data:`DEFAULT_MAX_TOKENS`;
  ``temperature`` is capped at 1.0, the top of Anthropic's range (ours goes to 2);
* ``response_format`` (a JSON schema) has no native counterpart in the classic API: it
  becomes a forced call of a tool named :data:`JSON_TOOL` whose ``input_schema`` is the
  schema. The reply's ``content`` is that tool's input serialised as JSON text (and,
  when streaming, its ``input_json_delta`` fragments arrive as text), its
  ``finish_reason`` is ``"stop"``, and the forced call is not listed in ``tool_calls``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tta_dev_integrations.llm.errors import (
    AuthenticationError,
    BadRequestError,
    ContentFilterError,
    ContextLengthError,
    LLMError,
    ProviderUnavailableError,
    RateLimitError,
    ResponseError,
)
from tta_dev_integrations.llm.providers.base import (
    HTTPCall,
    Reply,
    StreamPiece,
    WireAPI,
    default_http_error,
    parse_retry_after,
    token_count,
    token_sum,
)
from tta_dev_integrations.llm.types import (
    ImagePart,
    LLMRequest,
    Message,
    Part,
    TextPart,
    ToolCall,
    Usage,
)

__all__ = ["ANTHROPIC_VERSION", "DEFAULT_MAX_TOKENS", "JSON_TOOL", "AnthropicMessagesAPI"]

ANTHROPIC_VERSION = "2023-06-01"
"""The ``anthropic-version`` header every request carries."""

DEFAULT_MAX_TOKENS = 1024
"""``max_tokens`` sent when the request sets none (Anthropic requires the field)."""

JSON_TOOL = "json_response"
"""The tool a JSON-schema ``response_format`` is forced through."""

_FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
}

_CONTEXT_OVERFLOW = re.compile(
    r"prompt is too long|exceeds? (the )?context|context (window|limit)", re.IGNORECASE
)
_SECRET = re.compile(r"sk-ant-[A-Za-z0-9_\-]+")
_DATA_URL = re.compile(r"data:(?P<media>[^;,]+);base64,(?P<data>.*)", re.DOTALL)


class AnthropicMessagesAPI(WireAPI):
    """Anthropic's Messages API: blocks, tools, JSON output via a forced tool, SSE streams.

    ``provider`` names the vendor in the errors this adapter raises itself.
    """

    def __init__(self, provider: str = "anthropic") -> None:
        self.provider = provider

    def auth_headers(self, key: str) -> dict[str, str]:
        """The ``x-api-key`` header."""
        return {"x-api-key": key}

    def build(self, request: LLMRequest, model_id: str, *, stream: bool) -> HTTPCall:
        """``POST /v1/messages`` with the request in Anthropic's shape."""
        body: dict[str, Any] = {
            "model": model_id,
            "max_tokens": request.max_tokens or DEFAULT_MAX_TOKENS,
            "messages": _messages(request.messages),
        }
        if request.system:
            body["system"] = request.system
        if request.temperature is not None:
            body["temperature"] = min(request.temperature, 1.0)
        if request.stop:
            body["stop_sequences"] = list(request.stop)
        tools = [
            {
                "name": t.name,
                **({"description": t.description} if t.description else {}),
                "input_schema": dict(t.parameters),
            }
            for t in request.tools
        ]
        if request.response_format is not None:
            tools.append(_json_tool(request.response_format))
            body["tool_choice"] = {"type": "tool", "name": JSON_TOOL}
        elif request.tools and request.tool_choice != "auto":
            body["tool_choice"] = {"type": "any" if request.tool_choice == "required" else "none"}
        if tools:
            body["tools"] = tools
        if stream:
            body["stream"] = True
        return HTTPCall("/v1/messages", body, headers={"anthropic-version": ANTHROPIC_VERSION})

    def parse(self, body: Any) -> Reply:
        """Read a Message object: text blocks joined, ``tool_use`` blocks as calls."""
        if not isinstance(body, Mapping) or not isinstance(body.get("content"), list):
            raise ResponseError(
                "the answer is not an Anthropic message (no content list)", provider=self.provider
            )
        model = str(body.get("model") or "")
        texts: list[str] = []
        calls: list[ToolCall] = []
        json_input: Any = None
        for item in body["content"]:
            block = _obj(item)
            kind = block.get("type")
            if kind == "text":
                texts.append(block["text"])
            elif kind == "tool_use" and block["name"] == JSON_TOOL:
                json_input = block.get("input") or {}
            elif kind == "tool_use":
                calls.append(_tool_call(block["id"], block["name"], block.get("input")))
        finish = _finish_reason(
            body.get("stop_reason"),
            json_output=json_input is not None,
            provider=self.provider,
            model=model,
        )
        return Reply(
            content=json.dumps(json_input) if json_input is not None else "".join(texts),
            finish_reason=finish,
            usage=_usage(body.get("usage")),
            provider_model=model,
            tool_calls=tuple(calls),
            raw=body,
            response_id=str(body.get("id") or ""),
        )

    def stream_reader(self) -> Callable[[str | None, str], StreamPiece | None]:
        """A fresh reader holding one stream's usage, stop reason and tool input."""
        return _StreamReader(self).read

    def parse_event(self, event: str | None, data: str) -> StreamPiece | None:
        """Read one event on its own, with no memory of the stream's earlier events.

        Text deltas, errors and the end come through; usage, which Anthropic spreads
        over ``message_start`` and ``message_delta``, needs :meth:`stream_reader`,
        which :class:`~tta_dev_integrations.llm.providers.base.HTTPProvider` uses.
        """
        return _StreamReader(self).read(event, data)

    def error(self, status: int, body: Any, headers: Mapping[str, str]) -> LLMError:
        """Map ``{"type": "error", "error": {"type", "message"}}`` to our errors."""
        detail = body.get("error") if isinstance(body, Mapping) else None
        if isinstance(detail, Mapping):
            kind = str(detail.get("type") or "")
            message = str(detail.get("message") or kind or f"HTTP {status}")
        else:
            kind, message = "", str(body or f"HTTP {status}")
        return _error(kind, _redact(message), status, headers)


@dataclass
class _ToolBlock:
    id: str
    name: str
    json_parts: list[str] = field(default_factory=list)


class _StreamReader:
    """The state of one stream: Anthropic spreads usage and tool input over events."""

    def __init__(self, api: AnthropicMessagesAPI) -> None:
        self.api = api
        self.model = ""
        self.response_id = ""
        self.usage: dict[str, Any] | None = None
        self.stop_reason: str | None = None
        self.tools: dict[int, _ToolBlock] = {}

    def read(self, event: str | None, data: str) -> StreamPiece | None:
        payload = _obj(json.loads(data))
        kind = payload.get("type") or event
        if kind == "message_start":
            message = _obj(payload["message"])
            self.model = str(message.get("model") or "")
            self.response_id = str(message.get("id") or "")
            self._add_usage(message.get("usage"))
            # The input tokens are billed from here on: say so at once, so a stream that
            # stops early is still charged for them.
            return StreamPiece(
                usage=_usage(self.usage), provider_model=self.model, response_id=self.response_id
            )
        if kind == "content_block_start":
            block = _obj(payload["content_block"])
            if block.get("type") == "tool_use":
                self.tools[payload["index"]] = _ToolBlock(block["id"], block["name"])
            elif block.get("type") == "text" and block.get("text"):
                return StreamPiece(text=block["text"])
        elif kind == "content_block_delta":
            return self._delta(payload["index"], _obj(payload["delta"]))
        elif kind == "message_delta":
            delta = _obj(payload.get("delta") or {})
            self.stop_reason = delta.get("stop_reason") or self.stop_reason
            self._add_usage(payload.get("usage"))
            if self.stop_reason == "refusal":
                _finish_reason("refusal", provider=self.api.provider, model=self.model)
        elif kind == "message_stop":
            return self._end()
        elif kind == "error":
            detail = _obj(payload.get("error") or {})
            raise _error(
                str(detail.get("type") or ""),
                _redact(str(detail.get("message") or "error event in the stream")),
                None,
                {},
                provider=self.api.provider,
                model=self.model or None,
            )
        return None  # ping, content_block_stop and events we do not know

    def _delta(self, index: int, delta: Mapping[str, Any]) -> StreamPiece | None:
        kind = delta.get("type")
        if kind == "text_delta":
            return StreamPiece(text=delta["text"]) if delta["text"] else None
        if kind == "input_json_delta" and index in self.tools:
            tool = self.tools[index]
            tool.json_parts.append(delta["partial_json"])
            if tool.name == JSON_TOOL and delta["partial_json"]:
                return StreamPiece(text=delta["partial_json"])
        return None  # thinking, signatures, citations

    def _add_usage(self, usage: Any) -> None:
        if isinstance(usage, Mapping):
            # message_delta's counts are cumulative, so later values replace earlier ones.
            self.usage = {**(self.usage or {}), **{k: v for k, v in usage.items() if v is not None}}

    def _end(self) -> StreamPiece:
        calls = [
            _tool_call(tool.id, tool.name, json.loads("".join(tool.json_parts) or "{}"))
            for tool in self.tools.values()
            if tool.name != JSON_TOOL
        ]
        finish = _finish_reason(
            self.stop_reason,
            json_output=any(tool.name == JSON_TOOL for tool in self.tools.values()),
            provider=self.api.provider,
            model=self.model,
        )
        return StreamPiece(
            usage=_usage(self.usage),
            finish_reason=finish,
            provider_model=self.model,
            tool_calls=tuple(calls),
            done=True,
            response_id=self.response_id,
        )


def _finish_reason(
    reason: Any, *, json_output: bool = False, provider: str, model: str
) -> str | None:
    """Our finish reason for a ``stop_reason``; a refusal is a ContentFilterError."""
    if reason == "refusal":
        raise ContentFilterError(
            "the model refused to answer (stop_reason 'refusal')",
            provider=provider,
            model=model or None,
        )
    if reason is None:
        return None
    if json_output and reason == "tool_use":
        return "stop"  # the forced JSON tool was called: that is the answer, complete
    return _FINISH_REASONS.get(str(reason), str(reason))


def _obj(value: Any) -> Mapping[str, Any]:
    """``value`` if it is a JSON object; a TypeError (read as a malformed answer) if not."""
    if not isinstance(value, Mapping):
        raise TypeError(f"expected a JSON object, got {type(value).__name__}")
    return value


def _messages(messages: tuple[Message, ...]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for message in messages:
        if message.role == "system":
            continue
        if message.role == "tool":
            result: dict[str, Any] = {
                "type": "tool_result",
                "tool_use_id": message.tool_call_id or "",
                "content": message.content
                if isinstance(message.content, str)
                else [_block(p) for p in message.content],
            }
            previous = out[-1] if out else None
            if previous is not None and _only_tool_results(previous):
                previous["content"].append(result)
            else:
                out.append({"role": "user", "content": [result]})
            continue
        if isinstance(message.content, str) and not message.tool_calls:
            out.append({"role": message.role, "content": message.content})
            continue
        blocks = [_block(p) for p in message.parts if not (isinstance(p, TextPart) and not p.text)]
        blocks += [
            {"type": "tool_use", "id": c.id, "name": c.name, "input": c.arguments}
            for c in message.tool_calls
        ]
        out.append({"role": message.role, "content": blocks})
    return out


def _only_tool_results(message: Mapping[str, Any]) -> bool:
    content = message["content"]
    return (
        message["role"] == "user"
        and isinstance(content, list)
        and all(b.get("type") == "tool_result" for b in content)
    )


def _block(part: Part) -> dict[str, Any]:
    if isinstance(part, TextPart):
        return {"type": "text", "text": part.text}
    return {"type": "image", "source": _image_source(part)}


def _image_source(image: ImagePart) -> dict[str, str]:
    if image.data is not None:
        return {"type": "base64", "media_type": image.media_type, "data": image.base64}
    url = image.url or ""
    inline = _DATA_URL.fullmatch(url)
    if inline is not None:
        return {"type": "base64", "media_type": inline["media"], "data": inline["data"]}
    return {"type": "url", "url": url}


def _json_tool(schema: Mapping[str, Any]) -> dict[str, Any]:
    if schema.get("type", "object") != "object":
        raise BadRequestError(
            "Anthropic takes structured output as a tool input, which must be a JSON "
            f"object; the response_format schema has type {schema.get('type')!r}"
        )
    return {
        "name": JSON_TOOL,
        "description": "Give the answer as JSON that follows this schema.",
        "input_schema": dict(schema),
    }


def _tool_call(call_id: str, name: str, arguments: Any) -> ToolCall:
    if arguments is None:
        arguments = {}
    if not isinstance(arguments, dict):
        raise ResponseError(f"the model called {name!r} with an input that is not an object")
    return ToolCall(id=call_id, name=name, arguments=arguments)


def _usage(value: Any) -> Usage | None:
    """Our usage from Anthropic's: ``input_tokens`` there excludes the cache, ours not."""
    if not isinstance(value, Mapping):
        return None
    cache_read = token_count(value.get("cache_read_input_tokens"))
    cache_write = token_count(value.get("cache_creation_input_tokens"))
    return Usage(
        input_tokens=token_sum(token_count(value.get("input_tokens")), cache_read, cache_write),
        output_tokens=token_count(value.get("output_tokens")),
        cached_input_tokens=cache_read,
        cache_write_input_tokens=cache_write,
    )


def _error(
    kind: str,
    message: str,
    status: int | None,
    headers: Mapping[str, str],
    *,
    provider: str | None = None,
    model: str | None = None,
) -> LLMError:
    where: dict[str, Any] = {"provider": provider, "model": model}
    if kind in ("authentication_error", "permission_error"):
        return AuthenticationError(f"the provider refused the credentials: {message}", **where)
    if kind == "rate_limit_error":
        return RateLimitError(
            f"rate limited: {message}", retry_after=parse_retry_after(headers), **where
        )
    if kind in ("overloaded_error", "api_error", "timeout_error"):
        return ProviderUnavailableError(
            f"the provider failed ({kind}): {message}", status_code=status, **where
        )
    if kind == "invalid_request_error" and _CONTEXT_OVERFLOW.search(message):
        return ContextLengthError(
            f"the prompt does not fit the model's context: {message}", status_code=status, **where
        )
    if kind in ("invalid_request_error", "not_found_error", "request_too_large"):
        return BadRequestError(
            f"the provider rejected the request ({kind}): {message}", status_code=status, **where
        )
    error = default_http_error(status or 500, message, headers)
    error.provider, error.model = provider, model
    return error


def _redact(message: str) -> str:
    """The provider's message without anything shaped like an Anthropic key."""
    return _SECRET.sub("sk-ant-***", message)
