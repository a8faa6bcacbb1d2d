"""Server-sent event lines end at CR, LF or CRLF, and nowhere else.

A model's answer may contain U+2028, U+2029, U+0085 or another character that
``str.splitlines`` treats as a line break; sent raw inside an event's JSON (as
providers do), it must not cut the event in two. Every provider's stream is replayed
over a real socket with each of them in the text.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from provider_wire import MODEL_IDS, WIRES
from replay_server import ReplayServer, Reply, SSEReply
from tta_dev_integrations.llm import LLMPrimitive, create_provider
from tta_dev_integrations.llm.catalog import Catalog, ModelInfo
from tta_dev_integrations.llm.providers.base import sse_lines
from tta_dev_primitives import WorkflowContext

# Every character str.splitlines() breaks at besides CR and LF.
SEPARATORS = ["\u2028", "\u2029", "\u0085", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e"]
TEXT = "one" + "".join(f"{sep}part {i}" for i, sep in enumerate(SEPARATORS)) + " end"


async def chunks(*texts: str) -> AsyncIterator[str]:
    for text in texts:
        yield text


async def lines_of(*texts: str) -> list[str]:
    return [line async for line in sse_lines(chunks(*texts))]


@pytest.mark.parametrize(
    ("texts", "expected"),
    [
        (["a\nb\n"], ["a", "b"]),
        (["a\r\nb\r\n"], ["a", "b"]),
        (["a\rb\r"], ["a", "b"]),
        (["a\r", "\nb\n"], ["a", "b"]),  # one CRLF across two chunks: one line end
        (["a\r", "b\n"], ["a", "b"]),  # a lone CR at a chunk's end is a line end
        (["a\n\nb"], ["a", "", "b"]),  # blank line kept (it ends an event); tail kept
        (["da", "ta: x\u2028y\n"], ["data: x\u2028y"]),
        ([f"data: {TEXT}\n"], [f"data: {TEXT}"]),
        (["tail\r"], ["tail"]),
    ],
)
async def test_lines_end_only_at_cr_lf_or_crlf(texts: list[str], expected: list[str]) -> None:
    assert await lines_of(*texts) == expected


def raw_events(reply: SSEReply) -> SSEReply:
    """The same events with their JSON as providers send it: non-ASCII unescaped."""

    def raw(data: Any) -> str:
        return data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)

    return SSEReply([(name, raw(data)) for name, data in reply.events])


@pytest.mark.parametrize("name", sorted(WIRES))
async def test_every_provider_streams_text_with_unicode_line_separators(name: str) -> None:
    info = ModelInfo(
        alias="m", provider=name, model_id=MODEL_IDS[name], free=True, context_window=8192,
        capabilities=frozenset(), quality={"low": 0.5, "medium": 0.5, "high": 0.5},
        quality_source="", price=None, free_tier=None, extra={},
    )  # fmt: skip
    wire = WIRES[name]
    with ReplayServer() as server:
        reply = raw_events(wire.stream(TEXT))
        wire_text = b"".join(reply.encoded()).decode()
        assert all(sep in wire_text for sep in SEPARATORS[:3])  # raw, not \u-escaped
        server.add(wire.path(True), reply)
        provider = create_provider(name, base_url=server.url, api_key="k")
        try:
            llm = LLMPrimitive("m", catalog=Catalog({"m": info}, {}), provider=provider)
            stream = llm.stream("Say it", WorkflowContext())
            assert await stream.text() == TEXT
            assert stream.response is not None
            assert stream.response.content == TEXT
        finally:
            await provider.aclose()


async def test_a_body_with_cr_line_ends_is_read() -> None:
    events = raw_events(WIRES["openai"].stream(TEXT)).encoded()
    body = b"".join(events).replace(b"\n", b"\r")
    info = ModelInfo(
        alias="m", provider="openai", model_id=MODEL_IDS["openai"], free=True,
        context_window=8192, capabilities=frozenset(),
        quality={"low": 0.5, "medium": 0.5, "high": 0.5}, quality_source="", price=None,
        free_tier=None, extra={},
    )  # fmt: skip
    with ReplayServer() as server:
        server.add("/chat/completions", Reply.raw(body, content_type="text/event-stream"))
        provider = create_provider("openai", base_url=server.url, api_key="k")
        try:
            llm = LLMPrimitive("m", catalog=Catalog({"m": info}, {}), provider=provider)
            assert await llm.stream("Say it", WorkflowContext()).text() == TEXT
        finally:
            await provider.aclose()
