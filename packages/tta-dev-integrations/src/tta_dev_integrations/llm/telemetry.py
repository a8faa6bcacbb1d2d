"""LLM spans as the OpenTelemetry GenAI semantic conventions draw them (version 1.44.0).

One call to a model is one span:

- kind ``CLIENT`` (``INTERNAL`` for the in-process local model), named
  ``"{gen_ai.operation.name} {gen_ai.request.model}"`` (``chat gpt-4o-2024-08-06``);
- started with ``gen_ai.operation.name``, ``gen_ai.provider.name``,
  ``gen_ai.request.model``, ``server.address`` and ``server.port``, so a failed call
  carries them too (and samplers see them);
- the request's settings as soon as the request is read; the response's id, model,
  finish reasons and token usage (cache reads and writes included) when it ends;
  ``error.type`` and the finish reason ``error`` when it fails;
- prompts and answers only on request (``record_content=True`` or
  ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true``), in the conventions'
  shape: ``[{"role", "parts": [{"type": "text", "content"}, ...]}]``, the answer
  with its ``finish_reason``.

``gen_ai.provider.name`` takes the registry's value where the conventions list the
provider (``openai``, ``anthropic``, ``gcp.gemini``); a provider they do not list
keeps TTA.dev's own name for it (``openrouter``, ``ollama``, ...), as they allow.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from tta_dev_integrations.llm.types import ImagePart, LLMRequest, Message, ToolCall, Usage
from tta_dev_primitives.core.base import ClientSpan

if TYPE_CHECKING:
    from tta_dev_integrations.llm.catalog import ModelInfo
    from tta_dev_integrations.llm.providers.base import Provider

__all__ = [
    "CAPTURE_CONTENT_ENV",
    "SEMCONV_VERSION",
    "capture_content_enabled",
    "client_span",
    "genai_provider_name",
    "input_messages",
    "output_messages",
    "request_attributes",
    "usage_attributes",
]

#: The version of the semantic conventions these spans follow.
SEMCONV_VERSION = "1.44.0"

#: The OpenTelemetry switch for recording prompts and answers on spans.
CAPTURE_CONTENT_ENV = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"

#: TTA.dev's provider ids whose registered ``gen_ai.provider.name`` differs.
_REGISTERED_NAMES = {"gemini": "gcp.gemini"}

#: Values of the switch that mean "on spans" (the newer enum values included).
_CAPTURE_ON = {"true", "1", "yes", "span_only", "span_and_event"}


def genai_provider_name(provider: str) -> str:
    """The ``gen_ai.provider.name`` of one of TTA.dev's provider ids."""
    return _REGISTERED_NAMES.get(provider, provider)


def capture_content_enabled(environ: Mapping[str, str] | None = None) -> bool:
    """Whether ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`` asks for content."""
    value = (os.environ if environ is None else environ).get(CAPTURE_CONTENT_ENV, "")
    return value.strip().lower() in _CAPTURE_ON


def client_span(info: ModelInfo, provider: Provider, name: str | None = None) -> ClientSpan:
    """The span of every call to ``info``'s model through ``provider``.

    ``name`` (a primitive named by its user) replaces the conventional span name.
    """
    attributes: dict[str, str | int | float | bool] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": genai_provider_name(info.provider),
        "gen_ai.request.model": info.model_id,
        "tta.llm.model": info.alias,
    }
    server = provider.server_address()
    if server is not None:
        attributes["server.address"], attributes["server.port"] = server
    return ClientSpan(name or f"chat {info.model_id}", attributes, internal=provider.in_process)


def request_attributes(request: LLMRequest, *, stream: bool) -> dict[str, Any]:
    """The request's settings, as ``gen_ai.request.*`` attributes."""
    attributes: dict[str, Any] = {}
    if request.max_tokens is not None:
        attributes["gen_ai.request.max_tokens"] = request.max_tokens
    if request.temperature is not None:
        attributes["gen_ai.request.temperature"] = request.temperature
    if request.stop:
        attributes["gen_ai.request.stop_sequences"] = list(request.stop)
    if request.response_format is not None:
        attributes["gen_ai.output.type"] = "json"
    if stream:
        attributes["gen_ai.request.stream"] = True
    return attributes


def usage_attributes(usage: Usage) -> dict[str, int]:
    """Token counts: input (cache reads and writes included, as the conventions ask)."""
    attributes = {
        "gen_ai.usage.input_tokens": usage.input_tokens,
        "gen_ai.usage.output_tokens": usage.output_tokens,
    }
    if usage.cached_input_tokens:
        attributes["gen_ai.usage.cache_read.input_tokens"] = usage.cached_input_tokens
    if usage.cache_write_input_tokens:
        attributes["gen_ai.usage.cache_creation.input_tokens"] = usage.cache_write_input_tokens
    if usage.reasoning_tokens:
        attributes["gen_ai.usage.reasoning.output_tokens"] = usage.reasoning_tokens
    return attributes


def input_messages(request: LLMRequest) -> str:
    """``gen_ai.input.messages``: the conversation sent, as a JSON string."""
    return json.dumps([_message(m) for m in request.messages], ensure_ascii=False)


def output_messages(content: str, tool_calls: tuple[ToolCall, ...], finish: str | None) -> str:
    """``gen_ai.output.messages``: the one answer, with its finish reason."""
    parts: list[dict[str, Any]] = [{"type": "text", "content": content}] if content else []
    parts.extend(_tool_call(call) for call in tool_calls)
    message = {"role": "assistant", "parts": parts, "finish_reason": finish or "stop"}
    return json.dumps([message], ensure_ascii=False)


def _message(message: Message) -> dict[str, Any]:
    parts: list[dict[str, Any]] = []
    if message.role == "tool":
        parts.append(
            {"type": "tool_call_response", "id": message.tool_call_id, "response": message.text}
        )
    else:
        for part in message.parts:
            if isinstance(part, ImagePart):
                parts.append(_image(part))
            else:
                parts.append({"type": "text", "content": part.text})
    parts.extend(_tool_call(call) for call in message.tool_calls)
    return {"role": message.role, "parts": parts}


def _image(part: ImagePart) -> dict[str, Any]:
    if part.url is not None:
        return {"type": "uri", "modality": "image", "uri": part.url}
    return {
        "type": "blob",
        "modality": "image",
        "mime_type": part.media_type,
        "content": part.base64,
    }


def _tool_call(call: ToolCall) -> dict[str, Any]:
    return {"type": "tool_call", "id": call.id, "name": call.name, "arguments": call.arguments}
