"""A tool-using agent on the local model: `AgentPrimitive` runs the loop.

For each question the agent gets the tools that can serve it (`agent_tools.tools_for`:
a calculator, a search for where a class or function is defined in this repository, a
clock), their arguments narrowed to what the question offers. The local model
(SmolLM2-135M through llama.cpp: no key, no network) decodes every step under a
grammar made from those tools' schemas, so each step is a valid call: a tool that
exists, with arguments that validate. `tool_choice="required"` has it look before it
answers (through `final_result`); a run that reaches MAX_STEPS stops with its
transcript, which is shown all the same.

Run it with `python examples/agents/tool_agent.py ["your question"]` (a few seconds).
"""

from __future__ import annotations

import asyncio
import sys
from collections import Counter
from typing import Any

from agent_tools import tools_for

from tta_dev_integrations.agents import AgentPrimitive, AgentResult, AgentRunError
from tta_dev_integrations.llm import LLMPrimitive, Message
from tta_dev_primitives import WorkflowContext, WorkflowPrimitive

MAX_STEPS = 3
QUESTIONS = ["What is 17 * 23 + 4?", "Where is RetryPrimitive defined?", "What time is it now?"]
INSTRUCTIONS = "Answer the question with the tools, then give the answer."
model: WorkflowPrimitive[Any, Any] = LLMPrimitive("local")  # a test puts a scripted model here


async def solve(question: str, context: WorkflowContext) -> tuple[str | None, list[Message]]:
    """The answer (``None`` when the run stopped at a limit) and the conversation."""
    agent: AgentPrimitive[str] = AgentPrimitive(
        model,
        tools=tools_for(question),
        instructions=INSTRUCTIONS,
        name="tool-agent",
        tool_choice="required",
        max_steps=MAX_STEPS,
    )
    try:
        result: AgentResult[str] = await agent.execute(question, context)
    except AgentRunError as stopped:
        return None, list(stopped.messages)
    return result.output, list(result.messages)


def steps(messages: list[Message]) -> list[str]:
    """Each call as ``name(arguments) -> result``."""
    results = {m.tool_call_id: m.text.splitlines()[0] for m in messages if m.role == "tool"}
    return [
        f"{call.name}({', '.join(map(str, call.arguments.values()))}) -> {results.get(call.id)}"
        for message in messages
        for call in message.tool_calls
    ]


async def main(questions: list[str]) -> None:
    used: Counter[str] = Counter()
    for question in questions:
        answer, messages = await solve(question, WorkflowContext())
        print(f"Q: {question}")
        for line in steps(messages):
            print(f"  step: {line}")
            used[line.split("(")[0]] += 1
        print(f"  answer: {answer}" if answer is not None else f"  no answer in {MAX_STEPS} steps")
    print("tools run: " + ", ".join(f"{name} x{n}" for name, n in sorted(used.items())))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:] or QUESTIONS))
