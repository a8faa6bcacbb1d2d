"""TTA.dev core: composable async workflow primitives with tracing and metrics built in.

Example::

    from tta_dev_primitives import RetryPrimitive, TimeoutPrimitive, WorkflowContext

    workflow = RetryPrimitive(TimeoutPrimitive(fetch, 5.0)) >> summarise
    summary = await workflow.execute("https://example.org", WorkflowContext())
"""

from tta_dev_primitives.core import (
    BulkheadPrimitive,
    ConditionalPrimitive,
    LambdaPrimitive,
    MapPrimitive,
    ParallelPrimitive,
    RouterPrimitive,
    SequentialPrimitive,
    WorkflowContext,
    WorkflowPrimitive,
    WrapperPrimitive,
)
from tta_dev_primitives.exceptions import (
    AllAlternativesFailedError,
    BulkheadFullError,
    CircuitOpenError,
    CompositionError,
    PrimitiveTimeoutError,
    RateLimitExceededError,
    RouteNotFoundError,
    TTAError,
)
from tta_dev_primitives.performance import (
    CacheBackend,
    CachePrimitive,
    InMemoryCacheBackend,
    RateLimit,
    RateLimitPrimitive,
)
from tta_dev_primitives.recovery import (
    CircuitBreakerPrimitive,
    CircuitState,
    FallbackPrimitive,
    RetryPrimitive,
    TimeoutPrimitive,
)


def __getattr__(name: str) -> str:
    # The installed distribution's version (pyproject.toml is its one source), looked
    # up on first use: importing importlib.metadata would cost the import budget.
    if name == "__version__":
        from importlib.metadata import version

        return version("tta-dev-primitives")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "AllAlternativesFailedError",
    "BulkheadFullError",
    "BulkheadPrimitive",
    "CacheBackend",
    "CachePrimitive",
    "CircuitBreakerPrimitive",
    "CircuitOpenError",
    "CircuitState",
    "CompositionError",
    "ConditionalPrimitive",
    "FallbackPrimitive",
    "InMemoryCacheBackend",
    "LambdaPrimitive",
    "MapPrimitive",
    "ParallelPrimitive",
    "PrimitiveTimeoutError",
    "RateLimit",
    "RateLimitExceededError",
    "RateLimitPrimitive",
    "RetryPrimitive",
    "RouteNotFoundError",
    "RouterPrimitive",
    "SequentialPrimitive",
    "TTAError",
    "TimeoutPrimitive",
    "WorkflowContext",
    "WorkflowPrimitive",
    "WrapperPrimitive",
    "__version__",
]
