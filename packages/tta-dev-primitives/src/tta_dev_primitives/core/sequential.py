"""``a >> b >> c``: run steps one after another, each on the previous one's output."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

from tta_dev_primitives.core.base import AsyncStep, WorkflowPrimitive, as_primitive
from tta_dev_primitives.core.context import WorkflowContext

__all__ = ["SequentialPrimitive"]

TIn = TypeVar("TIn")
TOut = TypeVar("TOut")


class SequentialPrimitive(WorkflowPrimitive[TIn, TOut]):
    """Runs ``steps`` in order, feeding each step's output to the next.

    ``a >> b >> c`` builds one flat sequence of three. A sequence built explicitly
    (``SequentialPrimitive([...])``) is kept as one node when composed further, so
    it keeps its own span.
    """

    def __init__(
        self,
        steps: Iterable[WorkflowPrimitive[Any, Any] | AsyncStep[Any, Any]],
        *,
        name: str | None = None,
    ) -> None:
        self.steps: tuple[WorkflowPrimitive[Any, Any], ...] = tuple(
            as_primitive(step, "a SequentialPrimitive") for step in steps
        )
        if not self.steps:
            raise ValueError("a SequentialPrimitive needs at least one step")
        self.name = name or ""
        self._built_by_operator = False

    @classmethod
    def _compose(
        cls, left: WorkflowPrimitive[Any, Any], right: WorkflowPrimitive[Any, Any]
    ) -> SequentialPrimitive[Any, Any]:
        sequence: SequentialPrimitive[Any, Any] = cls([*_parts(left), *_parts(right)])
        sequence._built_by_operator = True
        return sequence

    async def _execute_impl(self, input_data: TIn, context: WorkflowContext) -> TOut:
        value: Any = input_data
        for step in self.steps:
            value = await step.execute(value, context)
        return value  # type: ignore[no-any-return]


def _parts(node: WorkflowPrimitive[Any, Any]) -> tuple[WorkflowPrimitive[Any, Any], ...]:
    if isinstance(node, SequentialPrimitive) and node._built_by_operator:
        return node.steps
    return (node,)
