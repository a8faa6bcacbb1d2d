"""Provider limits for a fleet: every worker's LLM calls within one set of limits.

When ``TTA_REDIS_URL`` names a Redis (``pip install 'tta-dev-integrations[redis]'``),
each call an :class:`~tta_dev_integrations.llm.LLMPrimitive` makes goes through:

* the model's **rate limits**, counted in Redis for the whole fleet: the catalog's
  free-tier ``requests_per_minute`` and ``requests_per_day``, and what the operator
  sets for any model under ``rate_limits`` in a catalog file of their own
  (``TTA_CATALOG``): ``{"requests_per_minute": 500, "tokens_per_minute": 30000,
  "requests_per_day": 10000}``. A call's tokens are its prompt (about 4 characters a
  token) plus its ``max_tokens`` (or the model's output cap). A call waits for room up
  to ``TTA_RATE_LIMIT_MAX_WAIT_SECONDS`` (default 10), else fails with
  :class:`~tta_dev_integrations.llm.RateLimitError` (so routing tries another model);
* a **429 with Retry-After** from the provider pauses that model for every worker;
* one **circuit breaker per provider** for the fleet (state in Redis): after
  ``TTA_BREAKER_FAILURES`` (default 5) consecutive provider failures (5xx, network,
  timeouts) every worker skips the provider for ``TTA_BREAKER_RESET_SECONDS`` (30), with
  :class:`~tta_dev_integrations.llm.ProviderUnavailableError`, until one half-open
  probe succeeds.

Without ``TTA_REDIS_URL`` nothing of this runs (one process needs none of it).
While Redis is unreachable each worker keeps its own counts and breaker (a warning
and ``tta_fleet_local_fallbacks_total`` say so); calls are never blocked by Redis.
The in-process local model is not limited.
"""

from __future__ import annotations

import math
import os
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Literal, NamedTuple

from tta_dev_integrations.llm.errors import ProviderUnavailableError, RateLimitError
from tta_dev_primitives import (
    CircuitBreakerPrimitive,
    CircuitOpenError,
    RateLimit,
    RateLimitExceededError,
    RateLimitPrimitive,
    WorkflowContext,
    WorkflowPrimitive,
)
from tta_dev_primitives.exceptions import SharedStateUnavailableError

if TYPE_CHECKING:
    from tta_dev_integrations.llm.catalog import ModelInfo
    from tta_dev_integrations.llm.providers.base import Reply
    from tta_dev_integrations.llm.types import LLMRequest
    from tta_dev_primitives.fleet import RedisLink

__all__ = [
    "MAX_WAIT_VARIABLE",
    "FleetLimits",
    "configure_fleet",
    "estimated_tokens",
    "fleet_limits",
    "guarded_send",
    "model_limits",
]

#: How long a call may wait for room under a model's limits (seconds).
MAX_WAIT_VARIABLE = "TTA_RATE_LIMIT_MAX_WAIT_SECONDS"

#: Providers that run in this process: nothing to share, nothing to limit.
_IN_PROCESS = frozenset({"local"})


def _whole(value: object, what: str, alias: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"catalog entry {alias!r}: rate_limits {what} must be a whole number >= 1")
    return value


def estimated_tokens(info: ModelInfo, request: LLMRequest) -> int:
    """What a call may use at most: its prompt (~4 characters a token) plus its output cap."""
    prompt = sum(len(m.text) for m in request.messages) // 4 + 1
    return prompt + (request.max_tokens or info.max_output_tokens)


def model_limits(info: ModelInfo) -> list[RateLimit]:
    """The limits a model's calls keep to: the free tier's, overridden by ``rate_limits``."""
    configured = info.extra.get("rate_limits") or {}
    if not isinstance(configured, dict):
        raise ValueError(f"catalog entry {info.alias!r}: rate_limits must be an object")
    tier = info.free_tier
    rpm = _whole(configured.get("requests_per_minute"), "requests_per_minute", info.alias)
    rpd = _whole(configured.get("requests_per_day"), "requests_per_day", info.alias)
    tpm = _whole(configured.get("tokens_per_minute"), "tokens_per_minute", info.alias)
    rpm = rpm or (tier.requests_per_minute if tier else None)
    rpd = rpd or (tier.requests_per_day if tier else None)
    tpm = tpm or getattr(tier, "tokens_per_minute", None)
    limits = []
    if rpm:
        limits.append(RateLimit(rpm, 60.0))
    if rpd:
        limits.append(RateLimit(rpd, 86_400.0))
    if tpm:
        limits.append(RateLimit(tpm, 60.0, cost=lambda call: call.tokens, unit="tokens"))
    return limits


def _env_number(variable: str, default: float, *, whole: bool = False) -> float:
    raw = os.environ.get(variable, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not value >= 0 or (whole and (value < 1 or value != int(value))):
        kind = "a whole number >= 1" if whole else "a number of seconds >= 0"
        raise ValueError(f"{variable} must be {kind}, got {raw!r}")
    return value


class _Call(NamedTuple):
    """One provider call as it passes the limiter and the breaker."""

    tokens: int
    send: Callable[[], Awaitable[Reply]]


async def _send(call: _Call) -> Reply:
    return await call.send()


class FleetLimits:
    """The limiters (one per model) and breakers (one per provider) of this process.

    All of them keep their state in Redis through ``link``, so every process built
    with the same Redis and prefix shares them. ``failure_threshold`` and
    ``reset_timeout`` configure the provider breakers; ``max_wait_seconds`` how long
    a call may wait for room.
    """

    def __init__(
        self,
        link: RedisLink,
        *,
        max_wait_seconds: float = 10.0,
        failure_threshold: int = 5,
        reset_timeout: float = 30.0,
        local_share: float = 1.0,
        on_unavailable: Literal["local", "reject"] = "local",
    ) -> None:
        from tta_dev_primitives.fleet import RedisBreakerStore, RedisRateLimitBackend

        if not 0 < local_share <= 1:
            raise ValueError(
                f"local_share (TTA_RATE_LIMIT_LOCAL_SHARE) must be in (0, 1], got {local_share!r}"
            )
        self.link = link
        self.max_wait_seconds = max_wait_seconds
        self.failure_threshold = failure_threshold
        self.reset_timeout = reset_timeout
        self.local_share = local_share
        if on_unavailable not in ("local", "reject"):
            raise ValueError(
                "on_unavailable (TTA_FLEET_ON_REDIS_DOWN) must be 'local' or 'reject', "
                f"got {on_unavailable!r}"
            )
        self.on_unavailable: Literal["local", "reject"] = on_unavailable
        self.rate_backend = RedisRateLimitBackend(link, namespace="llm-rate")
        self.breaker_store = RedisBreakerStore(link, namespace="llm-breaker")
        self._limiters: dict[str, WorkflowPrimitive[_Call, Reply]] = {}

    @classmethod
    def from_env(cls) -> FleetLimits | None:
        """Limits on ``$TTA_REDIS_URL``, or None when it is not set.

        Also read: ``TTA_REDIS_PREFIX`` (default "tta"), ``TTA_REDIS_TIMEOUT_SECONDS``
        (1: the most a Redis operation may take; an LLM call takes longer, and a busy
        Redis answering late must not make the workers fall back to local limits),
        ``TTA_RATE_LIMIT_MAX_WAIT_SECONDS``, ``TTA_RATE_LIMIT_LOCAL_SHARE`` (each worker's
        share of a limit while Redis is unreachable, default 1: set 1/workers),
        ``TTA_BREAKER_FAILURES``, ``TTA_BREAKER_RESET_SECONDS`` and
        ``TTA_FLEET_ON_REDIS_DOWN`` ("local", the default: each worker keeps its own
        limits and breakers while Redis is away; "reject": LLM calls fail closed).
        """
        from tta_dev_primitives.fleet import RedisLink

        link = RedisLink.from_env(
            prefix=os.environ.get("TTA_REDIS_PREFIX", "tta") or "tta",
            timeout_seconds=_env_number("TTA_REDIS_TIMEOUT_SECONDS", 1.0),
        )
        if link is None:
            return None
        return cls(
            link,
            max_wait_seconds=_env_number(MAX_WAIT_VARIABLE, 10.0),
            failure_threshold=int(_env_number("TTA_BREAKER_FAILURES", 5, whole=True)),
            reset_timeout=_env_number("TTA_BREAKER_RESET_SECONDS", 30.0),
            local_share=_env_number("TTA_RATE_LIMIT_LOCAL_SHARE", 1.0),
            on_unavailable=os.environ.get("TTA_FLEET_ON_REDIS_DOWN", "local") or "local",  # type: ignore[arg-type]
        )

    def _limiter(self, info: ModelInfo) -> WorkflowPrimitive[_Call, Reply]:
        limiter = self._limiters.get(info.alias)
        if limiter is None:
            # The breaker outside: a call it refuses takes no room under the limits.
            limited = RateLimitPrimitive(
                _send,
                model_limits(info),
                key=info.alias,
                backend=self.rate_backend,
                max_wait_seconds=self.max_wait_seconds,
                pause_on=RateLimitError,
                local_share=self.local_share,
                on_unavailable=self.on_unavailable,
                name=f"ratelimit({info.alias})",
            )
            limiter = CircuitBreakerPrimitive(
                limited,
                failure_threshold=self.failure_threshold,
                reset_timeout=self.reset_timeout,
                failure_on=ProviderUnavailableError,
                state_store=self.breaker_store,
                on_unavailable=self.on_unavailable,
                name=f"breaker({info.provider})",
            )
            self._limiters[info.alias] = limiter
        return limiter

    async def call(
        self,
        info: ModelInfo,
        request: LLMRequest,
        send: Callable[[], Awaitable[Reply]],
        context: WorkflowContext,
    ) -> Reply:
        """``send()`` within the model's limits and its provider's breaker."""
        limiter = self._limiter(info)
        try:
            return await limiter.execute(_Call(estimated_tokens(info, request), send), context)
        except RateLimitExceededError as error:
            raise RateLimitError(
                f"the fleet's limit for {info.alias} has no room in time ({error.limit})",
                retry_after=round(error.retry_after, 3),
                provider=info.provider,
                model=info.alias,
                status_code=None,
            ) from None
        except SharedStateUnavailableError:
            raise ProviderUnavailableError(
                f"the fleet's shared state (Redis at {self.link.address}) is unavailable and "
                "TTA_FLEET_ON_REDIS_DOWN=reject: the call was not made",
                provider=info.provider,
                model=info.alias,
            ) from None
        except CircuitOpenError as error:
            raise ProviderUnavailableError(
                f"{info.provider} is failing for the fleet ({error.failures} failures in a "
                f"row); skipped without a call, next try in {error.retry_after:.3g}s",
                provider=info.provider,
                model=info.alias,
            ) from None


_configured: list[FleetLimits | None] = []


def configure_fleet(limits: FleetLimits | None) -> None:
    """Use ``limits`` for every LLM call of this process (``None``: no fleet limits)."""
    _configured[:] = [limits]


def fleet_limits() -> FleetLimits | None:
    """The fleet limits of this process: configured, or from ``TTA_REDIS_URL`` on first use."""
    if not _configured:
        _configured.append(FleetLimits.from_env())
    return _configured[0]


async def guarded_send(
    info: ModelInfo,
    request: LLMRequest,
    send: Callable[[], Awaitable[Reply]],
    context: WorkflowContext,
) -> Reply:
    """``send()`` under the fleet's limits when a fleet is configured; as is otherwise."""
    limits = fleet_limits() if info.provider not in _IN_PROCESS else None
    if limits is None:
        return await send()
    return await limits.call(info, request, send, context)
