"""A scripted model to test agents with: no provider, no network, every request kept.

>>> model = ScriptedModel([call("add", a=2, b=3), "The sum is 5."])
>>> result = await AgentPrimitive(model, tools=[add]).execute("2 + 3?", ctx)  # doctest: +SKIP
>>> model.requests[1].messages[-1].content  # the tool's result, as the model saw it
'5'
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from tta_dev_integrations.llm.types import LLMRequest, LLMResponse, ToolCall, Usage
from tta_dev_primitives import WorkflowContext, WorkflowPrimitive

__all__ = ["ScriptedModel", "call"]

Turn = str | ToolCall | list[ToolCall] | LLMResponse | Exception | Callable[[LLMRequest], Any]


def call(name: str, /, **arguments: Any) -> ToolCall:
    """A tool call for a script (its id is filled in by the agent)."""
    return ToolCall("", name, arguments)


class ScriptedModel(WorkflowPrimitive[Any, LLMResponse]):
    """Answers each request with the next turn of a script.

    A turn is text (a final answer), a :class:`ToolCall` or a list of them, a whole
    :class:`LLMResponse`, an exception to raise, or a function of the request that
    returns one of these. ``cost_usd`` is charged on every answer; ``requests`` holds
    what the agent sent, in order.
    """

    def __init__(self, turns: Iterable[Turn], *, cost_usd: float = 0.0) -> None:
        self.turns = list(turns)
        self.cost_usd = cost_usd
        self.requests: list[LLMRequest] = []
        self.name = "scripted-model"

    async def _execute_impl(self, input_data: Any, context: WorkflowContext) -> LLMResponse:
        request = LLMRequest.from_value(input_data)
        self.requests.append(request)
        if not self.turns:
            raise AssertionError(f"the script has no turn left for request {len(self.requests)}")
        turn: Any = self.turns.pop(0)
        if callable(turn) and not isinstance(turn, Exception):
            turn = turn(request)
        if isinstance(turn, Exception):
            raise turn
        if isinstance(turn, LLMResponse):
            return turn
        calls = (
            (turn,) if isinstance(turn, ToolCall) else tuple(turn) if isinstance(turn, list) else ()
        )
        return LLMResponse(
            content=turn if isinstance(turn, str) else "",
            model="scripted",
            provider="test",
            usage=Usage(10, 5),
            finish_reason="tool_calls" if calls else "stop",
            tool_calls=calls,
            cost_usd=self.cost_usd,
        )
