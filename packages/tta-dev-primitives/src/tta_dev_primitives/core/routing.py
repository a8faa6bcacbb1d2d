"""``RouterPrimitive``: a route function names the branch that handles the input."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from tta_dev_primitives.core.base import AsyncStep, WorkflowPrimitive, as_decision, as_primitive
from tta_dev_primitives.core.context import WorkflowContext
from tta_dev_primitives.exceptions import RouteNotFoundError

__all__ = ["RouterPrimitive"]

TIn = TypeVar("TIn")
TOut = TypeVar("TOut")


class RouterPrimitive(WorkflowPrimitive[TIn, TOut]):
    """Runs the branch named by ``route(x[, ctx])`` (plain or async).

    A name with no branch goes to ``default`` when one is given, otherwise it raises
    :class:`RouteNotFoundError` listing the known branches. The chosen route is
    recorded in ``context.metadata["route:<router name>"]``.
    """

    def __init__(
        self,
        routes: Mapping[str, WorkflowPrimitive[TIn, TOut] | AsyncStep[TIn, TOut]],
        route: Callable[..., Any],
        *,
        default: str | None = None,
        name: str | None = None,
    ) -> None:
        self.routes: dict[str, WorkflowPrimitive[TIn, TOut]] = {
            key: as_primitive(branch, f"route {key!r} of a RouterPrimitive")
            for key, branch in routes.items()
        }
        if not self.routes:
            raise ValueError("a RouterPrimitive needs at least one route")
        if default is not None and default not in self.routes:
            raise RouteNotFoundError(name or "RouterPrimitive", default, list(self.routes))
        self._route = as_decision(route, "a RouterPrimitive route function")
        self.default = default
        self.name = name or ""

    async def _execute_impl(self, input_data: TIn, context: WorkflowContext) -> TOut:
        key = await self._route(input_data, context)
        branch = self.routes.get(key) if isinstance(key, str) else None
        if branch is None:
            if self.default is None:
                raise RouteNotFoundError(self.display_name, key, list(self.routes))
            key, branch = self.default, self.routes[self.default]
        context.metadata[f"route:{self.display_name}"] = key
        return await branch.execute(input_data, context)
