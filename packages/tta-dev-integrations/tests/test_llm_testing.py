"""The LLM test doubles drive the real LLMPrimitive: answers, tool calls, failures, usage,
cost, streams; and UniversalLLMPrimitive's routing and ledger."""

from __future__ import annotations

from pathlib import Path

import pytest

from tta_dev_integrations.llm import (
    TRANSIENT_ERRORS,
    LLMPrimitive,
    RateLimitError,
    StreamInterruptedError,
    Usage,
)
from tta_dev_integrations.llm.testing import (
    FunctionModel,
    TestModel,
    TestReply,
    tool_call,
    word_tokens,
)
from tta_dev_primitives import RetryPrimitive, WorkflowContext
from tta_dev_primitives.testing import FakeClock, capture_spans


async def test_a_scripted_answer_is_measured_and_priced_like_a_real_one() -> None:
    model = TestModel(["Write the failing test first."])
    llm = LLMPrimitive("gpt-4o-mini", provider=model)
    with capture_spans() as spans:
        answer = await llm.execute({"prompt": "Where do I start?"}, WorkflowContext())
    assert answer.content == "Write the failing test first."
    assert answer.usage == Usage(input_tokens=4, output_tokens=5)
    assert not answer.usage.estimated
    assert answer.cost_usd == pytest.approx((4 * 0.15 + 5 * 0.60) / 1e6)
    assert not answer.cost_estimated
    assert model.prompts == ["Where do I start?"]
    assert model.model_ids == ["gpt-4o-mini"]
    span = spans.one("chat gpt-4o-mini")
    assert span.attributes["gen_ai.usage.output_tokens"] == 5


async def test_tool_calls_and_own_usage_come_back_as_scripted() -> None:
    call = tool_call("calculator", expression="17 * 23 + 4")
    model = TestModel(
        [TestReply(tool_calls=[call], usage=Usage(input_tokens=120, output_tokens=9)), "395"]
    )
    llm = LLMPrimitive("gpt-4o-mini", provider=model)
    first = await llm.execute("What is 17 * 23 + 4?", WorkflowContext())
    assert first.tool_calls == (call,)
    assert first.finish_reason == "tool_calls"
    assert first.usage.input_tokens == 120
    second = await llm.execute("Result: 395", WorkflowContext())
    assert second.content == "395"
    assert model.remaining == 0


async def test_a_scripted_failure_is_raised_and_a_retry_gets_the_next_reply() -> None:
    clock = FakeClock()
    model = TestModel([RateLimitError("slow down", retry_after=2.0), "ok now"])
    llm = RetryPrimitive(
        LLMPrimitive("gpt-4o-mini", provider=model), retry_on=TRANSIENT_ERRORS, sleep=clock.sleep
    )
    answer = await llm.execute("hi", WorkflowContext())
    assert answer.content == "ok now"
    assert len(model.requests) == 2
    assert clock.now() >= 2.0


async def test_past_the_script_a_call_fails_the_test_unless_there_is_a_default() -> None:
    model = TestModel(["one"])
    llm = LLMPrimitive("gpt-4o-mini", provider=model)
    await llm.execute("a", WorkflowContext())
    with pytest.raises(AssertionError, match="called 2 times but scripted for 1"):
        await llm.execute("b", WorkflowContext())
    repeating = LLMPrimitive("gpt-4o-mini", provider=TestModel(default="same"))
    for prompt in ("a", "b", "c"):
        assert (await repeating.execute(prompt, WorkflowContext())).content == "same"


async def test_a_stream_yields_the_answer_in_pieces_then_its_usage() -> None:
    model = TestModel(["Count: one, two, three."], chunk_size=5)
    stream = LLMPrimitive("gpt-4o-mini", provider=model).stream("Count", WorkflowContext())
    pieces = [piece async for piece in stream]
    assert len(pieces) > 1
    assert "".join(pieces) == "Count: one, two, three."
    assert stream.response is not None
    assert stream.response.usage == Usage(input_tokens=1, output_tokens=4)


async def test_a_stream_cut_short_raises_as_a_dropped_connection_does() -> None:
    model = TestModel([TestReply("a long answer that breaks", cut_after=6)])
    stream = LLMPrimitive("gpt-4o-mini", provider=model).stream("go", WorkflowContext())
    pieces = aiter(stream)
    assert [await anext(pieces), await anext(pieces)] == ["a lo", "ng"]  # chunk_size=4
    with pytest.raises(StreamInterruptedError, match="cut after 6"):
        await anext(pieces)


async def test_a_function_model_answers_from_the_request() -> None:
    async def echo(request):  # type: ignore[no-untyped-def]
        return f"you said: {request.messages[-1].text}"

    model = FunctionModel(echo)
    llm = LLMPrimitive("gpt-4o-mini", provider=model)
    assert (await llm.execute("hello", WorkflowContext())).content == "you said: hello"
    refusing = FunctionModel(lambda request: TestReply("", finish_reason="content_filter"))
    answer = await LLMPrimitive("gpt-4o-mini", provider=refusing).execute("x", WorkflowContext())
    assert answer.finish_reason == "content_filter"


def test_word_tokens_counts_words() -> None:
    assert word_tokens("") == 1
    assert word_tokens("three small words") == 3


async def test_universal_routing_charges_the_ledger_what_the_double_reports(
    tmp_path: Path,
) -> None:
    from tta_dev_integrations.llm import UniversalLLMPrimitive
    from tta_dev_integrations.llm.budget.ledger import current_month
    from tta_dev_integrations.llm.budget.sqlite import SQLiteLedger

    ledger = SQLiteLedger(tmp_path / "ledger.db")
    model = TestModel([TestReply("Design it.", usage=Usage(input_tokens=1000, output_tokens=500))])
    router = UniversalLLMPrimitive(
        coder="none",
        budget_profile="unlimited",
        free_models=[],
        paid_models=["gpt-4o-mini"],
        ledger=ledger,
        providers={"openai": model},
    )
    try:
        answer = await router.execute({"prompt": "Design the sync protocol"}, WorkflowContext())
        entries = await ledger.entries("default", current_month())
    finally:
        await ledger.close()
    assert answer.model == "gpt-4o-mini"
    expected = (1000 * 0.15 + 500 * 0.60) / 1e6
    assert answer.cost_usd == pytest.approx(expected)
    assert [entry.model for entry in entries] == ["gpt-4o-mini"]
    assert model.prompts == ["Design the sync protocol"]
