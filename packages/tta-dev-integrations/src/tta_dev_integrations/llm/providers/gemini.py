"""Google AI Studio's Gemini API (``generativelanguage.googleapis.com``, ``v1beta``).

``POST /v1beta/models/{model}:generateContent`` answers at once;
``:streamGenerateContent?alt=sse`` streams ``GenerateContentResponse`` chunks as
server-sent events, with no ``[DONE]`` sentinel: the chunk that carries a
``finishReason`` ends the answer, and it carries the final ``usageMetadata``.

The key travels in the ``x-goog-api-key`` header, never as ``?key=`` in the URL, so it
cannot leak through logged URLs or error messages.

Choices made here, against the current API reference:

* Structured output and tool parameters are sent as JSON Schema
  (``responseJsonSchema``, ``parametersJsonSchema``), not as the OpenAPI subset of
  ``responseSchema`` / ``parameters``: our ``response_format`` and ``Tool.parameters``
  are JSON Schema, and the subset rejects common keywords (``additionalProperties``...).
* Thinking tokens are output tokens: ``output_tokens = candidatesTokenCount +
  thoughtsTokenCount`` (Google bills thoughts at the output price, and genai-prices
  sums both into output), with ``reasoning_tokens = thoughtsTokenCount``.
* Gemini's older models give function calls no id; those get a stable generated id
  (``call_{index}_{digest}``) that is never sent back to Google.
* Function calls may carry a ``thoughtSignature`` that Gemini 3 requires back in the
  next turn. It travels on the call itself, as ``ToolCall.provider_data``
  (``{"thoughtSignature": ...}``), so a conversation saved and continued elsewhere (an
  agent's paused state, another process) still sends it back.
"""

from __future__ import annotations

import base64
import hashlib
import json
import mimetypes
import re
import urllib.parse
from collections.abc import Mapping, Sequence
from typing import Any

from tta_dev_integrations.llm.errors import (
    AuthenticationError,
    BadRequestError,
    ContentFilterError,
    ContextLengthError,
    LLMError,
    ResponseError,
)
from tta_dev_integrations.llm.providers.base import (
    HTTPCall,
    Reply,
    StreamPiece,
    WireAPI,
    default_http_error,
    token_count,
    token_sum,
)
from tta_dev_integrations.llm.types import ImagePart, LLMRequest, Message, Part, ToolCall, Usage

__all__ = ["THOUGHT_SIGNATURE", "GeminiAPI"]

THOUGHT_SIGNATURE = "thoughtSignature"
"""The key of a function call's signature in ``ToolCall.provider_data``."""

_FINISH_REASONS = {"STOP": "stop", "MAX_TOKENS": "length"}
_FILTERED = frozenset(
    {
        "SAFETY",
        "RECITATION",
        "BLOCKLIST",
        "PROHIBITED_CONTENT",
        "SPII",
        "IMAGE_SAFETY",
        "IMAGE_PROHIBITED_CONTENT",
        "IMAGE_RECITATION",
    }
)
_GENERATED_ID = re.compile(r"call_\d+_[0-9a-f]{8}")
_CONTEXT_OVERFLOW = re.compile(
    r"input token count.*exceeds|exceeds the maximum number of tokens|context (?:window|length)",
    re.IGNORECASE,
)
_BAD_KEY = re.compile(r"API key (?:not valid|expired|invalid)", re.IGNORECASE)
_SECRETS = (
    re.compile(r"AIza[0-9A-Za-z_\-]{35}"),  # the shape of Google API keys
    re.compile(r"(?<=[?&]key=)[^&\s\"']+"),  # a key in a query string
)
_DURATION = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)s\s*")


class GeminiAPI(WireAPI):
    """``generateContent`` / ``streamGenerateContent``: contents, tools, JSON schema, SSE."""

    def auth_headers(self, key: str) -> dict[str, str]:
        """The key in ``x-goog-api-key`` (never in the URL)."""
        return {"x-goog-api-key": key}

    def build(self, request: LLMRequest, model_id: str, *, stream: bool) -> HTTPCall:
        """``POST /v1beta/models/{model}:generateContent`` (or the SSE stream)."""
        model = model_id.removeprefix("models/")
        body: dict[str, Any] = {"contents": self._contents(request.messages)}
        system = [{"text": m.text} for m in request.messages if m.role == "system" and m.text]
        if system:
            body["systemInstruction"] = {"parts": system}
        config: dict[str, Any] = {}
        if request.max_tokens is not None:
            config["maxOutputTokens"] = request.max_tokens
        if request.temperature is not None:
            config["temperature"] = request.temperature
        if request.stop:
            config["stopSequences"] = list(request.stop)
        if request.response_format is not None:
            config["responseMimeType"] = "application/json"
            config["responseJsonSchema"] = dict(request.response_format)
        if config:
            body["generationConfig"] = config
        if request.tools:
            declarations = []
            for tool in request.tools:
                declaration: dict[str, Any] = {"name": tool.name}
                if tool.description:
                    declaration["description"] = tool.description
                declaration["parametersJsonSchema"] = dict(tool.parameters)
                declarations.append(declaration)
            body["tools"] = [{"functionDeclarations": declarations}]
            if request.tool_choice != "auto":
                mode = "ANY" if request.tool_choice == "required" else "NONE"
                body["toolConfig"] = {"functionCallingConfig": {"mode": mode}}
        if stream:
            return HTTPCall(
                f"/v1beta/models/{model}:streamGenerateContent", body, params={"alt": "sse"}
            )
        return HTTPCall(f"/v1beta/models/{model}:generateContent", body)

    def parse(self, body: Any) -> Reply:
        """Read a ``GenerateContentResponse``."""
        if not isinstance(body, Mapping):
            raise ResponseError("the answer is not a JSON object")
        candidates = body.get("candidates") or []
        if not candidates:
            _raise_if_prompt_blocked(body)
            raise ResponseError("the answer has no candidates")
        candidate = candidates[0]
        text, calls = self._read_content(candidate, body)
        return Reply(
            content=text,
            finish_reason=_finish_reason(candidate, calls),
            usage=_usage(body.get("usageMetadata")),
            provider_model=str(body.get("modelVersion") or ""),
            tool_calls=calls,
            raw=body,
            response_id=str(body.get("responseId") or ""),
        )

    def parse_event(self, event: str | None, data: str) -> StreamPiece | None:
        """Read one SSE chunk; the one with a ``finishReason`` is the last (``done``)."""
        chunk = json.loads(data)
        if not isinstance(chunk, Mapping):
            raise ValueError("a streamed chunk is not a JSON object")
        if "error" in chunk:
            detail = chunk["error"]
            code = detail.get("code") if isinstance(detail, Mapping) else None
            raise _error_from_body(code if isinstance(code, int) else 500, chunk, {})
        candidates = chunk.get("candidates") or []
        if not candidates:
            _raise_if_prompt_blocked(chunk)
            return None
        candidate = candidates[0]
        text, calls = self._read_content(candidate, chunk)
        done = candidate.get("finishReason") is not None
        if not (text or calls or done):
            return None
        return StreamPiece(
            text=text,
            usage=_usage(chunk.get("usageMetadata")) if done else None,
            finish_reason=_finish_reason(candidate, calls) if done else None,
            provider_model=str(chunk.get("modelVersion") or ""),
            tool_calls=calls,
            done=done,
            response_id=str(chunk.get("responseId") or ""),
        )

    def error(self, status: int, body: Any, headers: Mapping[str, str]) -> LLMError:
        """Map a Google ``{"error": {"code", "message", "status", "details"}}`` answer."""
        return _error_from_body(status, body, headers)

    def _contents(self, messages: Sequence[Message]) -> list[dict[str, Any]]:
        contents: list[dict[str, Any]] = []
        names: dict[str, str] = {}
        responses: list[dict[str, Any]] | None = None  # parts of the open tool-result turn
        for message in messages:
            if message.role == "system":
                continue
            if message.role == "tool":
                part = {"functionResponse": _function_response(message, names)}
                if responses is None:  # consecutive results answer one turn together
                    responses = []
                    contents.append({"role": "user", "parts": responses})
                responses.append(part)
                continue
            parts = [_part(p) for p in message.parts]
            for call in message.tool_calls:
                names[call.id] = call.name
                parts.append(_function_call(call))
            if parts:
                responses = None
                role = "model" if message.role == "assistant" else "user"
                contents.append({"role": role, "parts": parts})
        return contents

    def _read_content(
        self, candidate: Mapping[str, Any], response: Mapping[str, Any]
    ) -> tuple[str, tuple[ToolCall, ...]]:
        content = candidate.get("content") or {}
        texts: list[str] = []
        calls: list[ToolCall] = []
        for index, part in enumerate(content.get("parts") or ()):
            if "functionCall" in part:
                signature = part.get(THOUGHT_SIGNATURE)
                calls.append(
                    _tool_call(
                        part["functionCall"],
                        index,
                        response.get("responseId"),
                        signature if isinstance(signature, str) and signature else None,
                    )
                )
            elif isinstance(part.get("text"), str) and not part.get("thought"):
                texts.append(part["text"])
        return "".join(texts), tuple(calls)


def _function_call(call: ToolCall) -> dict[str, Any]:
    function: dict[str, Any] = {"name": call.name, "args": dict(call.arguments)}
    if not _GENERATED_ID.fullmatch(call.id):
        function["id"] = call.id
    part: dict[str, Any] = {"functionCall": function}
    signature = (call.provider_data or {}).get(THOUGHT_SIGNATURE)
    if isinstance(signature, str) and signature:
        part[THOUGHT_SIGNATURE] = signature
    return part


def _part(part: Part) -> dict[str, Any]:
    if not isinstance(part, ImagePart):
        return {"text": part.text}
    if part.data is not None:
        return {"inline_data": {"mime_type": part.media_type, "data": part.base64}}
    url = part.url or ""
    if url.startswith("data:"):
        header, _, payload = url.partition(",")
        media_type = header.removeprefix("data:").split(";")[0] or part.media_type
        if ";base64" not in header:
            payload = base64.b64encode(urllib.parse.unquote_to_bytes(payload)).decode("ascii")
        return {"inline_data": {"mime_type": media_type, "data": payload}}
    guessed, _ = mimetypes.guess_type(urllib.parse.urlsplit(url).path)
    media_type = guessed if guessed and guessed.startswith("image/") else part.media_type
    return {"file_data": {"mime_type": media_type, "file_uri": url}}


def _function_response(message: Message, names: Mapping[str, str]) -> dict[str, Any]:
    call_id = message.tool_call_id
    name = names.get(call_id) if call_id is not None else None
    if call_id is None or name is None:
        raise BadRequestError(
            f"a tool message answers call {call_id!r}, but no earlier assistant message "
            "made that call; Gemini needs the function's name to take the result"
        )
    response: dict[str, Any] = {"name": name, "response": _tool_result(message.text)}
    if not _GENERATED_ID.fullmatch(call_id):
        response["id"] = call_id
    return response


def _tool_result(text: str) -> dict[str, Any]:
    """A tool's result as the JSON object Gemini wants: itself, or ``{"output": ...}``."""
    try:
        value = json.loads(text)
    except ValueError:
        return {"output": text}
    return value if isinstance(value, dict) else {"output": value}


def _tool_call(
    value: Mapping[str, Any], index: int, response_id: Any, signature: str | None
) -> ToolCall:
    name = value.get("name")
    if not isinstance(name, str) or not name:
        raise ResponseError("the model made a function call without a name")
    arguments = value.get("args") or {}
    if not isinstance(arguments, dict):
        raise ResponseError(f"the model called {name!r} with non-object args")
    call_id = value.get("id")
    if not isinstance(call_id, str) or not call_id:
        seed = json.dumps([response_id, name, arguments], sort_keys=True, default=str)
        call_id = f"call_{index}_{hashlib.sha256(seed.encode()).hexdigest()[:8]}"
    return ToolCall(
        id=call_id,
        name=name,
        arguments=arguments,
        provider_data={THOUGHT_SIGNATURE: signature} if signature else None,
    )


def _finish_reason(candidate: Mapping[str, Any], calls: tuple[ToolCall, ...]) -> str | None:
    reason = candidate.get("finishReason")
    if reason is None:
        return None
    reason = str(reason)
    if reason in _FILTERED:
        raise ContentFilterError(
            f"Gemini stopped the answer (finishReason {reason}){_ratings(candidate)}"
        )
    if reason == "STOP" and calls:
        return "tool_calls"
    return _FINISH_REASONS.get(reason, reason.lower())


def _raise_if_prompt_blocked(response: Mapping[str, Any]) -> None:
    feedback = response.get("promptFeedback") or {}
    reason = feedback.get("blockReason")
    if reason:
        raise ContentFilterError(
            f"Gemini blocked the prompt (blockReason {reason}){_ratings(feedback)}"
        )


def _ratings(holder: Mapping[str, Any]) -> str:
    flagged = [
        str(r.get("category"))
        for r in holder.get("safetyRatings") or ()
        if isinstance(r, Mapping)
        and (r.get("blocked") or r.get("probability") in ("MEDIUM", "HIGH"))
    ]
    return f": {', '.join(flagged)}" if flagged else ""


_USAGE_FIELDS = (
    "promptTokenCount",
    "candidatesTokenCount",
    "thoughtsTokenCount",
    "cachedContentTokenCount",
    "toolUsePromptTokenCount",
)


def _usage(value: Any) -> Usage | None:
    if not isinstance(value, Mapping) or not any(f in value for f in _USAGE_FIELDS):
        return None

    def count(field: str) -> int:
        return token_count(value.get(field))

    thoughts = count("thoughtsTokenCount")
    return Usage(
        # Tool-use prompt tokens (results of built-in tools) are billed as input.
        input_tokens=token_sum(count("promptTokenCount"), count("toolUsePromptTokenCount")),
        output_tokens=token_sum(count("candidatesTokenCount"), thoughts),
        cached_input_tokens=count("cachedContentTokenCount"),
        reasoning_tokens=thoughts,
    )


def _error_from_body(status: int, body: Any, headers: Mapping[str, str]) -> LLMError:
    if isinstance(body, list) and body:  # non-SSE streams wrap errors in a list
        body = body[0]
    detail = body.get("error") if isinstance(body, Mapping) else None
    details: Sequence[Any] = ()
    grpc_status = ""
    if isinstance(detail, Mapping):
        message = str(detail.get("message") or "")
        grpc_status = str(detail.get("status") or "")
        found = detail.get("details")
        details = found if isinstance(found, list) else ()
    else:
        message = str(detail or body or "")
    message = _redact(message)[:1000] or f"HTTP {status}"
    shown = f"{grpc_status}: {message}" if grpc_status else message
    reasons = {d.get("reason") for d in details if isinstance(d, Mapping)}
    if (
        status in (401, 403)
        or grpc_status in ("UNAUTHENTICATED", "PERMISSION_DENIED")
        or "API_KEY_INVALID" in reasons
        or _BAD_KEY.search(message)
    ):
        return AuthenticationError(f"the provider refused the credentials: {shown}")
    if status == 400 and _CONTEXT_OVERFLOW.search(message):
        return ContextLengthError(f"the prompt does not fit the model's context: {shown}")
    return default_http_error(status, shown, headers, body_retry_after=_retry_delay(details))


def _retry_delay(details: Sequence[Any]) -> float | None:
    """Seconds from a ``google.rpc.RetryInfo`` detail (``"32s"``, ``"1.5s"``)."""
    for detail in details:
        if not isinstance(detail, Mapping):
            continue
        if not str(detail.get("@type", "")).endswith("google.rpc.RetryInfo"):
            continue
        delay = detail.get("retryDelay")
        if isinstance(delay, str):
            match = _DURATION.fullmatch(delay)
            if match:
                return float(match.group(1))
        elif isinstance(delay, Mapping):
            return float(delay.get("seconds") or 0) + float(delay.get("nanos") or 0) / 1e9
    return None


def _redact(text: str) -> str:
    for pattern in _SECRETS:
        text = pattern.sub("[redacted]", text)
    return text
