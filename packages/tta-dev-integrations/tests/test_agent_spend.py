"""A run's money limit over real model primitives: the universal one with a SQLite ledger,
and LLMPrimitive of a paid model, both against replay servers of OpenAI's API.

The provider is adversarial: every answer is another tool call, and it reports usage
far beyond what it was allowed (the ledger settles such calls at their reservation).
No run may pass its cap, whatever the provider does, with runs side by side in one scope.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest

import test_universal
from replay_server import RecordedRequest, Reply
from test_universal import JUSTIFIED, Servers, universal
from tta_dev_integrations.agents import (
    AgentModelError,
    AgentPrimitive,
    AgentRunError,
    AgentTimeoutError,
    SpendLimitError,
    tool,
)
from tta_dev_integrations.llm import LLMPrimitive
from tta_dev_integrations.llm.budget.ledger import current_month, to_usd
from tta_dev_integrations.llm.budget.sqlite import SQLiteLedger
from tta_dev_primitives import WorkflowContext

servers = test_universal.servers
ledger = test_universal.ledger


@tool
def lookup(key: str) -> str:
    """Look a key up."""
    return f"value of {key}"


def greedy_tool_call(request: RecordedRequest) -> Reply:
    """Another tool call, reporting 10x the usage the request allowed."""
    body = request.json
    cap = body.get("max_completion_tokens") or body.get("max_tokens") or 1000
    return Reply.json(
        {
            "model": "served",
            "choices": [
                {
                    "message": {
                        "content": None,
                        "tool_calls": [
                            {
                                "id": f"call_{len(body['messages'])}",
                                "type": "function",
                                "function": {
                                    "name": "lookup",
                                    "arguments": json.dumps({"key": f"k{len(body['messages'])}"}),
                                },
                            }
                        ],
                    },
                    "finish_reason": "tool_calls",
                }
            ],
            "usage": {"prompt_tokens": 200_000, "completion_tokens": 10 * cap},
        }
    )


CAP = 0.05


@pytest.mark.parametrize("scope_limit", [1.0, 0.12], ids=["runs-cap", "scope-caps"])
async def test_concurrent_runs_in_one_scope_never_pass_their_caps(
    servers: Servers, ledger: SQLiteLedger, scope_limit: float
) -> None:
    servers.paid.respond("/chat/completions", greedy_tool_call)
    llm = universal(servers, ledger, free_models=[], monthly_limit=scope_limit)
    agent = AgentPrimitive(
        llm,
        tools=[lookup],
        max_cost_usd=CAP,
        max_steps=50,
        max_tokens=300,
        request={"complexity": "high", "justification": JUSTIFIED},
    )
    runs = await asyncio.gather(
        *(agent.execute(f"run {i}", WorkflowContext()) for i in range(4)),
        return_exceptions=True,
    )
    stopped = [r for r in runs if isinstance(r, AgentRunError)]
    assert len(stopped) == 4, runs
    total = sum(to_usd(e.actual_micros) for e in await ledger.entries("default", current_month()))
    assert total <= min(scope_limit, 4 * CAP) + 1e-9
    assert all(r.spent_usd <= CAP + 1e-9 for r in stopped)
    assert sum(r.spent_usd for r in stopped) == pytest.approx(total)
    if scope_limit > 4 * CAP:  # only the runs' own caps stopped them, each near its cap
        assert all(isinstance(r, SpendLimitError) for r in stopped)
        assert all(r.spent_usd > CAP - 0.005 for r in stopped)
    else:  # the scope ran out first: its money is spent, down to less than one call
        assert total > scope_limit - 0.005
        assert any(isinstance(r, AgentModelError) for r in stopped)
    assert all((r.json.get("max_completion_tokens") or 0) <= 300 for r in servers.paid.requests)


async def test_a_run_on_a_paid_llm_primitive_lowers_each_cap_to_what_is_left(
    servers: Servers,
) -> None:
    sent: list[dict[str, Any]] = []

    def answer(request: RecordedRequest) -> Reply:
        # An honest provider that uses the whole output cap it was given.
        sent.append(request.json)
        reply = greedy_tool_call(request)
        body = json.loads(reply.body)
        body["usage"] = {"prompt_tokens": 500, "completion_tokens": request.json["max_tokens"]}
        return Reply.json(body)

    servers.paid.respond("/chat/completions", answer)
    llm = LLMPrimitive("gpt-4.1", provider=servers.providers["openai"])
    agent = AgentPrimitive(llm, tools=[lookup], max_cost_usd=0.05, max_steps=50, max_tokens=1000)
    with pytest.raises(SpendLimitError, match="may cost up to") as caught:
        await agent.execute("spend it", WorkflowContext())
    assert caught.value.spent_usd <= 0.05
    assert caught.value.spent_usd > 0.04
    caps = [s["max_tokens"] for s in sent]
    assert caps[-1] < caps[0]  # the last calls got the output the money left paid for
    assert caught.value.state.steps == len(sent)


async def test_a_run_timed_out_mid_call_is_charged_within_its_cap(
    servers: Servers, ledger: SQLiteLedger
) -> None:
    def slow(request: RecordedRequest) -> Reply:
        if len(request.json["messages"]) > 1:  # the second step: billed, answered late
            time.sleep(2.5)
        return greedy_tool_call(request)

    servers.paid.respond("/chat/completions", slow)
    llm = universal(servers, ledger, free_models=[], monthly_limit=1.0)
    agent = AgentPrimitive(
        llm,
        tools=[lookup],
        max_cost_usd=CAP,
        max_tokens=300,
        timeout_s=1.5,
        request={"complexity": "high", "justification": JUSTIFIED},
    )
    with pytest.raises(AgentTimeoutError) as caught:
        await agent.execute("slow run", WorkflowContext())
    await asyncio.sleep(0.5)  # the cut call's settlement finishes in the background
    entries = await ledger.entries("default", current_month())
    total = sum(to_usd(e.actual_micros or e.reserved_micros) for e in entries)
    assert caught.value.state.steps == 1
    assert len(entries) == 2  # one answered call, one cut by the timeout
    assert caught.value.spent_usd < total <= CAP + 1e-9
