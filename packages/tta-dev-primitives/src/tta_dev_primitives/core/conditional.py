"""``ConditionalPrimitive``: one branch or the other, by a predicate on the input."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from tta_dev_primitives.core.base import AsyncStep, WorkflowPrimitive, as_decision, as_primitive
from tta_dev_primitives.core.context import WorkflowContext

__all__ = ["ConditionalPrimitive"]

TIn = TypeVar("TIn")
TOut = TypeVar("TOut")


class ConditionalPrimitive(WorkflowPrimitive[TIn, TOut]):
    """Runs ``then`` when ``predicate(x[, ctx])`` is true, else ``otherwise``.

    The predicate may be plain or async. Without ``otherwise`` a false predicate
    passes the input through unchanged.
    """

    def __init__(
        self,
        predicate: Callable[..., Any],
        then: WorkflowPrimitive[TIn, TOut] | AsyncStep[TIn, TOut],
        otherwise: WorkflowPrimitive[TIn, TOut] | AsyncStep[TIn, TOut] | None = None,
        *,
        name: str | None = None,
    ) -> None:
        self._predicate = as_decision(predicate, "a ConditionalPrimitive predicate")
        self.then: WorkflowPrimitive[TIn, TOut] = as_primitive(then, "a ConditionalPrimitive")
        self.otherwise: WorkflowPrimitive[TIn, TOut] | None = (
            as_primitive(otherwise, "a ConditionalPrimitive") if otherwise is not None else None
        )
        self.name = name or ""

    async def _execute_impl(self, input_data: TIn, context: WorkflowContext) -> TOut:
        if await self._predicate(input_data, context):
            return await self.then.execute(input_data, context)
        if self.otherwise is None:
            return input_data  # type: ignore[return-value]
        return await self.otherwise.execute(input_data, context)
