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


def test_budget_of_an_empty_scope_is_zero_not_an_error(tta_home, app_with):
    result = CliRunner().invoke(app_with("budget"), ["budget", "--scope", "nobody", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["spent_usd"] == 0
    assert report["calls"] == 0
    assert report["paid_calls"] == []


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
