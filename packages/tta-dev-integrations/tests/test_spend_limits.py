"""The monthly limit holds on the request side: caps sent, inputs bounded, prices known.

Paid providers point at a local replay server that bills like a provider: it charges
the input it was sent (a token per Chinese character, 4 bytes a token otherwise, an
image's documented tokens) and the answer it writes (16,000 tokens, or the output cap
it was sent when smaller). Assertions are on what reached the server, what it billed,
and what the SQLite ledger holds.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from replay_server import RecordedRequest, ReplayServer, Reply
from tta_dev_integrations.llm import create_provider, load_catalog
from tta_dev_integrations.llm.budget.ledger import (
    BudgetExceededError,
    current_month,
    to_micros,
    to_usd,
)
from tta_dev_integrations.llm.budget.sqlite import SQLiteLedger
from tta_dev_integrations.llm.errors import LLMError
from tta_dev_integrations.llm.providers.base import Provider
from tta_dev_integrations.llm.universal import UniversalLLMPrimitive
from tta_dev_primitives import WorkflowContext

GPT41_INPUT, GPT41_OUTPUT = 2.0 / 1e6, 8.0 / 1e6  # genai-prices' gpt-4.1 rates, $ a token
UNCAPPED_ANSWER = 16_000
IMAGE_URL = "https://images.example/cat.png"  # never fetched: the server bills a tile image


def billed_input(body: dict[str, Any]) -> int:
    """The input tokens a provider bills for an OpenAI-shaped body (see the module)."""
    tokens = 0
    for message in body["messages"]:
        content = message["content"]
        parts = [{"type": "text", "text": content}] if isinstance(content, str) else content
        for part in parts:
            if part["type"] == "image_url":
                tokens += 85 + 170 * 8  # the most a gpt-4o-family image counts
                continue
            text = part["text"]
            wide = sum(1 for c in text if ord(c) > 0x2E80)
            tokens += wide + math.ceil(len(text.encode()) - 3 * wide) // 4 + 4
    return tokens


class Biller:
    """Answers chat completions like a provider and adds up what it charged."""

    def __init__(self, answer_tokens: int = UNCAPPED_ANSWER) -> None:
        self.answer_tokens = answer_tokens
        self.billed_usd = 0.0
        self.calls = 0
        self._lock = threading.Lock()

    def __call__(self, request: RecordedRequest) -> Reply:
        body = request.json
        cap = body.get("max_tokens") or body.get("max_completion_tokens")
        output = min(self.answer_tokens, cap or self.answer_tokens)
        prompt = billed_input(body)
        with self._lock:
            self.billed_usd += prompt * GPT41_INPUT + output * GPT41_OUTPUT
            self.calls += 1
        return Reply.json(
            {
                "model": "gpt-4.1",
                "choices": [{"message": {"content": "x"}, "finish_reason": "length"}],
                "usage": {"prompt_tokens": prompt, "completion_tokens": output},
            }
        )


@pytest.fixture
async def paid() -> AsyncIterator[ReplayServer]:
    server = ReplayServer().start()
    yield server
    server.stop()


@pytest.fixture
async def ledger(tmp_path: Path) -> AsyncIterator[SQLiteLedger]:
    opened = SQLiteLedger(tmp_path / "ledger.db")
    yield opened
    await opened.close()


@pytest.fixture
async def openai(paid: ReplayServer) -> AsyncIterator[Provider]:
    provider = create_provider("openai", base_url=paid.url, api_key="sk-test")
    yield provider
    await provider.aclose()


def paid_only(ledger: SQLiteLedger, providers: dict[str, Provider], **options: Any) -> Any:
    settings: dict[str, Any] = {
        "coder": "none",
        "budget_profile": "unlimited",
        "free_models": [],
        "paid_models": ["gpt-4.1"],
        "ledger": ledger,
        "providers": providers,
    }
    settings.update(options)
    return UniversalLLMPrimitive(**settings)


async def spent_usd(ledger: SQLiteLedger) -> float:
    summary = await ledger.summary("default", current_month())
    assert summary.reserved_micros == 0
    return to_usd(summary.spent_micros)


# -- the output cap ----------------------------------------------------------------------


async def test_an_uncapped_paid_request_is_sent_the_cap_it_reserved(
    paid: ReplayServer, openai: Provider, ledger: SQLiteLedger
) -> None:
    paid.respond("/chat/completions", Biller())
    llm = paid_only(ledger, {"openai": openai}, monthly_limit=0.05)
    response = await llm.execute({"prompt": "Write a long essay"}, WorkflowContext())
    cap = response.routing.max_output_tokens
    assert paid.last.json["max_tokens"] == cap
    # The money left ($0.05) pays for fewer tokens than gpt-4.1's 32,768: the cap says so.
    assert 5_000 < cap < 6_250
    assert response.routing.reservation_usd is not None
    assert response.routing.reservation_usd <= 0.05
    assert response.usage.output_tokens == cap
    assert await spent_usd(ledger) <= 0.05


async def test_a_caller_max_tokens_is_kept_when_the_money_allows_it(
    paid: ReplayServer, openai: Provider, ledger: SQLiteLedger
) -> None:
    paid.respond("/chat/completions", Biller())
    llm = paid_only(ledger, {"openai": openai}, monthly_limit=10.0)
    response = await llm.execute({"prompt": "Hi", "max_tokens": 300}, WorkflowContext())
    assert paid.last.json["max_tokens"] == 300
    assert response.routing.max_output_tokens == 300


async def test_without_a_limit_the_cap_is_the_model_maximum(
    paid: ReplayServer, openai: Provider, ledger: SQLiteLedger
) -> None:
    paid.respond("/chat/completions", Biller())
    llm = paid_only(ledger, {"openai": openai})
    response = await llm.execute({"prompt": "Hi"}, WorkflowContext())
    assert paid.last.json["max_tokens"] == load_catalog()["gpt-4.1"].max_output_tokens
    assert response.routing.max_output_tokens == 32_768


async def test_eight_concurrent_uncapped_calls_stay_within_the_limit(
    paid: ReplayServer, openai: Provider, ledger: SQLiteLedger
) -> None:
    biller = Biller()
    paid.respond("/chat/completions", biller)
    llm = paid_only(ledger, {"openai": openai}, monthly_limit=0.30)
    outcomes = await asyncio.gather(
        *(llm.execute({"prompt": f"Essay {i}"}, WorkflowContext()) for i in range(8)),
        return_exceptions=True,
    )
    served = [o for o in outcomes if not isinstance(o, BaseException)]
    refused = [o for o in outcomes if isinstance(o, BaseException)]
    # The first reservation takes gpt-4.1's whole 32,768 tokens ($0.26); the calls that
    # lost the race decide again on what is left, with a cap that fits it.
    assert len(served) >= 2
    assert min(r.routing.max_output_tokens for r in served) < 32_768
    assert all(isinstance(e, LLMError) for e in refused)
    assert biller.billed_usd <= 0.30
    assert await spent_usd(ledger) <= 0.30
    assert await spent_usd(ledger) == pytest.approx(biller.billed_usd, abs=1e-5)


@pytest.mark.parametrize(
    ("content", "limit"),
    [
        # 19,500 characters billed as 19,500 tokens: $0.04 a call, 8 of them $0.32.
        pytest.param("请详细解释这个函数的作用。" * 1_500, 0.30, id="chinese"),
        # Four tiled images, 1,445 tokens each: $0.0125 a call, 8 of them $0.10.
        pytest.param(
            [{"type": "text", "text": "What is in these?"}]
            + [{"type": "image", "url": IMAGE_URL}] * 4,
            0.05,
            id="images",
        ),
    ],
)
async def test_chinese_and_image_prompts_stay_within_the_limit(
    paid: ReplayServer, openai: Provider, ledger: SQLiteLedger, content: Any, limit: float
) -> None:
    biller = Biller()
    paid.respond("/chat/completions", biller)
    llm = paid_only(ledger, {"openai": openai}, monthly_limit=limit)
    request = {"messages": [{"role": "user", "content": content}], "max_tokens": 100}
    await asyncio.gather(
        *(llm.execute(request, WorkflowContext()) for _ in range(8)), return_exceptions=True
    )
    assert biller.calls >= 1
    assert biller.billed_usd <= limit
    assert await spent_usd(ledger) == pytest.approx(biller.billed_usd, abs=1e-5)


async def test_anthropic_requests_carry_the_reserved_cap(
    paid: ReplayServer, ledger: SQLiteLedger
) -> None:
    paid.add(
        "/v1/messages",
        Reply.json(
            {
                "id": "msg_1",
                "model": "claude-haiku-4-5",
                "content": [{"type": "text", "text": "ok"}],
                "stop_reason": "end_turn",
                "usage": {"input_tokens": 20, "output_tokens": 2},
            }
        ),
    )
    provider = create_provider("anthropic", base_url=paid.url, api_key="sk-ant-test")
    try:
        llm = paid_only(
            ledger, {"anthropic": provider}, paid_models=["claude-haiku-4.5"], monthly_limit=0.1
        )
        response = await llm.execute({"prompt": "Hi"}, WorkflowContext())
    finally:
        await provider.aclose()
    cap = response.routing.max_output_tokens
    assert paid.last.json["max_tokens"] == cap
    # $0.1 at haiku's $5 a million output tokens: about 20,000 tokens, not the 64,000 maximum.
    assert 19_000 < cap < 20_000


async def test_gemini_requests_carry_the_reserved_cap(
    paid: ReplayServer, ledger: SQLiteLedger, tmp_path: Path
) -> None:
    entry = {
        "provider": "gemini", "model_id": "gemini-paid", "free": False,
        "price": {"input_usd_per_mtok": 1.25, "output_usd_per_mtok": 10.0},
        "max_output_tokens": 65_536, "quality": {"low": 0.9, "medium": 0.9, "high": 0.9},
    }  # fmt: skip
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps({"models": {"gemini-paid": entry}}), encoding="utf-8")
    answer = {
        "candidates": [{"content": {"parts": [{"text": "ok"}]}, "finishReason": "STOP"}],
        "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 1},
    }
    paid.add("/v1beta/models/gemini-paid:generateContent", Reply.json(answer))
    provider = create_provider("gemini", base_url=paid.url, api_key="g-test")
    try:
        llm = paid_only(
            ledger,
            {"gemini": provider},
            catalog=load_catalog(path),
            paid_models=["gemini-paid"],
            monthly_limit=0.1,
        )
        response = await llm.execute({"prompt": "Hi"}, WorkflowContext())
    finally:
        await provider.aclose()
    cap = response.routing.max_output_tokens
    assert paid.last.json["generationConfig"]["maxOutputTokens"] == cap
    assert 9_000 < cap < 10_000
    # Priced by the entry's own rates: 10 input and 1 output token.
    assert response.cost_usd == pytest.approx(10 * 1.25e-6 + 1 * 10e-6, abs=1e-6)


# -- max_cost_usd --------------------------------------------------------------------------


async def test_max_cost_usd_lowers_the_cap_so_the_call_fits(
    paid: ReplayServer, openai: Provider, ledger: SQLiteLedger
) -> None:
    biller = Biller()
    paid.respond("/chat/completions", biller)
    llm = paid_only(ledger, {"openai": openai}, monthly_limit=50.0)
    response = await llm.execute({"prompt": "Essay", "max_cost_usd": 0.01}, WorkflowContext())
    cap = paid.last.json["max_tokens"]
    assert cap == response.routing.max_output_tokens
    assert 1_000 < cap < 1_250
    assert response.routing.reservation_usd <= 0.01
    assert biller.billed_usd <= 0.01
    [entry] = await ledger.entries("default", current_month())
    assert entry.reserved_micros <= to_micros(0.01)


async def test_a_max_cost_usd_too_small_for_any_paid_call_calls_nothing(
    paid: ReplayServer, openai: Provider, ledger: SQLiteLedger
) -> None:
    llm = paid_only(ledger, {"openai": openai})
    with pytest.raises(BudgetExceededError, match="max_cost_usd"):
        await llm.execute({"prompt": "Essay", "max_cost_usd": 0.0001}, WorkflowContext())
    assert paid.requests == []
    assert await ledger.entries("default", current_month()) == []


@pytest.mark.parametrize("value", [True, "0.5", [0.5], -0.01, float("nan"), float("inf"), 1e30])
async def test_a_bad_max_cost_usd_is_refused_naming_the_field(
    paid: ReplayServer, openai: Provider, ledger: SQLiteLedger, value: object
) -> None:
    llm = paid_only(ledger, {"openai": openai})
    with pytest.raises(ValueError, match="max_cost_usd must be"):
        await llm.execute({"prompt": "Essay", "max_cost_usd": value}, WorkflowContext())
    assert paid.requests == []


# -- prices ----------------------------------------------------------------------------------


def catalog_with(tmp_path: Path, **entries: dict[str, Any]) -> Any:
    base = {"provider": "openai", "free": False, "quality": {"low": 1, "medium": 1, "high": 1}}
    models = {alias: {**base, "model_id": alias, **raw} for alias, raw in entries.items()}
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps({"models": models}), encoding="utf-8")
    return load_catalog(path)


@pytest.mark.parametrize(
    "price",
    [
        pytest.param({}, id="no-price"),
        pytest.param(
            {"price": {"provider_id": "openai", "model_ref": "gpt-9-unreleased"}},
            id="unknown-to-genai-prices",
        ),
    ],
)
async def test_a_paid_model_without_a_known_price_is_never_called(
    paid: ReplayServer, openai: Provider, ledger: SQLiteLedger, tmp_path: Path, price: Any
) -> None:
    catalog = catalog_with(tmp_path, **{"gpt-new": price})
    llm = paid_only(ledger, {"openai": openai}, catalog=catalog, paid_models=["gpt-new"])
    with pytest.raises(LLMError, match="input_usd_per_mtok") as info:
        await llm.execute({"prompt": "Hi"}, WorkflowContext())
    assert "gpt-new" in str(info.value)
    with pytest.raises(LLMError, match="no known price"):
        await llm.execute({"prompt": "Hi", "model": "gpt-new"}, WorkflowContext())
    assert paid.requests == []
    assert await ledger.entries("default", current_month()) == []


async def test_a_catalog_price_makes_a_new_model_usable_and_billed(
    paid: ReplayServer, openai: Provider, ledger: SQLiteLedger, tmp_path: Path
) -> None:
    rates = {"input_usd_per_mtok": 2.0, "output_usd_per_mtok": 8.0}
    catalog = catalog_with(tmp_path, **{"gpt-new": {"price": rates}})
    biller = Biller(answer_tokens=50)
    paid.respond("/chat/completions", biller)
    llm = paid_only(ledger, {"openai": openai}, catalog=catalog, paid_models=["gpt-new"])
    response = await llm.execute({"prompt": "Hi", "max_tokens": 100}, WorkflowContext())
    assert response.cost_usd == pytest.approx(biller.billed_usd)
    assert await spent_usd(ledger) == pytest.approx(biller.billed_usd, abs=1e-6)


def test_a_malformed_catalog_price_names_the_entry(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"gpt-new.*output_usd_per_mtok"):
        catalog_with(tmp_path, **{"gpt-new": {"price": {"input_usd_per_mtok": 2.0}}})
    with pytest.raises(ValueError, match=r"gpt-new.*dollars"):
        catalog_with(
            tmp_path,
            **{"gpt-new": {"price": {"input_usd_per_mtok": -1, "output_usd_per_mtok": 1}}},
        )


def test_anthropic_cache_writes_are_priced_at_the_cache_write_rate() -> None:
    from tta_dev_integrations.llm.pricing import cost_of
    from tta_dev_integrations.llm.types import Usage

    sonnet = load_catalog()["claude-sonnet-4.5"]
    plain = cost_of(sonnet, Usage(input_tokens=100_000)).usd
    written = cost_of(sonnet, Usage(input_tokens=100_000, cache_write_input_tokens=100_000))
    assert plain == pytest.approx(0.30)
    assert written.usd == pytest.approx(0.375)  # Anthropic: 1.25x the input rate


# -- usage that cannot be trusted --------------------------------------------------------


@pytest.mark.parametrize(
    "usage",
    [
        pytest.param({"prompt_tokens": -5_000, "completion_tokens": 10}, id="negative"),
        pytest.param({"prompt_tokens": 12.5, "completion_tokens": 10}, id="fractional"),
        pytest.param({"prompt_tokens": "many", "completion_tokens": 10}, id="text"),
        pytest.param({"prompt_tokens": 10, "completion_tokens": 10**9}, id="above-the-cap"),
    ],
)
async def test_untrusted_usage_settles_at_the_reservation_marked_estimated(
    paid: ReplayServer,
    openai: Provider,
    ledger: SQLiteLedger,
    usage: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    body = {
        "model": "gpt-4.1",
        "choices": [{"message": {"content": "ok"}, "finish_reason": "stop"}],
        "usage": usage,
    }
    paid.add("/chat/completions", Reply.json(body))
    llm = paid_only(ledger, {"openai": openai}, monthly_limit=1.0)
    with caplog.at_level(logging.WARNING):
        response = await llm.execute({"prompt": "Hi", "max_tokens": 100}, WorkflowContext())
    [entry] = await ledger.entries("default", current_month())
    assert entry.state == "settled"
    assert entry.actual_micros == to_micros(response.routing.reservation_usd)
    assert entry.measured is False
    assert "not trusted" in caplog.text
    assert response.cost_estimated
    assert to_micros(response.cost_usd) == entry.actual_micros


# -- which models a request may name ----------------------------------------------------


async def test_a_request_cannot_name_a_model_outside_the_instance_lists(
    paid: ReplayServer, openai: Provider, ledger: SQLiteLedger
) -> None:
    llm = paid_only(
        ledger, {"openai": openai}, budget_profile="careful", paid_models=["gpt-4o-mini"]
    )
    justified = {
        "reason": "needs the big one",
        "free_alternatives_tried": ["kimi"],
        "expected_quality_delta": "+30%",
    }
    with pytest.raises(ValueError, match=r"'gpt-4\.1'.*paid_models="):
        await llm.execute(
            {"prompt": "Hi", "model": "gpt-4.1", "justification": justified}, WorkflowContext()
        )
    assert paid.requests == []
