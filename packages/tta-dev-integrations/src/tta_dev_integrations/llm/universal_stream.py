"""Streaming through ``UniversalLLMPrimitive``: routed, budgeted and settled per call."""

from __future__ import annotations

from collections.abc import AsyncIterator
from time import perf_counter
from typing import TYPE_CHECKING

from tta_dev_integrations.llm.attempts import QuotaExhausted
from tta_dev_integrations.llm.budget.ledger import BudgetExceededError, LedgerUnavailableError
from tta_dev_integrations.llm.errors import LLMError
from tta_dev_integrations.llm.primitive import RequestLike
from tta_dev_integrations.llm.types import LLMResponse
from tta_dev_primitives import WorkflowContext

if TYPE_CHECKING:
    from tta_dev_integrations.llm.universal import UniversalLLMPrimitive

__all__ = ["UniversalStream"]


class UniversalStream:
    """A routed, budgeted stream: iterate for text; ``response`` is set at the end."""

    def __init__(
        self, llm: UniversalLLMPrimitive, input_data: RequestLike, context: WorkflowContext
    ) -> None:
        self.llm = llm
        self.input_data = input_data
        self.context = context
        self.response: LLMResponse | None = None

    def __aiter__(self) -> AsyncIterator[str]:
        return self._run()

    async def text(self) -> str:
        """Consume the stream and return the whole text."""
        return "".join([delta async for delta in self])

    async def _run(self) -> AsyncIterator[str]:
        llm = self.llm
        routing = await llm._prepare(self.input_data, self.context)
        while True:
            summary = await llm._read_summary(routing.scope, routing.month)
            call = llm._next_call(routing, llm._left(summary))
            try:
                reserved_usd = await llm._begin(call)
            except (BudgetExceededError, QuotaExhausted, LedgerUnavailableError) as error:
                llm._note_failure(routing, call, error)
                continue
            inner = llm._primitive(call.model.alias).stream(call.request, call.context)
            started = perf_counter()
            answered = False
            try:
                async for delta in inner:
                    answered = True
                    yield delta
            except LLMError as error:
                await llm._abort(call, perf_counter() - started, failed=True)
                if answered:
                    raise
                llm._note_failure(routing, call, error)
                continue
            except BaseException:
                await llm._abort(call, perf_counter() - started, failed=False)
                raise
            assert inner.response is not None
            self.response = await llm._end(call, inner.response, reserved_usd)
            return
