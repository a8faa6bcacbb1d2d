"""TimeoutPrimitive: deadlines, real cancellation of the inner work, error identity."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from tta_dev_primitives import (
    PrimitiveTimeoutError,
    TimeoutPrimitive,
    TTAError,
    WorkflowContext,
)
from tta_dev_primitives.testing import FunctionPrimitive, metric_value


class SlowWork:
    """An async step that takes ``seconds`` and records how it ended."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.started = False
        self.finished = False
        self.cancelled = False
        self.cleaned_up = False

    async def __call__(self, x: Any) -> Any:
        self.started = True
        try:
            await asyncio.sleep(self.seconds)
            self.finished = True
            return x
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        finally:
            await asyncio.sleep(0)  # cleanup that itself awaits
            self.cleaned_up = True


def timeouts(name: str) -> float:
    return metric_value("tta_primitive_timeouts_total", primitive=name)


async def test_fast_inner_returns_normally(ctx: WorkflowContext) -> None:
    work = SlowWork(0)
    guarded = TimeoutPrimitive(FunctionPrimitive(work, name="fast"), 1.0, name="timeout-fast")
    before = timeouts("timeout-fast")

    assert await guarded.execute("value", ctx) == "value"
    assert work.finished
    assert not work.cancelled
    assert timeouts("timeout-fast") == before


async def test_slow_inner_is_cancelled_and_raises_primitive_timeout_error(
    ctx: WorkflowContext,
) -> None:
    work = SlowWork(10)
    guarded = TimeoutPrimitive(FunctionPrimitive(work, name="slow"), 0.02, name="timeout-slow")
    tasks_before = asyncio.all_tasks()
    start = time.perf_counter()

    with pytest.raises(PrimitiveTimeoutError) as caught:
        await guarded.execute("value", ctx)

    assert time.perf_counter() - start < 0.5
    error = caught.value
    assert isinstance(error, TimeoutError)
    assert isinstance(error, TTAError)
    assert isinstance(error.__cause__, TimeoutError)
    assert not isinstance(error.__cause__, PrimitiveTimeoutError)
    assert error.primitive == "timeout-slow"
    assert error.timeout_s == 0.02
    assert "'timeout-slow' did not finish within 0.02s" in str(error)
    # The inner work was really cancelled and had finished its cleanup before the raise.
    assert work.started
    assert work.cancelled
    assert work.cleaned_up
    assert not work.finished
    assert asyncio.all_tasks() == tasks_before


async def test_the_inner_does_not_resume_after_the_timeout(ctx: WorkflowContext) -> None:
    work = SlowWork(0.05)
    guarded = TimeoutPrimitive(FunctionPrimitive(work, name="slow"), 0.01)
    with pytest.raises(PrimitiveTimeoutError):
        await guarded.execute(1, ctx)
    await asyncio.sleep(0.08)  # longer than the work would have taken
    assert not work.finished


async def test_a_timeout_error_raised_by_the_inner_passes_through_unchanged(
    ctx: WorkflowContext,
) -> None:
    own = TimeoutError("the upstream API timed out")

    def fail(_: Any) -> Any:
        raise own

    guarded = TimeoutPrimitive(FunctionPrimitive(fail), 1.0, name="timeout-own-error")
    before = timeouts("timeout-own-error")
    with pytest.raises(TimeoutError) as caught:
        await guarded.execute(1, ctx)
    assert caught.value is own
    assert not isinstance(caught.value, PrimitiveTimeoutError)
    assert timeouts("timeout-own-error") == before


async def test_other_inner_errors_pass_through_unchanged(ctx: WorkflowContext) -> None:
    error = ValueError("bad")
    guarded = TimeoutPrimitive(FunctionPrimitive.scripted([error]), 1.0)
    with pytest.raises(ValueError, match="bad") as caught:
        await guarded.execute(1, ctx)
    assert caught.value is error


async def test_timeouts_metric_counts_each_timeout(ctx: WorkflowContext) -> None:
    name = "timeout-metric"
    guarded = TimeoutPrimitive(FunctionPrimitive(SlowWork(10)), 0.01, name=name)
    before = timeouts(name)
    for _ in range(2):
        with pytest.raises(PrimitiveTimeoutError):
            await guarded.execute(1, ctx)
    assert timeouts(name) == before + 2


async def test_nested_timeouts_report_the_one_that_fired(ctx: WorkflowContext) -> None:
    inner = TimeoutPrimitive(FunctionPrimitive(SlowWork(10)), 0.01, name="nested-inner")
    outer = TimeoutPrimitive(inner, 1.0, name="nested-outer")
    before = (timeouts("nested-inner"), timeouts("nested-outer"))
    with pytest.raises(PrimitiveTimeoutError) as caught:
        await outer.execute(1, ctx)
    assert caught.value.primitive == "nested-inner"
    assert (timeouts("nested-inner"), timeouts("nested-outer")) == (before[0] + 1, before[1])

    inner = TimeoutPrimitive(FunctionPrimitive(SlowWork(10)), 1.0, name="nested-inner-2")
    outer = TimeoutPrimitive(inner, 0.01, name="nested-outer-2")
    with pytest.raises(PrimitiveTimeoutError) as caught:
        await outer.execute(1, ctx)
    assert caught.value.primitive == "nested-outer-2"
    assert timeouts("nested-inner-2") == 0


async def test_cancelling_the_caller_is_a_cancellation_not_a_timeout(
    ctx: WorkflowContext,
) -> None:
    work = SlowWork(10)
    guarded = TimeoutPrimitive(FunctionPrimitive(work), 5.0, name="timeout-caller-cancelled")
    before = timeouts("timeout-caller-cancelled")
    task = asyncio.create_task(guarded.execute(1, ctx))
    await asyncio.sleep(0.01)
    assert work.started
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert task.cancelled()
    assert work.cancelled
    assert timeouts("timeout-caller-cancelled") == before


def test_default_name_wraps_the_inner_name() -> None:
    guarded = TimeoutPrimitive(FunctionPrimitive(lambda x: x, name="fetch"), 2)
    assert guarded.name == "timeout(fetch)"
    assert guarded.timeout_seconds == 2.0


@pytest.mark.parametrize("seconds", [0, -1, float("inf"), float("-inf"), float("nan")])
def test_invalid_timeouts_raise_value_error(seconds: float) -> None:
    with pytest.raises(ValueError, match="timeout_seconds"):
        TimeoutPrimitive(FunctionPrimitive(lambda x: x), seconds)
