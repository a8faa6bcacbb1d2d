"""Keeping a paid call's reservation leased while the call runs.

A reservation's lease ends ``lease_s`` after it was taken; a reservation whose lease
ended is charged, unconfirmed, as a dead call's. A call that runs long renews its lease
every ``lease_s / 3``. Most calls end long before the first renewal, so nothing runs
until one is due: a timer, not a task, waits for it.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from tta_dev_integrations.llm.budget.ledger import Ledger, LedgerUnavailableError

if TYPE_CHECKING:  # asyncio loads when a call needs it, not with the LLM layer
    import asyncio

__all__ = ["LeaseKeeper"]

logger = logging.getLogger(__name__)


class LeaseKeeper:
    """Renews ``request_id``'s lease every ``lease_s / 3`` until :meth:`cancel`.

    ``paid=False`` (a free call, nothing reserved) keeps nothing. Must be made inside a
    running event loop.
    """

    __slots__ = ("_lease_s", "_ledger", "_request_id", "_task", "_timer")

    def __init__(self, ledger: Ledger, request_id: str, lease_s: float, *, paid: bool) -> None:
        self._ledger = ledger
        self._request_id = request_id
        self._lease_s = lease_s
        self._task: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        if paid:
            import asyncio

            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(lease_s / 3, self._start)

    def _start(self) -> None:
        import asyncio

        self._timer = None
        self._task = asyncio.get_running_loop().create_task(
            self._renew(), name=f"tta-lease-{self._request_id[:8]}"
        )

    async def _renew(self) -> None:
        import asyncio

        while True:  # tta: ignore[TTA001] - a periodic renewal, not a retry
            try:
                if not await self._ledger.renew(self._request_id, self._lease_s):
                    return  # settled or released meanwhile
            except LedgerUnavailableError:
                logger.warning("could not renew the lease of %s", self._request_id)
            await asyncio.sleep(self._lease_s / 3)

    @property
    def renewing(self) -> bool:
        """Whether a renewal is running (the first one was due)."""
        return self._task is not None and not self._task.done()

    def cancel(self) -> None:
        """Stop renewing (the call ended)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._task is not None:
            self._task.cancel()
