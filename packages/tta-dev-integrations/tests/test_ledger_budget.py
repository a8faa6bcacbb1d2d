"""The monthly limit on the paths around the ledger's core, on SQLite and PostgreSQL.

Limits are owned and audited, a caller's cap holds inside the guarded statement, money
that moved is recorded whatever happens to the caller (cancellation in ``reserve`` and
in ``settle``), leases are renewed and timed by the database, estimates and unconfirmed
charges are kept apart, and an alert is claimed once.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

import postgres_for_tests
import test_ledger
from test_ledger import MONTH, T0, Backend, reserve
from tta_dev_integrations.llm.budget import base as ledger_base
from tta_dev_integrations.llm.budget import postgres as postgres_ledger
from tta_dev_integrations.llm.budget.core import MAX_MICROS
from tta_dev_integrations.llm.budget.ledger import BudgetExceededError, Ledger
from tta_dev_integrations.llm.budget.migrations import MIGRATIONS, NewerSchemaError
from tta_dev_integrations.llm.budget.postgres import PostgresLedger
from tta_dev_integrations.llm.budget.sqlite import SQLiteLedger

# The backends and their fixtures are test_ledger's: every test here runs on both.
postgres_database = test_ledger.postgres_database
backend = test_ledger.backend
ledger = test_ledger.ledger

# -- who owns a limit ----------------------------------------------------------------------


async def test_a_stored_limit_changes_only_by_set_limit_and_every_change_is_audited(
    ledger: Ledger,
) -> None:
    first = await ledger.set_limit("team", 5_000, actor="ops@host", reason="Q4 budget")
    assert (first.old_micros, first.new_micros, first.actor) == (None, 5_000, "ops@host")
    await ledger.set_limit("team", 2_000, reason="cut")
    await ledger.set_limit("other", 9)
    changes = await ledger.limit_changes("team")
    assert [(c.old_micros, c.new_micros, c.reason) for c in changes] == [
        (None, 5_000, "Q4 budget"),
        (5_000, 2_000, "cut"),
    ]
    assert "@" in changes[1].actor  # the default actor names user and host
    assert len(await ledger.limit_changes()) == 3
    # Reserving with or without a cap of one's own never touches the stored limit.
    await reserve(ledger, "r1", 100)
    await ledger.reserve(
        request_id="r2", scope="team", month=MONTH, amount_micros=100, model="m",
        provider="p", cap_micros=50_000, now=T0,
    )  # fmt: skip
    summary = await ledger.summary("team", MONTH, now=T0)
    assert summary.limit_micros == 2_000
    assert len(await ledger.limit_changes("team")) == 2


async def test_the_smaller_of_the_stored_limit_and_the_callers_cap_holds(ledger: Ledger) -> None:
    async def take(request_id: str, amount: int, cap: int | None) -> None:
        await ledger.reserve(
            request_id=request_id, scope="team", month=MONTH, amount_micros=amount,
            model="m", provider="p", cap_micros=cap, now=T0,
        )  # fmt: skip

    await take("a", 600, cap=1_000)  # no stored limit yet: the cap alone
    with pytest.raises(BudgetExceededError) as refused:
        await take("b", 500, cap=1_000)
    assert refused.value.remaining_micros == 400
    await ledger.set_limit("team", 800)
    with pytest.raises(BudgetExceededError) as refused:
        await take("c", 300, cap=1_000)  # the stored 800 is the smaller
    assert refused.value.remaining_micros == 200
    await take("d", 200, cap=None)  # no cap of its own: the stored limit still holds
    with pytest.raises(BudgetExceededError):
        await take("e", 1, cap=None)


async def test_a_first_reservation_of_the_month_is_guarded_too(ledger: Ledger) -> None:
    # The budget row of a new month used to be created holding the amount, unchecked.
    with pytest.raises(BudgetExceededError):
        await ledger.reserve(
            request_id="big", scope="fresh", month=MONTH, amount_micros=2_000, model="m",
            provider="p", cap_micros=1_000, now=T0,
        )  # fmt: skip
    await ledger.set_limit("stored", 10)
    with pytest.raises(BudgetExceededError):
        await reserve(ledger, "big2", 11, scope="stored")
    assert (await ledger.summary("fresh", MONTH, now=T0)).reserved_micros == 0
    assert await ledger.entries("fresh", MONTH) == []


async def test_eight_callers_sharing_a_cap_spend_at_most_the_cap_together(
    backend: Backend,
) -> None:
    ledgers = [backend.open() for _ in range(8)]

    async def worker(n: int, opened: Ledger) -> int:
        taken = 0
        for i in range(10):
            try:
                await opened.reserve(
                    request_id=f"w{n}-{i}", scope="shared", month=MONTH, amount_micros=700,
                    model="m", provider="p", cap_micros=20_000, now=T0,
                )  # fmt: skip
            except BudgetExceededError:
                continue
            await opened.settle(f"w{n}-{i}", 700)
            taken += 700
        return taken

    try:
        spent = await asyncio.gather(*(worker(n, x) for n, x in enumerate(ledgers)))
        summary = await ledgers[0].summary("shared", MONTH, now=T0)
    finally:
        for opened in ledgers:
            await opened.close()
    assert sum(spent) == summary.spent_micros <= 20_000
    assert summary.spent_micros == 20_000 - 20_000 % 700


@pytest.mark.parametrize("bad", [True, False, "5", 1.5, [1], -1, MAX_MICROS + 1])
async def test_bad_amounts_are_refused_naming_the_field(ledger: Ledger, bad: object) -> None:
    with pytest.raises(ValueError, match="limit_micros"):
        await ledger.set_limit("team", bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="cap_micros"):
        await ledger.reserve(
            request_id="x", scope="team", month=MONTH, amount_micros=1, model="m",
            provider="p", cap_micros=bad,  # type: ignore[arg-type]
        )  # fmt: skip
    with pytest.raises(ValueError, match="amount_micros"):
        await reserve(ledger, "y", bad)  # type: ignore[arg-type]
    assert await ledger.limit_changes() == []


# -- money that moved is recorded, whatever happens to the caller ---------------------------


async def test_a_settlement_completes_when_its_caller_is_cancelled(backend: Backend) -> None:
    opened = backend.open()
    try:
        await reserve(opened, "served", 500)
        blocker = _hold_the_entry(backend, "served")
        settling = asyncio.create_task(opened.settle("served", 420))
        await asyncio.sleep(0.3)  # the settlement now waits for the entry's lock
        settling.cancel()
        # The other session lets go a little later, while the cancelled caller waits.
        asyncio.get_running_loop().call_later(0.5, blocker.close)
        with pytest.raises(asyncio.CancelledError):
            await settling
        summary = await opened.summary("team", MONTH, now=T0)
        assert (summary.spent_micros, summary.reserved_micros) == (420, 0)
    finally:
        await opened.close()


async def test_a_reservation_whose_caller_was_cancelled_is_given_back(backend: Backend) -> None:
    opened = backend.open()
    try:
        await reserve(opened, "warm-up", 1)  # migrations done, connections open
        blocker = _hold_the_budget(backend)
        reserving = asyncio.create_task(reserve(opened, "abandoned", 700))
        await asyncio.sleep(0.3)  # waiting for the write lock / the budget row
        reserving.cancel()
        asyncio.get_running_loop().call_later(0.5, blocker.close)
        with pytest.raises(asyncio.CancelledError):
            await reserving
        entries = {e.request_id: e.state for e in await opened.entries("team", MONTH)}
        summary = await opened.summary("team", MONTH, now=T0)
        assert summary.reserved_micros == 1
        assert entries.get("abandoned", "released") == "released"
    finally:
        await opened.close()


class _Held:
    def __init__(self, close: Callable[[], object]) -> None:
        self.close = close


def _hold_the_entry(backend: Backend, request_id: str) -> _Held:
    """Another session holding the entry's row (PostgreSQL) or the write lock (SQLite)."""
    if backend.name == "sqlite":
        return _hold_sqlite(backend.target)
    conn = psycopg.connect(backend.target)
    conn.execute("SELECT 1 FROM tta_entries WHERE request_id = %s FOR UPDATE", (request_id,))
    return _Held(lambda: (conn.rollback(), conn.close()))


def _hold_the_budget(backend: Backend) -> _Held:
    if backend.name == "sqlite":
        return _hold_sqlite(backend.target)
    conn = psycopg.connect(backend.target)
    conn.execute("SELECT 1 FROM tta_budgets WHERE scope = 'team' FOR UPDATE")
    return _Held(lambda: (conn.rollback(), conn.close()))


def _hold_sqlite(path: str) -> _Held:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    return _Held(lambda: (conn.execute("ROLLBACK"), conn.close()))


# -- leases -------------------------------------------------------------------------------


async def test_a_renewed_lease_is_not_charged_and_a_closed_one_is_not_renewed(
    ledger: Ledger,
) -> None:
    await reserve(ledger, "long", 300, now=T0, lease_s=60)
    assert await ledger.renew("long", 600, now=T0 + timedelta(seconds=50))
    assert await ledger.reclaim_expired(now=T0 + timedelta(seconds=120)) == 0
    summary = await ledger.summary("team", MONTH, now=T0 + timedelta(seconds=120))
    assert (summary.reserved_micros, summary.spent_micros) == (300, 0)
    await ledger.settle("long", 250)
    assert not await ledger.renew("long", 600)


async def test_a_summary_charges_dead_reservations_so_they_never_block_forever(
    ledger: Ledger,
) -> None:
    await ledger.set_limit("team", 1_000)
    await reserve(ledger, "dead", 900, now=T0, lease_s=10)
    later = T0 + timedelta(seconds=30)
    summary = await ledger.summary("team", MONTH, now=later)
    assert (summary.reserved_micros, summary.unconfirmed_micros) == (0, 900)
    assert summary.remaining_micros == 100


@pytest.mark.needs("postgresql")
async def test_postgres_leases_follow_the_database_clock_not_the_workers(
    postgres_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # (SQLite has no server clock: its leases use the machine's.)
    with postgres_for_tests.schema(postgres_database) as url:
        await _leases_follow_the_database_clock(PostgresLedger(url), monkeypatch)


async def _leases_follow_the_database_clock(
    opened: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    try:
        await opened.reserve(
            request_id="live", scope="team", month=MONTH, amount_micros=500, model="m",
            provider="p", lease_s=60,
        )  # fmt: skip

        class _Ahead(datetime):
            @classmethod
            def now(cls, tz: object = None) -> _Ahead:  # type: ignore[override]
                return cls.fromtimestamp(datetime.now(UTC).timestamp() + 3_600, UTC)

        # This worker's clock runs an hour ahead: it must not see the live lease as ended.
        monkeypatch.setattr(ledger_base, "datetime", _Ahead)
        monkeypatch.setattr(postgres_ledger, "datetime", _Ahead)
        assert await opened.reclaim_expired() == 0
        await opened.summary("team", MONTH)
        [entry] = await opened.entries("team", MONTH)
        assert (entry.state, entry.actual_micros) == ("reserved", 0)
    finally:
        await opened.close()


# -- honest figures ------------------------------------------------------------------------


async def test_estimates_and_corrections_are_kept_apart_from_measured_money(
    ledger: Ledger,
) -> None:
    await reserve(ledger, "measured", 500)
    await reserve(ledger, "estimated", 500)
    await reserve(ledger, "dead", 500, lease_s=1)
    await ledger.settle("measured", 100)
    await ledger.settle("estimated", 200, measured=False)
    await ledger.reclaim_expired(now=T0 + timedelta(seconds=5))
    summary = await ledger.summary("team", MONTH, now=T0)
    assert (summary.spent_micros, summary.measured_micros) == (800, 100)
    assert (summary.estimated_micros, summary.unconfirmed_micros) == (200, 500)
    with pytest.raises(ValueError, match="reason"):
        await ledger.correct("dead", 50, reason=" ")
    await ledger.correct("dead", 50, reason="invoice 2026-11 line 4", actor="ops")
    await ledger.correct("estimated", 180, reason="provider dashboard")
    summary = await ledger.summary("team", MONTH, now=T0)
    assert (summary.spent_micros, summary.measured_micros) == (330, 330)
    assert (summary.estimated_micros, summary.unconfirmed_micros) == (0, 0)
    entries = {e.request_id: e for e in await ledger.entries("team", MONTH)}
    assert entries["dead"].actual_micros == 50
    assert not entries["dead"].unconfirmed
    with pytest.raises(ValueError, match="settled"):
        await ledger.correct("nope", 1, reason="x")


async def test_each_threshold_is_claimed_once_however_many_callers_cross_it(
    backend: Backend,
) -> None:
    ledgers = [backend.open() for _ in range(6)]
    try:
        claims = await asyncio.gather(
            *(x.claim_alert("team", MONTH, 0.8, 8_000) for x in ledgers for _ in range(3))
        )
        assert claims.count(True) == 1
        assert await ledgers[0].claim_alert("team", MONTH, 1.0, 10_000)
        assert await ledgers[1].claim_alert("team", "2026-12", 0.8, 8_000)
    finally:
        for opened in ledgers:
            await opened.close()


async def test_scopes_lists_every_known_scope(ledger: Ledger) -> None:
    assert list(await ledger.scopes()) == []
    await ledger.set_limit("zeta", 5)
    await reserve(ledger, "r", 1, scope="alpha")
    assert list(await ledger.scopes()) == ["alpha", "zeta"]


# -- schema ----------------------------------------------------------------------------------


async def test_a_ledger_migrated_by_a_newer_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    opened = SQLiteLedger(path)
    await opened.migrate()
    await opened.close()
    with sqlite3.connect(path) as conn:
        conn.execute(
            "INSERT INTO tta_migrations (position, name, applied_at) VALUES (99, '0099_future', 0)"
        )
    again = SQLiteLedger(path)
    with pytest.raises(NewerSchemaError) as refused:
        await again.summary("team", MONTH)
    assert "0099_future" in str(refused.value)
    assert MIGRATIONS[-1].name in str(refused.value)
    assert "upgrade" in str(refused.value)
    await again.close()


# -- what the router learns from -------------------------------------------------------------


async def test_routing_evidence_is_per_tier_judged_apart_and_windowed(ledger: Ledger) -> None:
    async def paid(request_id: str, tier: str, *, ok: bool, latency: float) -> None:
        await ledger.reserve(
            request_id=request_id, scope="team", month=MONTH, amount_micros=100,
            model="paid-x", provider="p", tier=tier, now=T0,
        )  # fmt: skip
        await ledger.settle(request_id, 10, ok=ok, latency_s=latency)

    await paid("h1", "high", ok=True, latency=1.0)
    await paid("h2", "high", ok=False, latency=3.0)
    await paid("l1", "low", ok=True, latency=0.5)
    await ledger.reserve(
        request_id="refused", scope="team", month=MONTH, amount_micros=100, model="paid-x",
        provider="p", tier="high", now=T0,
    )  # fmt: skip
    await ledger.release("refused", failed=True)  # the provider failed it: an error
    await ledger.record_free(
        request_id="f1", scope="team", month=MONTH, model="free-y", provider="local",
        ok=True, tier="high",
    )  # fmt: skip
    await ledger.record_free(  # replayed after an outage: counted once
        request_id="f1", scope="team", month=MONTH, model="free-y", provider="local",
        ok=True, tier="high",
    )  # fmt: skip
    await ledger.record_feedback("h1", 0.75)
    await ledger.record_feedback("h2", True)
    await ledger.record_feedback("h2", 0.25)  # a new verdict replaces the old one
    with pytest.raises(ValueError, match="score"):
        await ledger.record_feedback("h1", 1.5)
    with pytest.raises(ValueError, match="ledger entry"):
        await ledger.record_feedback("open-or-unknown", True)
    high = await ledger.routing_evidence(["paid-x", "free-y", "never"], "high")
    assert set(high) == {"paid-x", "free-y"}
    x = high["paid-x"]
    assert (x.calls, x.errors, x.judged) == (3, 2, 2)
    assert x.judged_score_sum == pytest.approx(1.0)
    assert x.mean_latency_s == pytest.approx(2.0)
    assert (high["free-y"].calls, high["free-y"].judged) == (1, 0)
    low = await ledger.routing_evidence(["paid-x"], "low")
    assert (low["paid-x"].calls, low["paid-x"].errors) == (1, 0)
    later = datetime.now(UTC) + timedelta(days=31)
    assert await ledger.routing_evidence(["paid-x"], "high", now=later) == {}
