"""``a | b | c``: run branches concurrently on the same input."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, TypeVar

from tta_dev_primitives.core.base import AsyncStep, WorkflowPrimitive, as_primitive
from tta_dev_primitives.core.context import WorkflowContext

if TYPE_CHECKING:
    import asyncio

__all__ = ["ParallelPrimitive"]

TIn = TypeVar("TIn")


class ParallelPrimitive(WorkflowPrimitive[TIn, list[Any]]):
    """Runs every branch on the same input at once; returns their outputs in branch order.

    By default the first failing branch cancels the others (and waits for them to
    finish cancelling) and its exception is raised as it is. With
    ``collect_errors=True`` every branch runs to the end and all failures are raised
    together as one ``ExceptionGroup``.

    ``a | b | c`` builds one flat parallel of three; an explicitly built
    ``ParallelPrimitive`` stays one node (one output) when composed further.
    """

    def __init__(
        self,
        branches: Iterable[WorkflowPrimitive[TIn, Any] | AsyncStep[TIn, Any]],
        *,
        name: str | None = None,
        collect_errors: bool = False,
    ) -> None:
        self.branches: tuple[WorkflowPrimitive[TIn, Any], ...] = tuple(
            as_primitive(branch, "a ParallelPrimitive") for branch in branches
        )
        if not self.branches:
            raise ValueError("a ParallelPrimitive needs at least one branch")
        self.name = name or ""
        self.collect_errors = collect_errors
        self._built_by_operator = False

    @classmethod
    def _compose(
        cls, left: WorkflowPrimitive[Any, Any], right: WorkflowPrimitive[Any, Any]
    ) -> ParallelPrimitive[Any]:
        parallel: ParallelPrimitive[Any] = cls([*_parts(left), *_parts(right)])
        parallel._built_by_operator = True
        return parallel

    async def _execute_impl(self, input_data: TIn, context: WorkflowContext) -> list[Any]:
        import asyncio  # here, not at the top: importing asyncio costs ~40 ms

        loop = asyncio.get_running_loop()
        tasks = [loop.create_task(b.execute(input_data, context)) for b in self.branches]
        if self.collect_errors:
            return await self._gather_all(tasks)
        try:
            return await asyncio.gather(*tasks)
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.wait(tasks)
            raise

    async def _gather_all(self, tasks: list[asyncio.Task[Any]]) -> list[Any]:
        import asyncio

        outcomes = await asyncio.gather(*tasks, return_exceptions=True)
        failures = [o for o in outcomes if isinstance(o, BaseException)]
        if failures:
            raise BaseExceptionGroup(
                f"{len(failures)} of {len(tasks)} branches of {self.display_name!r} failed",
                failures,
            )
        return outcomes


def _parts(node: WorkflowPrimitive[Any, Any]) -> tuple[WorkflowPrimitive[Any, Any], ...]:
    if isinstance(node, ParallelPrimitive) and node._built_by_operator:
        return node.branches
    return (node,)
