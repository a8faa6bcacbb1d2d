"""What the ledger tests share: a budgeted SQLite ledger, a reservation, and counters.

The counters watch what really happens: the statements the ledger's connection runs
(sqlite3's trace callback) and the round trips a ledger hands to its backend.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tta_dev_integrations.llm.budget.base import LedgerBase
from tta_dev_integrations.llm.budget.ledger import current_month
from tta_dev_integrations.llm.budget.sqlite import SQLiteLedger

MONTH = current_month()
SCOPE = "team"


async def budgeted(path: Path, limit_micros: int = 1_000_000) -> SQLiteLedger:
    """A SQLite ledger at ``path`` whose scope has a stored limit."""
    ledger = SQLiteLedger(path)
    await ledger.set_limit(SCOPE, limit_micros, actor="test", reason="a budget")
    return ledger


async def reserve(ledger: LedgerBase, request_id: str, micros: int = 700, **more: Any) -> None:
    """Reserve ``micros`` for ``request_id`` in the scope's current month."""
    await ledger.reserve(
        request_id=request_id, scope=SCOPE, month=MONTH, amount_micros=micros, model="m",
        provider="p", **more,
    )  # fmt: skip


def statements(ledger: SQLiteLedger) -> list[str]:
    """Every statement the ledger's connection runs from now on."""
    ran: list[str] = []
    ledger._call(lambda conn: conn.set_trace_callback(ran.append))
    return ran


def count_trips(ledger: LedgerBase) -> list[int]:
    """Count the backend's round trips (its ``_run``) from now on, changing nothing else."""
    trips = [0]
    run = ledger._run  # type: ignore[attr-defined]

    def counted(operation: Any, **how: Any) -> Any:
        trips[0] += 1
        return run(operation, **how)

    ledger._run = counted  # type: ignore[attr-defined]
    return trips
