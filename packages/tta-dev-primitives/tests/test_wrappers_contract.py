"""Every wrapper hands its inner primitive the input and context exactly as received."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tta_dev_primitives import (
    BulkheadPrimitive,
    CachePrimitive,
    CircuitBreakerPrimitive,
    FallbackPrimitive,
    RateLimit,
    RateLimitPrimitive,
    RetryPrimitive,
    TimeoutPrimitive,
    WorkflowContext,
    WorkflowPrimitive,
    WrapperPrimitive,
)
from tta_dev_primitives.testing import FunctionPrimitive

WRAPPERS: dict[str, Callable[[WorkflowPrimitive[Any, Any]], WrapperPrimitive[Any, Any]]] = {
    "retry": RetryPrimitive,
    "timeout": lambda p: TimeoutPrimitive(p, 5.0),
    "breaker": CircuitBreakerPrimitive,
    "cache": CachePrimitive,
    "fallback": lambda p: FallbackPrimitive(p, [FunctionPrimitive(lambda x: x)]),
    "ratelimit": lambda p: RateLimitPrimitive(p, [RateLimit(1000, 60)]),
    "bulkhead": lambda p: BulkheadPrimitive(p, 4),
}


def test_every_wrapper_primitive_is_covered() -> None:
    classes = {type(make(FunctionPrimitive(lambda x: x))) for make in WRAPPERS.values()}
    assert classes == set(_all_subclasses(WrapperPrimitive))


def _all_subclasses(cls: type) -> set[type]:
    found = set()
    for sub in cls.__subclasses__():
        if sub.__module__.startswith("tta_dev_primitives."):
            found.add(sub)
            found |= _all_subclasses(sub)
    return found


@pytest.mark.parametrize("kind", sorted(WRAPPERS))
async def test_wrapper_passes_input_and_context_through(kind: str) -> None:
    inner = FunctionPrimitive(lambda x: {"echo": x}, name=f"contract-{kind}")
    wrapper = WRAPPERS[kind](inner)
    payload = {"nested": [1, 2, {"k": "v"}]}
    ctx = WorkflowContext(metadata={"m": 1})

    assert await wrapper.execute(payload, ctx) == {"echo": payload}
    [(seen_input, seen_ctx)] = inner.calls
    assert seen_input is payload
    assert seen_ctx is ctx


@pytest.mark.parametrize("kind", sorted(WRAPPERS))
async def test_wrapper_propagates_the_inner_error_unchanged(kind: str) -> None:
    class Boom(Exception):
        pass

    error = Boom("inner failed")

    def fail(_: Any) -> Any:
        raise error

    wrapper = WRAPPERS[kind](FunctionPrimitive(fail))
    if kind == "fallback":
        wrapper = FallbackPrimitive(FunctionPrimitive(fail), [FunctionPrimitive(fail)])
        with pytest.raises(ExceptionGroup) as group:
            await wrapper.execute(1, WorkflowContext())
        assert group.value.exceptions == (error, error)
        return
    if kind == "retry":
        wrapper = RetryPrimitive(FunctionPrimitive(fail), max_attempts=1)
    with pytest.raises(Boom) as info:
        await wrapper.execute(1, WorkflowContext())
    assert info.value is error


@pytest.mark.parametrize("kind", sorted(WRAPPERS))
def test_wrapper_default_name_names_the_inner_primitive(kind: str) -> None:
    wrapper = WRAPPERS[kind](FunctionPrimitive(lambda x: x, name="inner"))
    assert wrapper.display_name.endswith("(inner)")
