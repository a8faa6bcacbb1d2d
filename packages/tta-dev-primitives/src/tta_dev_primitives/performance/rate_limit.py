"""``RateLimitPrimitive``: keep calls within limits by requests and by tokens per interval.

A limit is a sliding window: at most ``amount`` units in any ``per_seconds`` window,
exactly (a log of admissions, not an approximation), so a provider's "60 requests
per minute" holds however the calls bunch up. Several limits on one primitive are
taken together or not at all (a call that fits the request limit but not the token
limit takes neither).

Where the counts live is a :class:`RateLimitBackend`: in memory (one process, the
default) or in Redis (``tta_dev_primitives.fleet.RedisRateLimitBackend``: one limit
for the whole fleet, one Lua script per check).
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Literal, Protocol, TypeVar, runtime_checkable

from tta_dev_primitives.core.base import AsyncStep, WorkflowPrimitive
from tta_dev_primitives.core.context import WorkflowContext
from tta_dev_primitives.core.wrapper import ExceptionTypes, WrapperPrimitive, exception_types
from tta_dev_primitives.exceptions import RateLimitExceededError, SharedStateUnavailableError
from tta_dev_primitives.observability.metrics import counter
from tta_dev_primitives.performance.telemetry import (
    FLEET_LOCAL_FALLBACKS,
    RATE_LIMIT_ADMITTED,
    RATE_LIMIT_REJECTIONS,
    RATE_LIMIT_WAIT_SECONDS,
    RATE_LIMIT_WAITS,
    annotate,
)

__all__ = ["InMemoryRateLimitBackend", "RateLimit", "RateLimitBackend", "RateLimitPrimitive"]

TIn = TypeVar("TIn")
TOut = TypeVar("TOut")

#: One limit and what a call costs under it.
Demand = tuple["RateLimit", int]


class RateLimit:
    """At most ``amount`` units in any window of ``per_seconds`` seconds.

    ``cost(input)`` says how many units a call takes (default 1: a request limit);
    for a token limit pass an estimate of the call's tokens, e.g. prompt plus
    ``max_tokens``. ``unit`` names the units in messages.
    """

    __slots__ = ("amount", "cost", "per_seconds", "unit")

    def __init__(
        self,
        amount: int,
        per_seconds: float = 60.0,
        *,
        cost: Callable[[Any], int] | None = None,
        unit: str = "requests",
    ) -> None:
        if not (isinstance(amount, int) and amount >= 1):
            raise ValueError(f"amount must be a whole number >= 1, got {amount!r}")
        if not (per_seconds > 0 and math.isfinite(per_seconds)):
            raise ValueError(f"per_seconds must be > 0, got {per_seconds!r}")
        self.amount = amount
        self.per_seconds = float(per_seconds)
        self.cost = cost
        self.unit = unit

    def __repr__(self) -> str:
        return f"RateLimit({self.amount}, {self.per_seconds:g}, unit={self.unit!r})"

    def describe(self) -> str:
        """For messages: ``"60 requests per 60s"``."""
        return f"{self.amount} {self.unit} per {self.per_seconds:g}s"

    def cost_of(self, input_data: Any) -> int:
        """The units a call with ``input_data`` takes (at least 1, at most ``amount``)."""
        if self.cost is None:
            return 1
        units = int(self.cost(input_data))
        return min(max(1, units), self.amount)


@runtime_checkable
class RateLimitBackend(Protocol):
    """Where admissions are counted: one process (in memory) or a fleet (Redis)."""

    async def acquire(self, key: str, demands: Sequence[Demand]) -> float:
        """Take every demand under ``key`` at once, or none.

        Returns 0.0 when taken, else the seconds until all of them would fit.
        """
        ...

    async def pause(self, key: str, seconds: float) -> None:
        """Admit nothing under ``key`` for ``seconds`` (a provider's Retry-After)."""
        ...


async def _sleep(seconds: float) -> None:
    import asyncio  # here, not at the top: importing asyncio costs ~40 ms

    await asyncio.sleep(seconds)


class InMemoryRateLimitBackend:
    """Sliding-window logs in this process; ``clock`` (seconds) is injectable."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._logs: dict[str, deque[tuple[float, int]]] = {}
        self._used: dict[str, int] = {}
        self._paused_until: dict[str, float] = {}

    async def acquire(self, key: str, demands: Sequence[Demand]) -> float:
        """Take every demand at once (0.0), or return the seconds until they fit."""
        now = self._clock()
        wait = self._paused_until.get(key, 0.0) - now
        if wait > 0:
            return wait
        logs = []
        for index, (limit, cost) in enumerate(demands):
            if cost > limit.amount:
                raise ValueError(f"a cost of {cost} can never fit {limit.describe()}")
            name = f"{key}:{index}"
            log = self._logs.setdefault(name, deque())
            used = self._used.get(name, 0)
            while log and log[0][0] <= now - limit.per_seconds:
                used -= log.popleft()[1]
            self._used[name] = used
            excess = used + cost - limit.amount
            for at, units in log:
                if excess <= 0:
                    break
                excess -= units
                if excess <= 0:
                    wait = max(wait, at + limit.per_seconds - now)
            logs.append((name, log, cost))
        if wait > 0:
            return wait
        for name, log, cost in logs:
            log.append((now, cost))
            self._used[name] += cost
        return 0.0

    async def pause(self, key: str, seconds: float) -> None:
        """Admit nothing under ``key`` for ``seconds`` (extends, never shortens, a pause)."""
        until = self._clock() + seconds
        self._paused_until[key] = max(self._paused_until.get(key, 0.0), until)


class RateLimitPrimitive(WrapperPrimitive[TIn, TOut]):
    """Runs ``inner`` only while every limit in ``limits`` has room for the call.

    * ``max_wait_seconds=0`` (default) fails fast with
      :class:`~tta_dev_primitives.exceptions.RateLimitExceededError` (its
      ``retry_after`` says when there is room); a positive value waits for room up to
      that long, and fails at once if the room comes later than that.
    * With no ``limits`` only pauses apply (see ``pause_on`` and :meth:`pause`).
    * ``key`` names the counters (default: the primitive's name); primitives with the
      same key and backend share them, as every worker of a fleet does through Redis.
    * ``pause_on``: errors of ``inner`` that carry ``retry_after`` (a provider's 429)
      and pause everything under the key for that long, on every worker sharing it.
    * ``on_unavailable`` when the backend (Redis) does not answer: ``"local"`` (default)
      counts in this process instead, each process allowed ``local_share`` of each
      limit (set it to 1/workers to stay within the limit as a fleet); ``"reject"``
      fails closed with :class:`~tta_dev_primitives.exceptions.SharedStateUnavailableError`.

    ``clock`` and ``sleep`` are injectable for tests.
    """

    kind = "ratelimit"

    def __init__(
        self,
        inner: WorkflowPrimitive[TIn, TOut] | AsyncStep[TIn, TOut],
        limits: Sequence[RateLimit],
        *,
        key: str | None = None,
        backend: RateLimitBackend | None = None,
        max_wait_seconds: float = 0.0,
        pause_on: ExceptionTypes | None = None,
        on_unavailable: Literal["local", "reject"] = "local",
        local_share: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(inner, name=name)
        self.limits = tuple(limits)
        if not all(isinstance(x, RateLimit) for x in self.limits):
            raise ValueError("limits must be RateLimit(amount, per_seconds) objects")
        if not max_wait_seconds >= 0:
            raise ValueError(f"max_wait_seconds must be >= 0, got {max_wait_seconds!r}")
        if on_unavailable not in ("local", "reject"):
            raise ValueError(f"on_unavailable must be 'local' or 'reject', got {on_unavailable!r}")
        if not 0 < local_share <= 1:
            raise ValueError(f"local_share must be in (0, 1], got {local_share!r}")
        if backend is not None and not isinstance(backend, RateLimitBackend):
            raise TypeError(f"backend must implement RateLimitBackend, not {backend!r}")
        self.key = key or self.display_name
        self.max_wait_seconds = max_wait_seconds
        self.pause_on = exception_types(pause_on, "pause_on") if pause_on is not None else ()
        self.on_unavailable = on_unavailable
        self._local = InMemoryRateLimitBackend(clock=clock)
        self.backend: RateLimitBackend = backend or self._local
        self._local_limits = tuple(
            RateLimit(
                max(1, math.floor(x.amount * local_share)), x.per_seconds, cost=x.cost, unit=x.unit
            )
            for x in self.limits
        )
        self._clock = clock
        self._sleep = sleep or _sleep
        label = self.display_name
        self._admitted = counter(RATE_LIMIT_ADMITTED).labels(label)
        self._waits = counter(RATE_LIMIT_WAITS).labels(label)
        self._waited = counter(RATE_LIMIT_WAIT_SECONDS).labels(label)
        self._rejected = counter(RATE_LIMIT_REJECTIONS).labels(label)
        self._fallbacks = counter(FLEET_LOCAL_FALLBACKS).labels("rate_limit")

    async def pause(self, seconds: float) -> None:
        """Admit nothing under this primitive's key for ``seconds``, fleet-wide if shared."""
        if not seconds > 0:
            return
        try:
            await self.backend.pause(self.key, seconds)
        except SharedStateUnavailableError:
            await self._local.pause(self.key, seconds)

    async def admit(self, input_data: TIn) -> float:
        """Wait for room for ``input_data`` (within ``max_wait_seconds``); the seconds waited.

        Raises :class:`RateLimitExceededError` when there is no room in time.
        """
        costs = [limit.cost_of(input_data) for limit in self.limits]
        start = self._clock()
        deadline = start + self.max_wait_seconds
        waited = False
        while True:
            retry_after = await self._acquire(costs)
            if retry_after <= 0:
                break
            left = deadline - self._clock()
            if retry_after > left:
                self._rejected.inc()
                annotate({"tta.rate_limit.rejected": True})
                raise RateLimitExceededError(self.display_name, retry_after, self._describe())
            if not waited:
                waited = True
                self._waits.inc()
            await self._sleep(retry_after)
        self._admitted.inc()
        spent = self._clock() - start if waited else 0.0
        if waited:
            self._waited.inc(spent)
            annotate({"tta.rate_limit.waited_s": spent})
        return spent

    async def _execute_impl(self, input_data: TIn, context: WorkflowContext) -> TOut:
        await self.admit(input_data)
        if not self.pause_on:
            return await self.inner.execute(input_data, context)
        try:
            return await self.inner.execute(input_data, context)
        except self.pause_on as error:
            retry_after = getattr(error, "retry_after", None)
            if isinstance(retry_after, int | float) and retry_after > 0:
                await self.pause(float(retry_after))
            raise

    async def _acquire(self, costs: list[int]) -> float:
        try:
            return await self.backend.acquire(self.key, list(zip(self.limits, costs, strict=True)))
        except SharedStateUnavailableError:
            if self.on_unavailable == "reject":
                self._rejected.inc()
                raise
        self._fallbacks.inc()
        demands = [
            (limit, min(cost, limit.amount))
            for limit, cost in zip(self._local_limits, costs, strict=True)
        ]
        return await self._local.acquire(self.key, demands)

    def _describe(self) -> str:
        limits = " and ".join(limit.describe() for limit in self.limits)
        return limits or "paused after a Retry-After"
