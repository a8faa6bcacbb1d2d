"""What every ledger backend does the same way: the public methods, their checks, errors.

:class:`LedgerBase` implements the :class:`~tta_dev_integrations.llm.budget.ledger.Ledger`
protocol once: it validates arguments, builds the statements' parameters, keeps money
that moved recorded whatever happens to the caller (a cancelled ``reserve`` gives its
reservation back, a cancelled ``settle`` still records), and turns a backend's answers
into the documented errors. A backend implements the ``_op_*`` methods: one transaction
each, in its own dialect and with its own connections (``reserve``, ``settle`` and
``release`` run theirs through :func:`~.core.finish_despite_cancel`: a coroutine in a
task of its own, a :class:`~.core.ThreadWork`, a transaction already handed to a worker
thread, awaited directly). Times reach the backends as
aware UTC datetimes; ``None`` for ``now`` means the database's (or the machine's) clock.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tta_dev_integrations.llm.budget.core import (
    CLAIM_ALERT,
    COUNT_CALL,
    ENTRIES,
    FEEDBACK,
    FEEDBACK_ROLLUP,
    INSERT_FREE,
    LIMIT_CHANGES,
    SCOPES,
    TRIED_MODELS,
    BudgetDelta,
    audit_reason,
    call_outcome,
    check_lease,
    check_micros,
    default_actor,
    entry_from_row,
    finish_despite_cancel,
    justification_json,
    utc_day,
)
from tta_dev_integrations.llm.budget.ledger import (
    BudgetExceededError,
    Justification,
    LedgerEntry,
    LimitChange,
    QuotaWindows,
    Reservation,
    SpendSummary,
    quota_windows,
)
from tta_dev_integrations.llm.budget.statistics import LedgerStatistics

__all__ = [
    "LedgerBase",
    "RequestIdTaken",
    "Settlement",
    "UnknownEntry",
    "expired_charges",
    "utc",
]


class RequestIdTaken(Exception):
    """Raised by a backend inside a reservation: the request id is in use (roll back)."""


class UnknownEntry(Exception):
    """Raised by a backend: no entry (in the needed state) has the request id."""


def utc(moment: datetime | None) -> datetime:
    """``moment`` as an aware UTC datetime (a naive one is taken as UTC); ``None``: now."""
    if moment is None:
        return datetime.now(UTC)
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class Settlement:
    """One settlement as a backend writes it."""

    request_id: str
    actual_micros: int
    ok: bool
    measured: bool
    latency_s: float | None
    input_tokens: int
    output_tokens: int


def _tokens(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
    return value


class LedgerBase(LedgerStatistics, ABC):
    """The ledger's public methods over a backend's ``_op_*`` transactions."""

    # -- limits ----------------------------------------------------------------------

    async def set_limit(
        self, scope: str, limit_micros: int | None, *, actor: str | None = None, reason: str = ""
    ) -> LimitChange:
        """Store the scope's monthly limit (``None``: no limit), audited with who and why.

        The only way a stored limit changes; ``actor`` defaults to ``user@host``.
        """
        new = check_micros("limit_micros", limit_micros, none_ok=True)
        who, why, at = actor or default_actor(), audit_reason(reason), utc(None)
        old = await self._op_set_limit(scope, new, who, why, at)
        return LimitChange(scope, old, new, who, why, at)

    async def limit_changes(self, scope: str | None = None) -> Sequence[LimitChange]:
        """The audit trail of stored limits (of ``scope``, or all), oldest first."""
        rows = await self._read(LIMIT_CHANGES, {"scope": scope})
        return [LimitChange(s, o, n, a, r, self._moment(at)) for s, o, n, a, r, at in rows]

    # -- paid calls ------------------------------------------------------------------

    async def reserve(
        self,
        *,
        request_id: str,
        scope: str,
        month: str,
        amount_micros: int,
        model: str,
        provider: str,
        lease_s: float = 600.0,
        cap_micros: int | None = None,
        coder: str = "none",
        profile: str = "",
        tier: str = "",
        correlation_id: str = "",
        justification: Justification | None = None,
        justification_verified: bool | None = None,
        now: datetime | None = None,
    ) -> Reservation:
        """Set ``amount_micros`` aside in one guarded statement.

        It fits when the month stays within the scope's stored limit and within
        ``cap_micros`` (the caller's own limit); otherwise :class:`BudgetExceededError`.
        Expired leases of the scope are charged first, in the same transaction. A caller
        cancelled meanwhile leaves nothing reserved.
        """
        amount = check_micros("amount_micros", amount_micros)
        cap = check_micros("cap_micros", cap_micros, none_ok=True)
        lease = timedelta(seconds=check_lease(lease_s))
        params: dict[str, Any] = {
            "request_id": request_id,
            "scope": scope,
            "month": month,
            "amount": amount,
            "cap": cap,
            "model": model,
            "provider": provider,
            "coder": coder,
            "profile": profile,
            "tier": tier,
            "correlation_id": correlation_id,
            "justification": justification_json(justification),
            "justification_verified": justification_verified,
        }
        at = None if now is None else utc(now)

        async def give_back(outcome: tuple[SpendSummary | None, datetime]) -> None:
            if outcome[0] is None:
                await self.release(request_id)

        try:
            refused, expires = await finish_despite_cancel(
                self._op_reserve(params, at, lease), undo=give_back
            )
        except RequestIdTaken:
            raise ValueError(
                f"request_id {request_id!r} is already in the ledger; use a new id per call"
            ) from None
        if refused is not None:
            raise BudgetExceededError(
                scope, month, amount_micros, refused.remaining_under(cap) or 0
            )
        return Reservation(request_id, scope, month, amount_micros, expires)

    async def renew(self, request_id: str, lease_s: float, *, now: datetime | None = None) -> bool:
        """Extend an open reservation's lease to ``lease_s`` from now; ``False`` if closed."""
        lease = timedelta(seconds=check_lease(lease_s))
        return await self._op_renew(request_id, None if now is None else utc(now), lease)

    async def settle(
        self,
        request_id: str,
        actual_micros: int,
        *,
        ok: bool = True,
        measured: bool = True,
        latency_s: float | None = None,
        input_tokens: int = 0,
        output_tokens: int = 0,
    ) -> SpendSummary:
        """Record the real cost (``measured=False``: an estimate) and free the reservation.

        Idempotent by ``request_id``: settling twice changes nothing. A released
        reservation is settled too (the money was spent after all); an entry charged
        unconfirmed at lease expiry takes this cost instead. Completes even if the
        caller is cancelled meanwhile. Returns the entry's month as the same transaction
        left it.
        """
        settlement = Settlement(
            request_id,
            check_micros("actual_micros", actual_micros) or 0,
            bool(ok),
            bool(measured),
            latency_s,
            _tokens("input_tokens", input_tokens),
            _tokens("output_tokens", output_tokens),
        )
        try:
            return await finish_despite_cancel(self._op_settle(settlement, utc(None)))
        except UnknownEntry:
            raise ValueError(f"no reservation with request_id {request_id!r}") from None

    async def release(self, request_id: str, *, failed: bool = False) -> None:
        """Give the reservation back without spending (no money moved). Idempotent.

        ``failed``: the provider refused or failed the call; it counts as a failed call
        of the model in the router's statistics.
        """
        try:
            await finish_despite_cancel(self._op_release(request_id, failed, utc(None)))
        except UnknownEntry:
            raise ValueError(f"no reservation with request_id {request_id!r}") from None

    async def correct(
        self, request_id: str, actual_micros: int, *, reason: str, actor: str | None = None
    ) -> None:
        """An operator's correction of a settled entry's cost, audited.

        The corrected cost counts as measured; the month's totals follow.
        """
        actual = check_micros("actual_micros", actual_micros) or 0
        why = audit_reason(reason)
        if not why:
            raise ValueError("a correction needs a reason (what the provider's bill says)")
        try:
            await self._op_correct(request_id, actual, actor or default_actor(), why, utc(None))
        except UnknownEntry:
            raise ValueError(
                f"no settled entry with request_id {request_id!r} (only settled costs can be "
                "corrected)"
            ) from None

    async def reclaim_expired(self, now: datetime | None = None) -> int:
        """Charge reservations whose lease ended, at their amount, unconfirmed.

        Returns how many. Such a worker died after sending its call: the provider may
        well have billed it, so the money is counted until someone corrects it.
        """
        return await self._op_charge_expired(None if now is None else utc(now))

    # -- free calls, quotas, alerts --------------------------------------------------

    async def record_free(
        self,
        *,
        request_id: str,
        scope: str,
        month: str,
        model: str,
        provider: str,
        ok: bool,
        coder: str = "none",
        profile: str = "",
        tier: str = "",
        correlation_id: str = "",
        latency_s: float | None = None,
        input_tokens: int = 0,
        output_tokens: int = 0,
        now: datetime | None = None,
    ) -> None:
        """Record a $0 call (free model), for quotas, stats and justification checks.

        Idempotent by ``request_id`` (a record replayed after an outage counts once).
        """
        params: dict[str, Any] = {
            "request_id": request_id,
            "scope": scope,
            "month": month,
            "model": model,
            "provider": provider,
            "coder": coder,
            "profile": profile,
            "tier": tier,
            "correlation_id": correlation_id,
            "ok": bool(ok),
            "latency_s": latency_s,
            "input_tokens": _tokens("input_tokens", input_tokens),
            "output_tokens": _tokens("output_tokens", output_tokens),
        }
        at = utc(now)
        outcome = call_outcome(model, tier, at, ok=bool(ok), latency_s=latency_s)
        # Counted once: a record replayed after an outage inserts nothing, counts nothing.
        await self._write_many(
            [(INSERT_FREE, {**params, "now": self._stamp(at)}), (COUNT_CALL, outcome)],
            moves_money=False,
        )

    async def take_quota(
        self,
        model: str,
        *,
        per_minute: int | None,
        per_day: int | None,
        now: datetime | None = None,
    ) -> bool:
        """Count one request against a free tier's limits (UTC minute and day windows).

        Returns ``False`` (and counts nothing) when a window is full. A window without a
        limit is not counted.
        """
        windows = quota_windows(utc(now), per_minute, per_day)
        if windows.refused:
            return False
        if not windows.counted:
            return True
        return await self._op_take_quota(model, windows)

    async def claim_alert(
        self, scope: str, month: str, threshold: float, spent_micros: int
    ) -> bool:
        """Record that the scope's month crossed ``threshold``; ``True`` for the first caller."""
        params = {
            "scope": scope,
            "month": month,
            "threshold": float(threshold),
            "spent": check_micros("spent_micros", spent_micros),
            "now": self._stamp(utc(None)),
        }
        return await self._write(CLAIM_ALERT, params) == 1

    async def record_feedback(self, request_id: str, verdict: bool | float) -> None:
        """A judged answer: ``True``/``False``, or a score between 0 and 1.

        The latest verdict counts; the router learns quality from judged answers only.
        """
        if isinstance(verdict, bool):
            score = 1.0 if verdict else 0.0
        elif isinstance(verdict, int | float) and 0.0 <= verdict <= 1.0:
            score = float(verdict)
        else:
            raise ValueError(f"feedback must be True, False or a score in [0, 1], got {verdict!r}")
        params = {
            "request_id": request_id,
            "score": score,
            "ok": score >= 0.5,
            "day": utc_day(utc(None)),
        }
        changed = await self._write_many(
            [(FEEDBACK_ROLLUP, params), (FEEDBACK, params)], moves_money=False
        )
        if len(changed) < 2:
            raise ValueError(f"no settled or free ledger entry with request_id {request_id!r}")

    # -- reads -----------------------------------------------------------------------

    async def summary(self, scope: str, month: str, *, now: datetime | None = None) -> SpendSummary:
        """Stored limit, spent and reserved for the scope's month.

        Leases of the scope that ended are charged first, so a dead reservation never
        holds the budget (and never frees it either).
        """
        return await self._op_summary(scope, month, None if now is None else utc(now))

    async def scopes(self) -> Sequence[str]:
        """Every scope the ledger knows (with a stored limit or any entry), sorted."""
        return [row[0] for row in await self._read(SCOPES, {})]

    async def entries(self, scope: str, month: str) -> Sequence[LedgerEntry]:
        """Every entry of the scope's month, oldest first."""
        rows = await self._read(ENTRIES, {"scope": scope, "month": month})
        return [entry_from_row(row, self._moment) for row in rows]

    async def tried_models(self, correlation_id: str, since: datetime) -> set[str]:
        """Models called (successfully or not) under ``correlation_id`` since ``since``.

        An empty ``correlation_id`` ties no calls together: the answer is empty.
        """
        if not correlation_id:
            return set()
        params = {"correlation_id": correlation_id, "since": self._stamp(utc(since))}
        return {row[0] for row in await self._read(TRIED_MODELS, params)}

    # -- what a backend implements ---------------------------------------------------

    async def _write(self, statement: str, params: Mapping[str, Any]) -> int:
        """Run one shared statement (``:name`` parameters) in its own transaction.

        Returns the number of rows it changed.
        """
        return (await self._write_many([(statement, params)]) or [0])[0]

    @abstractmethod
    async def _write_many(
        self, steps: Sequence[tuple[str, Mapping[str, Any]]], *, moves_money: bool = True
    ) -> list[int]:
        """Run shared statements in order in one transaction.

        Stops after the first that changes no row; returns the row counts of those that
        ran. ``moves_money=False``: the statements move no money (a $0 record, feedback),
        so the commit need not wait for the disk.
        """

    @abstractmethod
    async def _read(self, statement: str, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """The rows of one shared query (``:name`` parameters)."""

    @abstractmethod
    def _stamp(self, moment: datetime) -> Any:
        """A time as the backend stores it."""

    @abstractmethod
    def _moment(self, stamp: Any) -> datetime:
        """A stored time as an aware UTC datetime."""

    @abstractmethod
    async def migrate(self) -> None:
        """Apply pending named migrations (idempotent; safe from many processes at once)."""

    @abstractmethod
    async def close(self) -> None:
        """Release connections (a later call opens new ones)."""

    @abstractmethod
    async def _op_set_limit(
        self, scope: str, new: int | None, actor: str, reason: str, at: datetime
    ) -> int | None:
        """Store the limit and its audit row; return the old limit."""

    @abstractmethod
    def _op_reserve(
        self, params: dict[str, Any], now: datetime | None, lease: timedelta
    ) -> Awaitable[tuple[SpendSummary | None, datetime]]:
        """Charge expired leases, then reserve: ``(None, lease end)`` when it fits.

        Otherwise ``(the month as it stands, lease end)``; :class:`RequestIdTaken`
        rolls back when the request id is in use.
        """

    @abstractmethod
    async def _op_renew(self, request_id: str, now: datetime | None, lease: timedelta) -> bool:
        """Move an open reservation's lease end to ``now + lease``."""

    @abstractmethod
    def _op_settle(self, settlement: Settlement, at: datetime) -> Awaitable[SpendSummary]:
        """Lock the entry, apply :func:`~.core.settlement_delta`, read its month.

        :class:`UnknownEntry` for an unknown request id.
        """

    @abstractmethod
    def _op_release(self, request_id: str, failed: bool, at: datetime) -> Awaitable[None]:
        """Release an open reservation, counting a failed call when ``failed``.

        Nothing for a closed one; :class:`UnknownEntry` for an unknown id.
        """

    @abstractmethod
    async def _op_correct(
        self, request_id: str, actual: int, actor: str, reason: str, at: datetime
    ) -> None:
        """Apply :func:`~.core.correction_delta` and audit it; :class:`UnknownEntry`."""

    @abstractmethod
    async def _op_charge_expired(self, now: datetime | None) -> int:
        """Charge every expired lease (unconfirmed); how many."""

    @abstractmethod
    async def _op_take_quota(self, model: str, windows: QuotaWindows) -> bool:
        """Count one request in every window, or none when one is full."""

    @abstractmethod
    async def _op_summary(self, scope: str, month: str, now: datetime | None) -> SpendSummary:
        """Charge the scope's expired leases if any, then read its month."""


def expired_charges(
    charged: Sequence[tuple[str, str, int]],
) -> list[tuple[str, str, BudgetDelta]]:
    """What leases that ended unsettled do to their months, one delta per month.

    Each reservation (rows of scope, month, amount) becomes an unconfirmed charge.
    """
    by_month: dict[tuple[str, str], int] = {}
    for scope, month, amount in charged:
        by_month[(scope, month)] = by_month.get((scope, month), 0) + amount
    return [
        (scope, month, BudgetDelta(reserved=-amount, spent=amount, unconfirmed=amount))
        for (scope, month), amount in sorted(by_month.items())
    ]
