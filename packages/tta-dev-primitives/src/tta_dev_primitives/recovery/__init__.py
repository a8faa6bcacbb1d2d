"""Primitives that keep a workflow going when a step fails."""

from tta_dev_primitives.recovery.breaker_state import BreakerStateStore
from tta_dev_primitives.recovery.circuit_breaker import CircuitBreakerPrimitive, CircuitState
from tta_dev_primitives.recovery.fallback import FallbackPrimitive
from tta_dev_primitives.recovery.retry import RetryPrimitive
from tta_dev_primitives.recovery.timeout import TimeoutPrimitive

__all__ = [
    "BreakerStateStore",
    "CircuitBreakerPrimitive",
    "CircuitState",
    "FallbackPrimitive",
    "RetryPrimitive",
    "TimeoutPrimitive",
]
