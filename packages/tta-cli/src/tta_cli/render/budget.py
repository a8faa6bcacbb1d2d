"""``tta budget`` in the terminal: totals, a table per model, a daily chart, paid calls."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tta_cli.render.common import money, tokens

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["daily_chart", "print_budget"]

_BAR = "█"


def daily_chart(daily: dict[str, float], *, width: int = 40) -> list[str]:
    """One line per day with spend: ``2026-11-03 ████████ $0.12``."""
    if not daily:
        return ["no spend recorded this month"]
    top = max(daily.values()) or 1.0
    lines = []
    for day, usd in daily.items():
        length = round(usd / top * width) if usd > 0 else 0
        lines.append(f"{day} {_BAR * length:<{width}} {money(usd)}")
    return lines


def print_budget(console: Console, report: dict[str, Any]) -> None:
    """The whole report."""
    from rich.table import Table

    limit = report["limit_usd"]
    left = report["remaining_usd"]
    console.print(
        f"[bold]{report['scope']}[/] {report['month']}: spent {money(report['spent_usd'])}"
        f" of {money(limit) if limit is not None else 'no limit'},"
        f" reserved {money(report['reserved_usd'])},"
        f" left {money(left) if left is not None else 'unlimited'};"
        f" forecast {money(report['forecast_usd'])} by month end"
    )
    unmeasured = report["estimated_usd"] + report["unconfirmed_usd"]
    if unmeasured:
        console.print(
            f"  of the spend: measured {money(report['measured_usd'])}, estimated "
            f"{money(report['estimated_usd'])}, unconfirmed {money(report['unconfirmed_usd'])}"
            " (correct one with `tta budget correct REQUEST_ID AMOUNT --reason ...`)"
        )
    pending = report["pending_writes"]
    if pending:
        console.print(
            f"[yellow]{len(pending)} ledger write(s) wait in the journal[/] (the ledger was "
            "unreachable); the next call that reaches the ledger records them"
        )
    if limit and report["forecast_usd"] > limit:
        console.print("[yellow]the forecast passes the limit: paid calls will be refused[/]")
    table = Table(title=f"{report['calls']} calls", title_justify="left", pad_edge=False)
    for name in ("model", "provider", "calls", "tokens in/out", "cost"):
        table.add_column(name, justify="left" if name in {"model", "provider"} else "right")
    for row in report["by_model"]:
        table.add_row(
            row["model"],
            row["provider"],
            str(row["calls"]),
            f"{tokens(row['input_tokens'])}/{tokens(row['output_tokens'])}",
            money(row["usd"]),
        )
    console.print(table)
    console.print("[bold]spend per day[/]")
    for line in daily_chart(report["daily_usd"]):
        console.print(line)
    paid = report["paid_calls"]
    console.print(f"[bold]paid calls[/]: {len(paid)}")
    for call in paid:
        verified = {True: "verified", False: "NOT verified", None: "unverifiable"}
        tried = ", ".join(call["free_alternatives_tried"]) or "none"
        console.print(
            f"  {call['at']} {call['model']} {money(call['usd'])} ({call['basis']}): "
            f"{call['reason'] or '(no reason)'}; tried {tried}; "
            f"{call['expected_quality_delta'] or '?'}; {verified[call['verified']]}"
        )
