"""What a routed call reads from the ledger, in as few round trips as possible.

``preflight`` must answer exactly what ``summary``, ``routing_evidence`` and
``tried_models`` answer one by one (expired leases charged first, as a summary does),
with one trip to the database; ``settle`` returns the month as it left it, so nothing
is read after a call. On both backends.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import postgres_for_tests
from ledger_for_tests import count_trips
from tta_dev_integrations.llm.budget.base import LedgerBase
from tta_dev_integrations.llm.budget.postgres import PostgresLedger
from tta_dev_integrations.llm.budget.sqlite import SQLiteLedger

SCOPE = "team"
NOW = datetime.now(UTC).replace(microsecond=0)
MONTH = NOW.strftime("%Y-%m")


@pytest.fixture(scope="module")
def postgres_database() -> Iterator[str]:
    with postgres_for_tests.test_database() as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.needs("postgresql"))])
async def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[LedgerBase]:
    if request.param == "sqlite":
        opened: LedgerBase = SQLiteLedger(tmp_path / "ledger.db")
        yield opened
        await opened.close()
        return
    database = request.getfixturevalue("postgres_database")
    with postgres_for_tests.schema(database) as url:
        opened = PostgresLedger(url)
        yield opened
        await opened.close()


async def history(ledger: LedgerBase) -> None:
    """A settled paid call and a failed free one under c1, a lease that ended, feedback."""
    at = NOW - timedelta(minutes=10)
    common: dict[str, Any] = {"scope": SCOPE, "month": MONTH, "tier": "medium"}
    await ledger.reserve(request_id="paid-1", amount_micros=5_000, model="gpt-4o",
                         provider="openai", correlation_id="c1", now=at, **common)  # fmt: skip
    await ledger.settle("paid-1", 4_000, latency_s=0.5)
    await ledger.record_feedback("paid-1", True)
    await ledger.record_free(request_id="free-1", model="llama", provider="openrouter",
                             ok=False, correlation_id="c1", now=at, **common)  # fmt: skip
    await ledger.reserve(request_id="stale", amount_micros=700, model="gpt-4o",
                         provider="openai", lease_s=60, now=at, **common)  # fmt: skip


async def test_preflight_answers_what_the_three_reads_answer(ledger: LedgerBase) -> None:
    await history(ledger)
    trips = count_trips(ledger)
    models = ["gpt-4o", "llama", "never-called"]
    seen = await ledger.preflight(
        SCOPE, MONTH, models, "medium", correlation_id="c1",
        tried_since=NOW - timedelta(hours=1), now=NOW,
    )  # fmt: skip
    assert trips == [1]
    # The lease that ended is charged before the month is read, as by summary().
    assert seen.summary.reserved_micros == 0
    assert seen.summary.unconfirmed_micros == 700
    assert seen.summary == await ledger.summary(SCOPE, MONTH, now=NOW)
    assert dict(seen.evidence) == await ledger.routing_evidence(models, "medium", now=NOW)
    assert set(seen.evidence) == {"gpt-4o", "llama"}
    assert seen.evidence["gpt-4o"].judged == 1
    assert seen.evidence["llama"].errors == 1
    assert seen.tried == {"gpt-4o", "llama"}
    assert seen.tried == await ledger.tried_models("c1", NOW - timedelta(hours=1))


async def test_preflight_reads_tried_models_only_when_asked(ledger: LedgerBase) -> None:
    await history(ledger)
    assert (await ledger.preflight(SCOPE, MONTH, ["gpt-4o"], "medium", now=NOW)).tried is None
    none_tried = await ledger.preflight(
        SCOPE, MONTH, ["gpt-4o"], "medium", correlation_id="", tried_since=NOW, now=NOW
    )
    assert none_tried.tried == frozenset()  # an empty correlation id ties no calls
    later = await ledger.preflight(
        SCOPE, MONTH, ["gpt-4o"], "medium", correlation_id="c1", tried_since=NOW, now=NOW
    )
    assert later.tried == frozenset()  # the calls were before the time asked


async def test_preflight_of_a_new_scope_and_no_models(ledger: LedgerBase) -> None:
    await ledger.set_limit("fresh", 2_000_000, reason="test")
    seen = await ledger.preflight("fresh", MONTH, [], "low", now=NOW)
    assert seen.summary.limit_micros == 2_000_000
    assert seen.summary.spent_micros == seen.summary.reserved_micros == 0
    assert seen.evidence == {}


async def test_settle_returns_the_month_it_left(ledger: LedgerBase) -> None:
    common: dict[str, Any] = {"scope": SCOPE, "month": MONTH, "model": "gpt-4o",
                              "provider": "openai"}  # fmt: skip
    await ledger.reserve(request_id="a", amount_micros=5_000, **common)
    await ledger.reserve(request_id="b", amount_micros=3_000, **common)
    trips = count_trips(ledger)
    month = await ledger.settle("a", 4_200, measured=False)
    assert trips == [1]
    assert month.spent_micros == month.estimated_micros == 4_200
    assert month.reserved_micros == 3_000
    assert month == await ledger.summary(SCOPE, MONTH)
    again = await ledger.settle("a", 9_999)  # settled already: nothing changes
    assert again == month
