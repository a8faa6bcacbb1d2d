"""AgentPrimitive's loop: tool calls, failures fed back, limits, output validation, spans.

A scripted model (``tta_dev_integrations.agents.testing``) plays the model, so each
path of the loop is driven exactly; the assertions are on what the model was sent
next, what the tools received, and what the run returned or raised.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from pydantic import BaseModel

from tta_dev_integrations.agents import (
    AgentModelError,
    AgentPrimitive,
    AgentTimeoutError,
    MaxStepsError,
    MaxToolCallsError,
    OutputValidationError,
    SpendLimitError,
    tool,
)
from tta_dev_integrations.agents.testing import ScriptedModel, call
from tta_dev_integrations.llm import Message, ProviderUnavailableError
from tta_dev_primitives import WorkflowContext
from tta_dev_primitives.testing import capture_spans, metric_value
from tta_secrets.redaction import clear_registered_secrets, register_secret

seen: list[tuple[str, object]] = []


@tool
def add(a: int, b: int) -> int:
    """Add two whole numbers.

    Args:
        a: the first number
        b: the second number
    """
    seen.append(("add", (a, b)))
    return a + b


@tool
async def slow(seconds: float) -> str:
    """Sleep, then say so."""
    await asyncio.sleep(seconds)
    return "woke up"


@tool
def broken() -> str:
    """Always fails."""
    raise RuntimeError("disk on fire")


@tool
def opaque() -> object:
    """Returns something JSON cannot hold."""
    return object()


def tool_results(model: ScriptedModel, request: int) -> list[str]:
    """The tool results the model saw in its ``request``-th request (0-based)."""
    return [m.text for m in model.requests[request].messages if m.role == "tool"]


async def test_a_tool_call_runs_and_its_result_goes_back_to_the_model() -> None:
    seen.clear()
    model = ScriptedModel([call("add", a=2, b=3), "The sum is 5."])
    agent = AgentPrimitive(model, tools=[add], instructions="Use tools.")
    result = await agent.execute("What is 2 + 3?", WorkflowContext())
    assert result.output == "The sum is 5."
    assert seen == [("add", (2, 3))]
    assert tool_results(model, 1) == ["5"]
    assert (result.steps, result.tool_calls) == (2, 1)
    first = model.requests[0]
    assert first.messages[0] == Message("system", "Use tools.")
    [schema] = first.tools
    assert schema.name == "add"
    assert schema.description == "Add two whole numbers."
    assert schema.parameters["properties"]["a"] == {
        "type": "integer",
        "description": "the first number",
    }
    assert schema.parameters["required"] == ["a", "b"]
    # The transcript continues: the assistant's call carries an id its result answers.
    assistant, answer = result.messages[2], result.messages[3]
    assert assistant.tool_calls[0].id == answer.tool_call_id != ""
    assert result.messages[-1] == Message("assistant", "The sum is 5.")


async def test_parallel_calls_run_side_by_side() -> None:
    model = ScriptedModel([[call("slow", seconds=0.3)] * 3, "done"])
    agent = AgentPrimitive(model, tools=[slow])
    started = time.perf_counter()
    result = await agent.execute("nap thrice", WorkflowContext())
    assert time.perf_counter() - started < 0.8  # three 0.3 s naps at once, not 0.9 s
    assert tool_results(model, 1) == ["woke up"] * 3
    ids = [m.tool_call_id for m in result.messages if m.role == "tool"]
    assert len(set(ids)) == 3  # the model gave no ids: each call got its own


async def test_failures_of_tools_and_of_the_model_are_fed_back() -> None:
    model = ScriptedModel(
        [
            [
                call("nope", x=1),
                call("add", a="two", b=3),
                call("add", a=1),
                call("broken"),
                call("opaque"),
                call("slow", seconds=5),
            ],
            "gave up",
        ]
    )
    agent = AgentPrimitive(model, tools=[add, slow, broken, opaque], tool_timeout_s=0.2)
    result = await agent.execute("try everything", WorkflowContext())
    assert result.output == "gave up"
    unknown, bad_type, missing, raised, unserialisable, timed_out = tool_results(model, 1)
    assert "there is no tool 'nope'" in unknown
    assert "add, broken, opaque, slow" in unknown
    assert "arguments of 'add' do not validate: a: Input should be a valid integer" in bad_type
    assert "b: Field required" in missing
    assert raised == "error: broken failed: RuntimeError: disk on fire"
    assert "returned a object, which cannot be turned into JSON" in unserialisable
    assert timed_out == "error: slow did not finish within 0.2 s"
    assert metric_value(
        "tta_agent_tool_calls_total", agent="agent", tool="unknown", outcome="unknown_tool"
    )


async def test_a_tool_error_never_shows_a_loaded_secret() -> None:
    register_secret("sk-live-abcdef123456")
    try:

        @tool
        def leaky() -> str:
            """Fails with the key in its message."""
            raise ValueError("bad key sk-live-abcdef123456")

        model = ScriptedModel([call("leaky"), "ok"])
        with capture_spans() as spans:
            await AgentPrimitive(model, tools=[leaky]).execute("go", WorkflowContext())
        assert "sk-live-abcdef123456" not in tool_results(model, 1)[0]
        leaked = [s.name for s in spans.spans if "sk-live" in str(s.attributes)]
        assert leaked == []
    finally:
        clear_registered_secrets()


async def test_tool_spans_record_arguments_scrubbed_of_secrets() -> None:
    register_secret("hunter2-password")
    try:

        @tool
        def login(user: str, password: str) -> str:
            """Log in."""
            return f"welcome {user}"

        model = ScriptedModel([call("login", user="ann", password="hunter2-password"), "in"])
        with capture_spans() as spans:
            await AgentPrimitive(model, tools=[login]).execute("log in", WorkflowContext())
        [span] = [s for s in spans.spans if s.name == "execute_tool login"]
        attributes = dict(span.attributes or {})
        assert "hunter2-password" not in str(attributes["gen_ai.tool.call.arguments"])
        assert '"user": "ann"' in str(attributes["gen_ai.tool.call.arguments"])
        assert attributes["tta.outcome"] == "success"
        steps = [s for s in spans.spans if s.name == "agent step"]
        assert [s.attributes["tta.agent.step"] for s in steps if s.attributes] == [1, 2]
        assert span.parent is not None
        assert span.parent.span_id == steps[0].context.span_id
    finally:
        clear_registered_secrets()


async def test_max_steps_stops_with_the_partial_transcript() -> None:
    model = ScriptedModel([call("add", a=1, b=1)] * 3)
    agent = AgentPrimitive(model, tools=[add], max_steps=3)
    with pytest.raises(MaxStepsError, match="max_steps") as caught:
        await agent.execute("loop forever", WorkflowContext())
    assert caught.value.state.steps == 3
    assert [m.role for m in caught.value.messages].count("tool") == 3
    assert len(model.requests) == 3


async def test_max_tool_calls_refuses_a_step_that_would_pass_it() -> None:
    model = ScriptedModel([[call("add", a=1, b=1)] * 2, [call("add", a=2, b=2)] * 2])
    agent = AgentPrimitive(model, tools=[add], max_tool_calls=3)
    seen.clear()
    with pytest.raises(MaxToolCallsError, match="max_tool_calls=3"):
        await agent.execute("add a lot", WorkflowContext())
    assert seen == [("add", (1, 1))] * 2  # the second batch never ran


async def test_the_wall_clock_timeout_covers_the_whole_run() -> None:
    model = ScriptedModel([call("slow", seconds=0.2 + i / 1000) for i in range(10)])
    agent = AgentPrimitive(model, tools=[slow], timeout_s=0.5)
    started = time.perf_counter()
    with pytest.raises(AgentTimeoutError) as caught:
        await agent.execute("nap", WorkflowContext())
    assert time.perf_counter() - started < 1.0
    assert 2 <= caught.value.state.steps <= 3


async def test_spend_of_an_unbounded_model_stops_the_run_once_it_passes_the_cap() -> None:
    model = ScriptedModel([call("add", a=1, b=1)] * 5, cost_usd=0.4)
    agent = AgentPrimitive(model, tools=[add], max_cost_usd=1.0)
    with pytest.raises(SpendLimitError) as caught:
        await agent.execute("spend", WorkflowContext())
    assert caught.value.spent_usd == pytest.approx(1.2)
    assert len(model.requests) == 3


async def test_a_model_failure_is_typed_and_keeps_the_transcript() -> None:
    model = ScriptedModel([call("add", a=1, b=2), ProviderUnavailableError("down")])
    with pytest.raises(AgentModelError, match="step 2 failed") as caught:
        await AgentPrimitive(model, tools=[add]).execute("go", WorkflowContext())
    assert isinstance(caught.value.__cause__, ProviderUnavailableError)
    assert caught.value.messages[-1].text == "3"


class Verdict(BaseModel):
    """A verdict on a patch."""

    approve: bool
    reasons: list[str]


async def test_structured_output_is_validated_and_retried_with_the_error() -> None:
    model = ScriptedModel(
        [
            call("final_result", approve="maybe", reasons=[]),
            "not json at all",
            call("final_result", approve=True, reasons=["tests pass"]),
        ]
    )
    agent = AgentPrimitive(model, output_type=Verdict, max_output_retries=2)
    result = await agent.execute("Review it", WorkflowContext())
    assert result.output == Verdict(approve=True, reasons=["tests pass"])
    assert [t.name for t in model.requests[0].tools] == ["final_result"]
    assert model.requests[0].tools[0].parameters["required"] == ["approve", "reasons"]
    assert "approve: Input should be a valid boolean" in tool_results(model, 1)[0]
    assert "by calling final_result" in model.requests[2].messages[-1].text


async def test_structured_output_gives_up_after_its_retries() -> None:
    model = ScriptedModel([call("final_result", approve="maybe", reasons=[])] * 2)
    agent = AgentPrimitive(model, output_type=Verdict, max_output_retries=1)
    with pytest.raises(OutputValidationError, match="after 1 retries"):
        await agent.execute("Review it", WorkflowContext())


async def test_a_scalar_output_type_is_wrapped_and_json_text_is_accepted() -> None:
    agent = AgentPrimitive(ScriptedModel(['{"result": 42}']), output_type=int)
    assert (await agent.execute("answer", WorkflowContext())).output == 42
    agent = AgentPrimitive(ScriptedModel([call("final_result", result="7")]), output_type=int)
    assert (await agent.execute("answer", WorkflowContext())).output == 7


async def test_a_conversation_continues_from_a_result() -> None:
    model = ScriptedModel([call("add", a=1, b=2), "3", "and 3 again"])
    agent = AgentPrimitive(model, tools=[add], instructions="Be brief.")
    first = await agent.execute("1 + 2?", WorkflowContext())
    second = await agent.execute([*first.messages, Message("user", "again?")], WorkflowContext())
    assert second.output == "and 3 again"
    sent = model.requests[-1].messages
    assert [m.role for m in sent] == ["system", "user", "assistant", "tool", "assistant", "user"]
    assert second.steps == 1  # limits are per run


async def test_a_repeated_call_is_answered_from_its_first_result_not_run_again() -> None:
    seen.clear()
    model = ScriptedModel([call("add", a=1, b=2), call("add", a=1, b=2), "3"])
    result = await AgentPrimitive(model, tools=[add]).execute("1 + 2?", WorkflowContext())
    assert result.output == "3"
    assert seen == [("add", (1, 2))]
    assert "already called with these arguments; its result was: 3" in tool_results(model, 2)[1]


async def test_tool_choice_required_holds_the_answer_back_on_the_first_step() -> None:
    model = ScriptedModel([call("add", a=1, b=2), call("final_result", result="three")])
    agent = AgentPrimitive(model, tools=[add], tool_choice="required")
    result = await agent.execute("1 + 2?", WorkflowContext())
    assert result.output == "three"
    first, second = model.requests
    assert (first.tool_choice, second.tool_choice) == ("required", "required")
    assert [t.name for t in first.tools] == ["add"]
    assert [t.name for t in second.tools] == ["add", "final_result"]


async def test_a_call_repeated_twice_still_sees_the_first_result() -> None:
    model = ScriptedModel([call("add", a=2, b=2)] * 3 + ["4"])
    await AgentPrimitive(model, tools=[add]).execute("2 + 2?", WorkflowContext())
    third = tool_results(model, 3)[2]
    assert "its result was: 4\n" in third
    assert third.count("already called") == 1


async def test_with_tools_required_a_repeat_leaves_only_the_answer_for_the_next_step() -> None:
    model = ScriptedModel(
        [call("add", a=1, b=2), call("add", a=1, b=2), call("final_result", result="3")]
    )
    agent = AgentPrimitive(model, tools=[add], tool_choice="required")
    assert (await agent.execute("1 + 2?", WorkflowContext())).output == "3"
    assert [[t.name for t in r.tools] for r in model.requests] == [
        ["add"],
        ["add", "final_result"],
        ["final_result"],
    ]
