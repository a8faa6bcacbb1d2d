"""The errors of agent runs, one tree.

::

    AgentError                      an agent run or definition failed
    ├── ToolDefinitionError         a tool cannot be built (no hints, bad name...)
    └── AgentRunError               a run stopped; carries the transcript and the spend
        ├── AgentLimitError         a limit of the run was reached
        │   ├── MaxStepsError       more model calls than ``max_steps``
        │   ├── MaxToolCallsError   more tool calls than ``max_tool_calls``
        │   ├── AgentTimeoutError   the run's wall-clock ``timeout_s`` passed
        │   └── SpendLimitError     the next call could pass ``max_cost_usd``
        ├── OutputValidationError   the final answer never validated against output_type
        ├── AgentModelError         the model call failed (the LLM error is the cause)
        └── ApprovalRequired        a tool needs a human decision: the run is paused

Failures of tools are not errors of the run: they go back to the model as results.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tta_dev_primitives.exceptions import TTAError

if TYPE_CHECKING:
    from tta_dev_integrations.agents.state import AgentState
    from tta_dev_integrations.llm.types import Message, ToolCall

__all__ = [
    "AgentError",
    "AgentLimitError",
    "AgentModelError",
    "AgentRunError",
    "AgentTimeoutError",
    "ApprovalRequired",
    "MaxStepsError",
    "MaxToolCallsError",
    "OutputValidationError",
    "SpendLimitError",
    "ToolDefinitionError",
]


class AgentError(TTAError):
    """Base class of the errors of agents."""


class ToolDefinitionError(AgentError, TypeError):
    """A function or primitive cannot be made a tool; the message says what to change."""


class AgentRunError(AgentError):
    """A run stopped before its answer.

    ``state`` is the run as it stood (messages so far, steps, tool calls, spend): the
    partial transcript is ``state.messages``, the money spent ``state.spent_usd``.
    """

    def __init__(self, message: str, state: AgentState) -> None:
        super().__init__(message)
        self.state = state

    @property
    def messages(self) -> tuple[Message, ...]:
        """The transcript up to the stop."""
        return tuple(self.state.messages)

    @property
    def spent_usd(self) -> float:
        """Dollars the run's answered model calls cost before it stopped.

        A model call cut short by the run's timeout is not in it: it has no answer to
        read the cost from. ``UniversalLLMPrimitive`` still charges such a call in the
        ledger (what the provider reported, else its reservation), which the run's
        ``max_cost_usd`` bounded when the call was made.
        """
        return self.state.spent_usd


class AgentLimitError(AgentRunError):
    """A limit of the run was reached."""


class MaxStepsError(AgentLimitError):
    """The run made ``max_steps`` model calls without a final answer."""


class MaxToolCallsError(AgentLimitError):
    """The model asked for more tool calls than ``max_tool_calls`` allows."""


class AgentTimeoutError(AgentLimitError, TimeoutError):
    """The run's wall-clock ``timeout_s`` passed."""


class SpendLimitError(AgentLimitError):
    """The next model call could cost more than is left of the run's ``max_cost_usd``."""


class OutputValidationError(AgentRunError):
    """The model's final answer did not validate against ``output_type``, retries spent."""


class AgentModelError(AgentRunError):
    """The model call of a step failed; the LLM layer's error is ``__cause__``."""


class ApprovalRequired(AgentRunError):
    """Tools that need approval were called: the run is paused, not failed.

    ``state`` is serialisable (``state.to_json()``); decide each of ``pending`` with
    ``state.approve(call_id)`` / ``state.refuse(call_id, reason)``, then continue
    with ``AgentPrimitive.resume(state, context)``, in this process or another.
    """

    @property
    def pending(self) -> tuple[ToolCall, ...]:
        """The tool calls waiting for a decision."""
        return tuple(self.state.pending)
