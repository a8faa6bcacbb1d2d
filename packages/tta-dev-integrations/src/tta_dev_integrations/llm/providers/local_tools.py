"""Tool calls from the local model, decoded under a grammar so they are always well formed.

A small model (SmolLM2-135M) does not follow a tool-call format reliably when merely
asked. Here it is not asked: its output is constrained, token by token, by a grammar
built from a JSON Schema (llama.cpp's converter) that admits exactly

* ``{"tool": "<one of the request's tools>", "arguments": <that tool's parameters>}``,
* or ``{"answer": <text, or the response_format schema when one is given>}``, unless
  the request's ``tool_choice`` is ``"required"``.

An unknown tool name, or arguments outside the tool's schema, cannot be produced. Strings
and arrays without a bound get one (:data:`MAX_STRING_CHARS`, :data:`MAX_ARRAY_ITEMS`)
so an answer always closes well within the output cap. The conversation is shown to the
model in the same JSON: earlier calls as the assistant's JSON, tool results as user
turns, the tools listed in the system message.
"""

from __future__ import annotations

import copy
import json
import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from tta_dev_integrations.llm.errors import ResponseError
from tta_dev_integrations.llm.providers.base import Reply
from tta_dev_integrations.llm.types import LLMRequest, ToolCall

if TYPE_CHECKING:
    from llama_cpp.llama_grammar import LlamaGrammar

__all__ = [
    "MAX_ARRAY_ITEMS",
    "MAX_STRING_CHARS",
    "TOOL_OUTPUT_TOKENS",
    "grammar_for",
    "read_tool_reply",
    "tool_messages",
    "tool_schema",
]

MAX_STRING_CHARS = 200
"""Longest string the grammar lets the model write where the schema sets no maximum."""

MAX_ARRAY_ITEMS = 8
"""Most items of an array the grammar allows where the schema sets no maximum."""

TOOL_OUTPUT_TOKENS = 512
"""Output cap of a tool-calling request that sets none (room for the bounded JSON)."""

_EXAMPLES = 3  # values of an enum shown to the model; the grammar holds them all
_GRAMMARS: OrderedDict[str, LlamaGrammar] = OrderedDict()
_GRAMMARS_KEPT = 64
_grammars_lock = threading.Lock()


def tool_schema(request: LLMRequest) -> dict[str, Any]:
    """The JSON Schema of every reply the model may give to ``request``."""
    choices: list[dict[str, Any]] = [
        {
            "type": "object",
            "properties": {
                "tool": {"const": tool.name},
                "arguments": _bounded(dict(tool.parameters)),
            },
            "required": ["tool", "arguments"],
        }
        for tool in request.tools
    ]
    if request.tool_choice == "required":
        return {"anyOf": choices}
    answer: dict[str, Any] = (
        _bounded(dict(request.response_format))
        if request.response_format is not None
        else {"type": "string", "maxLength": MAX_STRING_CHARS}
    )
    choices.append({"type": "object", "properties": {"answer": answer}, "required": ["answer"]})
    return {"anyOf": choices}


def grammar_for(schema: Mapping[str, Any]) -> LlamaGrammar:
    """The llama.cpp grammar of ``schema``, built once per distinct schema."""
    key = json.dumps(schema, sort_keys=True)
    with _grammars_lock:
        found = _GRAMMARS.get(key)
        if found is not None:
            _GRAMMARS.move_to_end(key)
            return found
    from llama_cpp.llama_grammar import LlamaGrammar

    grammar = LlamaGrammar.from_json_schema(key, verbose=False)
    with _grammars_lock:
        _GRAMMARS[key] = grammar
        while len(_GRAMMARS) > _GRAMMARS_KEPT:
            _GRAMMARS.popitem(last=False)
    return grammar


def tool_messages(request: LLMRequest) -> list[dict[str, str]]:
    """The conversation as the model sees it, in the JSON it answers in."""
    listed = "\n".join(
        f"- {t.name}({_signature(t.parameters)}): {t.description or 'no description'}"
        for t in request.tools
    )
    protocol = (
        f"Tools:\n{listed}\n"
        'To call a tool, reply {"tool": "<name>", "arguments": {...}}. '
        'When you know the answer, reply {"answer": "<answer>"}.'
    )
    system = "\n\n".join(p for p in (request.system, protocol) if p)
    out: list[dict[str, str]] = [{"role": "system", "content": system}]
    names: dict[str, str] = {}
    for message in request.messages:
        if message.role == "system":
            continue
        if message.role == "tool":
            name = names.get(message.tool_call_id or "", "the tool")
            out.append({"role": "user", "content": f"Result of {name}: {message.text}"})
        elif message.role == "assistant" and message.tool_calls:
            for call in message.tool_calls:
                names[call.id] = call.name
                reply = {"tool": call.name, "arguments": call.arguments}
                out.append({"role": "assistant", "content": json.dumps(reply)})
        elif message.role == "assistant":
            out.append({"role": "assistant", "content": json.dumps({"answer": message.text})})
        else:
            out.append({"role": message.role, "content": message.text})
    return out


def read_tool_reply(body: Mapping[str, Any], reply: Reply) -> Reply:
    """``reply`` (the plain reading of ``body``) with its JSON read as a call or an answer."""
    text = reply.content
    try:
        value = json.loads(text)
    except ValueError as error:
        cut = (
            " (cut at the output cap: raise max_tokens)" if reply.finish_reason == "length" else ""
        )
        raise ResponseError(f"the local model's reply is not the JSON asked for{cut}") from error
    if not isinstance(value, dict):
        raise ResponseError("the local model's reply is not a JSON object")
    if "tool" in value:
        arguments = value.get("arguments")
        call = ToolCall("", str(value["tool"]), arguments if isinstance(arguments, dict) else {})
        return Reply(
            content="",
            finish_reason="tool_calls",
            usage=reply.usage,
            provider_model=reply.provider_model,
            tool_calls=(call,),
            raw=body,
            response_id=reply.response_id,
        )
    answer = value.get("answer", "")
    return Reply(
        content=answer if isinstance(answer, str) else json.dumps(answer),
        finish_reason=reply.finish_reason,
        usage=reply.usage,
        provider_model=reply.provider_model,
        raw=body,
        response_id=reply.response_id,
    )


def _signature(parameters: Mapping[str, Any]) -> str:
    """The arguments in a few words (a small context has no room for the schema itself)."""
    shown = []
    for name, spec in (parameters.get("properties") or {}).items():
        kind = spec.get("type", "value") if isinstance(spec, Mapping) else "value"
        choices = spec.get("enum") if isinstance(spec, Mapping) else None
        if isinstance(choices, list) and choices:
            examples = ", ".join(json.dumps(c) for c in choices[:_EXAMPLES])
            more = f" or {len(choices) - _EXAMPLES} more" if len(choices) > _EXAMPLES else ""
            kind = f"one of {examples}{more}"
        shown.append(f"{name}: {kind}")
    return ", ".join(shown)


def _bounded(schema: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``schema`` whose strings and arrays all have a maximum size."""
    out = copy.deepcopy(schema)
    _bound(out)
    return out


def _bound(node: Any) -> None:
    if isinstance(node, list):
        for item in node:
            _bound(item)
        return
    if not isinstance(node, dict):
        return
    kind = node.get("type")
    kinds = kind if isinstance(kind, list) else [kind]
    if "string" in kinds and "maxLength" not in node and "enum" not in node:
        node["maxLength"] = MAX_STRING_CHARS
    if "array" in kinds and "maxItems" not in node:
        node["maxItems"] = MAX_ARRAY_ITEMS
    for value in node.values():
        _bound(value)
