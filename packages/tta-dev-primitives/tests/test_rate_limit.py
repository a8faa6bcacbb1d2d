"""RateLimitPrimitive in one process: sliding windows by requests and tokens, waiting
within a bound or failing fast, pauses from Retry-After, bad input."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tta_dev_primitives import (
    RateLimit,
    RateLimitExceededError,
    RateLimitPrimitive,
    WorkflowContext,
)
from tta_dev_primitives.performance import InMemoryRateLimitBackend
from tta_dev_primitives.testing import FakeClock, FunctionPrimitive, metric_value


def recorder(clock: FakeClock) -> tuple[FunctionPrimitive[Any, Any], list[float]]:
    """A step recording the (fake) time of each call it receives."""
    seen: list[float] = []

    def call(x: Any) -> Any:
        seen.append(clock())
        return x

    return FunctionPrimitive(call, name="provider"), seen


def most_in_any_window(times: list[float], window: float, weights: list[int] | None = None) -> int:
    """The largest total of calls (or weights) inside any half-open window of ``window``."""
    weights = weights or [1] * len(times)
    return max(
        sum(w for t, w in zip(times, weights, strict=True) if start <= t < start + window)
        for start in times
    )


async def test_fail_fast_refuses_the_call_beyond_the_limit_and_says_when(
    clock: FakeClock, ctx: WorkflowContext
) -> None:
    step, seen = recorder(clock)
    limited = RateLimitPrimitive(
        step, [RateLimit(3, 10)], clock=clock, sleep=clock.sleep, name="ff"
    )
    rejected = metric_value("tta_rate_limit_rejections_total", primitive="ff")
    for i in range(3):
        assert await limited.execute(i, ctx) == i
        clock.advance(1)
    with pytest.raises(RateLimitExceededError) as caught:
        await limited.execute(3, ctx)
    assert len(seen) == 3
    assert caught.value.retry_after == pytest.approx(7.0)  # the first call leaves at t+10
    assert "3 requests per 10s" in str(caught.value)
    assert metric_value("tta_rate_limit_rejections_total", primitive="ff") - rejected == 1
    clock.advance(7)
    assert await limited.execute(4, ctx) == 4


async def test_waiting_keeps_every_sliding_window_within_the_limit(
    clock: FakeClock, ctx: WorkflowContext
) -> None:
    step, seen = recorder(clock)
    limited = RateLimitPrimitive(
        step, [RateLimit(5, 60)], max_wait_seconds=600, clock=clock, sleep=clock.sleep, name="w"
    )
    waits = metric_value("tta_rate_limit_waits_total", primitive="w")
    for i in range(23):
        await limited.execute(i, ctx)
        clock.advance(0.5)
    assert len(seen) == 23
    assert most_in_any_window(seen, 60) == 5
    assert (
        metric_value("tta_rate_limit_waits_total", primitive="w") - waits == 4
    )  # calls 5, 10, 15 and 20


async def test_concurrent_callers_never_exceed_the_limit(
    clock: FakeClock, ctx: WorkflowContext
) -> None:
    # Twelve callers at once; the fake clock moves only when a waiting caller sleeps, so
    # the times recorded are exactly the admissions (a loaded machine cannot skew them).
    step, seen = recorder(clock)
    limited = RateLimitPrimitive(
        step, [RateLimit(4, 0.2)], max_wait_seconds=5, clock=clock, sleep=clock.sleep
    )
    results = await asyncio.gather(*(limited.execute(i, ctx) for i in range(12)))
    assert sorted(results) == list(range(12))
    assert len(seen) == 12
    assert most_in_any_window(seen, 0.2) <= 4


async def test_a_token_limit_counts_each_calls_cost_and_both_limits_are_taken_together(
    clock: FakeClock, ctx: WorkflowContext
) -> None:
    step, seen = recorder(clock)
    limits = [RateLimit(10, 60), RateLimit(1000, 60, cost=lambda n: n, unit="tokens")]
    limited = RateLimitPrimitive(step, limits, clock=clock, sleep=clock.sleep, name="tok")
    await limited.execute(600, ctx)
    with pytest.raises(RateLimitExceededError, match="1000 tokens per 60s"):
        await limited.execute(500, ctx)  # fits the request limit, not the token one
    await limited.execute(400, ctx)  # the refused call took no request either
    assert seen == [clock(), clock()]
    clock.advance(60)
    await limited.execute(1000, ctx)


async def test_a_wait_longer_than_max_wait_fails_at_once_without_sleeping(
    clock: FakeClock, ctx: WorkflowContext
) -> None:
    step, _ = recorder(clock)
    limited = RateLimitPrimitive(
        step, [RateLimit(1, 60)], max_wait_seconds=5, clock=clock, sleep=clock.sleep
    )
    await limited.execute(1, ctx)
    with pytest.raises(RateLimitExceededError):
        await limited.execute(2, ctx)
    assert clock.sleeps == []


async def test_a_retry_after_error_pauses_every_caller_of_the_key(
    clock: FakeClock, ctx: WorkflowContext
) -> None:
    class TooMany(Exception):
        retry_after = 30.0

    backend = InMemoryRateLimitBackend(clock=clock)
    failing = FunctionPrimitive.scripted([TooMany()], name="p429")
    first = RateLimitPrimitive(
        failing, [RateLimit(100, 60)], key="model-x", backend=backend, pause_on=TooMany,
        clock=clock, sleep=clock.sleep,
    )  # fmt: skip
    other, seen = recorder(clock)
    second = RateLimitPrimitive(
        other, [RateLimit(100, 60)], key="model-x", backend=backend, clock=clock,
        sleep=clock.sleep, max_wait_seconds=60,
    )  # fmt: skip
    with pytest.raises(TooMany):
        await first.execute("a", ctx)
    start = clock()
    await second.execute("b", ctx)
    assert seen == [start + 30.0]


def test_bad_limits_and_options_are_refused_with_the_reason() -> None:
    async def step(x: Any) -> Any:
        return x

    with pytest.raises(ValueError, match="amount must be"):
        RateLimit(0, 60)
    with pytest.raises(ValueError, match="per_seconds must be > 0"):
        RateLimit(5, float("nan"))
    with pytest.raises(ValueError, match="RateLimit"):
        RateLimitPrimitive(step, [(5, 60)])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="max_wait_seconds"):
        RateLimitPrimitive(step, [RateLimit(1)], max_wait_seconds=-1)
    with pytest.raises(ValueError, match="on_unavailable"):
        RateLimitPrimitive(step, [RateLimit(1)], on_unavailable="ignore")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="RateLimitBackend"):
        RateLimitPrimitive(step, [RateLimit(1)], backend=object())  # type: ignore[arg-type]


async def test_a_cost_above_the_limit_is_capped_so_the_call_can_ever_run(
    clock: FakeClock, ctx: WorkflowContext
) -> None:
    step, seen = recorder(clock)
    limited = RateLimitPrimitive(
        step, [RateLimit(100, 60, cost=lambda n: n, unit="tokens")], clock=clock
    )
    await limited.execute(5000, ctx)
    assert len(seen) == 1
