"""``RetryPrimitive``: try again after a failure, with exponential backoff and jitter."""

from __future__ import annotations

import math
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from tta_dev_primitives.core.base import AsyncStep, WorkflowPrimitive
from tta_dev_primitives.core.context import WorkflowContext
from tta_dev_primitives.core.wrapper import WrapperPrimitive, exception_types
from tta_dev_primitives.observability.metrics import RETRIES, counter
from tta_dev_primitives.observability.tracing import active_tracer

__all__ = ["RetryPrimitive"]

TIn = TypeVar("TIn")
TOut = TypeVar("TOut")

RetryOn = type[BaseException] | tuple[type[BaseException], ...] | Callable[[BaseException], bool]


async def _asyncio_sleep(seconds: float) -> None:
    import asyncio  # here, not at the top: importing asyncio costs ~40 ms

    await asyncio.sleep(seconds)


class RetryPrimitive(WrapperPrimitive[TIn, TOut]):
    """Runs ``inner`` up to ``max_attempts`` times until it succeeds.

    After failed attempt ``n`` it waits ``min(max_delay, initial_delay * backoff**(n-1))``,
    shortened by up to ``jitter`` of itself at random (0: none, 1: "full jitter").
    When the exception carries ``retry_after`` (seconds), it waits at least that long;
    a ``retry_after`` above ``max_retry_after`` gives up at once instead.

    Only exceptions matching ``retry_on`` (types, or a predicate) are retried; a
    cancellation never is. When the attempts run out, the last exception is raised
    as it is, with a note saying how many attempts were made.

    ``sleep`` and ``random`` are injectable so tests can check the schedule without
    waiting (see ``tta_dev_primitives.testing.FakeClock``).
    """

    kind = "retry"

    def __init__(
        self,
        inner: WorkflowPrimitive[TIn, TOut] | AsyncStep[TIn, TOut],
        *,
        max_attempts: int = 3,
        initial_delay: float = 0.1,
        backoff: float = 2.0,
        max_delay: float = 30.0,
        jitter: float = 0.5,
        retry_on: RetryOn = Exception,
        max_retry_after: float = 60.0,
        sleep: Callable[[float], Awaitable[None]] = _asyncio_sleep,
        random: Callable[[], float] = random.random,
        name: str | None = None,
    ) -> None:
        super().__init__(inner, name=name)
        if not isinstance(max_attempts, int) or isinstance(max_attempts, bool):
            raise TypeError(f"max_attempts must be a whole number, got {max_attempts!r}")
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {max_attempts}")
        for label, value in (
            ("initial_delay", initial_delay),
            ("max_delay", max_delay),
            ("max_retry_after", max_retry_after),
        ):
            if not (value >= 0 and math.isfinite(value)):
                raise ValueError(f"{label} must be a finite number >= 0, got {value!r}")
        if not (backoff >= 1 and math.isfinite(backoff)):
            raise ValueError(
                f"backoff must be a finite number >= 1 (1 means a constant delay), got {backoff!r}"
            )
        if not 0 <= jitter <= 1:
            raise ValueError(f"jitter must be between 0 and 1, got {jitter}")
        self.max_attempts = max_attempts
        self.initial_delay = initial_delay
        self.backoff = backoff
        self.max_delay = max_delay
        self.jitter = jitter
        self.max_retry_after = max_retry_after
        self._should_retry = _retry_predicate(retry_on)
        self._sleep = sleep
        self._random = random
        self._retries = counter(RETRIES).labels(self.display_name)

    def delay_after(self, attempt: int, error: BaseException | None = None) -> float | None:
        """Seconds to wait after failed attempt ``attempt`` (1-based); ``None``: give up."""
        try:
            grown = self.initial_delay * self.backoff ** (attempt - 1)
        except OverflowError:  # backoff**n beyond a float, so far beyond max_delay
            grown = math.inf if self.initial_delay else 0.0
        delay = min(self.max_delay, grown)
        delay -= delay * self.jitter * self._random()
        hint = getattr(error, "retry_after", None)
        if isinstance(hint, int | float) and not isinstance(hint, bool) and hint > 0:
            if hint > self.max_retry_after:
                return None
            delay = max(delay, float(hint))
        return delay

    async def _execute_impl(self, input_data: TIn, context: WorkflowContext) -> TOut:
        attempt = 1
        while True:
            try:
                tracer = active_tracer()
                if tracer is None:
                    return await self.inner.execute(input_data, context)
                # The same execution, with the attempt number on its span.
                return await self.inner._execute_traced(tracer, input_data, context, attempt)
            except Exception as error:
                if attempt >= self.max_attempts or not self._should_retry(error):
                    _note_gave_up(error, self.display_name, attempt)
                    raise
                delay = self.delay_after(attempt, error)
                if delay is None:
                    error.add_note(
                        f"{self.display_name!r} did not retry: the error asked to wait "
                        f"{error.retry_after}s, more than max_retry_after={self.max_retry_after}s"  # type: ignore[attr-defined]
                    )
                    raise
                _record_retry(attempt, delay, error)
            self._retries.inc()
            await self._sleep(delay)
            attempt += 1


def _retry_predicate(retry_on: RetryOn) -> Callable[[BaseException], bool]:
    if isinstance(retry_on, type | tuple):
        types = exception_types(retry_on, "retry_on")

        def matches(error: BaseException) -> bool:
            return isinstance(error, types)

        return matches
    if callable(retry_on):
        return retry_on
    raise TypeError(
        f"retry_on must be an exception type, a tuple of them, or a predicate, not {retry_on!r}"
    )


def _note_gave_up(error: BaseException, name: str, attempts: int) -> None:
    note = f"{name!r} gave up after {attempts} attempts"
    # One exception object can reach several retries (a cache's waiters share it).
    if attempts > 1 and note not in getattr(error, "__notes__", ()):
        error.add_note(note)


def _record_retry(attempt: int, delay: float, error: BaseException) -> None:
    if active_tracer() is None:
        return
    from opentelemetry import trace

    span = trace.get_current_span()
    if span.is_recording():
        span.add_event(
            "retry",
            {
                "tta.attempt": attempt,
                "tta.retry.delay_s": delay,
                "error.type": type(error).__qualname__,
            },
        )
