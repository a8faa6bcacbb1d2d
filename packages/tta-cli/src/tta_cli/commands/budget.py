"""``tta budget``: spend against the monthly limit, per model, per day, with a forecast."""

from __future__ import annotations

import re

import typer

from tta_cli.errors import CLIError

__all__ = ["register"]

_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


def budget(
    scope: str = typer.Option("default", "--scope", "-s", help="Ledger scope (tta demo: demo)."),
    month: str | None = typer.Option(None, "--month", help="YYYY-MM; default: this month."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Show spend, reservations and what is left, per model and per day, and paid calls."""
    if month is not None and not _MONTH.match(month):
        raise typer.BadParameter("use the form YYYY-MM, like 2026-11", param_hint="--month")
    import asyncio
    import json

    report = asyncio.run(_report(scope, month))
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    from tta_cli.render.budget import print_budget
    from tta_cli.render.common import console

    print_budget(console(), report)


async def _report(scope: str, month: str | None) -> dict[str, object]:
    from tta_cli.budget_report import budget_report
    from tta_dev_integrations.llm.budget.factory import open_ledger
    from tta_dev_integrations.llm.budget.ledger import LedgerUnavailableError, current_month

    ledger = open_ledger()
    month = month or current_month()
    try:
        summary = await ledger.summary(scope, month)
        entries = await ledger.entries(scope, month)
    except LedgerUnavailableError as error:
        raise CLIError(
            f"the spend ledger cannot be read: {error}",
            hint="check TTA_LEDGER_URL or TTA_HOME",
        ) from None
    finally:
        await ledger.close()
    return budget_report(summary, entries)


def register(app: typer.Typer) -> None:
    """Add ``tta budget``."""
    app.command(name="budget")(budget)
