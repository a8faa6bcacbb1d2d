"""Budget profiles and the spend ledger (SQLite embedded, PostgreSQL shared).

``open_ledger()`` picks the backend from ``TTA_LEDGER_URL``. The backends are imported
on first use (``SQLiteLedger``, ``PostgresLedger``), so importing this package loads
neither asyncio nor psycopg.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tta_dev_integrations.llm.budget.factory import open_ledger

if TYPE_CHECKING:
    from tta_dev_integrations.llm.budget.postgres import PostgresLedger
    from tta_dev_integrations.llm.budget.sqlite import SQLiteLedger

__all__ = ["PostgresLedger", "SQLiteLedger", "open_ledger"]


def __getattr__(name: str) -> Any:
    if name == "SQLiteLedger":
        from tta_dev_integrations.llm.budget.sqlite import SQLiteLedger

        return SQLiteLedger
    if name == "PostgresLedger":
        from tta_dev_integrations.llm.budget.postgres import PostgresLedger

        return PostgresLedger
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
