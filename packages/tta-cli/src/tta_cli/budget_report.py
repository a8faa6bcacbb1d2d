"""The month of one ledger scope, as ``tta budget`` shows it (and ``--json`` prints it).

Built from the ledger's summary and entries (and the journal of writes an outage held
back): per model and provider totals, spend per day, a straight-line forecast to the end
of the month, and every paid call with its justification. Money no provider measured is
shown apart: estimates (a stream cut short, usage not reported or not credible) and
unconfirmed charges (a lease that ended unsettled, charged at its reservation).
"""

from __future__ import annotations

import calendar
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

from tta_dev_integrations.llm.budget.journal import PendingWrite
from tta_dev_integrations.llm.budget.ledger import LedgerEntry, SpendSummary

__all__ = ["budget_report", "month_days"]


def month_days(month: str) -> int:
    """Days in ``YYYY-MM``."""
    year, number = (int(part) for part in month.split("-"))
    return calendar.monthrange(year, number)[1]


def _usd(micros: int) -> float:
    return round(micros / 1_000_000, 6)


def _cost(entry: LedgerEntry) -> int:
    """What an entry counts against the budget: its actual cost, or its hold while reserved."""
    return entry.reserved_micros if entry.state == "reserved" else entry.actual_micros


def _forecast(spent_micros: int, month: str, today: date) -> float:
    days = month_days(month)
    if today.strftime("%Y-%m") != month:
        return _usd(spent_micros)  # a finished (or future) month: nothing to extrapolate
    return _usd(round(spent_micros / today.day * days))


def _basis(entry: LedgerEntry) -> str:
    if entry.state != "settled":
        return entry.state
    if entry.unconfirmed:
        return "unconfirmed"
    return "measured" if entry.measured else "estimated"


def budget_report(
    summary: SpendSummary,
    entries: Sequence[LedgerEntry],
    *,
    today: date | None = None,
    pending: Sequence[PendingWrite] = (),
) -> dict[str, Any]:
    """The JSON-ready report of one scope's month."""
    today = today or datetime.now(UTC).date()
    by_model: dict[tuple[str, str], dict[str, Any]] = {}
    daily: dict[str, int] = defaultdict(int)
    paid = []
    for entry in sorted(entries, key=lambda e: e.created_at):
        if entry.state == "released":
            continue
        row = by_model.setdefault(
            (entry.provider, entry.model),
            {"provider": entry.provider, "model": entry.model, "calls": 0, "micros": 0,
             "input_tokens": 0, "output_tokens": 0},
        )  # fmt: skip
        row["calls"] += 1
        row["micros"] += _cost(entry)
        row["input_tokens"] += entry.input_tokens
        row["output_tokens"] += entry.output_tokens
        daily[entry.created_at.astimezone(UTC).date().isoformat()] += _cost(entry)
        if entry.state != "free":
            justification = entry.justification
            paid.append(
                {
                    "at": entry.created_at.astimezone(UTC).isoformat(timespec="seconds"),
                    "request_id": entry.request_id,
                    "model": entry.model,
                    "state": entry.state,
                    "basis": _basis(entry),
                    "usd": _usd(_cost(entry)),
                    "reason": justification.reason if justification else "",
                    "free_alternatives_tried": list(justification.free_alternatives_tried)
                    if justification
                    else [],
                    "expected_quality_delta": justification.expected_quality_delta
                    if justification
                    else "",
                    "verified": entry.justification_verified,
                }
            )
    limit = summary.limit_micros
    remaining = summary.remaining_micros
    models = sorted(by_model.values(), key=lambda r: (-r["micros"], r["model"]))
    return {
        "scope": summary.scope,
        "month": summary.month,
        "limit_usd": None if limit is None else _usd(limit),
        "spent_usd": _usd(summary.spent_micros),
        "measured_usd": _usd(summary.measured_micros),
        "estimated_usd": _usd(summary.estimated_micros),
        "unconfirmed_usd": _usd(summary.unconfirmed_micros),
        "reserved_usd": _usd(summary.reserved_micros),
        "remaining_usd": None if remaining is None else _usd(remaining),
        "forecast_usd": _forecast(summary.spent_micros, summary.month, today),
        "calls": sum(r["calls"] for r in models),
        "by_model": [
            {**{k: v for k, v in r.items() if k != "micros"}, "usd": _usd(r["micros"])}
            for r in models
        ],
        "daily_usd": {day: _usd(micros) for day, micros in sorted(daily.items())},
        "paid_calls": paid,
        "pending_writes": [
            {"kind": write.kind, "request_id": write.request_id} for write in pending
        ],
    }
