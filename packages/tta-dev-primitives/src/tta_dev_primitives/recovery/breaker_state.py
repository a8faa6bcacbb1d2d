"""Circuit-breaker state kept outside the process, so that a fleet shares one breaker.

A :class:`CircuitBreakerPrimitive` given a ``state_store`` asks the store before each
call (:meth:`BreakerStateStore.admit`) and tells it the outcome after
(:meth:`BreakerStateStore.record`); the store applies the same rules as the
in-process breaker, atomically for every worker: when one worker's failures open
the breaker, every worker fails fast, and once the reset timeout has passed exactly
``half_open_max_calls`` probes go through for the whole fleet.

States are passed as ``CircuitState`` values (0 closed, 1 half-open, 2 open).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, TypeVar, runtime_checkable

from tta_dev_primitives.exceptions import CircuitOpenError, SharedStateUnavailableError
from tta_dev_primitives.performance.telemetry import annotate

if TYPE_CHECKING:
    from tta_dev_primitives.core.context import WorkflowContext
    from tta_dev_primitives.recovery.circuit_breaker import CircuitBreakerPrimitive

__all__ = ["Admission", "BreakerPolicy", "BreakerStateStore", "run_with_shared_state"]

TIn = TypeVar("TIn")
TOut = TypeVar("TOut")


class BreakerPolicy(NamedTuple):
    """The rules of one breaker, passed to the store with every question."""

    failure_threshold: int
    reset_timeout: float
    half_open_max_calls: int
    success_threshold: int


class Admission(NamedTuple):
    """The store's answer before a call."""

    #: The state (``CircuitState`` value) the call met.
    state: int
    #: Whether the call may run.
    allowed: bool
    #: Whether it runs as a half-open probe (and must be recorded as one).
    probing: bool
    #: Seconds until the breaker may let calls through again (when refused).
    retry_after: float
    #: Consecutive failures counted so far.
    failures: int


@runtime_checkable
class BreakerStateStore(Protocol):
    """Where a breaker's state lives when it is shared (e.g. Redis)."""

    async def admit(self, name: str, policy: BreakerPolicy, call_id: str) -> Admission:
        """Decide whether call ``call_id`` may run now, taking a probe slot if half-open."""
        ...

    async def record(
        self, name: str, policy: BreakerPolicy, call_id: str, outcome: str, probing: bool
    ) -> tuple[int, int]:
        """Apply ``outcome``; the new (state, failures).

        ``outcome`` is "success", "failure" or "released" (cancelled, or an error that
        does not count: a probe gives its slot back, nothing else changes).
        """
        ...

    async def reset(self, name: str) -> None:
        """Close the breaker for every worker and forget its failures."""
        ...


async def run_with_shared_state(
    breaker: CircuitBreakerPrimitive[TIn, TOut], input_data: TIn, context: WorkflowContext
) -> TOut:
    """One call of ``breaker`` under its shared state; per-process state if unreachable."""
    store = breaker.state_store
    assert store is not None
    name = breaker.display_name
    policy = BreakerPolicy(
        breaker.failure_threshold,
        breaker.reset_timeout,
        breaker.half_open_max_calls,
        breaker.success_threshold,
    )
    import uuid  # here, not at the top: uuid imports platform (~1.5 ms)

    call_id = uuid.uuid4().hex
    try:
        admission = await store.admit(name, policy, call_id)
    except SharedStateUnavailableError:
        if breaker.on_unavailable == "reject":
            raise
        breaker._local_fallbacks.inc()
        return await breaker._execute_local(input_data, context)
    breaker._mirror(admission.state, admission.failures)
    if not admission.allowed:
        annotate({"tta.breaker.shared_state": admission.state})
        raise CircuitOpenError(name, admission.retry_after, admission.failures)
    outcome = "released"  # cancelled, or an error that does not count as a failure
    try:
        result = await breaker.inner.execute(input_data, context)
        outcome = "success"
        return result
    except breaker.failure_on:
        outcome = "failure"
        raise
    finally:
        await _record(
            breaker,
            store,
            policy,
            call_id,
            outcome=outcome,
            probing=admission.probing,
            failures=admission.failures,
        )


async def _record(
    breaker: CircuitBreakerPrimitive[Any, Any],
    store: BreakerStateStore,
    policy: BreakerPolicy,
    call_id: str,
    *,
    outcome: str,
    probing: bool,
    failures: int,
) -> None:
    if not probing and (outcome == "released" or (outcome == "success" and not failures)):
        # Nothing to change: only a probe holds a slot, and a success only resets a
        # count that was zero when the call was let in (saves a round trip per call).
        return
    try:
        state, failures = await store.record(
            breaker.display_name, policy, call_id, outcome, probing
        )
    except SharedStateUnavailableError:
        return  # a probe's slot expires by itself; the outcome is lost with Redis
    breaker._mirror(state, failures)
