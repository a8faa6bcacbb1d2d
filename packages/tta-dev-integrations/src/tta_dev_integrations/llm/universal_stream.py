"""Streaming through ``UniversalLLMPrimitive``: routed, budgeted and settled per call.

A stream that ends early is settled at what the provider bills, never released at $0
once the provider started answering: it bills the input from its first event and the
output it generated. Stopping early (``break`` then :meth:`UniversalStream.aclose`, or
leaving ``async with``), a cut connection, an event that cannot be read, or a
cancelled caller all settle the call at the usage the provider reported so far
(Anthropic reports the input tokens in its first event) with the output received,
else at the input upper bound plus the output received, marked *estimated*
(:mod:`~tta_dev_integrations.llm.settlement`). A stream the provider refused before
answering (an HTTP error) is released and the next candidate tried.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from time import perf_counter
from types import TracebackType
from typing import TYPE_CHECKING, Any

from tta_dev_integrations.llm.attempts import Attempt, QuotaExhausted
from tta_dev_integrations.llm.budget.core import finish_despite_cancel
from tta_dev_integrations.llm.budget.ledger import (
    BudgetExceededError,
    LedgerUnavailableError,
)
from tta_dev_integrations.llm.errors import LLMError
from tta_dev_integrations.llm.primitive import LLMStream, RequestLike
from tta_dev_integrations.llm.settlement import output_token_bound, settle_figures
from tta_dev_integrations.llm.types import LLMResponse
from tta_dev_primitives import WorkflowContext

if TYPE_CHECKING:
    from tta_dev_integrations.llm.universal import UniversalLLMPrimitive

__all__ = ["UniversalStream"]


class UniversalStream:
    """A routed, budgeted stream: iterate for text; ``response`` is set at the end.

    To stop reading early, ``break`` and then ``await stream.aclose()`` (or iterate
    inside ``async with llm.stream(...) as stream``): the call is settled right away at
    what the provider bills for it. An abandoned stream is settled when Python
    finalizes it.
    """

    def __init__(
        self, llm: UniversalLLMPrimitive, input_data: RequestLike, context: WorkflowContext
    ) -> None:
        self.llm = llm
        self.input_data = input_data
        self.context = context
        self.response: LLMResponse | None = None
        self._running: AsyncGenerator[str, None] | None = None

    def __aiter__(self) -> AsyncIterator[str]:
        self._running = self._run()
        return self._running

    async def __aenter__(self) -> UniversalStream:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop the stream; a paid call is settled at what it was billed so far."""
        if self._running is not None:
            await self._running.aclose()

    async def text(self) -> str:
        """Consume the stream and return the whole text."""
        return "".join([delta async for delta in self])

    async def _run(self) -> AsyncGenerator[str, None]:
        llm = self.llm
        routing = await llm._prepare(self.input_data, self.context)
        while True:
            summary = await llm._month(routing)
            call = llm._next_call(routing, llm._left(summary))
            try:
                reserved_usd = await llm._begin(call)
            except (BudgetExceededError, QuotaExhausted, LedgerUnavailableError) as error:
                llm._note_failure(routing, call, error)
                continue
            inner = llm._primitive(call.model.alias).stream(call.request, call.context)
            deltas = aiter(inner)
            started = perf_counter()
            keeper = llm._keep_lease(call)  # a long stream renews its lease as it goes
            try:
                async for delta in deltas:
                    yield delta
            except LLMError as error:
                await _close(deltas)
                await self._ended_early(call, inner, perf_counter() - started, error)
                if inner.partial_text:
                    raise  # text already handed out cannot be taken back
                llm._note_failure(routing, call, error)
                continue
            except BaseException as error:
                await _close(deltas)  # the provider stops generating once we hang up
                await self._ended_early(call, inner, perf_counter() - started, error)
                raise
            finally:
                keeper.cancel()
            assert inner.response is not None
            self.response = await llm._end(call, inner.response, reserved_usd)
            return

    async def _ended_early(
        self, call: Attempt, inner: LLMStream, latency: float, error: BaseException
    ) -> None:
        """Settle (or release) a call whose stream did not finish; see the module."""
        llm = self.llm
        if call.model.free or not inner.answering:
            if isinstance(error, LLMError) or call.model.free:
                await llm._abort(call, latency, failed=isinstance(error, LLMError))
            else:  # cancelled while the request was out: charged like a plain call
                await llm._abandon(call, latency)
            return
        assert call.bound is not None  # every paid attempt has one
        figures = settle_figures(
            call.model,
            call.bound,
            call.reserved_micros,
            inner.usage_seen,
            output_token_bound(inner.partial_text),
            complete=False,
            request_id=call.request_id,
        )
        settlement: dict[str, Any] = {
            "request_id": call.request_id,
            "actual_micros": figures.actual_micros,
            "ok": False,
            "measured": False,
            "latency_s": latency,
            "input_tokens": figures.input_tokens,
            "output_tokens": figures.output_tokens,
        }
        await finish_despite_cancel(llm._settle(settlement))


async def _close(deltas: AsyncIterator[str]) -> None:
    """Close the provider's stream (its HTTP connection) if it is a generator."""
    close = getattr(deltas, "aclose", None)
    if close is not None:
        await close()
