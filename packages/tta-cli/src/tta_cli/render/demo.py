"""What ``tta demo`` prints: one row per task, the plans, the budget, where to look next."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from tta_cli.render.common import duration, money, tokens

if TYPE_CHECKING:
    from rich.console import Console, RenderableType

    from tta_cli.demo.workflow import DemoOutcome, TaskResult

__all__ = [
    "budget_panel",
    "next_steps",
    "outcome_json",
    "plans",
    "print_outcome",
    "progress_line",
    "results_table",
]

_OUTCOME_STYLE = {"ok": "green", "fallback": "yellow"}


def progress_line(result: TaskResult) -> str:
    """One line as a task finishes: ``done T3 medium -> local (2.5 s)``."""
    style = _OUTCOME_STYLE.get(result.outcome, "red")
    return (
        f"[{style}]{result.outcome:>8}[/] {result.task.id} {result.complexity:<6} "
        f"-> {result.model} ({duration(result.latency_s)})"
    )


def results_table(results: Sequence[TaskResult]) -> RenderableType:
    """The per-task table: complexity, model and why, tokens, cost, latency, outcome."""
    from rich import box
    from rich.table import Table

    table = Table(
        title="Triage", title_justify="left", expand=False, pad_edge=False, box=box.SIMPLE_HEAD
    )
    table.add_column("task", no_wrap=True)
    table.add_column("complexity", no_wrap=True)
    table.add_column("model: why", ratio=1, overflow="fold", min_width=20)
    table.add_column("tokens", justify="right", no_wrap=True)
    table.add_column("cost", justify="right", no_wrap=True)
    table.add_column("time", justify="right", no_wrap=True)
    table.add_column("outcome", no_wrap=True)
    for r in results:
        style = _OUTCOME_STYLE.get(r.outcome, "red")
        table.add_row(
            r.task.id,
            r.complexity,
            f"[bold]{r.model}[/]: {r.why}",
            tokens(r.tokens),
            money(r.cost_usd, estimated=r.cost_estimated and r.cost_usd > 0),
            duration(r.latency_s),
            f"[{style}]{r.outcome}[/]",
        )
    return table


def plans(results: Sequence[TaskResult], *, steps: int = 3) -> list[str]:
    """Each task's title, the research agent's steps, then the first ``steps`` of its plan."""
    from rich.markup import escape

    lines = []
    for r in results:
        lines.append(f"[bold]{r.task.id}[/] {r.task.title}")
        lines += [f"  [dim]agent:[/] {escape(step)}" for step in r.research]
        lines += [f"  {number}. {step}" for number, step in enumerate(r.plan[:steps], 1)]
        if len(r.plan) > steps:
            lines.append(f"  ... {len(r.plan) - steps} more steps")
    return lines


def budget_panel(outcome: DemoOutcome, scope: str) -> RenderableType:
    """The scope's month after the run: limit, spent, reserved, left, calls."""
    from rich.panel import Panel

    summary = outcome.summary
    if summary is None:
        return Panel("\n".join(outcome.notes) or "budget unavailable", title="Budget", expand=False)
    limit = outcome.limit_usd
    used = (summary.spent_micros + summary.reserved_micros) / 1e6
    left = None if limit is None else max(0.0, limit - used)
    lines = [
        f"scope [bold]{scope}[/], {summary.month}: spent {money(summary.spent_micros / 1e6)}"
        f" of {money(limit) if limit is not None else 'no limit'},"
        f" reserved {money(summary.reserved_micros / 1e6)},"
        f" left {money(left) if left is not None else 'unlimited'}",
        f"{outcome.calls_this_month} calls recorded in the ledger this month",
    ]
    return Panel("\n".join(lines), title="Budget", title_align="left", expand=False)


def next_steps(trace_file: str | None, scope: str = "demo") -> list[str]:
    """Where to look next."""
    budget = f"tta budget --scope {scope}"
    lines = [
        f"[bold]Next:[/] {budget:<22} spend, forecast and paid calls",
        f"      {'tta traces':<22} this run's spans as a tree (--html: a timeline)",
        f"      {'tta models':<22} the catalog and which keys are configured",
    ]
    if trace_file:
        lines.append(f"      traces were written to {trace_file}")
    return lines


def print_outcome(
    console: Console, outcome: DemoOutcome, scope: str, trace_file: str | None
) -> None:
    """Everything after the run, in order."""
    console.print(results_table(outcome.results))
    console.print(f"{len(outcome.results)} tasks in {duration(outcome.seconds)}\n")
    console.print("[bold]Plans[/] (the agent's searches, then the first steps)")
    for line in plans(outcome.results):
        console.print(line, no_wrap=True, overflow="ellipsis")
    console.print()
    console.print(budget_panel(outcome, scope))
    for line in next_steps(trace_file, scope):
        console.print(line)


def outcome_json(outcome: DemoOutcome, scope: str, trace_file: str | None) -> dict[str, Any]:
    """``tta demo --json``: every task's result, the scope's month and the trace file."""
    summary = outcome.summary
    budget = None
    if summary is not None:
        budget = {
            "scope": scope,
            "month": summary.month,
            "limit_usd": outcome.limit_usd,
            "spent_usd": summary.spent_micros / 1e6,
            "reserved_usd": summary.reserved_micros / 1e6,
            "calls_this_month": outcome.calls_this_month,
        }
    return {
        "tasks": [
            {
                "id": r.task.id,
                "title": r.task.title,
                "complexity": r.complexity,
                "model": r.model,
                "provider": r.provider,
                "why": r.why,
                "tokens": r.tokens,
                "cost_usd": r.cost_usd,
                "cost_estimated": r.cost_estimated,
                "latency_s": round(r.latency_s, 3),
                "outcome": r.outcome,
                "related": list(r.related),
                "research": list(r.research),
                "plan": list(r.plan),
            }
            for r in outcome.results
        ],
        "seconds": round(outcome.seconds, 3),
        "budget": budget,
        "notes": list(outcome.notes),
        "trace_file": trace_file,
    }
