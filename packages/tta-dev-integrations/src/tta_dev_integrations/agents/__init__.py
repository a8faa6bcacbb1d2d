"""Agents: the tool-using loop as a primitive, with limits per run, traced and measured.

>>> from tta_dev_integrations.agents import AgentPrimitive, tool
>>> agent = AgentPrimitive(LLMPrimitive("local"), tools=[read_file])  # doctest: +SKIP
>>> result = await agent.execute("What does README.md say?", WorkflowContext())  # doctest: +SKIP

This package imports pydantic (tool schemas and validation); the LLM layer does not.
"""

from tta_dev_integrations.agents.errors import (
    AgentError,
    AgentLimitError,
    AgentModelError,
    AgentRunError,
    AgentTimeoutError,
    ApprovalRequired,
    MaxStepsError,
    MaxToolCallsError,
    OutputValidationError,
    SpendLimitError,
    ToolDefinitionError,
)
from tta_dev_integrations.agents.output import FINAL_RESULT_TOOL
from tta_dev_integrations.agents.primitive import (
    AgentInput,
    AgentPrimitive,
    AgentResult,
    Approver,
)
from tta_dev_integrations.agents.state import AgentState
from tta_dev_integrations.agents.tools import (
    AgentTool,
    ToolArgumentsError,
    tool,
    tool_from_primitive,
)

__all__ = [
    "FINAL_RESULT_TOOL",
    "AgentError",
    "AgentInput",
    "AgentLimitError",
    "AgentModelError",
    "AgentPrimitive",
    "AgentResult",
    "AgentRunError",
    "AgentState",
    "AgentTimeoutError",
    "AgentTool",
    "ApprovalRequired",
    "Approver",
    "MaxStepsError",
    "MaxToolCallsError",
    "OutputValidationError",
    "SpendLimitError",
    "ToolArgumentsError",
    "ToolDefinitionError",
    "tool",
    "tool_from_primitive",
]
