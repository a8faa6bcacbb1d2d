"""Worker processes and invariant checks of the ledger's concurrency and crash tests.

The workers live in a module of their own because a ``spawn``-ed child imports its
target by module name, which the test modules (imported by path) do not have.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from tta_dev_integrations.llm.budget.ledger import BudgetExceededError, Ledger


def open_backend(backend: str, target: str, *, pool_size: int = 1) -> Ledger:
    """A ledger of ``backend`` (``"sqlite"``: ``target`` is a path; else a URL)."""
    if backend == "sqlite":
        from tta_dev_integrations.llm.budget.sqlite import SQLiteLedger

        return SQLiteLedger(target)
    from tta_dev_integrations.llm.budget.postgres import PostgresLedger

    return PostgresLedger(target, min_size=pool_size, max_size=pool_size)


@dataclass
class Outcome:
    """What one worker saw: what it got, and every refusal as (needed, remaining)."""

    accepted: int = 0
    accepted_micros: int = 0
    refusals: list[tuple[int, int]] = field(default_factory=list)


async def reserve_all(
    ledger: Ledger, scope: str, month: str, amounts: Sequence[int], tag: str
) -> Outcome:
    """Reserve each amount in turn (no settling), noting what was accepted and refused."""
    outcome = Outcome()
    for i, amount in enumerate(amounts):
        try:
            await ledger.reserve(
                request_id=f"{tag}-{i}",
                scope=scope,
                month=month,
                amount_micros=amount,
                model="paid-model",
                provider="vendor",
            )
        except BudgetExceededError as refused:
            outcome.refusals.append((amount, refused.remaining_micros))
        else:
            outcome.accepted += 1
            outcome.accepted_micros += amount
    return outcome


def reserve_process(
    backend: str,
    target: str,
    scope: str,
    month: str,
    amounts: Sequence[int],
    tag: str,
    ready: Any,
    start: Any,
    results: Any,
) -> None:
    """A worker process: open the ledger, say ready, wait for the start, reserve all."""

    async def main() -> Outcome:
        ledger = open_backend(backend, target)
        try:
            await ledger.summary(scope, month)  # connects and migrates before the start
            ready.put(tag)
            await asyncio.to_thread(start.wait)
            return await reserve_all(ledger, scope, month, amounts, tag)
        finally:
            await ledger.close()

    outcome = asyncio.run(main())
    results.put((tag, outcome.accepted, outcome.accepted_micros, outcome.refusals))


def crash_writer(
    backend: str, target: str, scope: str, month: str, seed: int, progress: Any
) -> None:
    """Reserve, settle, release and raise the limit in a tight loop until killed.

    ``progress`` (a shared integer) counts finished operations, so the parent kills the
    process while it is writing. Settlements never exceed their reservation, so the
    limit is never exceeded by anything.
    """
    rng = random.Random(seed)

    async def main() -> None:
        ledger = open_backend(backend, target)
        tag = uuid.uuid4().hex[:8]
        i = 0
        while True:
            i += 1
            amount = rng.randint(1, 20_000)
            request_id = f"{tag}-{i}"
            try:
                await ledger.reserve(
                    request_id=request_id,
                    scope=scope,
                    month=month,
                    amount_micros=amount,
                    model=rng.choice(("paid-a", "paid-b")),
                    provider="vendor",
                    lease_s=0.2,
                )
            except BudgetExceededError as refused:
                summary = await ledger.summary(scope, month)
                limit = summary.limit_micros or 0
                await ledger.set_limit(scope, limit + 1_000_000)
                if refused.remaining_micros >= amount:
                    raise AssertionError(f"refused {amount} with more left") from refused
            else:
                action = rng.random()
                if action < 0.7:
                    await ledger.settle(request_id, rng.randint(0, amount), latency_s=0.1)
                elif action < 0.9:
                    await ledger.release(request_id)
                # else: left open, as a crashed call would; its lease ends soon
            progress.value += 1

    asyncio.run(main())


async def violations(ledger: Ledger, scope: str, month: str) -> list[str]:
    """Every way the scope's month breaks the ledger's invariants (empty: none).

    ``spent`` is the sum of settled entries' costs, ``reserved`` the sum of open
    reservations, nothing is negative, and (settlements here never exceed their
    reservation) ``spent + reserved`` is within the limit.
    """
    summary = await ledger.summary(scope, month)
    entries = await ledger.entries(scope, month)
    settled = sum(e.actual_micros for e in entries if e.state == "settled")
    reserved = sum(e.reserved_micros for e in entries if e.state == "reserved")
    found = []
    if summary.spent_micros != settled:
        found.append(f"spent {summary.spent_micros} != settled entries {settled}")
    if summary.reserved_micros != reserved:
        found.append(f"reserved {summary.reserved_micros} != reserved entries {reserved}")
    if summary.spent_micros < 0 or summary.reserved_micros < 0:
        found.append(f"negative budget: {summary}")
    if any(e.reserved_micros < 0 or e.actual_micros < 0 for e in entries):
        found.append("an entry has a negative amount")
    total = summary.spent_micros + summary.reserved_micros
    if summary.limit_micros is not None and total > summary.limit_micros:
        found.append(f"limit exceeded: {total} > {summary.limit_micros}")
    return found
