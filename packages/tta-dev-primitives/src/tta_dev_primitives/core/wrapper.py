"""``WrapperPrimitive``: the base of every primitive that adds behaviour around another."""

from __future__ import annotations

from typing import TypeVar

from tta_dev_primitives.core.base import AsyncStep, WorkflowPrimitive, as_primitive

__all__ = ["WrapperPrimitive"]

TIn = TypeVar("TIn")
TOut = TypeVar("TOut")


class WrapperPrimitive(WorkflowPrimitive[TIn, TOut]):
    """Wraps ``inner`` and passes it the input and the context exactly as received.

    Retry, fallback, timeout, circuit breaker and cache are wrappers. The default
    name is ``"<kind>(<inner name>)"``, e.g. ``"retry(fetch)"``.
    """

    kind: str = "wrap"

    def __init__(
        self,
        inner: WorkflowPrimitive[TIn, TOut] | AsyncStep[TIn, TOut],
        *,
        name: str | None = None,
    ) -> None:
        self.inner: WorkflowPrimitive[TIn, TOut] = as_primitive(inner, f"a {type(self).__name__}")
        self.name = name or f"{self.kind}({self.inner.display_name})"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.inner!r}, name={self.display_name!r})"
