"""LLM answers in a shared cache: :data:`LLM_RESPONSE_CODEC` stores an ``LLMResponse`` as JSON.

For ``CachePrimitive(llm, backend=RedisCacheBackend(link, codec=LLM_RESPONSE_CODEC))``:
the answer, usage, cost and tool calls are kept; the provider's raw body and the
routing decision (which belong to the call that made the answer) are not. Nothing is
ever unpickled: an entry that is not this shape reads as a miss.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from tta_dev_integrations.llm.types import LLMResponse, ToolCall, Usage
from tta_dev_primitives.fleet.codec import JsonCodec

__all__ = ["LLM_RESPONSE_CODEC", "response_from_json", "response_to_json"]

_VERSION = 1


def response_to_json(value: Any) -> dict[str, Any]:
    """JSON-safe data of an ``LLMResponse``; ``TypeError`` for anything else (not cached)."""
    if not isinstance(value, LLMResponse):
        raise TypeError(f"LLM_RESPONSE_CODEC stores LLMResponse values, not {type(value).__name__}")
    return {
        "v": _VERSION,
        "content": value.content,
        "model": value.model,
        "provider": value.provider,
        "usage": asdict(value.usage),
        "finish_reason": value.finish_reason,
        "tool_calls": [asdict(call) for call in value.tool_calls],
        "cost_usd": value.cost_usd,
        "cost_estimated": value.cost_estimated,
        "latency_s": value.latency_s,
        "provider_model": value.provider_model,
    }


def response_from_json(data: Any) -> LLMResponse:
    """The ``LLMResponse`` of :func:`response_to_json`'s data; ``ValueError`` if it is not one."""
    if not isinstance(data, dict) or data.get("v") != _VERSION:
        raise ValueError("not an LLMResponse entry of this version")
    try:
        return LLMResponse(
            content=str(data["content"]),
            model=str(data["model"]),
            provider=str(data["provider"]),
            usage=Usage(**data["usage"]),
            finish_reason=data["finish_reason"],
            tool_calls=tuple(ToolCall(**call) for call in data["tool_calls"]),
            cost_usd=float(data["cost_usd"]),
            cost_estimated=bool(data["cost_estimated"]),
            latency_s=float(data["latency_s"]),
            provider_model=str(data["provider_model"]),
        )
    except (KeyError, TypeError) as error:
        raise ValueError(f"a malformed LLMResponse entry: {error}") from None


LLM_RESPONSE_CODEC = JsonCodec(to_json=response_to_json, from_json=response_from_json)
"""The codec of LLM answers for a shared (Redis) cache."""
