"""``TimeoutPrimitive``: bound how long the inner work may take."""

from __future__ import annotations

import math
from typing import TypeVar

from tta_dev_primitives.core.base import AsyncStep, WorkflowPrimitive
from tta_dev_primitives.core.context import WorkflowContext
from tta_dev_primitives.core.wrapper import WrapperPrimitive
from tta_dev_primitives.exceptions import PrimitiveTimeoutError
from tta_dev_primitives.observability.metrics import TIMEOUTS, counter

__all__ = ["TimeoutPrimitive"]

TIn = TypeVar("TIn")
TOut = TypeVar("TOut")


class TimeoutPrimitive(WrapperPrimitive[TIn, TOut]):
    """Cancels ``inner`` after ``timeout_seconds`` and raises :class:`PrimitiveTimeoutError`.

    The inner work runs in the caller's task, so when the timeout fires it has been
    cancelled and has finished its cleanup before the error is raised: nothing is
    left running. A ``TimeoutError`` raised by the inner work itself passes through
    unchanged.
    """

    kind = "timeout"

    def __init__(
        self,
        inner: WorkflowPrimitive[TIn, TOut] | AsyncStep[TIn, TOut],
        timeout_seconds: float,
        *,
        name: str | None = None,
    ) -> None:
        super().__init__(inner, name=name)
        if not (timeout_seconds > 0 and math.isfinite(timeout_seconds)):
            raise ValueError(
                f"timeout_seconds must be a finite number > 0, got {timeout_seconds!r}"
            )
        self.timeout_seconds = float(timeout_seconds)
        self._timeouts = counter(TIMEOUTS).labels(self.display_name)

    async def _execute_impl(self, input_data: TIn, context: WorkflowContext) -> TOut:
        import asyncio  # here, not at the top: importing asyncio costs ~40 ms

        deadline = asyncio.timeout(self.timeout_seconds)
        try:
            async with deadline:
                return await self.inner.execute(input_data, context)
        except TimeoutError as error:
            if not deadline.expired():
                raise
            self._timeouts.inc()
            raise PrimitiveTimeoutError(self.display_name, self.timeout_seconds) from error
