"""``FallbackPrimitive``: when one alternative fails, try the next."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from tta_dev_primitives.core.base import AsyncStep, WorkflowPrimitive, as_primitive
from tta_dev_primitives.core.context import WorkflowContext
from tta_dev_primitives.core.wrapper import ExceptionTypes, WrapperPrimitive, exception_types
from tta_dev_primitives.exceptions import AllAlternativesFailedError
from tta_dev_primitives.observability.metrics import FALLBACKS, counter

__all__ = ["FallbackPrimitive"]

TIn = TypeVar("TIn")
TOut = TypeVar("TOut")


class FallbackPrimitive(WrapperPrimitive[TIn, TOut]):
    """Runs ``primary``; on an error matching ``fallback_on``, the next of ``fallbacks``.

    Each alternative gets the original input. An error that does not match
    ``fallback_on`` (and any cancellation) stops the chain and is raised as it is.
    When every alternative fails, :class:`AllAlternativesFailedError` (an
    ``ExceptionGroup``) carries each failure, in order.
    """

    kind = "fallback"

    def __init__(
        self,
        primary: WorkflowPrimitive[TIn, TOut] | AsyncStep[TIn, TOut],
        fallbacks: Sequence[WorkflowPrimitive[TIn, TOut] | AsyncStep[TIn, TOut]],
        *,
        fallback_on: ExceptionTypes = Exception,
        name: str | None = None,
    ) -> None:
        super().__init__(primary, name=name)
        if isinstance(fallbacks, WorkflowPrimitive) or callable(fallbacks):
            fallbacks = [fallbacks]
        self.fallbacks: tuple[WorkflowPrimitive[TIn, TOut], ...] = tuple(
            as_primitive(f, "a FallbackPrimitive") for f in fallbacks
        )
        if not self.fallbacks:
            raise ValueError("a FallbackPrimitive needs at least one fallback")
        self.fallback_on = exception_types(fallback_on, "fallback_on")
        taken = counter(FALLBACKS)
        self._taken = [taken.labels(self.display_name, f.display_name) for f in self.fallbacks]

    @property
    def alternatives(self) -> tuple[WorkflowPrimitive[TIn, TOut], ...]:
        """The primary followed by the fallbacks, in the order they are tried."""
        return (self.inner, *self.fallbacks)

    async def _execute_impl(self, input_data: TIn, context: WorkflowContext) -> TOut:
        failures: list[Exception] = []
        for index, alternative in enumerate(self.alternatives):
            if index:
                self._taken[index - 1].inc()
            try:
                return await alternative.execute(input_data, context)
            except self.fallback_on as error:
                failures.append(error)
        names = ", ".join(repr(a.display_name) for a in self.alternatives)
        raise AllAlternativesFailedError(
            f"all {len(failures)} alternatives of {self.display_name!r} failed ({names}); "
            "see the sub-exceptions for each cause",
            failures,
        )
