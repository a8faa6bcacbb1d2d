"""The OpenAI-compatible adapter against a real peer: llama.cpp's own server with SmolLM2.

llama_cpp.server speaks OpenAI's Chat Completions API (it is the reference local
implementation of it); every request here crosses a real HTTP connection.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tta_dev_integrations.llm import (
    AuthenticationError,
    ContextLengthError,
    LLMPrimitive,
    LLMRequest,
    Provider,
    ProviderUnavailableError,
    UnknownModelError,
    create_provider,
    load_catalog,
)
from tta_dev_integrations.llm.catalog import Catalog
from tta_dev_primitives import (
    CachePrimitive,
    FallbackPrimitive,
    RetryPrimitive,
    WorkflowContext,
)
from tta_dev_primitives.testing import capture_spans, metric_value

pytestmark = pytest.mark.needs("local-model")

SECRET = "sk-test-0123456789abcdef"


@pytest.fixture
def catalog(tmp_path: Path) -> Catalog:
    entry = {
        "provider": "openai", "model_id": "smollm2", "free": True, "context_window": 512,
        "capabilities": ["json"], "quality": {"low": 0.3, "medium": 0.15, "high": 0.05},
    }  # fmt: skip
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps({"models": {"smollm2-server": entry}}), encoding="utf-8")
    return load_catalog(path)


@pytest.fixture
async def server(llama_server: str) -> AsyncIterator[Provider]:
    """An OpenAI-API provider pointed at the llama.cpp server, closed after the test."""
    provider = create_provider("openai", base_url=llama_server, api_key=SECRET)
    yield provider
    await provider.aclose()


def llm(provider: Provider, catalog: Catalog, **options: Any) -> LLMPrimitive:
    return LLMPrimitive("smollm2-server", catalog=catalog, provider=provider, **options)


async def test_plain_call_returns_text_usage_and_zero_cost(
    server: Provider, catalog: Catalog
) -> None:
    response = await llm(server, catalog).execute(
        {"prompt": "Name a colour.", "max_tokens": 8, "temperature": 0}, WorkflowContext()
    )
    assert response.content.strip()
    assert response.model == "smollm2-server"
    assert response.provider == "openai"
    assert response.provider_model == "smollm2"
    assert response.usage.input_tokens > 0
    assert 0 < response.usage.output_tokens <= 8
    assert not response.usage.estimated
    assert response.cost_usd == 0.0
    assert response.finish_reason in ("stop", "length")
    assert response.latency_s > 0
    assert "raw" not in repr(response)


async def test_streaming_yields_deltas_then_the_final_response(
    server: Provider, catalog: Catalog
) -> None:
    stream = llm(server, catalog).stream(
        {"prompt": "Count: one, two,", "max_tokens": 10, "temperature": 0}, WorkflowContext()
    )
    deltas = [delta async for delta in stream]
    assert len(deltas) > 1
    assert stream.response is not None
    assert stream.response.content == "".join(deltas)
    # llama.cpp's server sends no usage in streams even when asked: we count, and say so.
    assert stream.response.usage.output_tokens > 0
    assert stream.response.usage.estimated
    assert stream.response.cost_estimated
    assert stream.time_to_first_token_s is not None
    assert stream.time_to_first_token_s <= stream.response.latency_s


async def test_stream_and_plain_call_agree_at_temperature_zero(
    server: Provider, catalog: Catalog
) -> None:
    request = {"prompt": "Complete: the sky is", "max_tokens": 6, "temperature": 0}
    primitive = llm(server, catalog)
    plain = await primitive.execute(request, WorkflowContext())
    streamed = await primitive.stream(request, WorkflowContext()).text()
    assert streamed == plain.content


async def test_oversized_context_is_a_context_length_error(
    server: Provider, catalog: Catalog
) -> None:
    with pytest.raises(ContextLengthError, match="context") as info:
        await llm(server, catalog).execute(
            {"prompt": "word " * 2000, "max_tokens": 5}, WorkflowContext()
        )
    assert info.value.status_code == 400
    assert SECRET not in str(info.value)


def test_unknown_model_is_refused_before_any_request(catalog: Catalog) -> None:
    # llama.cpp's server serves its default model for any name (LlamaProxy.__call__),
    # so the catalog is what keeps a typo from reaching a provider.
    with pytest.raises(UnknownModelError, match="smollm2-server") as info:
        LLMPrimitive("smollm2-sever", catalog=catalog)
    assert isinstance(info.value, ValueError)


async def test_the_key_is_never_shown(server: Provider, catalog: Catalog) -> None:
    assert SECRET not in repr(server)
    primitive = LLMPrimitive("smollm2-server", catalog=catalog, provider=server)
    assert SECRET not in repr(primitive)
    with capture_spans() as spans:
        await primitive.execute({"prompt": "Hi", "max_tokens": 2}, WorkflowContext())
    for span in spans.spans:
        assert SECRET not in json.dumps(dict(span.attributes or {}), default=str)


async def test_missing_key_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, catalog: Catalog, llama_server: str
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    provider = create_provider("openai", base_url=llama_server)
    primitive = LLMPrimitive("smollm2-server", catalog=catalog, provider=provider)
    with pytest.raises(AuthenticationError, match="OPENAI_API_KEY"):
        await primitive.execute("Hi", WorkflowContext())


async def test_a_server_that_is_down_is_provider_unavailable(
    catalog: Catalog, dead_base_url: str
) -> None:
    provider = create_provider("openai", base_url=dead_base_url, api_key=SECRET)
    primitive = LLMPrimitive("smollm2-server", catalog=catalog, provider=provider)
    with pytest.raises(ProviderUnavailableError, match="could not reach openai"):
        await primitive.execute("Hi", WorkflowContext())


async def test_genai_span_attributes_and_metrics(server: Provider, catalog: Catalog) -> None:
    primitive = llm(server, catalog, name="chat-span-test")
    tokens_before = metric_value(
        "tta_llm_tokens_total", provider="openai", model="smollm2-server", direction="output"
    )
    with capture_spans() as spans:
        response = await primitive.execute(
            {"prompt": "Say yes", "max_tokens": 4, "temperature": 0.0}, WorkflowContext()
        )
    attributes = dict(spans.one("chat-span-test").attributes or {})
    assert attributes["gen_ai.operation.name"] == "chat"
    assert attributes["gen_ai.provider.name"] == "openai"
    assert attributes["gen_ai.request.model"] == "smollm2"
    assert attributes["gen_ai.usage.input_tokens"] == response.usage.input_tokens
    assert attributes["gen_ai.usage.output_tokens"] == response.usage.output_tokens
    assert attributes["gen_ai.request.max_tokens"] == 4
    assert "gen_ai.input.messages" not in attributes  # content is off by default
    tokens_after = metric_value(
        "tta_llm_tokens_total", provider="openai", model="smollm2-server", direction="output"
    )
    assert tokens_after - tokens_before == response.usage.output_tokens


async def test_prompt_recording_is_opt_in(server: Provider, catalog: Catalog) -> None:
    primitive = llm(server, catalog, record_content=True, name="chat-recorded")
    with capture_spans() as spans:
        await primitive.execute({"prompt": "Say yes", "max_tokens": 2}, WorkflowContext())
    attributes = dict(spans.one("chat-recorded").attributes or {})
    assert "Say yes" in str(attributes["gen_ai.input.messages"])


async def test_composes_with_retry_fallback_and_cache(
    server: Provider, catalog: Catalog, dead_base_url: str
) -> None:
    down = create_provider("openai", base_url=dead_base_url, api_key=SECRET)
    dead = LLMPrimitive("smollm2-server", catalog=catalog, provider=down, name="dead")
    retried = RetryPrimitive(dead, max_attempts=2, initial_delay=0)
    workflow = CachePrimitive(FallbackPrimitive(retried, [llm(server, catalog)]))
    request = LLMRequest.from_value({"prompt": "Say ok", "max_tokens": 3, "temperature": 0})
    first = await workflow.execute(request, WorkflowContext())
    second = await workflow.execute(request, WorkflowContext())
    assert first.content
    assert second is first  # served by the cache


async def test_a_keyless_server_is_available_only_while_it_answers(
    llama_server: str, dead_base_url: str
) -> None:
    # Ollama's adapter, pointed at a live OpenAI-compatible server and at a closed port.
    live = create_provider("ollama", base_url=llama_server)
    down = create_provider("ollama", base_url=dead_base_url)
    try:
        assert await live.is_available()
        assert not await down.is_available()
    finally:
        await live.aclose()
        await down.aclose()


async def test_keyed_providers_are_available_when_a_key_is_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OPENROUTER_API_KEY", raising=False)
    assert not await create_provider("openrouter").is_available()
    monkeypatch.setenv("OPENROUTER_API_KEY", "sk-or-test")
    assert await create_provider("openrouter").is_available()
