"""RetryPrimitive: attempts, backoff schedule, jitter, retry_after, cancellation, spans."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest

from tta_dev_primitives import RetryPrimitive, WorkflowContext
from tta_dev_primitives.testing import FakeClock, FunctionPrimitive, capture_spans, metric_value


class Transient(Exception):
    """A failure worth retrying."""


class RateLimited(Exception):
    """A failure that says how long to wait before the next attempt."""

    def __init__(self, retry_after: Any) -> None:
        super().__init__(f"slow down for {retry_after}s")
        self.retry_after = retry_after


def always_failing(name: str = "always-failing") -> FunctionPrimitive[Any, Any]:
    """A step that raises a new, numbered ``Transient`` on every call."""
    count = 0

    def fail(_: Any) -> Any:
        nonlocal count
        count += 1
        raise Transient(f"failure {count}")

    return FunctionPrimitive(fail, name=name)


def retries(name: str) -> float:
    return metric_value("tta_primitive_retries_total", primitive=name)


# -- attempts --------------------------------------------------------------------------


async def test_succeeds_after_failures(ctx: WorkflowContext, clock: FakeClock) -> None:
    inner = FunctionPrimitive.scripted([Transient("1"), Transient("2"), "done"])
    retry = RetryPrimitive(inner, max_attempts=3, sleep=clock.sleep)

    assert await retry.execute("input", ctx) == "done"
    assert inner.call_inputs == ["input", "input", "input"]
    assert len(clock.sleeps) == 2


async def test_first_success_neither_retries_nor_sleeps(
    ctx: WorkflowContext, clock: FakeClock
) -> None:
    inner = FunctionPrimitive.scripted(["done"])
    retry = RetryPrimitive(inner, sleep=clock.sleep, name="retry-first-success")
    before = retries("retry-first-success")

    assert await retry.execute(1, ctx) == "done"
    assert len(inner.calls) == 1
    assert clock.sleeps == []
    assert retries("retry-first-success") == before


async def test_every_attempt_gets_the_same_input_and_context(
    ctx: WorkflowContext, clock: FakeClock
) -> None:
    inner = FunctionPrimitive.scripted([Transient("1"), "done"])
    payload = {"k": [1, 2]}
    await RetryPrimitive(inner, sleep=clock.sleep).execute(payload, ctx)
    assert [call[0] for call in inner.calls] == [payload, payload]
    assert all(call[0] is payload and call[1] is ctx for call in inner.calls)


async def test_gives_up_with_the_original_last_exception(
    ctx: WorkflowContext, clock: FakeClock
) -> None:
    errors = [Transient("first"), Transient("second"), Transient("third")]
    inner = FunctionPrimitive.scripted(errors)
    retry = RetryPrimitive(inner, max_attempts=3, sleep=clock.sleep, name="retry-gives-up")

    with pytest.raises(Transient) as caught:
        await retry.execute(1, ctx)

    assert caught.value is errors[-1]
    assert type(caught.value) is Transient
    assert caught.value.__notes__ == ["'retry-gives-up' gave up after 3 attempts"]
    assert len(inner.calls) == 3
    assert len(clock.sleeps) == 2


async def test_a_single_attempt_raises_without_a_note(
    ctx: WorkflowContext, clock: FakeClock
) -> None:
    error = Transient("only")
    inner = FunctionPrimitive.scripted([error])
    with pytest.raises(Transient) as caught:
        await RetryPrimitive(inner, max_attempts=1, sleep=clock.sleep).execute(1, ctx)
    assert caught.value is error
    assert not hasattr(caught.value, "__notes__")
    assert clock.sleeps == []


async def test_the_last_error_is_not_chained_to_the_earlier_ones(
    ctx: WorkflowContext, clock: FakeClock
) -> None:
    inner = FunctionPrimitive.scripted([Transient("1"), Transient("2")])
    with pytest.raises(Transient) as caught:
        await RetryPrimitive(inner, max_attempts=2, sleep=clock.sleep).execute(1, ctx)
    assert caught.value.__context__ is None
    assert caught.value.__cause__ is None


# -- backoff schedule and jitter -------------------------------------------------------


async def test_exponential_backoff_schedule_is_capped_at_max_delay(
    ctx: WorkflowContext, clock: FakeClock
) -> None:
    retry = RetryPrimitive(
        always_failing(),
        max_attempts=7,
        initial_delay=1,
        backoff=2,
        max_delay=5,
        jitter=0,
        sleep=clock.sleep,
    )
    with pytest.raises(Transient, match="failure 7"):
        await retry.execute(1, ctx)
    assert clock.sleeps == [1, 2, 4, 5, 5, 5]
    assert clock() == 1000.0 + sum(clock.sleeps)


async def test_backoff_of_one_is_a_constant_delay(ctx: WorkflowContext, clock: FakeClock) -> None:
    retry = RetryPrimitive(
        always_failing(),
        max_attempts=4,
        initial_delay=0.25,
        backoff=1,
        jitter=0,
        sleep=clock.sleep,
    )
    with pytest.raises(Transient):
        await retry.execute(1, ctx)
    assert clock.sleeps == [0.25, 0.25, 0.25]


async def test_zero_initial_delay_retries_immediately(
    ctx: WorkflowContext, clock: FakeClock
) -> None:
    retry = RetryPrimitive(
        always_failing(), max_attempts=3, initial_delay=0, jitter=0, sleep=clock.sleep
    )
    with pytest.raises(Transient):
        await retry.execute(1, ctx)
    assert clock.sleeps == [0, 0]


async def test_full_jitter_draw_halves_the_delay_at_half_jitter(
    ctx: WorkflowContext, clock: FakeClock
) -> None:
    retry = RetryPrimitive(
        always_failing(),
        max_attempts=4,
        initial_delay=1,
        backoff=2,
        max_delay=10,
        jitter=0.5,
        random=lambda: 1.0,
        sleep=clock.sleep,
    )
    with pytest.raises(Transient):
        await retry.execute(1, ctx)
    assert clock.sleeps == [0.5, 1.0, 2.0]


async def test_a_zero_draw_leaves_the_delay_unjittered(
    ctx: WorkflowContext, clock: FakeClock
) -> None:
    retry = RetryPrimitive(
        always_failing(),
        max_attempts=3,
        initial_delay=1,
        jitter=1.0,
        random=lambda: 0.0,
        sleep=clock.sleep,
    )
    with pytest.raises(Transient):
        await retry.execute(1, ctx)
    assert clock.sleeps == [1, 2]


@pytest.mark.parametrize("jitter", [0.0, 0.3, 1.0])
def test_jittered_delays_stay_within_bounds(jitter: float) -> None:
    retry = RetryPrimitive(
        always_failing(),
        initial_delay=1,
        backoff=2,
        max_delay=8,
        jitter=jitter,
        random=random.Random(1234).random,
    )
    for attempt in range(1, 12):
        full = min(8, 2 ** (attempt - 1))
        for _ in range(50):
            delay = retry.delay_after(attempt)
            assert delay is not None
            assert full * (1 - jitter) <= delay <= full


def test_delay_stays_at_max_delay_after_very_many_attempts() -> None:
    retry = RetryPrimitive(always_failing(), initial_delay=0.5, max_delay=60, jitter=0)
    assert retry.delay_after(5000) == 60
    no_wait = RetryPrimitive(always_failing(), initial_delay=0, jitter=0)
    assert no_wait.delay_after(5000) == 0


async def test_many_attempts_keep_the_capped_delay_and_the_original_error(
    ctx: WorkflowContext, clock: FakeClock
) -> None:
    # 2.0 ** 1024 overflows a float: the schedule must stay at max_delay past it.
    retry = RetryPrimitive(
        always_failing(),
        max_attempts=1100,
        initial_delay=1,
        max_delay=5,
        jitter=0,
        sleep=clock.sleep,
    )
    with pytest.raises(Transient, match="failure 1100"):
        await retry.execute(1, ctx)
    assert len(clock.sleeps) == 1099
    assert set(clock.sleeps[3:]) == {5}


# -- which errors are retried ---------------------------------------------------------


async def test_retry_on_types_retries_only_matching_errors(
    ctx: WorkflowContext, clock: FakeClock
) -> None:
    matching = FunctionPrimitive.scripted([ConnectionError("reset"), TimeoutError(), "ok"])
    retry = RetryPrimitive(
        matching, max_attempts=3, retry_on=(ConnectionError, TimeoutError), sleep=clock.sleep
    )
    assert await retry.execute(1, ctx) == "ok"
    assert len(matching.calls) == 3

    error = ValueError("bad input")
    other = FunctionPrimitive.scripted([error])
    retry = RetryPrimitive(other, retry_on=ConnectionError, sleep=clock.sleep)
    with pytest.raises(ValueError, match="bad input") as caught:
        await retry.execute(1, ctx)
    assert caught.value is error
    assert len(other.calls) == 1
    assert len(clock.sleeps) == 2  # only the two from the first retry


async def test_retry_on_a_predicate(ctx: WorkflowContext, clock: FakeClock) -> None:
    def is_transient(error: BaseException) -> bool:
        return "transient" in str(error)

    inner = FunctionPrimitive.scripted(
        [RuntimeError("transient glitch"), RuntimeError("permanent: disk full")]
    )
    retry = RetryPrimitive(inner, max_attempts=5, retry_on=is_transient, sleep=clock.sleep)
    with pytest.raises(RuntimeError, match="permanent"):
        await retry.execute(1, ctx)
    assert len(inner.calls) == 2
    assert len(clock.sleeps) == 1


async def test_a_non_matching_error_is_raised_at_once(
    ctx: WorkflowContext, clock: FakeClock
) -> None:
    inner = FunctionPrimitive.scripted([KeyError("missing")])
    retry = RetryPrimitive(
        inner, max_attempts=5, retry_on=Transient, sleep=clock.sleep, name="retry-no-match"
    )
    before = retries("retry-no-match")
    with pytest.raises(KeyError):
        await retry.execute(1, ctx)
    assert len(inner.calls) == 1
    assert clock.sleeps == []
    assert retries("retry-no-match") == before


# -- retry_after -----------------------------------------------------------------------


async def test_retry_after_lengthens_the_delay(ctx: WorkflowContext, clock: FakeClock) -> None:
    inner = FunctionPrimitive.scripted([RateLimited(7), RateLimited(0.5), "ok"])
    retry = RetryPrimitive(inner, initial_delay=1, backoff=2, jitter=0, sleep=clock.sleep)
    assert await retry.execute(1, ctx) == "ok"
    # 7 > backoff 1 -> waits 7; 0.5 < backoff 2 -> waits the backoff.
    assert clock.sleeps == [7.0, 2]


async def test_retry_after_overrides_max_delay_and_jitter(
    ctx: WorkflowContext, clock: FakeClock
) -> None:
    inner = FunctionPrimitive.scripted([RateLimited(45), "ok"])
    retry = RetryPrimitive(
        inner, initial_delay=1, max_delay=2, jitter=1, random=lambda: 1.0, sleep=clock.sleep
    )
    assert await retry.execute(1, ctx) == "ok"
    assert clock.sleeps == [45.0]


@pytest.mark.parametrize("hint", [None, "10", True, -5, 0, float("nan")])
async def test_unusable_retry_after_values_are_ignored(
    ctx: WorkflowContext, clock: FakeClock, hint: Any
) -> None:
    inner = FunctionPrimitive.scripted([RateLimited(hint), "ok"])
    retry = RetryPrimitive(inner, initial_delay=1, jitter=0, sleep=clock.sleep)
    assert await retry.execute(1, ctx) == "ok"
    assert clock.sleeps == [1]


async def test_retry_after_above_max_retry_after_gives_up_at_once(
    ctx: WorkflowContext, clock: FakeClock
) -> None:
    error = RateLimited(120)
    inner = FunctionPrimitive.scripted([error])
    retry = RetryPrimitive(
        inner,
        max_attempts=5,
        max_retry_after=60,
        sleep=clock.sleep,
        name="retry-too-long",
    )
    before = retries("retry-too-long")
    with pytest.raises(RateLimited) as caught:
        await retry.execute(1, ctx)
    assert caught.value is error
    assert len(inner.calls) == 1
    assert clock.sleeps == []
    assert retries("retry-too-long") == before
    [note] = caught.value.__notes__
    assert "'retry-too-long' did not retry" in note
    assert "max_retry_after=60" in note


async def test_retry_after_equal_to_max_retry_after_is_honoured(
    ctx: WorkflowContext, clock: FakeClock
) -> None:
    inner = FunctionPrimitive.scripted([RateLimited(60), "ok"])
    retry = RetryPrimitive(inner, max_retry_after=60, sleep=clock.sleep)
    assert await retry.execute(1, ctx) == "ok"
    assert clock.sleeps == [60.0]


# -- cancellation ----------------------------------------------------------------------


async def test_cancellation_during_an_attempt_is_never_retried(ctx: WorkflowContext) -> None:
    started = asyncio.Event()

    async def hang(_: Any) -> Any:
        started.set()
        await asyncio.Event().wait()

    clock = FakeClock()
    inner = FunctionPrimitive(hang, name="hang")
    retry = RetryPrimitive(inner, max_attempts=5, sleep=clock.sleep, name="retry-cancel")
    before = retries("retry-cancel")
    task = asyncio.create_task(retry.execute(1, ctx))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert task.cancelled()
    assert len(inner.calls) == 1
    assert clock.sleeps == []
    assert retries("retry-cancel") == before


async def test_a_raised_cancelled_error_is_not_retried(
    ctx: WorkflowContext, clock: FakeClock
) -> None:
    inner = FunctionPrimitive.scripted([asyncio.CancelledError(), "never"])
    retry = RetryPrimitive(inner, max_attempts=3, sleep=clock.sleep)
    with pytest.raises(asyncio.CancelledError):
        await retry.execute(1, ctx)
    assert len(inner.calls) == 1


async def test_cancellation_during_the_backoff_sleep_propagates(ctx: WorkflowContext) -> None:
    sleeping = asyncio.Event()
    delays: list[float] = []

    async def sleep_forever(delay: float) -> None:
        delays.append(delay)
        sleeping.set()
        await asyncio.Event().wait()

    inner = FunctionPrimitive.scripted([Transient("1"), "never reached"])
    retry = RetryPrimitive(inner, max_attempts=3, initial_delay=3, jitter=0, sleep=sleep_forever)
    task = asyncio.create_task(retry.execute(1, ctx))
    await sleeping.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert task.cancelled()
    assert delays == [3]
    assert len(inner.calls) == 1


# -- metrics and spans -----------------------------------------------------------------


async def test_retries_metric_counts_each_retry(ctx: WorkflowContext, clock: FakeClock) -> None:
    name = "retry-metric-counts"
    before = retries(name)
    inner = FunctionPrimitive.scripted([Transient("1"), Transient("2"), "ok"])
    await RetryPrimitive(inner, max_attempts=3, sleep=clock.sleep, name=name).execute(1, ctx)
    assert retries(name) == before + 2

    retry = RetryPrimitive(always_failing(), max_attempts=4, sleep=clock.sleep, name=name)
    with pytest.raises(Transient):
        await retry.execute(1, ctx)
    assert retries(name) == before + 2 + 3


async def test_each_attempt_span_is_numbered_and_a_child_of_the_retry_span(
    ctx: WorkflowContext, clock: FakeClock
) -> None:
    inner = FunctionPrimitive.scripted([Transient("1"), Transient("2"), "ok"], name="span-flaky")
    retry = RetryPrimitive(inner, jitter=0, initial_delay=1, sleep=clock.sleep, name="span-retry")
    with capture_spans() as spans:
        assert await retry.execute(1, ctx) == "ok"

    retry_span = spans.one("span-retry")
    attempts = spans.children(retry_span)
    assert [s.name for s in attempts] == ["span-flaky"] * 3
    assert [dict(s.attributes or {})["tta.attempt"] for s in attempts] == [1, 2, 3]
    assert [dict(s.attributes or {})["tta.outcome"] for s in attempts] == [
        "error",
        "error",
        "success",
    ]
    events = [(e.name, dict(e.attributes or {})) for e in retry_span.events]
    assert events == [
        ("retry", {"tta.attempt": 1, "tta.retry.delay_s": 1.0, "error.type": "Transient"}),
        ("retry", {"tta.attempt": 2, "tta.retry.delay_s": 2.0, "error.type": "Transient"}),
    ]
    assert dict(retry_span.attributes or {})["tta.outcome"] == "success"


# -- construction ----------------------------------------------------------------------


def test_default_name_wraps_the_inner_name() -> None:
    assert RetryPrimitive(FunctionPrimitive(lambda x: x, name="fetch")).name == "retry(fetch)"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_attempts": 0},
        {"max_attempts": -1},
        {"initial_delay": -0.1},
        {"initial_delay": float("inf")},
        {"initial_delay": float("nan")},
        {"max_delay": -1},
        {"max_delay": float("nan")},
        {"max_retry_after": -1},
        {"max_retry_after": float("inf")},
        {"jitter": -0.1},
        {"jitter": 1.5},
        {"jitter": float("nan")},
        {"backoff": 0.5},
        {"backoff": 0},
        {"backoff": float("nan")},
        {"backoff": float("inf")},
    ],
    ids=repr,
)
def test_invalid_arguments_raise_value_error(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        RetryPrimitive(always_failing(), **kwargs)


@pytest.mark.parametrize(
    "retry_on", ["ValueError", 42, None, BaseException, (ValueError, SystemExit)]
)
def test_invalid_retry_on_raises_type_error(retry_on: Any) -> None:
    with pytest.raises(TypeError, match="retry_on"):
        RetryPrimitive(always_failing(), retry_on=retry_on)


@pytest.mark.parametrize("max_attempts", [float("nan"), float("inf"), 2.5, "3", True])
def test_max_attempts_must_be_a_whole_number(max_attempts: Any) -> None:
    with pytest.raises(TypeError, match="max_attempts"):
        RetryPrimitive(always_failing(), max_attempts=max_attempts)


async def test_a_shared_error_gets_the_give_up_note_once(ctx: WorkflowContext) -> None:
    error = ConnectionError("shared")

    def fail(_: Any) -> Any:
        raise error

    retry = RetryPrimitive(FunctionPrimitive(fail), max_attempts=2, initial_delay=0)
    for _ in range(3):
        with pytest.raises(ConnectionError):
            await retry.execute(1, ctx)
    assert error.__notes__ == ["'retry(fail)' gave up after 2 attempts"]
