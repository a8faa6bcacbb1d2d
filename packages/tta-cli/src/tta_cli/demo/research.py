"""The demo's research step: an agent reads TTA.dev's sources through a tool.

For each task, an ``AgentPrimitive`` over the demo's model gets one tool, ``search``,
whose ``term`` can only be one of the task's own words (a ``Literal`` built per task):
it reads the installed sources and answers with the files that mention the term most.
``tool_choice="required"`` makes the model look before it answers; on the local model
every step is decoded under the tool's grammar, so each call is valid. The files the
searches found are the task's related code; each step is kept to be shown.
"""

# No `from __future__ import annotations`: the search tool's type is built per task, and
# its hint must be an object, not a name to look up later.
import asyncio
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from tta_dev_integrations.agents import AgentPrimitive, AgentRunError, AgentTool, tool
from tta_dev_integrations.llm import LLMResponse, Message
from tta_dev_primitives import WorkflowContext, WorkflowPrimitive

__all__ = ["Research", "Sources", "most_mentions", "research_agent", "run_research", "search_tool"]

_INSTRUCTIONS = (
    "Find the source files of TTA.dev that a coding task touches. Search for the task's "
    "words, then answer with the most relevant file."
)


@dataclass(frozen=True, slots=True)
class Research:
    """What the agent found: the files its searches returned, and each step as text."""

    files: tuple[str, ...]
    steps: tuple[str, ...]


Sources = Callable[[], Sequence[tuple[str, str]]]
"""The installed sources as (name, lower-cased text) pairs (read once, blocking)."""


def most_mentions(sources: Sources, term: str, count: int = 3) -> tuple[str, ...]:
    """The ``count`` source files that mention ``term`` most often (blocking)."""
    hits = [(text.count(term), name) for name, text in sources()]
    ranked = sorted((h for h in hits if h[0]), key=lambda h: (-h[0], h[1]))
    return tuple(name for _, name in ranked[:count])


def search_tool(terms: Sequence[str], sources: Sources) -> AgentTool:
    """``search(term)``, where the term can only be one of ``terms``."""
    Term = Literal[tuple(terms)]  # type: ignore[valid-type]  # a type built per task

    async def search(term: Term) -> str:  # type: ignore[valid-type]
        """The TTA.dev source files that mention a word most often."""
        files = await asyncio.to_thread(most_mentions, sources, term)
        return ", ".join(files) if files else "no file mentions it"

    return tool(search)


def research_agent(
    model: WorkflowPrimitive[Any, LLMResponse],
    terms: Sequence[str],
    sources: Sources,
    request: dict[str, Any],
    timeout_s: float,
) -> AgentPrimitive[str]:
    """The agent of one task: at most two steps, a search first."""
    return AgentPrimitive(
        model,
        tools=[search_tool(terms, sources)],
        instructions=_INSTRUCTIONS,
        name="research",
        tool_choice="required",
        max_steps=2,
        max_tokens=64,
        timeout_s=timeout_s,
        request=request,
    )


async def run_research(
    agent: AgentPrimitive[str], task_text: str, context: WorkflowContext
) -> Research:
    """Run the agent on a task; a run stopped at its limit still found what it found."""
    try:
        messages: tuple[Message, ...] = (await agent.execute(task_text, context)).messages
    except AgentRunError as stopped:
        messages = stopped.messages
    results = {m.tool_call_id: m.text for m in messages if m.role == "tool"}
    files: list[str] = []
    steps: list[str] = []
    for message in messages:
        for call in message.tool_calls:
            result = results.get(call.id, "")
            argument = ", ".join(str(v) for v in call.arguments.values())
            shown = result.splitlines()[0] if result else ""
            if "already called with these arguments" in shown:
                shown = "a repeat: the first result was shown again"
            steps.append(f"{call.name}({argument}) -> {shown}")
            if call.name == "search" and not result.startswith(("error", "no file")):
                files += [f for f in re.split(r",\s*", result) if f and f not in files]
    return Research(tuple(files[:3]), tuple(steps))
