"""What goes into an LLM call and what comes back, the same for every provider."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "ImagePart",
    "LLMRequest",
    "LLMResponse",
    "Message",
    "Part",
    "Role",
    "TextPart",
    "Tool",
    "ToolCall",
    "ToolChoice",
    "Usage",
]

Role = Literal["system", "user", "assistant", "tool"]
_ROLES = ("system", "user", "assistant", "tool")
ToolChoice = Literal["auto", "required", "none"]
_TOOL_CHOICES = ("auto", "required", "none")


@dataclass(frozen=True, slots=True)
class TextPart:
    """A piece of text in a message."""

    text: str


@dataclass(frozen=True, slots=True)
class ImagePart:
    """An image in a message: a URL, or bytes with their media type."""

    url: str | None = None
    data: bytes | None = field(default=None, repr=False)
    media_type: str = "image/png"

    def __post_init__(self) -> None:
        if (self.url is None) == (self.data is None):
            raise ValueError("an ImagePart needs exactly one of url= or data=")

    @property
    def base64(self) -> str:
        """The image bytes, base64-encoded (``data`` images only)."""
        if self.data is None:
            raise ValueError("this ImagePart is a URL; it has no bytes to encode")
        from base64 import b64encode  # here, not at the top: only images need it

        return b64encode(self.data).decode("ascii")

    @property
    def data_url(self) -> str:
        """The image as a URL: its own, or a ``data:`` URL made from its bytes."""
        return self.url if self.url is not None else f"data:{self.media_type};base64,{self.base64}"


Part = TextPart | ImagePart


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A function call the model asked for; ``arguments`` is the decoded JSON object.

    ``provider_data`` holds what the provider needs back with the call on the next
    turn, opaque to everyone else (Gemini's ``thoughtSignature``); it is JSON-ready.
    """

    id: str
    name: str
    arguments: dict[str, Any]
    provider_data: Mapping[str, Any] | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class Message:
    """One turn of a conversation.

    ``content`` is text or a list of parts. An assistant message may carry the
    ``tool_calls`` it made; a ``tool`` message answers the call ``tool_call_id``.
    """

    role: Role
    content: str | tuple[Part, ...] = ""
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None

    @property
    def text(self) -> str:
        """The message's text parts joined (images left out)."""
        if isinstance(self.content, str):
            return self.content
        return "".join(p.text for p in self.content if isinstance(p, TextPart))

    @property
    def parts(self) -> tuple[Part, ...]:
        """The content as parts (a plain string is one text part)."""
        if isinstance(self.content, str):
            return (TextPart(self.content),) if self.content else ()
        return self.content


@dataclass(frozen=True, slots=True)
class Tool:
    """A function the model may call; ``parameters`` is a JSON schema object."""

    name: str
    description: str = ""
    parameters: Mapping[str, Any] = field(
        default_factory=lambda: {"type": "object", "properties": {}}
    )


@dataclass(frozen=True, slots=True)
class LLMRequest:
    """A provider-neutral request. Build it directly, or pass a dict to ``from_value``.

    ``response_format`` is a JSON schema the reply must follow (structured output).
    ``tool_choice`` says whether the model may answer without a tool (``"auto"``), must
    call one of ``tools`` (``"required"``), or may call none (``"none"``).
    """

    messages: tuple[Message, ...]
    max_tokens: int | None = None
    temperature: float | None = None
    stop: tuple[str, ...] = ()
    tools: tuple[Tool, ...] = ()
    response_format: Mapping[str, Any] | None = None
    tool_choice: ToolChoice = "auto"

    def __post_init__(self) -> None:
        if not self.messages:
            raise ValueError("an LLMRequest needs a prompt or at least one message")
        if self.tool_choice not in _TOOL_CHOICES:
            raise ValueError(
                f"tool_choice must be one of {list(_TOOL_CHOICES)}, got {self.tool_choice!r}"
            )
        if self.tool_choice == "required" and not self.tools:
            raise ValueError('tool_choice="required" needs at least one tool')
        if self.max_tokens is not None and self.max_tokens < 1:
            raise ValueError(f"max_tokens must be at least 1, got {self.max_tokens}")
        if self.temperature is not None and not 0 <= self.temperature <= 2:
            raise ValueError(f"temperature must be between 0 and 2, got {self.temperature}")

    @property
    def system(self) -> str:
        """The system messages' text, joined (for APIs that take it apart)."""
        return "\n\n".join(m.text for m in self.messages if m.role == "system")

    @property
    def has_images(self) -> bool:
        """Whether any message carries an image."""
        return any(isinstance(p, ImagePart) for m in self.messages for p in m.parts)

    @classmethod
    def from_value(cls, value: LLMRequest | Mapping[str, Any] | str) -> LLMRequest:
        """An LLMRequest from itself, a prompt string, or a dict with the same keys.

        A dict takes ``prompt`` (and optional ``system``) or ``messages`` (dicts with
        ``role`` and ``content``; content may be a list of ``{"type": "text", "text"}``
        and ``{"type": "image", "url" | "data", "media_type"}`` parts), plus
        ``max_tokens``, ``temperature``, ``stop``, ``tools``, ``tool_choice`` and
        ``response_format``.
        Unknown keys are an error, so a typo does not pass silently.
        """
        if isinstance(value, LLMRequest):
            return value
        if isinstance(value, str):
            return cls(messages=(Message("user", value),))
        if not isinstance(value, Mapping):
            raise TypeError(
                f"an LLM request is an LLMRequest, a dict or a prompt string, not {value!r}"
            )
        return _request_from_mapping(value)


_REQUEST_KEYS = {
    "prompt",
    "system",
    "messages",
    "max_tokens",
    "temperature",
    "stop",
    "tools",
    "tool_choice",
    "response_format",
}


def _request_from_mapping(value: Mapping[str, Any]) -> LLMRequest:
    unknown = sorted(set(value) - _REQUEST_KEYS - _EXTENSION_KEYS)
    if unknown:
        raise ValueError(
            f"unknown LLM request key(s) {unknown}; known keys: {sorted(_REQUEST_KEYS)}"
        )
    messages: list[Message] = []
    if value.get("system"):
        messages.append(Message("system", str(value["system"])))
    if "messages" in value:
        messages.extend(_message(m) for m in value["messages"])
    if value.get("prompt") is not None:
        messages.append(Message("user", str(value["prompt"])))
    stop = value.get("stop") or ()
    return LLMRequest(
        messages=tuple(messages),
        max_tokens=value.get("max_tokens"),
        temperature=value.get("temperature"),
        stop=(stop,) if isinstance(stop, str) else tuple(stop),
        tools=tuple(_tool(t) for t in value.get("tools") or ()),
        response_format=value.get("response_format"),
        tool_choice=value.get("tool_choice") or "auto",
    )


# Keys that layers above the provider layer read from the same dict (the universal
# primitive's routing inputs); accepted here so one dict serves both.
_EXTENSION_KEYS = {"complexity", "justification", "max_cost_usd", "model", "scope"}


def _message(value: Message | Mapping[str, Any]) -> Message:
    if isinstance(value, Message):
        return value
    role = value.get("role")
    if role not in _ROLES:
        raise ValueError(f"message role must be one of {list(_ROLES)}, got {role!r}")
    content = value.get("content", "")
    if not isinstance(content, str):
        content = tuple(_part(p) for p in content)
    calls = tuple(
        c
        if isinstance(c, ToolCall)
        else ToolCall(c["id"], c["name"], dict(c["arguments"]), c.get("provider_data"))
        for c in value.get("tool_calls") or ()
    )
    return Message(role, content, calls, value.get("tool_call_id"))


def _part(value: Part | Mapping[str, Any] | str) -> Part:
    if isinstance(value, TextPart | ImagePart):
        return value
    if isinstance(value, str):
        return TextPart(value)
    kind = value.get("type")
    if kind == "text":
        return TextPart(str(value["text"]))
    if kind == "image":
        data = value.get("data")
        if isinstance(data, str):
            from base64 import b64decode  # here, not at the top: only images need it

            data = b64decode(data)
        return ImagePart(value.get("url"), data, value.get("media_type", "image/png"))
    raise ValueError(f"a content part has type 'text' or 'image', got {kind!r}")


def _tool(value: Tool | Mapping[str, Any]) -> Tool:
    if isinstance(value, Tool):
        return value
    return Tool(
        name=value["name"],
        description=value.get("description", ""),
        parameters=value.get("parameters") or {"type": "object", "properties": {}},
    )


@dataclass(frozen=True, slots=True)
class Usage:
    """Tokens a call used. ``estimated`` when counted by us, not reported by the provider."""

    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    reasoning_tokens: int = 0
    estimated: bool = False
    #: Input tokens written to the provider's prompt cache (Anthropic reports them).
    cache_write_input_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        """Input plus output tokens."""
        return self.input_tokens + self.output_tokens


@dataclass(slots=True)
class LLMResponse:
    """The answer of one call, whichever provider served it.

    ``model`` is the catalog alias, ``provider`` the provider's id. ``cost_usd`` is
    computed from ``usage`` (``cost_estimated`` when the usage or the price was
    estimated). ``raw`` is the provider's decoded body, kept out of ``repr``.
    ``routing`` is filled by ``UniversalLLMPrimitive`` with the decision it made.
    """

    content: str
    model: str
    provider: str
    usage: Usage
    finish_reason: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    cost_usd: float = 0.0
    cost_estimated: bool = False
    latency_s: float = 0.0
    provider_model: str = ""
    raw: Any = field(default=None, repr=False)
    routing: Any = None
