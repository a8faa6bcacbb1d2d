"""A paid stream that ends early is charged what the provider bills, never released at $0.

Providers bill the input from their first event and the output they generated, read
or not. Streams here come from a local replay server speaking Anthropic's and
OpenAI's event formats; assertions are on the SQLite ledger's entries.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from replay_server import ReplayServer, Reply, SSEReply
from tta_dev_integrations.llm import create_provider, load_catalog
from tta_dev_integrations.llm.budget.ledger import current_month, to_micros
from tta_dev_integrations.llm.budget.sqlite import SQLiteLedger
from tta_dev_integrations.llm.errors import ResponseError, StreamInterruptedError
from tta_dev_integrations.llm.pricing import cost_of
from tta_dev_integrations.llm.providers.base import Provider
from tta_dev_integrations.llm.types import Usage
from tta_dev_integrations.llm.universal import UniversalLLMPrimitive
from tta_dev_primitives import AllAlternativesFailedError, WorkflowContext

LONG_PROMPT = "Summarise this log line. " * 2_000  # about 10,000 tokens
HAIKU = load_catalog()["claude-haiku-4.5"]
GPT41 = load_catalog()["gpt-4.1"]


def anthropic_stream(input_tokens: int, words: int = 50) -> SSEReply:
    start = {
        "type": "message_start",
        "message": {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "content": [],
            "model": "claude-haiku-4-5",
            "usage": {"input_tokens": input_tokens, "output_tokens": 1},
        },
    }
    block = {"type": "content_block_start", "index": 0, "content_block": {"type": "text"}}
    events: list[tuple[str | None, Any]] = [
        ("message_start", start),
        ("content_block_start", block),
    ]
    for _ in range(words):
        delta = {"type": "text_delta", "text": "word "}
        events.append(
            ("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta})
        )
    usage = {"output_tokens": words}
    events.append(
        (
            "message_delta",
            {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": usage},
        )
    )
    events.append(("message_stop", {"type": "message_stop"}))
    return SSEReply(events)


def openai_chunk(text: str) -> tuple[None, Any]:
    return (
        None,
        {"model": "gpt-4.1", "choices": [{"delta": {"content": text}, "finish_reason": None}]},
    )


@pytest.fixture
async def server() -> AsyncIterator[ReplayServer]:
    replay = ReplayServer().start()
    yield replay
    replay.stop()


@pytest.fixture
async def ledger(tmp_path: Path) -> AsyncIterator[SQLiteLedger]:
    opened = SQLiteLedger(tmp_path / "ledger.db")
    yield opened
    await opened.close()


@pytest.fixture
async def providers(server: ReplayServer) -> AsyncIterator[dict[str, Provider]]:
    made = {
        "anthropic": create_provider("anthropic", base_url=server.url, api_key="sk-ant-test"),
        "openai": create_provider("openai", base_url=server.url, api_key="sk-test"),
    }
    yield made
    for provider in made.values():
        await provider.aclose()


def paid(ledger: SQLiteLedger, providers: dict[str, Provider], model: str) -> UniversalLLMPrimitive:
    return UniversalLLMPrimitive(
        coder="none",
        budget_profile="unlimited",
        monthly_limit=100.0,
        free_models=[],
        paid_models=[model],
        ledger=ledger,
        providers=providers,
    )


async def test_ten_streams_stopped_after_their_first_text_are_charged_their_input(
    server: ReplayServer, ledger: SQLiteLedger, providers: dict[str, Provider]
) -> None:
    for _ in range(10):
        server.add("/v1/messages", anthropic_stream(input_tokens=10_000))
    llm = paid(ledger, providers, "claude-haiku-4.5")
    for _ in range(10):
        async with llm.stream(
            {"prompt": LONG_PROMPT, "max_tokens": 500}, WorkflowContext()
        ) as stream:
            async for _text in stream:
                break
    entries = await ledger.entries("default", current_month())
    assert len(entries) == 10
    at_least = to_micros(cost_of(HAIKU, Usage(10_000, 1)).usd)
    for entry in entries:
        assert entry.state == "settled"
        assert entry.measured is False
        assert entry.actual_micros >= at_least  # the 10,000 input tokens Anthropic reported
        assert entry.actual_micros <= entry.reserved_micros
    summary = await ledger.summary("default", current_month())
    assert summary.reserved_micros == 0
    assert summary.spent_micros >= 10 * at_least


async def test_an_abandoned_stream_is_settled_when_it_is_finalized(
    server: ReplayServer, ledger: SQLiteLedger, providers: dict[str, Provider]
) -> None:
    server.add("/v1/messages", anthropic_stream(input_tokens=10_000))
    llm = paid(ledger, providers, "claude-haiku-4.5")
    stream = llm.stream({"prompt": LONG_PROMPT, "max_tokens": 500}, WorkflowContext())
    async for _text in stream:
        break
    del stream, _text
    gc.collect()
    for _ in range(200):  # the event loop closes the abandoned generator in a task
        [entry] = await ledger.entries("default", current_month())
        if entry.state != "reserved":
            break
        await asyncio.sleep(0.01)
    assert entry.state == "settled"
    assert entry.actual_micros >= to_micros(cost_of(HAIKU, Usage(10_000, 1)).usd)


@pytest.mark.parametrize(
    "ending",
    [
        pytest.param(
            SSEReply([openai_chunk("Hello "), openai_chunk("world")], abort=True), id="cut"
        ),
        pytest.param(SSEReply([openai_chunk("Hello "), (None, "{not json")]), id="garbled"),
    ],
)
async def test_a_cut_or_garbled_stream_is_charged_an_estimate(
    server: ReplayServer, ledger: SQLiteLedger, providers: dict[str, Provider], ending: SSEReply
) -> None:
    server.add("/chat/completions", ending)
    llm = paid(ledger, providers, "gpt-4.1")
    stream = llm.stream({"prompt": LONG_PROMPT, "max_tokens": 500}, WorkflowContext())
    with pytest.raises(StreamInterruptedError) as info:
        await stream.text()
    assert info.value.partial_text.startswith("Hello ")
    [entry] = await ledger.entries("default", current_month())
    assert entry.state == "settled"
    assert entry.measured is False
    # No usage came: the input's upper bound (a token a byte) and the output received.
    input_bound = len(LONG_PROMPT.encode())
    assert entry.actual_micros >= to_micros(cost_of(GPT41, Usage(input_bound, 0)).usd)
    assert entry.actual_micros <= entry.reserved_micros


async def test_a_stream_refused_before_answering_is_released_and_falls_back(
    server: ReplayServer, ledger: SQLiteLedger, providers: dict[str, Provider]
) -> None:
    busy = {"error": {"message": "overloaded", "type": "server_error"}}
    server.add("/chat/completions", Reply.json(busy, status=503))
    server.add("/v1/messages", anthropic_stream(input_tokens=12, words=3))
    llm = UniversalLLMPrimitive(
        coder="none",
        budget_profile="unlimited",
        monthly_limit=100.0,
        free_models=[],
        paid_models=["gpt-4.1", "claude-haiku-4.5"],
        ledger=ledger,
        providers=providers,
    )
    request = {"prompt": "Hi", "max_tokens": 50, "complexity": "low"}
    stream = llm.stream(request, WorkflowContext())
    assert await stream.text() == "word word word "
    entries = await ledger.entries("default", current_month())
    states = {e.model: (e.state, e.measured) for e in entries}
    # gpt-4.1 ranks first on the low tier; it answered 503 before streaming: nothing billed.
    assert states == {"gpt-4.1": ("released", True), "claude-haiku-4.5": ("settled", True)}


async def test_a_slow_stream_renews_its_lease_so_it_is_never_reclaimed(
    server: ReplayServer, ledger: SQLiteLedger, providers: dict[str, Provider]
) -> None:
    server.add("/v1/messages", anthropic_stream(input_tokens=20, words=3))
    llm = UniversalLLMPrimitive(
        coder="none",
        budget_profile="unlimited",
        monthly_limit=100.0,
        free_models=[],
        paid_models=["claude-haiku-4.5"],
        ledger=ledger,
        providers=providers,
        lease_s=0.3,
    )
    reclaimed = 0
    async with llm.stream({"prompt": "Hi", "max_tokens": 50}, WorkflowContext()) as stream:
        async for _text in stream:
            await asyncio.sleep(0.4)  # a reader slower than the lease
            reclaimed += await ledger.reclaim_expired()
    assert reclaimed == 0
    [entry] = await ledger.entries("default", current_month())
    assert entry.state == "settled"
    assert entry.measured is True
    assert entry.unconfirmed is False


async def test_a_plain_answer_that_cannot_be_read_is_charged_not_released(
    server: ReplayServer, ledger: SQLiteLedger, providers: dict[str, Provider]
) -> None:
    server.add("/chat/completions", Reply.raw('{"choices": [{"message": {"content": "cut'))
    llm = paid(ledger, providers, "gpt-4.1")
    with pytest.raises(AllAlternativesFailedError) as info:
        await llm.execute({"prompt": "Hi", "max_tokens": 100}, WorkflowContext())
    assert isinstance(info.value.exceptions[0], ResponseError)
    [entry] = await ledger.entries("default", current_month())
    assert entry.state == "settled"  # billed by the provider: charged at the reservation
    assert entry.measured is False
    assert entry.actual_micros == entry.reserved_micros
