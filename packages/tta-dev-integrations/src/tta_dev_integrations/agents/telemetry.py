"""Metrics and spans of agent runs.

Metrics (the framework's one catalogue): runs by outcome, model steps, tool calls by
tool and outcome, and the dollars runs spent. Spans, opened only while a tracer
provider is installed: one per step (``agent step``, around the model call, whose
own ``chat ...`` span the LLM layer opens) and one per tool call
(``execute_tool {name}``, GenAI conventions), with the arguments scrubbed of every
loaded secret before they are recorded.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from tta_dev_primitives.observability import active_tracer, counter, declare_metric
from tta_secrets.redaction import scrub

if TYPE_CHECKING:
    from opentelemetry.trace import Span

    from tta_dev_integrations.llm.types import ToolCall

__all__ = ["AgentMetrics", "step_span", "tool_span"]

RUNS = declare_metric(
    "tta_agent_runs_total",
    "counter",
    "Agent runs, by agent and outcome (answer, paused, or the error class).",
    ("agent", "outcome"),
)
STEPS = declare_metric(
    "tta_agent_steps_total",
    "counter",
    "Model calls made by agent runs.",
    ("agent",),
)
TOOL_CALLS = declare_metric(
    "tta_agent_tool_calls_total",
    "counter",
    "Tool calls of agent runs, by tool and outcome (success, error, timeout, "
    "invalid_arguments, unknown_tool, unserialisable, refused, repeated).",
    ("agent", "tool", "outcome"),
)
COST = declare_metric(
    "tta_agent_cost_usd_total",
    "counter",
    "Dollars the model calls of agent runs cost.",
    ("agent",),
    unit="usd",
)


class AgentMetrics:
    """The label children of one agent, bound once."""

    __slots__ = ("agent", "cost", "steps")

    def __init__(self, agent: str) -> None:
        self.agent = agent
        self.steps = counter(STEPS).labels(agent)
        self.cost = counter(COST).labels(agent)

    def run(self, outcome: str) -> None:
        """Count one run that ended with ``outcome``."""
        counter(RUNS).labels(self.agent, outcome).inc()

    def tool_call(self, tool: str, outcome: str) -> None:
        """Count one tool call (``tool`` is ``"unknown"`` for a name the agent lacks)."""
        counter(TOOL_CALLS).labels(self.agent, tool, outcome).inc()


@contextmanager
def step_span(agent: str, step: int) -> Iterator[Span | None]:
    """The span of one step, or ``None`` when no tracer provider is installed."""
    tracer = active_tracer()
    if tracer is None:
        yield None
        return
    with tracer.start_as_current_span(
        "agent step", attributes={"gen_ai.agent.name": agent, "tta.agent.step": step}
    ) as span:
        yield span


@contextmanager
def tool_span(agent: str, call: ToolCall) -> Iterator[Span | None]:
    """The span of one tool call; its arguments are recorded with secrets scrubbed."""
    tracer = active_tracer()
    if tracer is None:
        yield None
        return
    from opentelemetry.trace import SpanKind

    attributes: dict[str, Any] = {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.agent.name": agent,
        "gen_ai.tool.name": call.name,
        "gen_ai.tool.call.id": call.id,
        "gen_ai.tool.call.arguments": scrub(json.dumps(call.arguments, default=str)),
    }
    with tracer.start_as_current_span(
        f"execute_tool {call.name}", kind=SpanKind.INTERNAL, attributes=attributes
    ) as span:
        yield span
