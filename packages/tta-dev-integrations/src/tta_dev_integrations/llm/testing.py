"""Test doubles for code that calls LLMs: a scripted model and a model backed by a function.

:class:`TestModel` and :class:`FunctionModel` are providers: put one behind the real
``LLMPrimitive`` (or ``UniversalLLMPrimitive(providers=...)``) and the code under test
runs its real path (request building, spans, metrics, pricing, the ledger) with
answers you choose, offline and deterministic::

    from tta_dev_integrations.llm import LLMPrimitive
    from tta_dev_integrations.llm.testing import TestModel, TestReply

    model = TestModel([TestReply(tool_calls=[tool_call("calculator", x="1+1")]), "It is 2."])
    llm = LLMPrimitive("gpt-4o-mini", provider=model)   # priced as gpt-4o-mini
    ...
    assert model.prompts == ["What is 1+1?", ...]

A script item is a string (the answer), a :class:`TestReply` (text, tool calls,
usage, finish reason, a stream cut short) or an exception (raised as the provider's
failure, e.g. ``RateLimitError(...)``). Usage is reported as the provider would,
counting one token per word unless the reply gives its own, so cost and budget code
sees measured, not estimated, counts. Streams yield the answer in small pieces.
"""

from __future__ import annotations

import asyncio
import inspect
from abc import abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from tta_dev_integrations.llm.errors import StreamInterruptedError
from tta_dev_integrations.llm.providers.base import Provider, Reply, StreamPiece
from tta_dev_integrations.llm.types import LLMRequest, ToolCall, Usage

__all__ = ["FunctionModel", "TestModel", "TestReply", "tool_call", "word_tokens"]


def word_tokens(text: str) -> int:
    """The token count a test double reports for ``text``: one per word (at least 1)."""
    return max(1, len(text.split()))


def tool_call(name: str, *, call_id: str | None = None, **arguments: Any) -> ToolCall:
    """A :class:`ToolCall` for a script: ``tool_call("search", query="retry")``."""
    return ToolCall(id=call_id or f"call_{name}", name=name, arguments=dict(arguments))


@dataclass(frozen=True, slots=True)
class TestReply:
    """One scripted answer.

    ``usage`` is what the provider reports (default: words of the prompt and of the
    answer); ``finish_reason`` defaults to ``tool_calls`` when there are tool calls,
    else ``stop``. ``cut_after``: a stream of this answer breaks (``StreamInterruptedError``)
    after that many characters, as a dropped connection does.
    """

    __test__ = False  # not a pytest test class, whatever its name

    content: str = ""
    tool_calls: Sequence[ToolCall] = ()
    usage: Usage | None = None
    finish_reason: str | None = None
    cut_after: int | None = None
    delay_s: float = 0.0


Script = str | TestReply | BaseException


def _prompt_text(request: LLMRequest) -> str:
    return "\n".join(message.text for message in request.messages)


class _DoubleProvider(Provider):
    """What both doubles share: recording requests, building replies, streaming them."""

    def __init__(self, name: str, chunk_size: int) -> None:
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1, got {chunk_size!r}")
        self.name = name
        self.chunk_size = chunk_size
        #: Every request received, with the model id it was sent to, in order.
        self.requests: list[LLMRequest] = []
        self.model_ids: list[str] = []
        #: Calls being answered now, and the most seen at once (for concurrency limits).
        self.in_flight = 0
        self.most_in_flight = 0

    @property
    def prompts(self) -> list[str]:
        """The last message's text of every request, in order (what the model was asked)."""
        return [request.messages[-1].text if request.messages else "" for request in self.requests]

    @abstractmethod
    async def _next(self, request: LLMRequest) -> TestReply:
        """The reply to ``request``: the next scripted one, or the function's."""

    async def _reply(self, request: LLMRequest, model_id: str) -> TestReply:
        self.requests.append(request)
        self.model_ids.append(model_id)
        reply = await self._next(request)
        if reply.delay_s:
            await asyncio.sleep(reply.delay_s)
        return reply

    def _enter(self) -> None:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)

    @staticmethod
    def _usage(request: LLMRequest, reply: TestReply) -> Usage:
        if reply.usage is not None:
            return reply.usage
        return Usage(
            input_tokens=word_tokens(_prompt_text(request)),
            output_tokens=word_tokens(reply.content) if reply.content else 0,
        )

    @staticmethod
    def _finish(reply: TestReply) -> str:
        return reply.finish_reason or ("tool_calls" if reply.tool_calls else "stop")

    async def complete(self, request: LLMRequest, model_id: str) -> Reply:
        """The scripted answer to ``request``, with its usage; raises a scripted failure."""
        self._enter()
        try:
            reply = await self._reply(request, model_id)
        finally:
            self.in_flight -= 1
        return Reply(
            content=reply.content,
            finish_reason=self._finish(reply),
            usage=self._usage(request, reply),
            provider_model=model_id,
            tool_calls=tuple(reply.tool_calls),
            response_id=f"test-{len(self.requests)}",
        )

    async def stream(self, request: LLMRequest, model_id: str) -> AsyncIterator[StreamPiece]:
        """The scripted answer in pieces of ``chunk_size`` characters, usage at the end."""
        self._enter()
        try:
            async for piece in self._pieces(request, model_id):
                yield piece
        finally:
            self.in_flight -= 1

    async def _pieces(self, request: LLMRequest, model_id: str) -> AsyncIterator[StreamPiece]:
        reply = await self._reply(request, model_id)
        text = reply.content
        end = len(text) if reply.cut_after is None else min(reply.cut_after, len(text))
        for start in range(0, end, self.chunk_size):
            yield StreamPiece(text=text[start : min(start + self.chunk_size, end)])
            await asyncio.sleep(0)
        if reply.cut_after is not None:
            raise StreamInterruptedError(
                f"{self.name}: the scripted stream was cut after {end} characters"
            )
        yield StreamPiece(
            usage=self._usage(request, reply),
            finish_reason=self._finish(reply),
            provider_model=model_id,
            tool_calls=tuple(reply.tool_calls),
            done=True,
            response_id=f"test-{len(self.requests)}",
        )


class TestModel(_DoubleProvider):
    """A provider that answers from a script, in order; nothing leaves the process.

    ``replies`` are strings, :class:`TestReply` objects or exceptions (raised as that
    call's failure). Past the end of the script, ``default`` answers every call; with
    no default, a call past the end fails the test with an ``AssertionError``.
    """

    __test__ = False  # not a pytest test class, whatever its name

    def __init__(
        self,
        replies: Iterable[Script] = (),
        *,
        default: str | TestReply | None = None,
        name: str = "test",
        chunk_size: int = 4,
    ) -> None:
        super().__init__(name, chunk_size)
        self._script: list[Script] = list(replies)
        self.default = default

    @property
    def remaining(self) -> int:
        """Scripted replies not used yet."""
        return len(self._script)

    async def _next(self, request: LLMRequest) -> TestReply:
        if self._script:
            item = self._script.pop(0)
        elif self.default is not None:
            item = self.default
        else:
            raise AssertionError(
                f"TestModel {self.name!r} was called {len(self.requests)} times but scripted "
                f"for {len(self.requests) - 1}; add replies or a default="
            )
        if isinstance(item, BaseException):
            raise item
        return TestReply(content=item) if isinstance(item, str) else item


class FunctionModel(_DoubleProvider):
    """A provider whose answer is ``answer(request)``, for answers that depend on the request.

    ``answer`` returns a string or a :class:`TestReply`, or raises; plain or async.
    """

    __test__ = False

    def __init__(
        self,
        answer: Callable[[LLMRequest], str | TestReply | Awaitable[str | TestReply]],
        *,
        name: str = "function",
        chunk_size: int = 4,
    ) -> None:
        super().__init__(name, chunk_size)
        self.answer = answer

    async def _next(self, request: LLMRequest) -> TestReply:
        result = self.answer(request)
        if inspect.isawaitable(result):
            result = await result
        return TestReply(content=result) if isinstance(result, str) else result
