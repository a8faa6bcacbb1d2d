"""The state of one agent run: its messages, counters and spend, serialisable.

A run that pauses for approval hands its :class:`AgentState` to the caller, who can
store it as JSON (``to_json``), decide on the pending calls later, maybe in another
process, and continue the run with ``AgentPrimitive.resume``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tta_dev_integrations.llm.types import ImagePart, Message, Part, TextPart, ToolCall

__all__ = ["AgentState", "message_from_dict", "message_to_dict"]

_VERSION = 1


@dataclass(slots=True)
class AgentState:
    """Where a run stands.

    ``messages`` is the conversation so far (system instructions first); ``steps`` the
    model calls made, ``tool_calls`` the tool calls run, ``spent_usd`` what the model
    calls cost, ``output_retries`` the answers sent back for not validating.
    ``pending`` holds tool calls awaiting approval and ``decisions`` the answers given
    (call id -> refusal reason, or ``None`` for approved).
    """

    messages: list[Message] = field(default_factory=list)
    steps: int = 0
    tool_calls: int = 0
    spent_usd: float = 0.0
    output_retries: int = 0
    pending: list[ToolCall] = field(default_factory=list)
    decisions: dict[str, str | None] = field(default_factory=dict)
    #: The model repeated a call: with tools required, its next step may only answer.
    answer_now: bool = False

    def approve(self, call_id: str) -> None:
        """Let the pending call ``call_id`` run when the run resumes."""
        self._decide(call_id, None)

    def refuse(self, call_id: str, reason: str = "a person refused this call") -> None:
        """Refuse the pending call ``call_id``; the model is told ``reason``."""
        self._decide(call_id, reason)

    def _decide(self, call_id: str, reason: str | None) -> None:
        if all(call.id != call_id for call in self.pending):
            waiting = [call.id for call in self.pending]
            raise KeyError(f"no pending tool call {call_id!r}; pending: {waiting}")
        self.decisions[call_id] = reason

    @property
    def undecided(self) -> tuple[ToolCall, ...]:
        """Pending calls nobody approved or refused yet."""
        return tuple(call for call in self.pending if call.id not in self.decisions)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form of the state."""
        return {
            "version": _VERSION,
            "messages": [message_to_dict(m) for m in self.messages],
            "steps": self.steps,
            "tool_calls": self.tool_calls,
            "spent_usd": self.spent_usd,
            "output_retries": self.output_retries,
            "pending": [_call_to_dict(c) for c in self.pending],
            "decisions": dict(self.decisions),
            "answer_now": self.answer_now,
        }

    def to_json(self) -> str:
        """The state as a JSON string."""
        return json.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, value: Mapping[str, Any]) -> AgentState:
        """The state saved by :meth:`to_dict`."""
        if value.get("version") != _VERSION:
            raise ValueError(
                f"agent state version {value.get('version')!r} is not {_VERSION}; it was "
                "saved by another version of tta-dev-integrations"
            )
        return cls(
            messages=[message_from_dict(m) for m in value["messages"]],
            steps=int(value["steps"]),
            tool_calls=int(value["tool_calls"]),
            spent_usd=float(value["spent_usd"]),
            output_retries=int(value["output_retries"]),
            pending=[_call_from_dict(c) for c in value["pending"]],
            decisions={str(k): v for k, v in dict(value["decisions"]).items()},
            answer_now=bool(value.get("answer_now", False)),
        )

    @classmethod
    def from_json(cls, text: str) -> AgentState:
        """The state saved by :meth:`to_json`."""
        return cls.from_dict(json.loads(text))


def message_to_dict(message: Message) -> dict[str, Any]:
    """A message as JSON-ready data (images as base64)."""
    out: dict[str, Any] = {"role": message.role}
    if isinstance(message.content, str):
        out["content"] = message.content
    else:
        out["content"] = [_part_to_dict(p) for p in message.content]
    if message.tool_calls:
        out["tool_calls"] = [_call_to_dict(c) for c in message.tool_calls]
    if message.tool_call_id is not None:
        out["tool_call_id"] = message.tool_call_id
    return out


def message_from_dict(value: Mapping[str, Any]) -> Message:
    """The message :func:`message_to_dict` wrote."""
    content = value.get("content", "")
    if not isinstance(content, str):
        content = tuple(_part_from_dict(p) for p in content)
    return Message(
        value["role"],
        content,
        tuple(_call_from_dict(c) for c in value.get("tool_calls") or ()),
        value.get("tool_call_id"),
    )


def _call_to_dict(call: ToolCall) -> dict[str, Any]:
    out: dict[str, Any] = {"id": call.id, "name": call.name, "arguments": call.arguments}
    if call.provider_data is not None:
        out["provider_data"] = dict(call.provider_data)
    return out


def _call_from_dict(value: Mapping[str, Any]) -> ToolCall:
    return ToolCall(
        str(value["id"]), str(value["name"]), dict(value["arguments"]), value.get("provider_data")
    )


def _part_to_dict(part: Part) -> dict[str, Any]:
    if isinstance(part, TextPart):
        return {"type": "text", "text": part.text}
    if part.data is not None:
        return {"type": "image", "data": part.base64, "media_type": part.media_type}
    return {"type": "image", "url": part.url, "media_type": part.media_type}


def _part_from_dict(value: Mapping[str, Any]) -> Part:
    if value["type"] == "text":
        return TextPart(str(value["text"]))
    data = value.get("data")
    return ImagePart(
        value.get("url"),
        base64.b64decode(data) if isinstance(data, str) else None,
        value.get("media_type", "image/png"),
    )
