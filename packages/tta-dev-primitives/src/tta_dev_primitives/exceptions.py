"""Every error the core primitives raise, in one tree.

::

    Exception
    └── TTAError                          base of every TTA.dev error
        ├── CompositionError (TypeError)  something that is not a primitive was composed
        ├── RouteNotFoundError (LookupError)
        │                                 a router's route function named an unknown branch
        ├── PrimitiveTimeoutError (TimeoutError)
        │                                 TimeoutPrimitive gave up; the inner work was cancelled
        ├── CircuitOpenError              CircuitBreakerPrimitive is failing fast
        ├── RateLimitExceededError        RateLimitPrimitive refused a call (no room in time)
        ├── BulkheadFullError             BulkheadPrimitive: no free slot within max_wait_seconds
        ├── SharedStateUnavailableError   the fleet's shared state (Redis) did not answer
        └── AllAlternativesFailedError (ExceptionGroup)
                                          FallbackPrimitive: every alternative failed;
                                          ``.exceptions`` holds each failure in order

Errors that a primitive's own work raises pass through unchanged: a sequence,
a retry or a cache never wraps a user's exception in one of ours, so ``except
ValueError`` keeps working around any composition. Where we do raise our own
error because of another one, the original stays reachable as ``__cause__``.

An exception may carry a ``retry_after`` attribute (seconds, a float): the
retry primitive waits at least that long before its next attempt. Provider
rate-limit errors and :class:`CircuitOpenError` set it.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "AllAlternativesFailedError",
    "BulkheadFullError",
    "CircuitOpenError",
    "CompositionError",
    "PrimitiveTimeoutError",
    "RateLimitExceededError",
    "RouteNotFoundError",
    "SharedStateUnavailableError",
    "TTAError",
]


class TTAError(Exception):
    """Base class of every error raised by TTA.dev itself."""


class CompositionError(TTAError, TypeError):
    """An object that is neither a primitive nor an async callable was composed."""

    def __init__(self, obj: object, operation: str) -> None:
        self.obj = obj
        kind = type(obj).__name__
        hint = (
            "make it an `async def` function"
            if callable(obj)
            else "pass a WorkflowPrimitive or an async function"
        )
        super().__init__(
            f"cannot use {obj!r} (a {kind}) in {operation}: it is not a WorkflowPrimitive "
            f"or an async callable; {hint}"
        )


class RouteNotFoundError(TTAError, LookupError):
    """A router's route function returned a name that has no branch."""

    def __init__(self, router: str, route: object, known: Sequence[str]) -> None:
        self.route = route
        self.known = tuple(known)
        choices = ", ".join(repr(name) for name in self.known) or "(none)"
        super().__init__(
            f"router {router!r} has no branch named {route!r}; known branches: {choices}. "
            "Add the branch or pass default= to the RouterPrimitive"
        )

    def __str__(self) -> str:
        # LookupError's str() would quote the message like a dict key.
        return str(self.args[0])


class PrimitiveTimeoutError(TTAError, TimeoutError):
    """A TimeoutPrimitive's inner work did not finish in time and was cancelled."""

    def __init__(self, primitive: str, timeout_s: float) -> None:
        self.primitive = primitive
        self.timeout_s = timeout_s
        super().__init__(
            f"{primitive!r} did not finish within {timeout_s:g}s and was cancelled; "
            "raise timeout_seconds or make the step faster"
        )


class BulkheadFullError(TTAError):
    """A BulkheadPrimitive had no free slot within its ``max_wait_seconds``; nothing ran."""

    def __init__(self, primitive: str, max_concurrency: int, waited_s: float) -> None:
        self.primitive = primitive
        self.max_concurrency = max_concurrency
        self.waited_s = waited_s
        super().__init__(
            f"{primitive!r} already runs {max_concurrency} calls at once and none finished "
            f"within {waited_s:g}s; raise max_concurrency or max_wait_seconds, or send less"
        )


class CircuitOpenError(TTAError):
    """A circuit breaker is open (or probing) and refused the call without running it."""

    def __init__(self, primitive: str, retry_after: float, failures: int) -> None:
        self.primitive = primitive
        self.retry_after = retry_after
        self.failures = failures
        super().__init__(
            f"circuit {primitive!r} is open after {failures} consecutive failures; "
            f"the call was not attempted. It will try again in {retry_after:.3g}s; "
            "wrap it in a FallbackPrimitive to serve something meanwhile"
        )


class RateLimitExceededError(TTAError):
    """A rate limit had no room for the call now, or not within the wait allowed."""

    def __init__(self, primitive: str, retry_after: float, limit: str) -> None:
        self.primitive = primitive
        self.retry_after = retry_after
        self.limit = limit
        super().__init__(
            f"{primitive!r} refused the call ({limit}); room again in {retry_after:.3g}s. "
            "Pass max_wait_seconds= to wait for it, or lower the load"
        )


class SharedStateUnavailableError(TTAError):
    """The shared state of the fleet (Redis) did not answer in time or refused the call.

    Raised where the operator chose to fail closed; otherwise the feature falls back
    to process-local state (see ``docs/architecture/SCALE_OUT.md``).
    """

    def __init__(self, feature: str, where: str, reason: str) -> None:
        self.feature = feature
        self.where = where
        super().__init__(
            f"{feature}: the shared state at {where} is unavailable ({reason}); "
            "check that Redis runs and TTA_REDIS_URL points to it, or let the feature "
            "fall back to per-process state (on_unavailable='local')"
        )


class AllAlternativesFailedError(TTAError, ExceptionGroup[Exception]):
    """Every alternative of a FallbackPrimitive failed; ``exceptions`` lists them in order."""

    def __new__(cls, message: str, exceptions: Sequence[Exception]) -> AllAlternativesFailedError:
        """Make the group; ``exceptions`` are the failures, in the order tried."""
        return super().__new__(cls, message, exceptions)

    def derive(self, excs: Sequence[Exception]) -> AllAlternativesFailedError:  # type: ignore[override]
        """Keep the type when ``except*`` splits the group."""
        return AllAlternativesFailedError(self.message, excs)
