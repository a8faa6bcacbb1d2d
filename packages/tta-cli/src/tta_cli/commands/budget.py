"""``tta budget``: spend against the monthly limit; set a scope's limit; correct a charge.

- ``tta budget`` shows a scope's month: spent (measured, estimated, unconfirmed),
  reserved, what is left, per model and per day, paid calls with their justifications,
  and ledger writes still waiting in the journal after an outage.
- ``tta budget limit SCOPE AMOUNT`` stores the scope's monthly limit (the only way it
  changes), audited; ``tta budget history`` shows every change.
- ``tta budget correct REQUEST_ID AMOUNT --reason ...`` replaces an unconfirmed or
  estimated charge with the provider's figure, audited.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import typer

from tta_cli.errors import CLIError

if TYPE_CHECKING:
    from tta_dev_integrations.llm.budget.ledger import Ledger

__all__ = ["register"]

T = TypeVar("T")

_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
_NO_LIMIT = ("none", "unlimited", "off")

budget_app = typer.Typer(
    name="budget",
    invoke_without_command=True,
    no_args_is_help=False,
    help="Spend against the monthly limit; set a scope's limit; correct a charge.",
)


@budget_app.callback()
def budget(
    ctx: typer.Context,
    scope: str = typer.Option("default", "--scope", "-s", help="Ledger scope (tta demo: demo)."),
    month: str | None = typer.Option(None, "--month", help="YYYY-MM; default: this month."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Show spend, reservations and what is left, per model and per day, and paid calls."""
    if ctx.invoked_subcommand is not None:
        return
    if month is not None and not _MONTH.match(month):
        raise typer.BadParameter("use the form YYYY-MM, like 2026-11", param_hint="--month")
    import json

    report = _with_ledger(lambda ledger: _report(ledger, scope, month))
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    from tta_cli.render.budget import print_budget
    from tta_cli.render.common import console

    print_budget(console(), report)


@budget_app.command("limit")
def limit(
    scope: str = typer.Argument(..., help="The ledger scope."),
    amount: str = typer.Argument(..., help="Dollars per month, like 25 or 2.50; 'none' lifts it."),
    reason: str = typer.Option("", "--reason", help="Why (kept in the audit trail)."),
    by: str | None = typer.Option(None, "--by", help="Who sets it (default: user@host)."),
) -> None:
    """Store a scope's monthly limit, for every process and machine sharing the ledger."""
    micros = _parse_amount(amount, allow_none=True)

    async def store(ledger: Ledger) -> Any:
        return await ledger.set_limit(scope, micros, actor=by, reason=reason)

    change = _with_ledger(store)
    typer.echo(
        f"scope {scope!r}: monthly limit {_shown(change.old_micros)} -> {_shown(micros)} "
        f"(set by {change.actor})"
    )


@budget_app.command("history")
def history(
    scope: str | None = typer.Option(None, "--scope", "-s", help="Only this scope."),
) -> None:
    """Every change of stored limits: when, who, from what to what, and why."""

    async def read(ledger: Ledger) -> Any:
        return await ledger.limit_changes(scope)

    changes = _with_ledger(read)
    if not changes:
        typer.echo("no limit was ever set" + (f" for scope {scope!r}" if scope else ""))
    for change in changes:
        why = f": {change.reason}" if change.reason else ""
        typer.echo(
            f"{change.at.isoformat(timespec='seconds')} {change.scope} "
            f"{_shown(change.old_micros)} -> {_shown(change.new_micros)} by {change.actor}{why}"
        )


@budget_app.command("correct")
def correct(
    request_id: str = typer.Argument(..., help="The entry's request id (tta budget --json)."),
    amount: str = typer.Argument(..., help="What the provider billed, in dollars."),
    reason: str = typer.Option(..., "--reason", help="Where the figure comes from."),
    by: str | None = typer.Option(None, "--by", help="Who corrects it (default: user@host)."),
) -> None:
    """Replace a settled call's cost (an unconfirmed or estimated one) with the real one."""
    micros = _parse_amount(amount, allow_none=False)
    assert micros is not None

    async def apply(ledger: Ledger) -> None:
        await ledger.correct(request_id, micros, reason=reason, actor=by)

    _with_ledger(apply)
    typer.echo(f"{request_id}: charged {_shown(micros)} ({reason})")


def _parse_amount(text: str, *, allow_none: bool) -> int | None:
    from tta_dev_integrations.llm.budget.core import MAX_MICROS
    from tta_dev_integrations.llm.budget.ledger import to_micros

    value = text.strip().lower().lstrip("$")
    if allow_none and value in _NO_LIMIT:
        return None
    try:
        dollars = float(value)
    except ValueError:
        dollars = -1.0
    if not 0 <= dollars <= MAX_MICROS / 1_000_000:
        kind = "a number of dollars like 25 or 2.50" + (", or 'none'" if allow_none else "")
        raise typer.BadParameter(f"{text!r} is not {kind}", param_hint="AMOUNT")
    return to_micros(dollars)


def _shown(micros: int | None) -> str:
    return "none" if micros is None else f"${micros / 1_000_000:,.2f}"


def _with_ledger(work: Callable[[Ledger], Awaitable[T]]) -> T:
    import asyncio
    import os

    from tta_cli.home import check_tta_home

    if not os.environ.get("TTA_LEDGER_URL"):
        check_tta_home()

    return asyncio.run(_run(work))


async def _run(work: Callable[[Ledger], Awaitable[T]]) -> T:
    from tta_dev_integrations.llm.budget.factory import open_ledger
    from tta_dev_integrations.llm.budget.ledger import LedgerUnavailableError

    ledger = open_ledger()
    try:
        return await work(ledger)
    except LedgerUnavailableError as error:
        raise CLIError(
            f"the spend ledger cannot be used: {error}", hint="check TTA_LEDGER_URL or TTA_HOME"
        ) from None
    except ValueError as error:
        raise CLIError(str(error)) from None
    finally:
        await ledger.close()


async def _report(ledger: Ledger, scope: str, month: str | None) -> dict[str, object]:
    from tta_cli.budget_report import budget_report
    from tta_dev_integrations.llm.budget.journal import PendingJournal
    from tta_dev_integrations.llm.budget.ledger import current_month

    month = month or current_month()
    known = await ledger.scopes()
    if scope not in known:
        names = ", ".join(known) if known else "none yet"
        raise CLIError(
            f"the ledger has no scope {scope!r} (known scopes: {names})",
            hint="pass --scope NAME; tta demo charges the scope 'demo'",
        )
    summary = await ledger.summary(scope, month)
    entries = await ledger.entries(scope, month)
    return budget_report(summary, entries, pending=PendingJournal().pending())


def register(app: typer.Typer) -> None:
    """Add ``tta budget`` and its subcommands."""
    app.add_typer(budget_app, name="budget")
