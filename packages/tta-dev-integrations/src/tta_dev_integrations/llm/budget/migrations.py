"""The ledger's schema as named, ordered migrations, recorded in ``tta_migrations``.

Each :class:`Migration` holds the statements of both dialects. A database records the
name of every migration applied to it; :func:`apply_sqlite` and :func:`apply_postgres`
apply the missing ones, in order, in one transaction that first takes the database's
write lock (SQLite: ``BEGIN IMMEDIATE``; PostgreSQL: ``pg_advisory_xact_lock``), so any
number of processes may migrate at once: the first applies, the others then find
everything recorded. Never edit a released migration: append a new one.

Tables: ``tta_budgets`` (one row per scope and month), ``tta_entries`` (one row per
call), ``tta_quota_counters`` (free tiers' minute and day windows), ``tta_limits`` (each
scope's stored monthly limit), ``tta_audit`` (who changed a limit or corrected a cost,
when, from what to what, and why), ``tta_alerts`` (budget thresholds crossed, one
row each, so one process alerts) and ``tta_model_days`` (each model's calls, errors,
judged answers and latency per tier and UTC day, kept up to date in the transaction that
records each call, so the router reads a bounded number of rows whatever the ledger's
size). A database that records a migration this code does not know was migrated by a
newer TTA.dev: it is refused, never used half-understood. Money is integer
micro-dollars. SQLite keeps times as UTC epoch seconds (``REAL``), PostgreSQL as
``timestamptz``.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from psycopg import AsyncConnection

__all__ = [
    "MIGRATIONS",
    "POSTGRES_LOCK_KEY",
    "Migration",
    "NewerSchemaError",
    "apply_postgres",
    "apply_sqlite",
]

#: The ``pg_advisory_xact_lock`` key that serializes migrations ("ttamigr" in ASCII).
POSTGRES_LOCK_KEY = 0x7474616D696772


class NewerSchemaError(RuntimeError):
    """The database was migrated by a newer TTA.dev than this one."""

    def __init__(self, unknown: list[str]) -> None:
        self.unknown = unknown
        super().__init__(
            f"the spend ledger's schema is newer than this TTA.dev: the database records "
            f"migration(s) {', '.join(unknown)}, and this version knows up to "
            f"{MIGRATIONS[-1].name}; upgrade tta-dev-integrations on this machine "
            "(every process sharing a ledger must run the same or a newer version)"
        )


def _check_known(done: set[str]) -> None:
    known = {m.name for m in MIGRATIONS}
    unknown = sorted(done - known)
    if unknown:
        raise NewerSchemaError(unknown)


@dataclass(frozen=True, slots=True)
class Migration:
    """One named schema change, as statements for each dialect."""

    name: str
    sqlite: tuple[str, ...]
    postgres: tuple[str, ...]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        "0001_budgets",
        sqlite=(
            """CREATE TABLE tta_budgets (
                scope TEXT NOT NULL,
                month TEXT NOT NULL,
                limit_micros INTEGER CHECK (limit_micros IS NULL OR limit_micros >= 0),
                spent_micros INTEGER NOT NULL DEFAULT 0 CHECK (spent_micros >= 0),
                reserved_micros INTEGER NOT NULL DEFAULT 0 CHECK (reserved_micros >= 0),
                PRIMARY KEY (scope, month)
            )""",
        ),
        postgres=(
            """CREATE TABLE tta_budgets (
                scope TEXT NOT NULL,
                month TEXT NOT NULL,
                limit_micros BIGINT CHECK (limit_micros IS NULL OR limit_micros >= 0),
                spent_micros BIGINT NOT NULL DEFAULT 0 CHECK (spent_micros >= 0),
                reserved_micros BIGINT NOT NULL DEFAULT 0 CHECK (reserved_micros >= 0),
                PRIMARY KEY (scope, month)
            )""",
        ),
    ),
    Migration(
        "0002_entries",
        sqlite=(
            """CREATE TABLE tta_entries (
                request_id TEXT PRIMARY KEY,
                scope TEXT NOT NULL,
                month TEXT NOT NULL,
                model TEXT NOT NULL,
                provider TEXT NOT NULL,
                coder TEXT NOT NULL DEFAULT 'none',
                profile TEXT NOT NULL DEFAULT '',
                correlation_id TEXT NOT NULL DEFAULT '',
                state TEXT NOT NULL
                    CHECK (state IN ('reserved', 'settled', 'released', 'free')),
                reserved_micros INTEGER NOT NULL DEFAULT 0 CHECK (reserved_micros >= 0),
                actual_micros INTEGER NOT NULL DEFAULT 0 CHECK (actual_micros >= 0),
                lease_expires_at REAL,
                justification TEXT,
                justification_verified INTEGER CHECK (justification_verified IN (0, 1)),
                ok INTEGER CHECK (ok IN (0, 1)),
                feedback_ok INTEGER CHECK (feedback_ok IN (0, 1)),
                latency_s REAL,
                input_tokens INTEGER NOT NULL DEFAULT 0,
                output_tokens INTEGER NOT NULL DEFAULT 0,
                created_at REAL NOT NULL,
                settled_at REAL
            )""",
            # entries(scope, month), oldest first
            "CREATE INDEX tta_entries_by_scope_month ON tta_entries (scope, month, created_at)",
            # tried_models(correlation_id, since)
            "CREATE INDEX tta_entries_by_correlation ON tta_entries (correlation_id, created_at)",
            # reclaim_expired: only open reservations are indexed, so the index stays small
            """CREATE INDEX tta_entries_reserved_by_lease ON tta_entries (lease_expires_at)
                WHERE state = 'reserved'""",
            # model_stats(models)
            "CREATE INDEX tta_entries_by_model ON tta_entries (model)",
        ),
        postgres=(
            """CREATE TABLE tta_entries (
                request_id TEXT PRIMARY KEY,
                scope TEXT NOT NULL,
                month TEXT NOT NULL,
                model TEXT NOT NULL,
                provider TEXT NOT NULL,
                coder TEXT NOT NULL DEFAULT 'none',
                profile TEXT NOT NULL DEFAULT '',
                correlation_id TEXT NOT NULL DEFAULT '',
                state TEXT NOT NULL
                    CHECK (state IN ('reserved', 'settled', 'released', 'free')),
                reserved_micros BIGINT NOT NULL DEFAULT 0 CHECK (reserved_micros >= 0),
                actual_micros BIGINT NOT NULL DEFAULT 0 CHECK (actual_micros >= 0),
                lease_expires_at TIMESTAMPTZ,
                justification JSONB,
                justification_verified BOOLEAN,
                ok BOOLEAN,
                feedback_ok BOOLEAN,
                latency_s DOUBLE PRECISION,
                input_tokens BIGINT NOT NULL DEFAULT 0,
                output_tokens BIGINT NOT NULL DEFAULT 0,
                created_at TIMESTAMPTZ NOT NULL,
                settled_at TIMESTAMPTZ
            )""",
            "CREATE INDEX tta_entries_by_scope_month ON tta_entries (scope, month, created_at)",
            "CREATE INDEX tta_entries_by_correlation ON tta_entries (correlation_id, created_at)",
            """CREATE INDEX tta_entries_reserved_by_lease ON tta_entries (lease_expires_at)
                WHERE state = 'reserved'""",
            "CREATE INDEX tta_entries_by_model ON tta_entries (model)",
        ),
    ),
    Migration(
        "0003_quota_counters",
        sqlite=(
            """CREATE TABLE tta_quota_counters (
                model TEXT NOT NULL,
                window_kind TEXT NOT NULL CHECK (window_kind IN ('minute', 'day')),
                window_start REAL NOT NULL,
                count INTEGER NOT NULL CHECK (count >= 0),
                PRIMARY KEY (model, window_kind, window_start)
            )""",
        ),
        postgres=(
            """CREATE TABLE tta_quota_counters (
                model TEXT NOT NULL,
                window_kind TEXT NOT NULL CHECK (window_kind IN ('minute', 'day')),
                window_start TIMESTAMPTZ NOT NULL,
                count BIGINT NOT NULL CHECK (count >= 0),
                PRIMARY KEY (model, window_kind, window_start)
            )""",
        ),
    ),
    Migration(
        "0004_limit_ownership",
        sqlite=(
            """CREATE TABLE tta_limits (
                scope TEXT PRIMARY KEY,
                limit_micros INTEGER CHECK (limit_micros IS NULL OR limit_micros >= 0),
                set_by TEXT NOT NULL,
                set_at REAL NOT NULL,
                reason TEXT NOT NULL DEFAULT ''
            )""",
            """CREATE TABLE tta_audit (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                at REAL NOT NULL,
                actor TEXT NOT NULL,
                action TEXT NOT NULL CHECK (action IN ('limit', 'correct')),
                scope TEXT NOT NULL,
                request_id TEXT,
                old_micros INTEGER,
                new_micros INTEGER,
                reason TEXT NOT NULL DEFAULT ''
            )""",
            "CREATE INDEX tta_audit_by_scope ON tta_audit (scope, id)",
            """CREATE TABLE tta_alerts (
                scope TEXT NOT NULL,
                month TEXT NOT NULL,
                threshold REAL NOT NULL,
                spent_micros INTEGER NOT NULL,
                fired_at REAL NOT NULL,
                PRIMARY KEY (scope, month, threshold)
            )""",
            "ALTER TABLE tta_entries ADD COLUMN measured INTEGER NOT NULL DEFAULT 1"
            " CHECK (measured IN (0, 1))",
            "ALTER TABLE tta_entries ADD COLUMN unconfirmed INTEGER NOT NULL DEFAULT 0"
            " CHECK (unconfirmed IN (0, 1))",
            "ALTER TABLE tta_entries ADD COLUMN tier TEXT NOT NULL DEFAULT ''",
            "ALTER TABLE tta_entries ADD COLUMN feedback_score REAL"
            " CHECK (feedback_score IS NULL OR (feedback_score >= 0 AND feedback_score <= 1))",
            "ALTER TABLE tta_budgets ADD COLUMN estimated_micros INTEGER NOT NULL DEFAULT 0",
            "ALTER TABLE tta_budgets ADD COLUMN unconfirmed_micros INTEGER NOT NULL DEFAULT 0",
            # Limits used to be written per month by whichever process ran last; the
            # newest month's limit of each scope becomes its stored limit.
            """INSERT INTO tta_limits (scope, limit_micros, set_by, set_at, reason)
                SELECT scope, limit_micros, 'migration 0004',
                    CAST(strftime('%s', 'now') AS REAL), 'kept from ' || month
                FROM tta_budgets b
                WHERE limit_micros IS NOT NULL
                  AND month = (SELECT MAX(month) FROM tta_budgets WHERE scope = b.scope)""",
        ),
        postgres=(
            """CREATE TABLE tta_limits (
                scope TEXT PRIMARY KEY,
                limit_micros BIGINT CHECK (limit_micros IS NULL OR limit_micros >= 0),
                set_by TEXT NOT NULL,
                set_at TIMESTAMPTZ NOT NULL,
                reason TEXT NOT NULL DEFAULT ''
            )""",
            """CREATE TABLE tta_audit (
                id BIGSERIAL PRIMARY KEY,
                at TIMESTAMPTZ NOT NULL,
                actor TEXT NOT NULL,
                action TEXT NOT NULL CHECK (action IN ('limit', 'correct')),
                scope TEXT NOT NULL,
                request_id TEXT,
                old_micros BIGINT,
                new_micros BIGINT,
                reason TEXT NOT NULL DEFAULT ''
            )""",
            "CREATE INDEX tta_audit_by_scope ON tta_audit (scope, id)",
            """CREATE TABLE tta_alerts (
                scope TEXT NOT NULL,
                month TEXT NOT NULL,
                threshold DOUBLE PRECISION NOT NULL,
                spent_micros BIGINT NOT NULL,
                fired_at TIMESTAMPTZ NOT NULL,
                PRIMARY KEY (scope, month, threshold)
            )""",
            "ALTER TABLE tta_entries ADD COLUMN measured BOOLEAN NOT NULL DEFAULT TRUE",
            "ALTER TABLE tta_entries ADD COLUMN unconfirmed BOOLEAN NOT NULL DEFAULT FALSE",
            "ALTER TABLE tta_entries ADD COLUMN tier TEXT NOT NULL DEFAULT ''",
            "ALTER TABLE tta_entries ADD COLUMN feedback_score DOUBLE PRECISION"
            " CHECK (feedback_score IS NULL OR (feedback_score >= 0 AND feedback_score <= 1))",
            "ALTER TABLE tta_budgets ADD COLUMN estimated_micros BIGINT NOT NULL DEFAULT 0",
            "ALTER TABLE tta_budgets ADD COLUMN unconfirmed_micros BIGINT NOT NULL DEFAULT 0",
            """INSERT INTO tta_limits (scope, limit_micros, set_by, set_at, reason)
                SELECT DISTINCT ON (scope) scope, limit_micros, 'migration 0004', now(),
                    'kept from ' || month
                FROM tta_budgets WHERE limit_micros IS NOT NULL
                ORDER BY scope, month DESC""",
        ),
    ),
    Migration(
        "0005_model_days",
        sqlite=(
            """CREATE TABLE tta_model_days (
                model TEXT NOT NULL,
                tier TEXT NOT NULL,
                day INTEGER NOT NULL,
                calls INTEGER NOT NULL DEFAULT 0,
                errors INTEGER NOT NULL DEFAULT 0,
                judged INTEGER NOT NULL DEFAULT 0,
                judged_score_sum REAL NOT NULL DEFAULT 0,
                latency_sum REAL NOT NULL DEFAULT 0,
                latency_count INTEGER NOT NULL DEFAULT 0,
                PRIMARY KEY (tier, model, day)
            )""",
            """INSERT INTO tta_model_days (model, tier, day, calls, errors, judged,
                    judged_score_sum, latency_sum, latency_count)
                SELECT model, tier, CAST(created_at / 86400 AS INTEGER), COUNT(*),
                    SUM(CASE WHEN ok THEN 0 ELSE 1 END), COUNT(feedback_ok),
                    COALESCE(SUM(feedback_ok), 0), COALESCE(SUM(latency_s), 0),
                    COUNT(latency_s)
                FROM tta_entries
                WHERE state IN ('settled', 'free') AND ok IS NOT NULL
                GROUP BY model, tier, CAST(created_at / 86400 AS INTEGER)""",
        ),
        postgres=(
            """CREATE TABLE tta_model_days (
                model TEXT NOT NULL,
                tier TEXT NOT NULL,
                day INTEGER NOT NULL,
                calls BIGINT NOT NULL DEFAULT 0,
                errors BIGINT NOT NULL DEFAULT 0,
                judged BIGINT NOT NULL DEFAULT 0,
                judged_score_sum DOUBLE PRECISION NOT NULL DEFAULT 0,
                latency_sum DOUBLE PRECISION NOT NULL DEFAULT 0,
                latency_count BIGINT NOT NULL DEFAULT 0,
                PRIMARY KEY (tier, model, day)
            )""",
            """INSERT INTO tta_model_days (model, tier, day, calls, errors, judged,
                    judged_score_sum, latency_sum, latency_count)
                SELECT model, tier,
                    CAST(floor(extract(epoch FROM created_at) / 86400) AS INTEGER),
                    COUNT(*), COUNT(*) FILTER (WHERE NOT ok), COUNT(feedback_ok),
                    COUNT(*) FILTER (WHERE feedback_ok), COALESCE(SUM(latency_s), 0),
                    COUNT(latency_s)
                FROM tta_entries
                WHERE state IN ('settled', 'free') AND ok IS NOT NULL
                GROUP BY 1, 2, 3""",
        ),
    ),
    Migration(
        "0006_open_reservations_by_scope",
        # A scope's expired leases are looked for on every summary and reservation: by
        # scope among the open reservations only, so the look stays as cheap at 100,000
        # settled entries as at none (SQLite otherwise walked the scope's whole history).
        # Statistics read tta_model_days now: the entries' index by model only cost writes.
        sqlite=(
            """CREATE INDEX tta_entries_open_by_scope ON tta_entries (scope, lease_expires_at)
                WHERE state = 'reserved'""",
            "DROP INDEX tta_entries_by_model",
        ),
        postgres=(
            """CREATE INDEX tta_entries_open_by_scope ON tta_entries (scope, lease_expires_at)
                WHERE state = 'reserved'""",
            "DROP INDEX tta_entries_by_model",
        ),
    ),
)

_SQLITE_TABLE = """CREATE TABLE IF NOT EXISTS tta_migrations (
    position INTEGER NOT NULL,
    name TEXT PRIMARY KEY,
    applied_at REAL NOT NULL
)"""

_POSTGRES_TABLE = """CREATE TABLE IF NOT EXISTS tta_migrations (
    position INTEGER NOT NULL,
    name TEXT PRIMARY KEY,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
)"""


def apply_sqlite(conn: sqlite3.Connection) -> list[str]:
    """Apply the pending migrations to ``conn`` (opened with ``isolation_level=None``).

    Returns the names applied now (empty when the database was up to date).
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(_SQLITE_TABLE)
        done = {row[0] for row in conn.execute("SELECT name FROM tta_migrations")}
        _check_known(done)
        applied: list[str] = []
        for position, migration in enumerate(MIGRATIONS, start=1):
            if migration.name in done:
                continue
            for statement in migration.sqlite:
                conn.execute(statement)
            conn.execute(
                "INSERT INTO tta_migrations (position, name, applied_at) VALUES (?, ?, ?)",
                (position, migration.name, time.time()),
            )
            applied.append(migration.name)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return applied


async def apply_postgres(conn: AsyncConnection[Any]) -> list[str]:
    """Apply the pending migrations over ``conn`` (an autocommit connection).

    Returns the names applied now (empty when the database was up to date).
    """
    applied: list[str] = []
    async with conn.transaction():
        # Held until the transaction ends; CREATE TABLE IF NOT EXISTS alone is not safe
        # from two sessions at once (both may pass the check, one fails on pg_type).
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (POSTGRES_LOCK_KEY,))
        await conn.execute(_POSTGRES_TABLE)
        cursor = await conn.execute("SELECT name FROM tta_migrations")
        done = {row[0] for row in await cursor.fetchall()}
        _check_known(done)
        for position, migration in enumerate(MIGRATIONS, start=1):
            if migration.name in done:
                continue
            for statement in migration.postgres:
                await conn.execute(statement)
            await conn.execute(
                "INSERT INTO tta_migrations (position, name) VALUES (%s, %s)",
                (position, migration.name),
            )
            applied.append(migration.name)
    return applied
