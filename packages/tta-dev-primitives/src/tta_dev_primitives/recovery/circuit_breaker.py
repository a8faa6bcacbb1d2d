"""``CircuitBreakerPrimitive``: stop calling something that keeps failing."""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import Enum
from typing import TYPE_CHECKING, Literal, TypeVar

from tta_dev_primitives.core.base import AsyncStep, WorkflowPrimitive
from tta_dev_primitives.core.context import WorkflowContext
from tta_dev_primitives.core.wrapper import ExceptionTypes, WrapperPrimitive, exception_types
from tta_dev_primitives.exceptions import CircuitOpenError
from tta_dev_primitives.observability.metrics import (
    CIRCUIT_STATE,
    CIRCUIT_TRANSITIONS,
    counter,
    gauge,
)
from tta_dev_primitives.performance.telemetry import FLEET_LOCAL_FALLBACKS

if TYPE_CHECKING:
    from tta_dev_primitives.recovery.breaker_state import BreakerStateStore

__all__ = ["CircuitBreakerPrimitive", "CircuitState"]

TIn = TypeVar("TIn")
TOut = TypeVar("TOut")


class CircuitState(Enum):
    """State of a circuit breaker; the value is what the state gauge reports."""

    CLOSED = 0
    HALF_OPEN = 1
    OPEN = 2


class CircuitBreakerPrimitive(WrapperPrimitive[TIn, TOut]):
    """Fails fast with :class:`CircuitOpenError` while ``inner`` keeps failing.

    * **closed**: calls go through; ``failure_threshold`` consecutive failures open it.
    * **open**: calls fail at once, without running ``inner``, for ``reset_timeout``
      seconds (the error's ``retry_after`` says how long is left).
    * **half-open**: then up to ``half_open_max_calls`` trial calls go through at a
      time; ``success_threshold`` successes close the circuit, one failure opens it
      again for another ``reset_timeout``.

    Only errors matching ``failure_on`` count as failures; a cancellation never does.
    While half-open, only the probes decide: a call admitted earlier that ends then
    changes nothing. The state (and its gauge) moves from open to half-open when a
    call arrives or ``state`` is read.
    ``clock`` (seconds, monotonic) is injectable for tests.

    ``state_store`` (e.g. ``fleet.RedisBreakerStore``) keeps the state outside the
    process under this breaker's name, so every worker shares it: one opens it for
    all, and the half-open probes are counted for the whole fleet. While the store is
    unreachable, ``on_unavailable="local"`` (default) uses this process's own state;
    ``"reject"`` fails closed with ``SharedStateUnavailableError``. With a store,
    ``state`` and the gauge show what this process last saw of the shared state, and
    ``await state_store.reset(name)`` closes it for every worker (``reset()`` only here).
    """

    kind = "breaker"

    def __init__(
        self,
        inner: WorkflowPrimitive[TIn, TOut] | AsyncStep[TIn, TOut],
        *,
        failure_threshold: int = 5,
        reset_timeout: float = 30.0,
        half_open_max_calls: int = 1,
        success_threshold: int = 1,
        failure_on: ExceptionTypes = Exception,
        clock: Callable[[], float] = time.monotonic,
        state_store: BreakerStateStore | None = None,
        on_unavailable: Literal["local", "reject"] = "local",
        name: str | None = None,
    ) -> None:
        super().__init__(inner, name=name)
        if on_unavailable not in ("local", "reject"):
            raise ValueError(f"on_unavailable must be 'local' or 'reject', got {on_unavailable!r}")
        self.state_store = state_store
        self.on_unavailable = on_unavailable
        self._local_fallbacks = counter(FLEET_LOCAL_FALLBACKS).labels("breaker")
        for label, count in (
            ("failure_threshold", failure_threshold),
            ("half_open_max_calls", half_open_max_calls),
            ("success_threshold", success_threshold),
        ):
            if count < 1:
                raise ValueError(f"{label} must be at least 1, got {count}")
        if not reset_timeout >= 0:
            raise ValueError(f"reset_timeout must be >= 0, got {reset_timeout!r}")
        self.failure_threshold = failure_threshold
        self.reset_timeout = reset_timeout
        self.half_open_max_calls = half_open_max_calls
        self.success_threshold = success_threshold
        self.failure_on = exception_types(failure_on, "failure_on")
        self._clock = clock
        self._state = CircuitState.CLOSED
        self._failures = 0
        self._successes = 0
        self._opened_at = 0.0
        self._probes = 0
        self._state_gauge = gauge(CIRCUIT_STATE).labels(self.display_name)
        self._state_gauge.set(CircuitState.CLOSED.value)
        self._entered = {
            s: counter(CIRCUIT_TRANSITIONS).labels(self.display_name, s.name.lower())
            for s in CircuitState
        }

    @property
    def state(self) -> CircuitState:
        """The current state, moving from open to half-open once the reset timeout passed."""
        if self._state is CircuitState.OPEN and self._reset_due():
            self._enter(CircuitState.HALF_OPEN)
        return self._state

    @property
    def consecutive_failures(self) -> int:
        """Failures counted since the last success (or since the circuit closed)."""
        return self._failures

    def reset(self) -> None:
        """Close the circuit by hand and forget past failures."""
        self._enter(CircuitState.CLOSED)

    async def _execute_impl(self, input_data: TIn, context: WorkflowContext) -> TOut:
        if self.state_store is not None:
            from tta_dev_primitives.recovery.breaker_state import run_with_shared_state

            return await run_with_shared_state(self, input_data, context)
        return await self._execute_local(input_data, context)

    async def _execute_local(self, input_data: TIn, context: WorkflowContext) -> TOut:
        state = self.state
        if state is CircuitState.OPEN:
            raise CircuitOpenError(self.display_name, self._time_left(), self._failures)
        probing = state is CircuitState.HALF_OPEN
        if probing:
            if self._probes >= self.half_open_max_calls:
                raise CircuitOpenError(self.display_name, self.reset_timeout, self._failures)
            self._probes += 1
        try:
            result = await self.inner.execute(input_data, context)
        except self.failure_on:
            self._on_failure(probing)
            raise
        finally:
            if probing:
                self._probes -= 1
        self._on_success(probing)
        return result

    def _on_failure(self, probing: bool) -> None:
        if self._state is CircuitState.HALF_OPEN:
            if probing:
                self._failures += 1
                self._enter(CircuitState.OPEN)
            return
        self._failures += 1
        if self._state is CircuitState.CLOSED and self._failures >= self.failure_threshold:
            self._enter(CircuitState.OPEN)

    def _on_success(self, probing: bool) -> None:
        if self._state is CircuitState.HALF_OPEN:
            if not probing:
                return
            self._successes += 1
            if self._successes >= self.success_threshold:
                self._enter(CircuitState.CLOSED)
        elif self._state is CircuitState.CLOSED:
            self._failures = 0

    def _mirror(self, state: int, failures: int) -> None:
        """Show the shared state in this process (gauge, ``state``), and keep it for fallback."""
        self._failures = failures
        if CircuitState(state) is not self._state:
            self._enter(CircuitState(state))
            self._failures = failures

    def _enter(self, state: CircuitState) -> None:
        if state is CircuitState.OPEN:
            self._opened_at = self._clock()
        elif state is CircuitState.CLOSED:
            self._failures = 0
        self._successes = 0
        if state is not self._state:
            self._state = state
            self._state_gauge.set(state.value)
            self._entered[state].inc()

    def _reset_due(self) -> bool:
        return self._clock() - self._opened_at >= self.reset_timeout

    def _time_left(self) -> float:
        return max(0.0, self.reset_timeout - (self._clock() - self._opened_at))
