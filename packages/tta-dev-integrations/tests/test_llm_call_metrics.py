"""``tta_llm_requests_total``: one count per call, by outcome, plain or streamed."""

from __future__ import annotations

import pytest

from replay_server import ReplayServer, Reply, SSEReply
from tta_dev_integrations.llm import AuthenticationError, LLMPrimitive, create_provider
from tta_dev_primitives import WorkflowContext
from tta_dev_primitives.testing import metric_value

ANSWER = {
    "model": "gpt-4o-mini",
    "choices": [{"message": {"content": "ok"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 3, "completion_tokens": 1},
}


def requests_total(outcome: str) -> float:
    return metric_value(
        "tta_llm_requests_total", provider="openai", model="gpt-4o-mini", outcome=outcome
    )


async def test_each_call_counts_once_under_its_outcome() -> None:
    with ReplayServer() as server:
        chunk = {"model": "m", "choices": [{"delta": {"content": "ok"}, "finish_reason": "stop"}]}
        server.add(
            "/chat/completions",
            Reply.json(ANSWER),
            Reply.json(ANSWER),
            SSEReply([(None, chunk), (None, "[DONE]")]),
            Reply.json({"error": {"message": "bad key", "code": "invalid_api_key"}}, status=401),
        )
        provider = create_provider("openai", base_url=server.url, api_key="sk-metrics-test")
        llm = LLMPrimitive("gpt-4o-mini", provider=provider)
        successes, refusals = requests_total("success"), requests_total("AuthenticationError")
        try:
            await llm.execute("hi", WorkflowContext())
            await llm.execute("hi", WorkflowContext())
            assert await llm.stream("hi", WorkflowContext()).text() == "ok"
            with pytest.raises(AuthenticationError):
                await llm.execute("hi", WorkflowContext())
        finally:
            await provider.aclose()
    assert requests_total("success") - successes == 3
    assert requests_total("AuthenticationError") - refusals == 1
