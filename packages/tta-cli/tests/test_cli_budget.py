"""``tta budget`` after known spend: the JSON report and the terminal view agree with the ledger."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tta_cli.budget_report import budget_report, month_days
from tta_dev_integrations.llm.budget.factory import open_ledger
from tta_dev_integrations.llm.budget.ledger import Justification, current_month

SCOPE = "team-a"


async def _spend(home: Path) -> str:
    """Two paid calls (one justified and verified, one still reserved) and one free call."""
    ledger = open_ledger()
    month = current_month()
    try:
        await ledger.set_limit(SCOPE, 2_000_000)
        await ledger.reserve(
            request_id="r1", scope=SCOPE, month=month, amount_micros=300_000,
            model="gpt-4o", provider="openai", profile="careful",
            justification=Justification("hard refactor", ("local",), "+30%"),
            justification_verified=True,
        )  # fmt: skip
        await ledger.settle("r1", 125_000, input_tokens=1000, output_tokens=500)
        await ledger.reserve(
            request_id="r2", scope=SCOPE, month=month, amount_micros=50_000,
            model="claude-haiku-4.5", provider="anthropic",
        )  # fmt: skip
        await ledger.record_free(
            request_id="f1", scope=SCOPE, month=month, model="local", provider="local",
            ok=True, input_tokens=40, output_tokens=20,
        )  # fmt: skip
    finally:
        await ledger.close()
    return month


def test_budget_json_reports_the_known_spend(tta_home, app_with):
    month = asyncio.run(_spend(tta_home))
    result = CliRunner().invoke(app_with("budget"), ["budget", "--scope", SCOPE, "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["month"] == month
    assert report["limit_usd"] == 2.0
    assert report["spent_usd"] == 0.125
    assert report["reserved_usd"] == 0.05
    assert report["remaining_usd"] == pytest.approx(2.0 - 0.125 - 0.05)
    assert report["calls"] == 3
    models = {row["model"]: row for row in report["by_model"]}
    assert models["gpt-4o"]["usd"] == 0.125
    assert models["gpt-4o"]["input_tokens"] == 1000
    assert models["local"]["usd"] == 0.0
    paid = {call["model"]: call for call in report["paid_calls"]}
    assert set(paid) == {"gpt-4o", "claude-haiku-4.5"}
    assert paid["gpt-4o"]["reason"] == "hard refactor"
    assert paid["gpt-4o"]["verified"] is True
    assert paid["claude-haiku-4.5"]["state"] == "reserved"
    today = datetime.now(UTC).date().isoformat()
    assert report["daily_usd"] == {today: pytest.approx(0.175)}


def test_budget_terminal_view_shows_totals_and_paid_calls(tta_home, app_with):
    asyncio.run(_spend(tta_home))
    result = CliRunner().invoke(
        app_with("budget"), ["budget", "--scope", SCOPE], env={"COLUMNS": "100"}
    )
    assert result.exit_code == 0, result.output
    assert "spent $0.12 of $2.00" in result.output or "spent $0.13 of $2.00" in result.output
    assert "hard refactor" in result.output
    assert "verified" in result.output
    assert "paid calls: 2" in result.output


def test_budget_of_a_scope_the_ledger_never_saw_says_so(tta_home, app_with):
    asyncio.run(_spend(tta_home))
    result = CliRunner().invoke(app_with("budget"), ["budget", "--scope", "nobody", "--json"])
    assert result.exit_code == 1
    assert "no scope 'nobody'" in str(result.exception)
    assert SCOPE in str(result.exception)  # the scopes it does know


def test_budget_limit_stores_the_limit_and_history_shows_who_changed_it(tta_home, app_with):
    app = app_with("budget")
    first = CliRunner().invoke(
        app, ["budget", "limit", "team-x", "25", "--reason", "Q4", "--by", "ops@ci"]
    )
    assert first.exit_code == 0, first.output
    assert "none -> $25.00" in first.output
    second = CliRunner().invoke(app, ["budget", "limit", "team-x", "$2.50"])
    assert second.exit_code == 0, second.output
    assert "$25.00 -> $2.50" in second.output
    report = json.loads(CliRunner().invoke(app, ["budget", "--scope", "team-x", "--json"]).output)
    assert report["limit_usd"] == 2.5
    history = CliRunner().invoke(app, ["budget", "history", "--scope", "team-x"])
    assert history.exit_code == 0, history.output
    lines = history.output.strip().splitlines()
    assert len(lines) == 2
    assert "none -> $25.00 by ops@ci: Q4" in lines[0]
    lifted = CliRunner().invoke(app, ["budget", "limit", "team-x", "none"])
    assert "$2.50 -> none" in lifted.output


@pytest.mark.parametrize("amount", ["abc", "1e30", "nan", "inf"])
def test_budget_limit_refuses_a_bad_amount_as_a_usage_error(tta_home, app_with, amount):
    result = CliRunner().invoke(app_with("budget"), ["budget", "limit", "t", amount])
    assert result.exit_code == 2
    assert "dollars" in result.output


async def _unconfirmed(home: Path) -> None:
    """A lease that ended unsettled, an estimate, and a settlement waiting in the journal."""
    from tta_dev_integrations.llm.budget.journal import PendingJournal

    ledger = open_ledger()
    month = current_month()
    try:
        await ledger.reserve(
            request_id="dead", scope=SCOPE, month=month, amount_micros=400_000,
            model="gpt-4o", provider="openai", lease_s=0.01,
        )  # fmt: skip
        await ledger.reserve(
            request_id="cut", scope=SCOPE, month=month, amount_micros=100_000,
            model="gpt-4o", provider="openai",
        )  # fmt: skip
        await ledger.settle("cut", 30_000, measured=False)
        await asyncio.sleep(0.05)
        await ledger.reclaim_expired()
    finally:
        await ledger.close()
    PendingJournal().append("settle", {"request_id": "later", "actual_micros": 5})


def test_budget_shows_unconfirmed_and_estimated_spend_apart_and_correct_fixes_it(
    tta_home, app_with
):
    asyncio.run(_unconfirmed(tta_home))
    app = app_with("budget")
    report = json.loads(CliRunner().invoke(app, ["budget", "-s", SCOPE, "--json"]).output)
    assert (report["spent_usd"], report["measured_usd"]) == (0.43, 0.0)
    assert (report["estimated_usd"], report["unconfirmed_usd"]) == (0.03, 0.4)
    assert {c["request_id"]: c["basis"] for c in report["paid_calls"]} == {
        "dead": "unconfirmed",
        "cut": "estimated",
    }
    assert report["pending_writes"] == [{"kind": "settle", "request_id": "later"}]
    view = CliRunner().invoke(app, ["budget", "-s", SCOPE], env={"COLUMNS": "200"})
    assert "unconfirmed $0.40" in view.output
    assert "wait in the journal" in view.output
    fixed = CliRunner().invoke(
        app, ["budget", "correct", "dead", "0.12", "--reason", "invoice 7", "--by", "ops"]
    )
    assert fixed.exit_code == 0, fixed.output
    report = json.loads(CliRunner().invoke(app, ["budget", "-s", SCOPE, "--json"]).output)
    assert (report["spent_usd"], report["unconfirmed_usd"]) == (0.15, 0.0)
    missing = CliRunner().invoke(app, ["budget", "correct", "nope", "1", "--reason", "x"])
    assert missing.exit_code == 1
    assert "no settled entry" in str(missing.exception)


def test_budget_rejects_a_bad_month_as_a_usage_error(tta_home, app_with):
    result = CliRunner().invoke(app_with("budget"), ["budget", "--month", "2026-13"])
    assert result.exit_code == 2
    assert "YYYY-MM" in result.output


def test_forecast_extrapolates_the_month_so_far():
    from tta_dev_integrations.llm.budget.ledger import SpendSummary

    summary = SpendSummary("s", "2026-11", 10_000_000, 1_000_000, 0)
    report = budget_report(summary, [], today=date(2026, 11, 10))
    assert report["forecast_usd"] == pytest.approx(1.0 / 10 * month_days("2026-11"))
    finished = budget_report(summary, [], today=date(2026, 12, 2))
    assert finished["forecast_usd"] == 1.0


def test_budget_json_as_a_real_subprocess(tta_home, tta):
    asyncio.run(_spend(tta_home))
    completed = tta("budget", "--scope", SCOPE, "--json", timeout=60)
    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout)["spent_usd"] == 0.125
