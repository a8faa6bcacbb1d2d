"""The monthly limit under a concurrent mix, against a server that bills like a provider.

Sixteen callers share one scope's limit on SQLite and on PostgreSQL and send a mix of
requests through ``UniversalLLMPrimitive``: plain ones with a cap, *uncapped* ones that
the server answers as long as the cap it receives allows, Chinese prompts (about one
token per character), prompts with an image, and streams of a 10,000-token prompt that
the caller stops after the first text. The "paid" server bills each request the way a
provider does (input tokens counted its own way, the output it generated, streamed or
not) and keeps its bill. Afterwards:

- the ledger never holds more than the limit, and nothing is left reserved;
- what the ledger measured equals what the server billed for the answers it reported
  usage for (to the micro-dollar per call, from rounding up);
- what the ledger estimated (the stopped streams) is never below what the server billed
  for them, and at most the documented margin above it (input counted one token per
  UTF-8 byte: at most 4x a real tokenizer's count on this text).
"""

from __future__ import annotations

import asyncio
import base64
import struct
import threading
import zlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import postgres_for_tests
from replay_server import RecordedRequest, ReplayServer, Reply, SSEReply
from tta_dev_integrations.llm import create_provider, load_catalog
from tta_dev_integrations.llm.budget.ledger import (
    BudgetExceededError,
    Ledger,
    current_month,
    to_micros,
)
from tta_dev_integrations.llm.budget.postgres import PostgresLedger
from tta_dev_integrations.llm.budget.sqlite import SQLiteLedger
from tta_dev_integrations.llm.pricing import cost_of
from tta_dev_integrations.llm.types import Usage
from tta_dev_integrations.llm.universal import UniversalLLMPrimitive
from tta_dev_primitives import WorkflowContext

GPT41 = load_catalog()["gpt-4.1"]
LIMIT_USD = 1.50
CALLERS = 16
ROUNDS = 4
LONG_PROMPT = "Summarise this log line. " * 2_000  # about 10,000 tokens
CHINESE = "请把下面的日志总结成一句话并指出最可能的原因。" * 40
STREAM_CHUNKS = 40
JUSTIFIED = {
    "reason": "The answer must be exact; the free model got it wrong in review",
    "free_alternatives_tried": [],
    "expected_quality_delta": "+20%",
}


def _png(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    rows = b"".join(b"\x00" + b"\x80" * (3 * width) for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


PNG_B64 = base64.b64encode(_png(512, 512)).decode()


def real_tokens(text: str) -> int:
    """The server's tokenizer: a CJK character is a token, four ASCII bytes are one."""
    wide = sum(1 for ch in text if ord(ch) > 127)
    narrow = len(text) - wide
    return wide + -(-narrow // 4)


@dataclass
class BillingServer:
    """An OpenAI-compatible server that answers as long as the cap allows and bills it."""

    replay: ReplayServer = field(default_factory=ReplayServer)
    billed_measured: int = 0  # micro-dollars, answers whose usage the client sees
    billed_streams: int = 0  # micro-dollars, streams (the client stops early)
    uncapped: int = 0  # requests that arrived without an output cap
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> BillingServer:
        self.replay.respond("/chat/completions", self._answer)
        self.replay.start()
        return self

    def _answer(self, request: RecordedRequest) -> Reply | SSEReply:
        body = request.json
        cap = body.get("max_completion_tokens") or body.get("max_tokens")
        text = "".join(
            part if isinstance(part, str) else part.get("text", "")
            for message in body["messages"]
            for part in (
                [message["content"]] if isinstance(message["content"], str)
                else message["content"]
            )
        )  # fmt: skip
        images = sum(
            1
            for message in body["messages"]
            if isinstance(message["content"], list)
            for part in message["content"]
            if part.get("type") == "image_url"
        )
        # OpenAI's rule for a 512x512 image in high detail: 85 + 170 per 512px tile.
        input_tokens = real_tokens(text) + 255 * images
        with self.lock:
            if cap is None:
                self.uncapped += 1
        if body.get("stream"):
            output = 5 * STREAM_CHUNKS
            with self.lock:
                self.billed_streams += to_micros(cost_of(GPT41, Usage(input_tokens, output)).usd)
            chunk = {"model": "gpt-4.1", "choices": [{"delta": {"content": "word word "}}]}
            events: list[tuple[str | None, Any]] = [(None, chunk)] * STREAM_CHUNKS
            return SSEReply([*events, (None, "[DONE]")])
        # Without a cap the answer would be 16,000 tokens; with one, the cap.
        output = min(int(cap or 16_000), 16_000)
        with self.lock:
            self.billed_measured += to_micros(cost_of(GPT41, Usage(input_tokens, output)).usd)
        return Reply.json(
            {
                "model": "gpt-4.1",
                "choices": [{"message": {"content": "done"}, "finish_reason": "length"}],
                "usage": {"prompt_tokens": input_tokens, "completion_tokens": output},
            }
        )


@pytest.fixture
def billing() -> Iterator[BillingServer]:
    server = BillingServer().start()
    yield server
    server.replay.stop()


@pytest.fixture(scope="module")
def postgres_database() -> Iterator[str]:
    with postgres_for_tests.test_database() as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.needs("postgresql"))])
async def shared_ledger(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[str, str]]:
    if request.param == "sqlite":
        yield "sqlite", str(tmp_path / "ledger.db")
        return
    database = request.getfixturevalue("postgres_database")
    with postgres_for_tests.schema(database) as url:
        yield "postgres", url


def _a_refusal(error: BaseException) -> bool:
    """The budget said no (maybe for every candidate model), and nothing else went wrong."""
    if isinstance(error, BaseExceptionGroup):
        return all(_a_refusal(inner) for inner in error.exceptions)
    return isinstance(error, BudgetExceededError) or "no model" in str(error)


def _open(kind: str, target: str) -> Ledger:
    return SQLiteLedger(target) if kind == "sqlite" else PostgresLedger(target)


def _requests(caller: int) -> list[tuple[str, dict[str, Any]]]:
    plain = {"prompt": f"[{caller}] Review this diff.", "max_tokens": 800}
    uncapped = {"prompt": f"[{caller}] Write the whole migration guide."}
    chinese = {"prompt": f"[{caller}] {CHINESE}", "max_tokens": 400}
    image = {
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": f"[{caller}] What does this chart show?"},
                    {"type": "image", "data": PNG_B64, "media_type": "image/png"},
                ],
            }
        ],
        "max_tokens": 300,
    }
    stream = {"prompt": f"[{caller}] {LONG_PROMPT}", "max_tokens": 2_000}
    mix = [("call", plain), ("call", uncapped), ("call", chinese), ("call", image)]
    return [*mix, ("stream", stream)]


async def test_a_concurrent_mix_stays_within_the_limit_and_matches_the_bill(
    billing: BillingServer, shared_ledger: tuple[str, str]
) -> None:
    kind, target = shared_ledger
    provider = create_provider("openai", base_url=billing.replay.url, api_key="sk-stress")

    refusals: list[Exception] = []

    async def caller(number: int) -> None:
        ledger = _open(kind, target)
        llm = UniversalLLMPrimitive(
            coder="none",
            budget_profile="unlimited",
            monthly_limit=LIMIT_USD,
            free_models=[],
            paid_models=["gpt-4.1"],
            scope="stress",
            ledger=ledger,
            providers={"openai": provider},
        )
        try:
            for _ in range(ROUNDS):
                for how, request in _requests(number):
                    body = {**request, "complexity": "high", "justification": JUSTIFIED}
                    try:
                        if how == "call":
                            await llm.execute(body, WorkflowContext())
                            continue
                        async with llm.stream(body, WorkflowContext()) as stream:
                            async for _ in stream:
                                break  # the caller stops after the first text
                    except Exception as error:  # refusals are the point; nothing else may fail
                        refusals.append(error)
        finally:
            await ledger.close()

    try:
        await asyncio.gather(*(caller(n) for n in range(CALLERS)))
    finally:
        await provider.aclose()

    ledger = _open(kind, target)
    try:
        summary = await ledger.summary("stress", current_month())
        entries = await ledger.entries("stress", current_month())
    finally:
        await ledger.close()
    unexpected = [e for e in refusals if not _a_refusal(e)]
    assert unexpected == []
    assert refusals  # the limit was reached
    limit = to_micros(LIMIT_USD)
    assert summary.reserved_micros == 0
    assert summary.spent_micros <= limit
    assert summary.spent_micros > limit // 2  # the limit was really contended
    assert billing.uncapped == 0  # every paid request carried the cap it reserved
    settled = [e for e in entries if e.state == "settled"]
    measured = sum(e.actual_micros for e in settled if e.measured)
    estimated = sum(e.actual_micros for e in settled if not e.measured)
    calls_measured = sum(1 for e in settled if e.measured)
    assert billing.billed_measured <= measured <= billing.billed_measured + calls_measured
    assert estimated >= billing.billed_streams
    assert estimated <= 4 * billing.billed_streams + 1_000
    assert summary.spent_micros == measured + estimated
