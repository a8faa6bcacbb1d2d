"""``WrapperPrimitive``: the base of every primitive that adds behaviour around another."""

from __future__ import annotations

from typing import TypeVar

from tta_dev_primitives.core.base import AsyncStep, WorkflowPrimitive, as_primitive

__all__ = ["WrapperPrimitive", "exception_types"]

TIn = TypeVar("TIn")
TOut = TypeVar("TOut")

ExceptionTypes = type[Exception] | tuple[type[Exception], ...]


def exception_types(value: object, option: str) -> tuple[type[Exception], ...]:
    """Check an option such as ``retry_on=`` names ``Exception`` subclasses only.

    ``BaseException`` types are refused: catching them would swallow cancellation.
    """
    types = value if isinstance(value, tuple) else (value,)
    for kind in types:
        if not (isinstance(kind, type) and issubclass(kind, Exception)):
            raise TypeError(
                f"{option} must be an Exception subclass or a tuple of them, got {kind!r}; "
                "BaseException types (cancellation, KeyboardInterrupt) are never caught"
            )
    return types


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
