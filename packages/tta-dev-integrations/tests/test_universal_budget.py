"""UniversalLLMPrimitive and the monthly limit: who owns it, and money moved in bad moments.

Against the replay servers of ``test_universal`` and a real SQLite ledger: an instance
never writes the stored limit, a request charges only a scope the instance allows, a
caller cancelled mid-call is charged what the provider bills, alerts fire once for every
process sharing the ledger, and writes an outage held back are replayed from disk.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import pytest

import test_universal
from replay_server import Reply
from test_universal import JUSTIFIED, Servers, completion, request, universal
from tta_dev_integrations.llm.budget.journal import PendingJournal
from tta_dev_integrations.llm.budget.ledger import current_month, to_micros
from tta_dev_integrations.llm.budget.sqlite import SQLiteLedger
from tta_dev_integrations.llm.universal import BudgetAlert
from tta_dev_primitives import TimeoutPrimitive, WorkflowContext

servers = test_universal.servers
ledger = test_universal.ledger


async def test_no_instance_writes_or_erases_the_stored_limit(
    servers: Servers, ledger: SQLiteLedger
) -> None:
    month = current_month()
    await ledger.set_limit("default", to_micros(7.0), actor="ops", reason="set by hand")
    servers.answer(paid=2)
    capped = universal(servers, ledger, monthly_limit=50.0)
    uncapped = universal(servers, ledger, monthly_limit=None)  # as `tta ask` builds it
    for llm in (capped, uncapped):
        await llm.execute(request(justification=JUSTIFIED), WorkflowContext())
    summary = await ledger.summary("default", month)
    assert summary.limit_micros == to_micros(7.0)
    assert [c.actor for c in await ledger.limit_changes()] == ["ops"]


async def test_the_stored_limit_caps_an_instance_with_a_larger_or_no_limit(
    servers: Servers, ledger: SQLiteLedger
) -> None:
    await ledger.set_limit("default", 1)  # one micro-dollar: no paid call fits
    servers.answer(free=2)
    for limit in (50.0, None):
        llm = universal(servers, ledger, monthly_limit=limit)
        response = await llm.execute(request(justification=JUSTIFIED), WorkflowContext())
        assert response.model == "kimi"
    assert servers.paid.requests == []


async def test_a_request_may_only_charge_a_scope_the_instance_allows(
    servers: Servers, ledger: SQLiteLedger
) -> None:
    llm = universal(servers, ledger, scope="team-a", scopes=["team-b"])
    for bad in ("team-c", 7, ["team-a"]):
        with pytest.raises(ValueError, match="scopes="):
            await llm.execute(request(justification=JUSTIFIED, scope=bad), WorkflowContext())
    assert servers.paid.requests == servers.free.requests == []
    assert list(await ledger.scopes()) == []
    servers.answer(paid=1)
    await llm.execute(request(justification=JUSTIFIED, scope="team-b"), WorkflowContext())
    assert list(await ledger.scopes()) == ["team-b"]


async def test_a_caller_timed_out_mid_call_is_charged_what_the_provider_bills(
    servers: Servers, ledger: SQLiteLedger
) -> None:
    # The provider has the request and answers late: nobody reads the answer, but it is
    # billed. The reservation is charged (estimated), never released at $0.
    def late(_: object) -> Reply:
        time.sleep(1.0)
        return completion("too late")

    servers.paid.respond("/chat/completions", late)
    llm = universal(servers, ledger)
    with pytest.raises(TimeoutError):
        await TimeoutPrimitive(llm, 0.3).execute(
            request(justification=JUSTIFIED), WorkflowContext()
        )
    [entry] = await ledger.entries("default", current_month())
    assert entry.state == "settled"
    assert entry.actual_micros == entry.reserved_micros > 0
    assert not entry.measured
    summary = await ledger.summary("default", current_month())
    assert summary.reserved_micros == 0
    assert summary.estimated_micros == entry.actual_micros


async def test_an_alert_fires_once_for_all_instances_sharing_the_ledger(
    servers: Servers, ledger: SQLiteLedger, tmp_path: Path
) -> None:
    fired: list[BudgetAlert] = []
    for _ in range(6):
        servers.paid.add("/chat/completions", completion("paid", 100, 100))
    instances = [
        universal(
            servers,
            SQLiteLedger(tmp_path / "ledger.db"),
            monthly_limit=0.05,
            on_budget_alert=fired.append,
            alert_thresholds=(0.1,),
        )
        for _ in range(3)
    ]
    await asyncio.gather(
        *(
            llm.execute(request(justification=JUSTIFIED), WorkflowContext())
            for llm in instances
            for _ in range(2)
        )
    )
    for llm in instances:
        await llm.ledger.close()
    assert [alert.threshold for alert in fired] == [0.1]


async def test_writes_an_outage_held_back_are_replayed_from_disk_exactly_once(
    servers: Servers, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "blocker").write_text("not a directory", encoding="utf-8")
    broken = SQLiteLedger(tmp_path / "blocker" / "ledger.db")
    journal = PendingJournal(tmp_path / "journal" / "pending.jsonl")
    servers.answer(free=2)
    with caplog.at_level(logging.WARNING):
        first = universal(servers, broken, journal=journal, budget_profile="free")
        await first.execute(request("low"), WorkflowContext())
    assert [w.kind for w in journal.pending()] == ["free"]
    assert str(journal.path) in caplog.text
    # A new process, the ledger reachable again: the record is taken once.
    healthy = SQLiteLedger(tmp_path / "ledger.db")
    second = universal(
        servers, healthy, journal=PendingJournal(journal.path), budget_profile="free"
    )
    await second.execute(request("low"), WorkflowContext())
    entries = await healthy.entries("default", current_month())
    assert len(entries) == 2
    assert journal.pending() == []
    assert await PendingJournal(journal.path).replay(healthy) == 0
    await healthy.close()


async def test_when_neither_ledger_nor_journal_can_be_written_the_call_says_so(
    servers: Servers, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "blocker").write_text("not a directory", encoding="utf-8")
    broken = SQLiteLedger(tmp_path / "blocker" / "ledger.db")
    journal = PendingJournal(tmp_path / "blocker" / "pending.jsonl")
    servers.answer(free=1)
    llm = universal(servers, broken, journal=journal, budget_profile="free")
    with caplog.at_level(logging.ERROR):
        response = await llm.execute(request("low"), WorkflowContext())
    assert response.content == "free answer"  # served all the same
    assert "is not recorded" in caplog.text
    assert str(journal.path) in caplog.text


async def test_a_score_given_as_feedback_reaches_the_routers_evidence(
    servers: Servers, ledger: SQLiteLedger
) -> None:
    servers.answer(paid=1)
    llm = universal(servers, ledger)
    response = await llm.execute(request(justification=JUSTIFIED), WorkflowContext())
    assert response.routing is not None
    await llm.record_feedback(response.routing.request_id, 0.8)
    evidence = await ledger.routing_evidence(["gpt-4.1"], "high")
    assert (evidence["gpt-4.1"].judged, evidence["gpt-4.1"].calls) == (1, 1)
    assert evidence["gpt-4.1"].judged_score_sum == pytest.approx(0.8)
    with pytest.raises(ValueError, match="score"):
        await llm.record_feedback(response.routing.request_id, 2)
