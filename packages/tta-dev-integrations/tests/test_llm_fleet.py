"""LLM calls of several workers within one set of provider limits, kept in Redis: the
catalog's limits, a 429's Retry-After for the whole fleet, one breaker per provider.
A local protocol server stands in for the provider; the machine's Redis is real."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

import redis_for_tests as rt
from replay_server import ReplayServer, Reply
from tta_dev_integrations.llm import (
    LLMPrimitive,
    Provider,
    ProviderUnavailableError,
    RateLimitError,
    create_provider,
    load_catalog,
)
from tta_dev_integrations.llm.cache_codec import LLM_RESPONSE_CODEC
from tta_dev_integrations.llm.catalog import Catalog
from tta_dev_integrations.llm.fleet import FleetLimits, configure_fleet, model_limits
from tta_dev_integrations.llm.types import LLMResponse, ToolCall, Usage
from tta_dev_primitives import CachePrimitive, WorkflowContext
from tta_dev_primitives.fleet import RedisCacheBackend, RedisLink
from tta_dev_primitives.testing import metric_value

pytestmark = pytest.mark.needs("redis")

OK = Reply.json(
    {
        "model": "m",
        "choices": [{"message": {"content": "done"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1},
    }
)
DOWN = Reply.json({"error": {"message": "overloaded"}}, status=503)


def too_many(seconds: int) -> Reply:
    body = {"error": {"message": "slow down", "code": "rate_limit_exceeded"}}
    return Reply.json(body, status=429, headers={"retry-after": str(seconds)})


@pytest.fixture
def catalog(tmp_path: Path) -> Catalog:
    base = {
        "provider": "openai", "model_id": "m", "free": True, "context_window": 4096,
        "capabilities": [], "quality": {"low": 0.5, "medium": 0.5, "high": 0.5},
    }  # fmt: skip
    models = {
        "three-a-minute": {**base, "rate_limits": {"requests_per_minute": 3}},
        "tokens": {**base, "rate_limits": {"tokens_per_minute": 300}},
        "free-tier": {**base, "free_tier": {"requests_per_minute": 15, "requests_per_day": 1500}},
        "unlimited": base,
    }
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps({"models": models}), encoding="utf-8")
    return load_catalog(path)


@pytest.fixture
async def server() -> AsyncIterator[ReplayServer]:
    with ReplayServer() as replay:
        yield replay


@pytest.fixture
def redis_prefix() -> Iterator[tuple[str, str]]:
    url = rt.shared_redis_url()
    prefix = rt.unique_prefix()
    yield url, prefix
    rt.drop_prefix(url, prefix)


class Fleet:
    """Workers of one fleet in this test process: each with its own link and limits."""

    def __init__(self, url: str, prefix: str, server: ReplayServer, catalog: Catalog) -> None:
        self.url, self.prefix, self.server, self.catalog = url, prefix, server, catalog
        self.links: list[RedisLink] = []
        self.providers: list[Provider] = []

    def worker(self, **options: Any) -> FleetLimits:
        link = RedisLink(self.url, prefix=self.prefix)
        self.links.append(link)
        return FleetLimits(link, **options)

    async def ask(self, worker: FleetLimits, model: str, prompt: str = "hi", **request: Any) -> Any:
        """One call as ``worker`` would make it (its limits are the process's)."""
        configure_fleet(worker)
        provider = create_provider("openai", base_url=self.server.url, api_key="sk-test")
        self.providers.append(provider)
        llm = LLMPrimitive(model, catalog=self.catalog, provider=provider)
        return await llm.execute({"prompt": prompt, **request}, WorkflowContext())

    async def close(self) -> None:
        configure_fleet(None)
        for provider in self.providers:
            await provider.aclose()
        for link in self.links:
            await link.aclose()


@pytest.fixture
async def fleet(
    redis_prefix: tuple[str, str], server: ReplayServer, catalog: Catalog
) -> AsyncIterator[Fleet]:
    made = Fleet(*redis_prefix, server, catalog)
    yield made
    await made.close()


def test_limits_come_from_the_free_tier_and_the_operators_rate_limits(catalog: Catalog) -> None:
    described = {
        alias: [(x.amount, x.per_seconds, x.unit) for x in model_limits(catalog[alias])]
        for alias in ("three-a-minute", "tokens", "free-tier", "unlimited")
    }
    assert described == {
        "three-a-minute": [(3, 60.0, "requests")],
        "tokens": [(300, 60.0, "tokens")],
        "free-tier": [(15, 60.0, "requests"), (1500, 86400.0, "requests")],
        "unlimited": [],
    }


def test_a_bad_rate_limit_names_the_entry(tmp_path: Path) -> None:
    entry = {
        "provider": "openai", "model_id": "m", "free": True,
        "quality": {"low": 0.5, "medium": 0.5, "high": 0.5},
        "rate_limits": {"requests_per_minute": "many"},
    }  # fmt: skip
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"models": {"odd": entry}}), encoding="utf-8")
    with pytest.raises(ValueError, match=r"'odd'.*requests_per_minute"):
        model_limits(load_catalog(path)["odd"])


def test_the_fleet_is_configured_by_tta_redis_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TTA_REDIS_URL", raising=False)
    assert FleetLimits.from_env() is None
    monkeypatch.setenv("TTA_REDIS_URL", "redis://:pw@127.0.0.1:6379/3")
    monkeypatch.setenv("TTA_RATE_LIMIT_MAX_WAIT_SECONDS", "2.5")
    limits = FleetLimits.from_env()
    assert limits is not None
    assert limits.max_wait_seconds == 2.5
    assert limits.link.address == "127.0.0.1:6379/3"
    assert (limits.failure_threshold, limits.reset_timeout) == (5, 30.0)
    monkeypatch.setenv("TTA_BREAKER_FAILURES", "3")
    monkeypatch.setenv("TTA_BREAKER_RESET_SECONDS", "0.5")
    limits = FleetLimits.from_env()
    assert limits is not None
    assert (limits.failure_threshold, limits.reset_timeout) == (3, 0.5)
    monkeypatch.setenv("TTA_BREAKER_FAILURES", "2.5")
    with pytest.raises(ValueError, match="TTA_BREAKER_FAILURES must be a whole number"):
        FleetLimits.from_env()
    monkeypatch.setenv("TTA_BREAKER_FAILURES", "3")
    monkeypatch.setenv("TTA_RATE_LIMIT_MAX_WAIT_SECONDS", "soon")
    with pytest.raises(ValueError, match="TTA_RATE_LIMIT_MAX_WAIT_SECONDS"):
        FleetLimits.from_env()


async def test_workers_share_a_models_requests_per_minute(fleet: Fleet) -> None:
    fleet.server.add("/chat/completions", *[OK] * 5)
    first, second = fleet.worker(max_wait_seconds=0), fleet.worker(max_wait_seconds=0)
    await fleet.ask(first, "three-a-minute")
    await fleet.ask(second, "three-a-minute")
    await fleet.ask(first, "three-a-minute")
    with pytest.raises(RateLimitError) as caught:
        await fleet.ask(second, "three-a-minute")
    assert 59 < (caught.value.retry_after or 0) <= 60
    assert len(fleet.server.requests) == 3  # the fourth never reached the provider
    await fleet.ask(second, "unlimited")  # other models are not held back


async def test_tokens_per_minute_count_the_prompt_and_the_output_cap(fleet: Fleet) -> None:
    fleet.server.add("/chat/completions", *[OK] * 3)
    worker = fleet.worker(max_wait_seconds=0)
    await fleet.ask(worker, "tokens", max_tokens=200)
    with pytest.raises(RateLimitError, match="300 tokens per 60s"):
        await fleet.ask(worker, "tokens", max_tokens=200)
    await fleet.ask(worker, "tokens", max_tokens=50)
    assert len(fleet.server.requests) == 2


async def test_a_429_with_retry_after_holds_back_every_worker(fleet: Fleet) -> None:
    fleet.server.add("/chat/completions", too_many(1), OK)
    first, second = fleet.worker(max_wait_seconds=0), fleet.worker(max_wait_seconds=5)
    with pytest.raises(RateLimitError):
        await fleet.ask(first, "unlimited")
    start = time.monotonic()
    response = await fleet.ask(second, "unlimited")
    assert response.content == "done"
    assert time.monotonic() - start >= 0.9  # the other worker waited out the Retry-After
    assert len(fleet.server.requests) == 2


async def test_one_breaker_per_provider_for_the_whole_fleet(fleet: Fleet) -> None:
    fleet.server.add("/chat/completions", DOWN, DOWN, OK, OK, OK)
    first, second = (fleet.worker(failure_threshold=2, reset_timeout=60) for _ in range(2))
    for worker in (first, second):
        with pytest.raises(ProviderUnavailableError):
            await fleet.ask(worker, "unlimited")
    for worker in (first, second, first, second):
        with pytest.raises(ProviderUnavailableError, match="skipped without a call"):
            await fleet.ask(worker, "three-a-minute")  # another model, the same provider
    assert len(fleet.server.requests) == 2
    assert metric_value("tta_circuit_breaker_state", primitive="breaker(openai)") == 2
    # Refused calls took no room under the model's limit of 3 a minute.
    configure_fleet(first)
    await first.breaker_store.reset("breaker(openai)")
    for _ in range(3):
        await fleet.ask(first, "three-a-minute")
    assert len(fleet.server.requests) == 5
    assert metric_value("tta_circuit_breaker_state", primitive="breaker(openai)") == 0


async def test_workers_share_cached_answers_and_make_one_call_per_prompt(fleet: Fleet) -> None:
    fleet.server.add("/chat/completions", OK, OK)
    provider = create_provider("openai", base_url=fleet.server.url, api_key="sk-test")
    fleet.providers.append(provider)
    llm = LLMPrimitive("unlimited", catalog=fleet.catalog, provider=provider)

    def worker_cache() -> CachePrimitive[Any, Any]:
        link = RedisLink(fleet.url, prefix=fleet.prefix)
        fleet.links.append(link)
        return CachePrimitive(llm, backend=RedisCacheBackend(link, codec=LLM_RESPONSE_CODEC))

    caches = [worker_cache() for _ in range(4)]
    prompts = ["alpha", "beta"] * 4
    answers = await asyncio.gather(
        *(caches[i % 4].execute(p, WorkflowContext()) for i, p in enumerate(prompts))
    )
    assert len(fleet.server.requests) == 2  # one call per distinct prompt
    assert {a.content for a in answers} == {"done"}
    assert all(a.usage.input_tokens == 3 and a.model == "unlimited" for a in answers)
    assert sorted(r.json["messages"][0]["content"] for r in fleet.server.requests) == [
        "alpha",
        "beta",
    ]


def test_the_response_codec_keeps_the_answer_and_refuses_anything_else() -> None:
    response = LLMResponse(
        content="hi", model="m", provider="openai", usage=Usage(3, 1, estimated=True),
        finish_reason="tool_calls", tool_calls=(ToolCall("c1", "f", {"x": [1]}),),
        cost_usd=0.25, raw={"secret": "raw body"}, routing=object(),
    )  # fmt: skip
    data = LLM_RESPONSE_CODEC.encode(response)
    assert b"raw body" not in data
    back = LLM_RESPONSE_CODEC.decode(data)
    assert (back.content, back.usage, back.tool_calls, back.cost_usd) == (
        "hi", Usage(3, 1, estimated=True), (ToolCall("c1", "f", {"x": [1]}),), 0.25,
    )  # fmt: skip
    assert back.raw is None
    assert back.routing is None
    with pytest.raises(TypeError):
        LLM_RESPONSE_CODEC.encode({"content": "hi"})
    with pytest.raises(ValueError, match="malformed"):
        LLM_RESPONSE_CODEC.decode(b'{"v": 1, "content": "x"}')
    with pytest.raises(ValueError, match="not an LLMResponse"):
        LLM_RESPONSE_CODEC.decode(b'"just text"')


async def test_with_redis_down_calls_go_on_locally_or_fail_closed_as_configured(
    server: ReplayServer, catalog: Catalog
) -> None:
    server.add("/chat/completions", OK, OK)
    provider = create_provider("openai", base_url=server.url, api_key="sk-test")
    port = rt.free_port()  # nothing listens there
    local = FleetLimits(RedisLink(f"redis://127.0.0.1:{port}/0", timeout_seconds=0.1))
    closed = FleetLimits(
        RedisLink(f"redis://127.0.0.1:{port}/0", timeout_seconds=0.1), on_unavailable="reject"
    )
    llm = LLMPrimitive("three-a-minute", catalog=catalog, provider=provider)
    try:
        configure_fleet(local)
        assert (await llm.execute("hi", WorkflowContext())).content == "done"
        configure_fleet(closed)
        with pytest.raises(ProviderUnavailableError, match="TTA_FLEET_ON_REDIS_DOWN=reject"):
            await llm.execute("hi", WorkflowContext())
        assert len(server.requests) == 1  # the refused call never reached the provider
    finally:
        configure_fleet(None)
        await provider.aclose()
    with pytest.raises(ValueError, match="TTA_FLEET_ON_REDIS_DOWN"):
        FleetLimits(RedisLink(), on_unavailable="ignore")  # type: ignore[arg-type]
