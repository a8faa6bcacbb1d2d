"""FallbackPrimitive: alternatives in order, the error group, fallback_on, cancellation."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tta_dev_primitives import (
    AllAlternativesFailedError,
    CompositionError,
    FallbackPrimitive,
    LambdaPrimitive,
    TTAError,
    WorkflowContext,
)
from tta_dev_primitives.testing import FunctionPrimitive, capture_spans, metric_value


def answering(value: Any, name: str) -> FunctionPrimitive[Any, Any]:
    return FunctionPrimitive(lambda _: value, name=name)


def raising(error: Exception, name: str) -> FunctionPrimitive[Any, Any]:
    def fail(_: Any) -> Any:
        raise error

    return FunctionPrimitive(fail, name=name)


def taken(primitive: str, alternative: str) -> float:
    return metric_value(
        "tta_primitive_fallbacks_total", primitive=primitive, alternative=alternative
    )


async def test_primary_success_never_calls_the_fallbacks(ctx: WorkflowContext) -> None:
    primary = answering("primary", "primary")
    backup = answering("backup", "backup")
    workflow = FallbackPrimitive(primary, [backup])

    assert await workflow.execute("q", ctx) == "primary"
    assert primary.call_inputs == ["q"]
    assert backup.calls == []


async def test_a_failed_primary_hands_the_original_input_to_the_next(
    ctx: WorkflowContext,
) -> None:
    primary = raising(ConnectionError("down"), "primary")
    first = answering("first", "first")
    second = answering("second", "second")
    payload = {"question": "why?"}

    assert await FallbackPrimitive(primary, [first, second]).execute(payload, ctx) == "first"
    assert first.calls == [(payload, ctx)]
    assert first.calls[0][0] is payload
    assert second.calls == []


async def test_each_alternative_gets_the_original_input_not_a_previous_one(
    ctx: WorkflowContext,
) -> None:
    primary = raising(ConnectionError("down"), "primary")
    first = raising(TimeoutError("slow"), "first")
    second = FunctionPrimitive(lambda x: f"second saw {x}", name="second")

    result = await FallbackPrimitive(primary, [first, second]).execute("q", ctx)
    assert result == "second saw q"
    assert [p.call_inputs for p in (primary, first, second)] == [["q"], ["q"], ["q"]]


async def test_all_failing_raises_a_group_with_every_failure_in_order(
    ctx: WorkflowContext,
) -> None:
    errors = [ConnectionError("primary down"), TimeoutError("first slow"), KeyError("second")]
    workflow = FallbackPrimitive(
        raising(errors[0], "primary"),
        [raising(errors[1], "first"), raising(errors[2], "second")],
        name="fallback-all-fail",
    )

    with pytest.raises(AllAlternativesFailedError) as caught:
        await workflow.execute(1, ctx)

    group = caught.value
    assert isinstance(group, ExceptionGroup)
    assert isinstance(group, TTAError)
    assert len(group.exceptions) == 3
    assert all(got is want for got, want in zip(group.exceptions, errors, strict=True))
    assert "all 3 alternatives of 'fallback-all-fail' failed" in group.message
    assert "'primary', 'first', 'second'" in group.message


async def test_except_star_splits_the_group(ctx: WorkflowContext) -> None:
    workflow = FallbackPrimitive(
        raising(ConnectionError("a"), "primary"),
        [raising(ValueError("b"), "first"), raising(ConnectionError("c"), "second")],
    )
    connection_errors: list[BaseException] = []
    value_errors: list[BaseException] = []
    groups: list[BaseExceptionGroup[BaseException]] = []

    try:
        await workflow.execute(1, ctx)
    except* ConnectionError as group:
        groups.append(group)
        connection_errors.extend(group.exceptions)
    except* ValueError as group:
        groups.append(group)
        value_errors.extend(group.exceptions)

    assert [str(e) for e in connection_errors] == ["a", "c"]
    assert [str(e) for e in value_errors] == ["b"]
    assert all(isinstance(g, AllAlternativesFailedError) for g in groups)


async def test_except_star_leaves_unmatched_failures_in_the_group(ctx: WorkflowContext) -> None:
    workflow = FallbackPrimitive(
        raising(ConnectionError("a"), "primary"), [raising(KeyError("b"), "first")]
    )

    async def handle_connection_errors_only() -> None:
        try:
            await workflow.execute(1, ctx)
        except* ConnectionError:
            pass

    with pytest.raises(AllAlternativesFailedError) as caught:
        await handle_connection_errors_only()
    assert [type(e) for e in caught.value.exceptions] == [KeyError]


async def test_an_error_outside_fallback_on_stops_the_chain(ctx: WorkflowContext) -> None:
    error = KeyError("bug, not an outage")
    primary = raising(error, "primary")
    backup = answering("backup", "backup")
    workflow = FallbackPrimitive(primary, [backup], fallback_on=(ConnectionError, TimeoutError))

    with pytest.raises(KeyError) as caught:
        await workflow.execute(1, ctx)
    assert caught.value is error
    assert backup.calls == []


async def test_an_error_outside_fallback_on_in_a_fallback_stops_the_chain(
    ctx: WorkflowContext,
) -> None:
    error = ValueError("bad request")
    primary = raising(ConnectionError("down"), "primary")
    first = raising(error, "first")
    second = answering("second", "second")
    workflow = FallbackPrimitive(primary, [first, second], fallback_on=ConnectionError)

    with pytest.raises(ValueError, match="bad request") as caught:
        await workflow.execute(1, ctx)
    assert caught.value is error
    assert second.calls == []


async def test_cancellation_is_not_caught(ctx: WorkflowContext) -> None:
    started = asyncio.Event()

    async def hang(_: Any) -> Any:
        started.set()
        await asyncio.Event().wait()

    backup = answering("backup", "backup")
    workflow = FallbackPrimitive(LambdaPrimitive(hang), [backup], name="fallback-cancelled")
    before = taken("fallback-cancelled", "backup")
    task = asyncio.create_task(workflow.execute(1, ctx))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert task.cancelled()
    assert backup.calls == []
    assert taken("fallback-cancelled", "backup") == before


async def test_fallbacks_metric_counts_each_alternative_that_ran(ctx: WorkflowContext) -> None:
    name = "fallback-metric"
    primary = FunctionPrimitive.scripted([ConnectionError("1"), "primary ok"], name="m-primary")
    first = FunctionPrimitive.scripted([TimeoutError("2")], name="m-first")
    second = answering("second ok", "m-second")
    workflow = FallbackPrimitive(primary, [first, second], name=name)
    before = (taken(name, "m-first"), taken(name, "m-second"))

    assert await workflow.execute(1, ctx) == "second ok"
    assert (taken(name, "m-first"), taken(name, "m-second")) == (before[0] + 1, before[1] + 1)

    assert await workflow.execute(1, ctx) == "primary ok"
    assert (taken(name, "m-first"), taken(name, "m-second")) == (before[0] + 1, before[1] + 1)
    assert taken(name, "m-primary") == 0


async def test_a_single_fallback_may_be_passed_without_a_list(ctx: WorkflowContext) -> None:
    backup = answering("backup", "backup")
    workflow = FallbackPrimitive(raising(ConnectionError("down"), "primary"), backup)
    assert workflow.fallbacks == (backup,)
    assert await workflow.execute(1, ctx) == "backup"


async def test_async_functions_are_accepted_as_alternatives(ctx: WorkflowContext) -> None:
    async def live_price(symbol: str) -> float:
        raise ConnectionError(f"no quote for {symbol}")

    async def cached_price(symbol: str, ctx: WorkflowContext) -> str:
        return f"{symbol}@{ctx.workflow_id}"

    single = FallbackPrimitive(live_price, cached_price)
    assert await single.execute("ACME", ctx) == "ACME@test-workflow"
    assert [a.display_name for a in single.alternatives] == ["live_price", "cached_price"]

    listed = FallbackPrimitive(live_price, [live_price, cached_price])
    assert await listed.execute("ACME", ctx) == "ACME@test-workflow"


async def test_alternative_spans_nest_under_the_fallback_span(ctx: WorkflowContext) -> None:
    workflow = FallbackPrimitive(
        raising(ConnectionError("down"), "span-primary"),
        [answering("ok", "span-backup")],
        name="span-fallback",
    )
    with capture_spans() as spans:
        await workflow.execute(1, ctx)
    assert spans.tree() == ["span-fallback", "  span-primary", "  span-backup"]


def test_default_name_and_alternatives() -> None:
    primary = answering(1, "fetch")
    backup = answering(2, "stale")
    workflow = FallbackPrimitive(primary, [backup])
    assert workflow.name == "fallback(fetch)"
    assert workflow.alternatives == (primary, backup)


def test_at_least_one_fallback_is_required() -> None:
    with pytest.raises(ValueError, match="at least one fallback"):
        FallbackPrimitive(answering(1, "primary"), [])


def test_a_non_primitive_fallback_is_a_composition_error() -> None:
    with pytest.raises(CompositionError):
        FallbackPrimitive(answering(1, "primary"), [lambda x: x])
    with pytest.raises(TypeError):
        FallbackPrimitive(answering(1, "primary"), ["not a step"])  # type: ignore[list-item]


@pytest.mark.parametrize("bad", [BaseException, (ValueError, asyncio.CancelledError), "x"])
def test_fallback_on_must_name_exception_types(bad: Any) -> None:
    with pytest.raises(TypeError, match="fallback_on"):
        FallbackPrimitive(
            FunctionPrimitive(lambda x: x), [FunctionPrimitive(lambda x: x)], fallback_on=bad
        )
