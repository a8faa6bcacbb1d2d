"""A scope's month on PostgreSQL: expired leases charged, the month and the router's reads.

The steps several of :class:`~tta_dev_integrations.llm.budget.postgres.PostgresLedger`'s
transactions share, each run on a connection inside the caller's transaction: charging
leases that ended (before a reservation, a summary or a sweep), reading a month, and
what the router reads before a call (the month, the models' recent days, the models a
workflow tried), so that all of it is one transaction on one connection.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import TupleRow

from tta_dev_integrations.llm.budget.base import expired_charges
from tta_dev_integrations.llm.budget.core import (
    MOVE_MONEY,
    STORED_LIMIT,
    SUMMARY,
    TRIED_MODELS,
    pyformat,
)
from tta_dev_integrations.llm.budget.ledger import SpendSummary

__all__ = [
    "NOW",
    "charge_expired",
    "model_days",
    "summary",
    "summary_now",
    "tried_models",
]

Connection = psycopg.AsyncConnection[TupleRow]

NOW = "COALESCE(CAST(%(now)s AS TIMESTAMPTZ), now())"
"""The caller's time when a test moves it, else the database's clock."""

_MOVE_MONEY = pyformat(MOVE_MONEY)
_SUMMARY = pyformat(SUMMARY)
_STORED_LIMIT = pyformat(STORED_LIMIT)
_TRIED_MODELS = pyformat(TRIED_MODELS)

# SKIP LOCKED: an entry another transaction is settling (or charging) is left to it.
_CHARGE_EXPIRED = f"""UPDATE tta_entries SET state = 'settled', actual_micros = reserved_micros,
        measured = FALSE, unconfirmed = TRUE, settled_at = {NOW}
    WHERE request_id IN (
        SELECT request_id FROM tta_entries
        WHERE state = 'reserved' AND lease_expires_at < {NOW}
          AND (CAST(%(scope)s AS TEXT) IS NULL OR scope = %(scope)s)
        ORDER BY request_id FOR UPDATE SKIP LOCKED)
      AND state = 'reserved'
    RETURNING scope, month, reserved_micros"""

_ANY_EXPIRED = f"""SELECT 1 FROM tta_entries
    WHERE state = 'reserved' AND lease_expires_at < {NOW} AND scope = %(scope)s LIMIT 1"""

_MODEL_DAYS = """SELECT model, SUM(calls), SUM(errors), SUM(judged), SUM(judged_score_sum),
        SUM(latency_sum), SUM(latency_count)
    FROM tta_model_days
    WHERE model = ANY(%s) AND (CAST(%s AS TEXT) IS NULL OR tier = %s) AND day >= %s
    GROUP BY model"""


async def charge_expired(conn: Connection, now: datetime | None, scope: str | None) -> int:
    """Charge expired reservations (of ``scope``, or all), unconfirmed, and fix budgets."""
    cursor = await conn.execute(_CHARGE_EXPIRED, {"now": now, "scope": scope})
    charged = await cursor.fetchall()
    for entry_scope, month, delta in expired_charges(charged):
        await conn.execute(_MOVE_MONEY, delta.params(entry_scope, month))
    return len(charged)


async def summary(conn: Connection, scope: str, month: str) -> SpendSummary:
    """The scope's month as it stands (a month never used: nothing spent yet)."""
    cursor = await conn.execute(_SUMMARY, {"scope": scope, "month": month})
    row = await cursor.fetchone()
    if row is None:
        cursor = await conn.execute(_STORED_LIMIT, {"scope": scope})
        stored = await cursor.fetchone()
        return SpendSummary(scope, month, stored[0] if stored else None, 0, 0)
    spent, reserved, estimated, unconfirmed, limit = row
    return SpendSummary(scope, month, limit, spent, reserved, estimated, unconfirmed)


async def summary_now(
    conn: Connection, scope: str, month: str, now: datetime | None
) -> SpendSummary:
    """The scope's month after charging its leases that ended (looked up by index)."""
    cursor = await conn.execute(_ANY_EXPIRED, {"now": now, "scope": scope})
    if await cursor.fetchone() is not None:
        await charge_expired(conn, now, scope)
    return await summary(conn, scope, month)


async def model_days(
    conn: Connection, models: list[str], tier: str | None, since_day: int
) -> list[tuple[Any, ...]]:
    """Per model (on ``tier``, or all tiers): its days from ``since_day`` on, summed."""
    cursor = await conn.execute(_MODEL_DAYS, (models, tier, tier, since_day))
    return await cursor.fetchall()


async def tried_models(conn: Connection, correlation_id: str, since: datetime) -> list[str]:
    """The models called under ``correlation_id`` since ``since``."""
    params = {"correlation_id": correlation_id, "since": since}
    cursor = await conn.execute(_TRIED_MODELS, params)
    return [row[0] for row in await cursor.fetchall()]
