"""Tools from functions and primitives, approval pauses and resumes, and the import rule.

pydantic builds the schemas and validates; it is imported by the agents package only,
never by the plain LLM layer (``import tta_dev_integrations.llm``).
"""

from __future__ import annotations

import subprocess
import sys
from typing import Annotated, Literal

import pytest
from pydantic import BaseModel, Field

from tta_dev_integrations.agents import (
    AgentPrimitive,
    AgentState,
    ApprovalRequired,
    ToolArgumentsError,
    ToolDefinitionError,
    tool,
    tool_from_primitive,
)
from tta_dev_integrations.agents.testing import ScriptedModel, call
from tta_dev_integrations.llm import ToolCall
from tta_dev_primitives import LambdaPrimitive, WorkflowContext

deleted: list[str] = []


@tool(needs_approval=True)
def delete_branch(name: str) -> str:
    """Delete a git branch."""
    deleted.append(name)
    return f"deleted {name}"


@tool
def ping() -> str:
    """Answer pong."""
    return "pong"


def test_importing_the_llm_layer_does_not_import_pydantic() -> None:
    code = (
        "import sys, tta_dev_integrations.llm, tta_dev_integrations.llm.universal; "
        "print('pydantic' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_a_schema_from_hints_defaults_constraints_and_context() -> None:
    @tool(name="search_code", description="Find text in the repository.")
    async def search(
        ctx: WorkflowContext,
        pattern: Annotated[str, Field(min_length=2, description="text to find")],
        kind: Literal["py", "md"] = "py",
        limit: int = 10,
    ) -> list[str]:
        return []

    parameters = search.parameters
    assert search.name == "search_code"
    assert set(parameters["properties"]) == {"pattern", "kind", "limit"}  # no context
    assert parameters["properties"]["pattern"] == {
        "type": "string",
        "minLength": 2,
        "description": "text to find",
    }
    assert parameters["properties"]["kind"]["enum"] == ["py", "md"]
    assert parameters["required"] == ["pattern"]
    assert parameters["additionalProperties"] is False
    with pytest.raises(ToolArgumentsError, match="pattern: String should have at least 2"):
        search.validate({"pattern": "x"})
    with pytest.raises(ToolArgumentsError, match="extra: Extra inputs are not permitted"):
        search.validate({"pattern": "xy", "extra": 1})


def test_functions_that_cannot_be_tools_are_refused_with_the_fix() -> None:
    def no_hints(x):  # type: ignore[no-untyped-def]
        return x

    def star(*names: str) -> None: ...

    with pytest.raises(ToolDefinitionError, match="has no type hint"):
        tool(no_hints)
    with pytest.raises(ToolDefinitionError, match=r"\*names has no schema"):
        tool(star)
    with pytest.raises(ToolDefinitionError, match="not accepted by providers"):
        tool(name="has space")(ping.invoke)
    with pytest.raises(ToolDefinitionError, match="two tools are named 'ping'"):
        AgentPrimitive(ScriptedModel([]), tools=[ping, ping])


async def test_a_workflow_primitive_is_a_tool() -> None:
    class Order(BaseModel):
        item: str
        quantity: int = 1

    async def price(order: Order) -> dict[str, float]:
        return {"total": 2.5 * order.quantity}

    async def shout(text: str) -> str:
        return text.upper()

    pricing = tool_from_primitive(
        LambdaPrimitive(price), name="price", description="Price an order.", input_type=Order
    )
    upper = tool_from_primitive(LambdaPrimitive(shout), name="upper", description="Upper-case.")
    assert pricing.parameters["required"] == ["item"]
    assert upper.parameters["properties"]["input"]["type"] == "string"
    model = ScriptedModel(
        [[call("price", item="tea", quantity=4), call("upper", input="hi")], "done"]
    )
    await AgentPrimitive(model, tools=[pricing, upper]).execute("go", WorkflowContext())
    results = [m.text for m in model.requests[1].messages if m.role == "tool"]
    assert results == ['{"total":10.0}', "HI"]


async def test_a_run_pauses_for_approval_and_resumes_from_saved_state() -> None:
    deleted.clear()
    model = ScriptedModel(
        [
            [call("delete_branch", name="old"), call("ping"), call("delete_branch", name="main")],
            "cleaned up",
        ]
    )
    agent = AgentPrimitive(model, tools=[delete_branch, ping])
    with pytest.raises(ApprovalRequired) as paused:
        await agent.execute("clean up", WorkflowContext())
    assert deleted == []  # nothing needing approval ran
    pending = paused.value.pending
    assert [c.arguments["name"] for c in pending] == ["old", "main"]
    saved = paused.value.state.to_json()  # e.g. to a database, while a person decides

    state = AgentState.from_json(saved)
    state.approve(pending[0].id)
    with pytest.raises(ApprovalRequired, match="still waiting"):
        await agent.execute(state, WorkflowContext())  # one call is still undecided
    state.refuse(pending[1].id, "main is protected")
    with pytest.raises(KeyError, match="no pending tool call"):
        state.approve("nope")
    result = await agent.execute(state, WorkflowContext())
    assert result.output == "cleaned up"
    assert deleted == ["old"]
    results = {m.tool_call_id: m.text for m in model.requests[1].messages if m.role == "tool"}
    assert results[pending[0].id] == "deleted old"
    assert results[pending[1].id] == "error: not run: main is protected"
    assert len(results) == 3  # ping ran before the pause; each call answered once
    assert len(model.requests) == 2  # the paused step was not asked again


async def test_an_approval_callback_decides_without_pausing() -> None:
    deleted.clear()
    asked: list[ToolCall] = []

    async def approve(call: ToolCall, context: WorkflowContext) -> bool | str:
        asked.append(call)
        return True if call.arguments["name"] != "main" else "never main"

    model = ScriptedModel(
        [[call("delete_branch", name="old"), call("delete_branch", name="main")], "ok"]
    )
    agent = AgentPrimitive(model, tools=[delete_branch], approve=approve)
    await agent.execute("clean up", WorkflowContext())
    assert deleted == ["old"]
    assert len(asked) == 2
    results = [m.text for m in model.requests[1].messages if m.role == "tool"]
    assert results == ["deleted old", "error: not run: never main"]


def test_state_round_trips_with_images_and_provider_data() -> None:
    from tta_dev_integrations.llm import ImagePart, Message, TextPart

    state = AgentState(
        messages=[
            Message("user", (TextPart("see"), ImagePart(data=b"\x89PNG", media_type="image/png"))),
            Message(
                "assistant",
                "",
                (ToolCall("c1", "ping", {}, {"thought_signature": "sig=="}),),
            ),
        ],
        steps=1,
        spent_usd=0.25,
    )
    again = AgentState.from_json(state.to_json())
    assert again == state
    with pytest.raises(ValueError, match="version"):
        AgentState.from_dict({**state.to_dict(), "version": 99})


def test_the_agents_surface_is_sorted_and_documented() -> None:
    import inspect

    import tta_dev_integrations.agents as agents

    names = list(agents.__all__)
    assert names == sorted(names, key=lambda n: (not n.isupper(), not n[:1].isupper(), n))
    for name in names:
        obj = getattr(agents, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert inspect.getdoc(obj), f"{name} has no docstring"
