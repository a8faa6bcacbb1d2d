"""CircuitBreakerPrimitive: closed, open, half-open, with a FakeClock throughout."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tta_dev_primitives import (
    CircuitBreakerPrimitive,
    CircuitOpenError,
    CircuitState,
    RetryPrimitive,
    TTAError,
    WorkflowContext,
)
from tta_dev_primitives.testing import FakeClock, FunctionPrimitive, metric_value


class Service:
    """A dependency that is up or down; while ``gate`` is set, calls wait for it."""

    def __init__(self) -> None:
        self.healthy = True
        self.error: Exception = ConnectionError("service down")
        self.gate: asyncio.Event | None = None
        self.entered = asyncio.Event()

    async def __call__(self, x: Any) -> Any:
        self.entered.set()
        if self.gate is not None:
            await self.gate.wait()
        if not self.healthy:
            raise self.error
        return f"ok {x}"


def service_step(service: Service, name: str = "service") -> FunctionPrimitive[Any, Any]:
    return FunctionPrimitive(service, name=name)


async def fail_times(breaker: CircuitBreakerPrimitive[Any, Any], n: int, ctx: Any) -> None:
    for _ in range(n):
        with pytest.raises(ConnectionError):
            await breaker.execute(0, ctx)


def state_gauge(name: str) -> float:
    return metric_value("tta_circuit_breaker_state", primitive=name)


def transitions(name: str, state: str) -> float:
    return metric_value("tta_circuit_breaker_transitions_total", primitive=name, state=state)


# -- closed -> open --------------------------------------------------------------------


async def test_opens_after_failure_threshold_consecutive_failures(
    ctx: WorkflowContext, clock: FakeClock
) -> None:
    service = Service()
    service.healthy = False
    step = service_step(service)
    breaker = CircuitBreakerPrimitive(step, failure_threshold=3, reset_timeout=10, clock=clock)

    await fail_times(breaker, 2, ctx)
    assert breaker.state is CircuitState.CLOSED
    assert breaker.consecutive_failures == 2
    await fail_times(breaker, 1, ctx)  # the third failure still raises the real error
    assert breaker.state is CircuitState.OPEN
    assert len(step.calls) == 3


async def test_open_circuit_fails_fast_without_calling_inner(
    ctx: WorkflowContext, clock: FakeClock
) -> None:
    service = Service()
    service.healthy = False
    step = service_step(service)
    breaker = CircuitBreakerPrimitive(
        step, failure_threshold=2, reset_timeout=10, clock=clock, name="breaker-fail-fast"
    )
    await fail_times(breaker, 2, ctx)
    clock.advance(4)

    with pytest.raises(CircuitOpenError) as caught:
        await breaker.execute(0, ctx)

    error = caught.value
    assert isinstance(error, TTAError)
    assert error.retry_after == pytest.approx(6)
    assert error.failures == 2
    assert error.primitive == "breaker-fail-fast"
    assert "'breaker-fail-fast' is open after 2 consecutive failures" in str(error)
    assert len(step.calls) == 2

    clock.advance(5.5)
    with pytest.raises(CircuitOpenError) as caught:
        await breaker.execute(0, ctx)
    assert caught.value.retry_after == pytest.approx(0.5)
    assert len(step.calls) == 2


async def test_a_success_in_closed_state_resets_the_failure_count(
    ctx: WorkflowContext, clock: FakeClock
) -> None:
    service = Service()
    breaker = CircuitBreakerPrimitive(service_step(service), failure_threshold=3, clock=clock)

    service.healthy = False
    await fail_times(breaker, 2, ctx)
    service.healthy = True
    assert await breaker.execute(1, ctx) == "ok 1"
    assert breaker.consecutive_failures == 0
    service.healthy = False
    await fail_times(breaker, 2, ctx)
    assert breaker.state is CircuitState.CLOSED
    assert breaker.consecutive_failures == 2


async def test_errors_outside_failure_on_do_not_count(
    ctx: WorkflowContext, clock: FakeClock
) -> None:
    service = Service()
    service.healthy = False
    service.error = ValueError("bad input, not an outage")
    step = service_step(service)
    breaker = CircuitBreakerPrimitive(
        step, failure_threshold=2, failure_on=ConnectionError, clock=clock
    )
    for _ in range(5):
        with pytest.raises(ValueError, match="bad input"):
            await breaker.execute(0, ctx)
    assert breaker.state is CircuitState.CLOSED
    assert breaker.consecutive_failures == 0
    assert len(step.calls) == 5


async def test_cancellation_does_not_count_as_a_failure(
    ctx: WorkflowContext, clock: FakeClock
) -> None:
    service = Service()
    service.gate = asyncio.Event()
    breaker = CircuitBreakerPrimitive(service_step(service), failure_threshold=1, clock=clock)

    task = asyncio.create_task(breaker.execute(0, ctx))
    await service.entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert breaker.state is CircuitState.CLOSED
    assert breaker.consecutive_failures == 0


# -- open -> half-open -> closed / open ------------------------------------------------


async def test_half_open_after_reset_timeout_and_a_successful_probe_closes(
    ctx: WorkflowContext, clock: FakeClock
) -> None:
    service = Service()
    service.healthy = False
    step = service_step(service)
    breaker = CircuitBreakerPrimitive(step, failure_threshold=1, reset_timeout=10, clock=clock)
    await fail_times(breaker, 1, ctx)

    clock.advance(9.999)
    assert breaker.state is CircuitState.OPEN
    clock.advance(0.001)
    assert breaker.state is CircuitState.HALF_OPEN

    service.healthy = True
    assert await breaker.execute(1, ctx) == "ok 1"
    assert breaker.state is CircuitState.CLOSED
    assert breaker.consecutive_failures == 0
    assert len(step.calls) == 2


async def test_a_failed_probe_reopens_for_another_reset_timeout(
    ctx: WorkflowContext, clock: FakeClock
) -> None:
    service = Service()
    service.healthy = False
    step = service_step(service)
    breaker = CircuitBreakerPrimitive(step, failure_threshold=2, reset_timeout=10, clock=clock)
    await fail_times(breaker, 2, ctx)
    clock.advance(10)

    await fail_times(breaker, 1, ctx)  # the probe
    assert breaker.state is CircuitState.OPEN
    with pytest.raises(CircuitOpenError) as caught:
        await breaker.execute(0, ctx)
    assert caught.value.retry_after == pytest.approx(10)
    assert len(step.calls) == 3


async def test_half_open_lets_one_probe_through_and_fails_fast_for_the_rest(
    ctx: WorkflowContext, clock: FakeClock
) -> None:
    service = Service()
    service.healthy = False
    step = service_step(service)
    breaker = CircuitBreakerPrimitive(step, failure_threshold=1, reset_timeout=10, clock=clock)
    await fail_times(breaker, 1, ctx)
    clock.advance(10)

    service.healthy = True
    service.gate = asyncio.Event()
    service.entered.clear()
    probe = asyncio.create_task(breaker.execute("probe", ctx))
    await service.entered.wait()
    for _ in range(3):
        with pytest.raises(CircuitOpenError):
            await breaker.execute("extra", ctx)
    assert step.call_inputs == [0, "probe"]

    service.gate.set()
    assert await probe == "ok probe"
    assert breaker.state is CircuitState.CLOSED
    assert await breaker.execute("after", ctx) == "ok after"
    assert step.call_inputs == [0, "probe", "after"]


async def test_half_open_max_calls_bounds_concurrent_probes(
    ctx: WorkflowContext, clock: FakeClock
) -> None:
    service = Service()
    service.healthy = False
    step = service_step(service)
    breaker = CircuitBreakerPrimitive(
        step, failure_threshold=1, reset_timeout=5, half_open_max_calls=2, clock=clock
    )
    await fail_times(breaker, 1, ctx)
    clock.advance(5)

    service.healthy = True
    service.gate = asyncio.Event()
    probes = [asyncio.create_task(breaker.execute(f"probe{i}", ctx)) for i in range(2)]
    await asyncio.sleep(0)
    with pytest.raises(CircuitOpenError):
        await breaker.execute("third", ctx)
    assert step.call_inputs == [0, "probe0", "probe1"]

    service.gate.set()
    assert await asyncio.gather(*probes) == ["ok probe0", "ok probe1"]
    assert breaker.state is CircuitState.CLOSED


async def test_success_threshold_needs_that_many_probe_successes(
    ctx: WorkflowContext, clock: FakeClock
) -> None:
    service = Service()
    service.healthy = False
    breaker = CircuitBreakerPrimitive(
        service_step(service),
        failure_threshold=1,
        reset_timeout=10,
        success_threshold=3,
        clock=clock,
    )
    await fail_times(breaker, 1, ctx)
    clock.advance(10)
    service.healthy = True

    for _ in range(2):
        await breaker.execute(1, ctx)
        assert breaker.state is CircuitState.HALF_OPEN
    await breaker.execute(1, ctx)
    assert breaker.state is CircuitState.CLOSED


async def test_probe_successes_are_forgotten_when_a_probe_fails(
    ctx: WorkflowContext, clock: FakeClock
) -> None:
    service = Service()
    service.healthy = False
    breaker = CircuitBreakerPrimitive(
        service_step(service),
        failure_threshold=1,
        reset_timeout=10,
        success_threshold=2,
        clock=clock,
    )
    await fail_times(breaker, 1, ctx)
    clock.advance(10)
    service.healthy = True
    await breaker.execute(1, ctx)  # one success of the two needed
    service.healthy = False
    await fail_times(breaker, 1, ctx)
    assert breaker.state is CircuitState.OPEN

    clock.advance(10)
    service.healthy = True
    await breaker.execute(1, ctx)
    assert breaker.state is CircuitState.HALF_OPEN  # needs two fresh successes
    await breaker.execute(1, ctx)
    assert breaker.state is CircuitState.CLOSED


async def test_a_cancelled_probe_frees_its_slot(ctx: WorkflowContext, clock: FakeClock) -> None:
    service = Service()
    service.healthy = False
    step = service_step(service)
    breaker = CircuitBreakerPrimitive(step, failure_threshold=1, reset_timeout=10, clock=clock)
    await fail_times(breaker, 1, ctx)
    clock.advance(10)

    service.healthy = True
    service.gate = asyncio.Event()
    service.entered.clear()
    probe = asyncio.create_task(breaker.execute("probe", ctx))
    await service.entered.wait()
    probe.cancel()
    with pytest.raises(asyncio.CancelledError):
        await probe
    assert breaker.state is CircuitState.HALF_OPEN

    service.gate = None
    assert await breaker.execute("next", ctx) == "ok next"
    assert breaker.state is CircuitState.CLOSED


async def test_a_non_counting_error_in_half_open_frees_the_slot(
    ctx: WorkflowContext, clock: FakeClock
) -> None:
    service = Service()
    service.healthy = False
    breaker = CircuitBreakerPrimitive(
        service_step(service),
        failure_threshold=1,
        reset_timeout=10,
        failure_on=ConnectionError,
        clock=clock,
    )
    await fail_times(breaker, 1, ctx)
    clock.advance(10)

    service.error = ValueError("bad input")
    with pytest.raises(ValueError, match="bad input"):
        await breaker.execute(0, ctx)
    assert breaker.state is CircuitState.HALF_OPEN
    service.healthy = True
    assert await breaker.execute(1, ctx) == "ok 1"
    assert breaker.state is CircuitState.CLOSED


async def test_reset_closes_the_circuit(ctx: WorkflowContext, clock: FakeClock) -> None:
    service = Service()
    service.healthy = False
    step = service_step(service)
    breaker = CircuitBreakerPrimitive(
        step, failure_threshold=2, reset_timeout=60, clock=clock, name="breaker-reset"
    )
    await fail_times(breaker, 2, ctx)
    assert breaker.state is CircuitState.OPEN
    closed_before = transitions("breaker-reset", "closed")

    breaker.reset()

    assert breaker.state is CircuitState.CLOSED
    assert breaker.consecutive_failures == 0
    assert state_gauge("breaker-reset") == 0
    assert transitions("breaker-reset", "closed") == closed_before + 1
    service.healthy = True
    assert await breaker.execute(1, ctx) == "ok 1"
    assert len(step.calls) == 3
    # The count starts afresh: one more failure does not open it again.
    service.healthy = False
    await fail_times(breaker, 1, ctx)
    assert breaker.state is CircuitState.CLOSED


# -- metrics ---------------------------------------------------------------------------


async def test_state_gauge_and_transitions_follow_the_state(
    ctx: WorkflowContext, clock: FakeClock
) -> None:
    name = "breaker-metrics"
    service = Service()
    breaker = CircuitBreakerPrimitive(
        service_step(service), failure_threshold=1, reset_timeout=10, clock=clock, name=name
    )
    before = {s: transitions(name, s) for s in ("closed", "half_open", "open")}

    def entered() -> dict[str, float]:
        return {s: transitions(name, s) - before[s] for s in before}

    assert state_gauge(name) == 0
    service.healthy = False
    await fail_times(breaker, 1, ctx)
    assert state_gauge(name) == 2
    assert entered() == {"closed": 0, "half_open": 0, "open": 1}

    clock.advance(10)
    assert breaker.state is CircuitState.HALF_OPEN
    assert state_gauge(name) == 1
    await fail_times(breaker, 1, ctx)  # failed probe
    assert state_gauge(name) == 2
    assert entered() == {"closed": 0, "half_open": 1, "open": 2}

    clock.advance(10)
    service.healthy = True
    await breaker.execute(1, ctx)  # the probe moves it to half-open, then closes it
    assert state_gauge(name) == 0
    assert entered() == {"closed": 1, "half_open": 2, "open": 2}

    # Rejected calls are not transitions.
    service.healthy = False
    await fail_times(breaker, 1, ctx)
    for _ in range(3):
        with pytest.raises(CircuitOpenError):
            await breaker.execute(1, ctx)
    assert entered() == {"closed": 1, "half_open": 2, "open": 3}


# -- with retry ------------------------------------------------------------------------


async def test_retry_waits_for_the_breaker_retry_after(
    ctx: WorkflowContext, clock: FakeClock
) -> None:
    step = FunctionPrimitive.scripted([ConnectionError("down"), "ok"], name="flaky-service")
    breaker = CircuitBreakerPrimitive(step, failure_threshold=1, reset_timeout=10, clock=clock)
    retry = RetryPrimitive(
        breaker, max_attempts=3, initial_delay=0.5, backoff=2, jitter=0, sleep=clock.sleep
    )

    # Attempt 1 fails and opens the circuit; the retry waits its 0.5 s backoff.
    # Attempt 2 is refused with 9.5 s left: the retry waits that, not its 1 s backoff.
    # Attempt 3 is the half-open probe, which succeeds.
    assert await retry.execute("x", ctx) == "ok"

    assert clock.sleeps == [0.5, pytest.approx(9.5)]
    assert step.call_inputs == ["x", "x"]
    assert breaker.state is CircuitState.CLOSED


async def test_retry_gives_up_when_the_breaker_asks_for_too_long(
    ctx: WorkflowContext, clock: FakeClock
) -> None:
    service = Service()
    service.healthy = False
    breaker = CircuitBreakerPrimitive(
        service_step(service), failure_threshold=1, reset_timeout=300, clock=clock
    )
    await fail_times(breaker, 1, ctx)
    retry = RetryPrimitive(breaker, max_attempts=5, max_retry_after=60, sleep=clock.sleep)
    with pytest.raises(CircuitOpenError):
        await retry.execute(0, ctx)
    assert clock.sleeps == []


# -- construction ----------------------------------------------------------------------


def test_default_name_wraps_the_inner_name() -> None:
    breaker = CircuitBreakerPrimitive(FunctionPrimitive(lambda x: x, name="payments"))
    assert breaker.name == "breaker(payments)"
    assert breaker.state is CircuitState.CLOSED


@pytest.mark.parametrize(
    "kwargs",
    [
        {"failure_threshold": 0},
        {"half_open_max_calls": 0},
        {"success_threshold": 0},
        {"reset_timeout": -1},
        {"reset_timeout": float("nan")},
    ],
    ids=repr,
)
def test_invalid_arguments_raise_value_error(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        CircuitBreakerPrimitive(FunctionPrimitive(lambda x: x), **kwargs)


# -- calls admitted before the circuit opened ------------------------------------------


@pytest.mark.parametrize("late_outcome", ["success", "failure"])
async def test_a_call_admitted_while_closed_does_not_decide_the_half_open_state(
    ctx: WorkflowContext, clock: FakeClock, late_outcome: str
) -> None:
    gates = {"late": asyncio.Event(), "probe": asyncio.Event()}

    async def work(x: str) -> str:
        if x in gates:
            await gates[x].wait()
        if x == "fail" or (x == "late" and late_outcome == "failure"):
            raise ConnectionError(x)
        return x

    breaker = CircuitBreakerPrimitive(work, failure_threshold=2, reset_timeout=10, clock=clock)
    late = asyncio.create_task(breaker.execute("late", ctx))  # admitted while closed
    await asyncio.sleep(0)
    for _ in range(2):
        with pytest.raises(ConnectionError):
            await breaker.execute("fail", ctx)
    assert breaker.state is CircuitState.OPEN
    clock.advance(10)
    probe = asyncio.create_task(breaker.execute("probe", ctx))
    await asyncio.sleep(0)
    assert breaker.state is CircuitState.HALF_OPEN

    gates["late"].set()
    await asyncio.gather(late, return_exceptions=True)
    assert breaker.state is CircuitState.HALF_OPEN  # only the probe may decide

    gates["probe"].set()
    assert await probe == "probe"
    assert breaker.state is CircuitState.CLOSED


@pytest.mark.parametrize("bad", [BaseException, (ValueError, BaseException), KeyboardInterrupt, 3])
def test_failure_on_must_name_exception_types(bad: Any) -> None:
    with pytest.raises(TypeError, match="failure_on"):
        CircuitBreakerPrimitive(FunctionPrimitive(lambda x: x), failure_on=bad)
