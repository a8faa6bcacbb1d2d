"""Which ledger a process uses: PostgreSQL for a ``postgres://`` URL, else SQLite."""

from __future__ import annotations

import os

from tta_dev_integrations.llm.budget.ledger import Ledger

__all__ = ["open_ledger"]

_POSTGRES_SCHEMES = ("postgres://", "postgresql://")
_SQLITE_SCHEME = "sqlite://"


def open_ledger(url: str | None = None) -> Ledger:
    """The ledger named by ``url``, else by ``TTA_LEDGER_URL``, else SQLite's default file.

    ``postgres://`` and ``postgresql://`` URLs open a
    :class:`~tta_dev_integrations.llm.budget.postgres.PostgresLedger` (the ``postgres``
    extra); ``sqlite:///relative/path``, ``sqlite:////absolute/path`` or a plain file path
    open a :class:`~tta_dev_integrations.llm.budget.sqlite.SQLiteLedger`; nothing at all
    opens ``$TTA_HOME/ledger.db``. Nothing connects until the ledger's first call.
    """
    target = url if url is not None else os.environ.get("TTA_LEDGER_URL", "")
    target = target.strip()
    if target.lower().startswith(_POSTGRES_SCHEMES):
        try:
            from tta_dev_integrations.llm.budget.postgres import PostgresLedger
        except ImportError as error:
            raise ImportError(
                "a PostgreSQL ledger needs psycopg: pip install 'tta-dev-integrations[postgres]'"
            ) from error
        return PostgresLedger(target)

    from tta_dev_integrations.llm.budget.sqlite import SQLiteLedger

    if not target:
        return SQLiteLedger()
    if target.lower().startswith(_SQLITE_SCHEME):
        from pathlib import Path  # here, not at the top: pathlib costs ~2.5 ms to import

        return SQLiteLedger(Path(target[len(_SQLITE_SCHEME) + 1 :]))
    if "://" in target:
        scheme = target.split("://", 1)[0]
        raise ValueError(
            f"TTA_LEDGER_URL has the scheme {scheme!r}; use postgresql://user:password@host/db "
            "for PostgreSQL, or sqlite:///path/to/ledger.db (or a plain path) for SQLite"
        )
    return SQLiteLedger(target)
