"""Which PostgreSQL commits wait for the WAL flush (see test_ledger_sync for SQLite).

A transaction that can only lower the month commits with ``synchronous_commit`` off;
everything else waits for the flush. Checked on the statements that reach the server.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import psycopg
import pytest

import postgres_for_tests
from tta_dev_integrations.llm.budget.ledger import current_month
from tta_dev_integrations.llm.budget.postgres import PostgresLedger

pytestmark = pytest.mark.needs("postgresql")

MONTH = current_month()
NO_WAIT = "SET LOCAL synchronous_commit = off"


@pytest.fixture(scope="module")
def postgres_database() -> Iterator[str]:
    with postgres_for_tests.test_database() as url:
        yield url


@pytest.fixture
async def ledger(postgres_database: str) -> AsyncIterator[PostgresLedger]:
    with postgres_for_tests.schema(postgres_database) as url:
        opened = PostgresLedger(url)
        await opened.set_limit("team", 10_000_000, actor="test", reason="a budget")
        yield opened
        await opened.close()


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every statement a connection sends from now on."""
    statements: list[str] = []
    execute = psycopg.AsyncConnection.execute

    async def recorded(self: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
        statements.append(str(query))
        return await execute(self, query, *args, **kwargs)

    monkeypatch.setattr(psycopg.AsyncConnection, "execute", recorded)
    return statements


async def reserve(ledger: PostgresLedger, request_id: str, micros: int = 1_000) -> None:
    await ledger.reserve(
        request_id=request_id, scope="team", month=MONTH, amount_micros=micros, model="m",
        provider="p",
    )  # fmt: skip


async def waits(sent: list[str], work: Any) -> bool:
    """Whether ``work`` committed waiting for the flush."""
    sent.clear()
    await work
    return NO_WAIT not in sent


async def test_what_waits_for_the_flush(ledger: PostgresLedger, sent: list[str]) -> None:
    assert await waits(sent, reserve(ledger, "r1"))
    assert not await waits(sent, ledger.settle("r1", 600))  # under its reservation
    assert await waits(sent, reserve(ledger, "r2"))
    assert await waits(sent, ledger.settle("r2", 1_001))  # over: forgetting it under-counts
    assert await waits(sent, reserve(ledger, "r3"))
    assert not await waits(sent, ledger.release("r3"))
    assert await waits(sent, ledger.settle("r3", 10))  # served after all: money spent
    free = ledger.record_free(
        request_id="f1", scope="team", month=MONTH, model="free", provider="p", ok=True
    )
    assert not await waits(sent, free)
    assert not await waits(sent, ledger.record_feedback("f1", True))
    assert await waits(sent, ledger.set_limit("team", 20_000_000, actor="t", reason="more"))
    summary = await ledger.summary("team", MONTH)
    assert (summary.spent_micros, summary.reserved_micros) == (600 + 1_001 + 10, 0)


async def test_the_setting_ends_with_its_transaction(
    ledger: PostgresLedger, sent: list[str]
) -> None:
    """SET LOCAL: the pooled connection's next transaction waits for the flush again."""
    await reserve(ledger, "r1")
    await ledger.settle("r1", 10)

    async def setting(conn: Any) -> str:
        row = await (await conn.execute("SHOW synchronous_commit")).fetchone()
        return str(row[0])

    assert await ledger._run(setting) == "on"
