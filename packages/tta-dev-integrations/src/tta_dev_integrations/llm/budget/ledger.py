"""The spend ledger's interface: reserve before a paid call, settle after, prove every cent.

Money is integer micro-dollars (``1_000_000`` = $1). Budgets are per *scope* (who is
charged: ``"default"``, a project, a user, a team) and per calendar month in UTC
(``"2026-11"``). Backends (``sqlite.py``, ``postgres.py``) implement :class:`Ledger`
with the database's own guarantees; nothing here coordinates by hand.

A scope's *stored* limit (``tta_limits``) applies to every month and changes only by an
explicit, audited act (:meth:`Ledger.set_limit`, ``tta budget limit``). A caller may
also bring a cap of its own (``cap_micros``, an instance's ``monthly_limit``): a
reservation fits only under both, so many processes with the same cap share it.

The invariant every backend keeps, under any concurrency and any crash:
``spent + reserved <= min(stored limit, caller's cap)`` is never broken by a reservation
(a settlement may record more than was reserved, the truth, which then blocks the next
reservation), and a month's ``spent`` equals the sum of its settled entries. A
reservation whose lease ends unsettled (its worker died, maybe after the provider
billed) is charged at its reserved amount and marked *unconfirmed*, never released; a
late settlement or an operator's correction replaces that charge with the truth.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from tta_dev_integrations.llm.errors import LLMError

if TYPE_CHECKING:
    from tta_dev_integrations.llm.policy import Evidence

__all__ = [
    "MICROS_PER_USD",
    "BudgetExceededError",
    "EntryState",
    "Justification",
    "Ledger",
    "LedgerEntry",
    "LedgerUnavailableError",
    "LimitChange",
    "ModelStats",
    "Preflight",
    "QuotaWindows",
    "Reservation",
    "SpendSummary",
    "current_month",
    "quota_windows",
    "to_micros",
    "to_usd",
]

MICROS_PER_USD = 1_000_000

EntryState = Literal["reserved", "settled", "released", "free"]


def to_micros(usd: float) -> int:
    """Dollars to micro-dollars, rounded up (a reservation never under-counts)."""
    micros = usd * MICROS_PER_USD
    whole = int(micros)
    return whole if whole == micros else whole + 1


def to_usd(micros: int) -> float:
    """Micro-dollars to dollars."""
    return micros / MICROS_PER_USD


def current_month(now: datetime | None = None) -> str:
    """The budget period of ``now`` (default: now), as ``"YYYY-MM"`` in UTC."""
    return (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m")


class BudgetExceededError(LLMError):
    """A reservation did not fit in what is left of the month's limit."""

    def __init__(self, scope: str, month: str, needed: int, remaining: int) -> None:
        self.scope = scope
        self.month = month
        self.needed_micros = needed
        self.remaining_micros = remaining
        super().__init__(
            f"budget of scope {scope!r} for {month} has ${to_usd(remaining):.6f} left, the call "
            f"may cost up to ${to_usd(needed):.6f}; raise monthly_limit, lower max_tokens, or "
            "use a free model"
        )


class LedgerUnavailableError(LLMError):
    """The ledger could not be reached; paid calls fail closed."""


@dataclass(frozen=True, slots=True)
class Justification:
    """Why a paid model is worth it; stored with the paid call's entry."""

    reason: str
    free_alternatives_tried: tuple[str, ...] = ()
    expected_quality_delta: str = ""

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready form, for storage."""
        return {
            "reason": self.reason,
            "free_alternatives_tried": list(self.free_alternatives_tried),
            "expected_quality_delta": self.expected_quality_delta,
        }


@dataclass(frozen=True, slots=True)
class Reservation:
    """Money set aside for one paid call, until it is settled, released or its lease ends."""

    request_id: str
    scope: str
    month: str
    amount_micros: int
    lease_expires_at: datetime


@dataclass(frozen=True, slots=True)
class SpendSummary:
    """A scope's month: stored limit (``None``: none stored), spent, reserved, what remains.

    ``spent_micros`` is all the money recorded; ``estimated_micros`` and
    ``unconfirmed_micros`` are the parts of it that no provider measured: estimates
    (a stream cut short, usage not reported or not credible) and charges of leases that
    ended unsettled (a worker died after sending its call).
    """

    scope: str
    month: str
    limit_micros: int | None
    spent_micros: int
    reserved_micros: int
    estimated_micros: int = 0
    unconfirmed_micros: int = 0

    @property
    def remaining_micros(self) -> int | None:
        """What may still be reserved under the stored limit (``None`` without one)."""
        return self.remaining_under(None)

    def effective_limit(self, cap_micros: int | None) -> int | None:
        """The smaller of the stored limit and a caller's own cap (``None``: neither)."""
        limits = [x for x in (self.limit_micros, cap_micros) if x is not None]
        return min(limits) if limits else None

    def remaining_under(self, cap_micros: int | None) -> int | None:
        """What a caller with ``cap_micros`` may still reserve; never below 0."""
        limit = self.effective_limit(cap_micros)
        if limit is None:
            return None
        return max(0, limit - self.spent_micros - self.reserved_micros)

    @property
    def measured_micros(self) -> int:
        """Money a provider's own usage figures account for."""
        return self.spent_micros - self.estimated_micros - self.unconfirmed_micros


@dataclass(frozen=True, slots=True)
class LimitChange:
    """One audited change of a scope's stored limit (``None``: no limit)."""

    scope: str
    old_micros: int | None
    new_micros: int | None
    actor: str
    reason: str
    at: datetime


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One call as the ledger knows it (paid or free)."""

    request_id: str
    scope: str
    month: str
    model: str
    provider: str
    state: EntryState
    reserved_micros: int
    actual_micros: int
    created_at: datetime
    coder: str = "none"
    profile: str = ""
    correlation_id: str = ""
    justification: Justification | None = None
    justification_verified: bool | None = None
    ok: bool | None = None
    feedback_ok: bool | None = None
    latency_s: float | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    extra: Mapping[str, Any] = field(default_factory=dict)
    #: The cost came from the provider's usage figures (``False``: an estimate).
    measured: bool = True
    #: Charged at the reservation because its lease ended unsettled.
    unconfirmed: bool = False
    tier: str = ""


@dataclass(frozen=True, slots=True)
class ModelStats:
    """Observed outcomes of a model: what the router learns from."""

    model: str
    calls: int
    successes: int
    feedback_good: int
    feedback_bad: int
    mean_latency_s: float | None

    @property
    def success_rate(self) -> float | None:
        """Share of calls that succeeded, ``None`` before any call."""
        return self.successes / self.calls if self.calls else None


@dataclass(frozen=True, slots=True)
class Preflight:
    """What the router reads from the ledger before a call, in one round trip.

    ``summary``: the scope's month (leases that ended charged first); ``evidence``: each
    model's recent calls on the tier (models never called there are absent);
    ``tried``: the models the workflow called since the time asked, ``None`` when it
    was not asked.
    """

    summary: SpendSummary
    evidence: Mapping[str, Evidence]
    tried: frozenset[str] | None = None


@dataclass(frozen=True, slots=True)
class QuotaWindows:
    """The free-tier windows one request counts against, as every backend applies them.

    ``counted`` lists ``(kind, start, limit)`` for the windows that have a limit;
    ``refused`` is true when a limit of 0 refuses every request. Counters of windows that
    started before ``keep_minute_from`` / ``keep_day_from`` are no longer read.
    """

    counted: tuple[tuple[Literal["minute", "day"], datetime, int], ...]
    refused: bool
    keep_minute_from: datetime
    keep_day_from: datetime


def quota_windows(now: datetime, per_minute: int | None, per_day: int | None) -> QuotaWindows:
    """The UTC minute and day windows of ``now`` for the given limits (``None``: no limit)."""
    minute = now.astimezone(UTC).replace(second=0, microsecond=0)
    day = minute.replace(hour=0, minute=0)
    windows: tuple[tuple[Literal["minute", "day"], datetime, int | None], ...] = (
        ("minute", minute, per_minute),
        ("day", day, per_day),
    )
    counted = tuple((kind, start, limit) for kind, start, limit in windows if limit is not None)
    return QuotaWindows(
        counted=counted,
        refused=any(limit <= 0 for _, _, limit in counted),
        keep_minute_from=minute - timedelta(minutes=1),
        keep_day_from=day - timedelta(days=1),
    )


@runtime_checkable
class Ledger(Protocol):
    """What the universal primitive needs from a ledger backend. All methods are async.

    ``now`` parameters exist so tests can move time (lease expiry, quota windows).
    ``reserve`` and ``settle`` complete even when their caller is cancelled: a cancelled
    ``reserve`` gives its reservation back, a cancelled ``settle`` still records.
    """

    async def migrate(self) -> None:
        """Apply pending named migrations (idempotent; safe from many processes at once)."""
        ...

    async def set_limit(
        self, scope: str, limit_micros: int | None, *, actor: str | None = None, reason: str = ""
    ) -> LimitChange:
        """Store the scope's monthly limit (``None``: no limit), audited with who and why.

        The only way a stored limit changes. ``actor`` defaults to ``user@host``.
        """
        ...

    async def limit_changes(self, scope: str | None = None) -> Sequence[LimitChange]:
        """The audit trail of stored limits (of ``scope``, or all), oldest first."""
        ...

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

        It fits when the month's spent plus reserved plus the amount stays within the
        stored limit and within ``cap_micros`` (the caller's own limit). Raises
        :class:`BudgetExceededError` when it does not fit. Expired leases are charged
        first.
        """
        ...

    async def renew(self, request_id: str, lease_s: float, *, now: datetime | None = None) -> bool:
        """Extend an open reservation's lease to ``lease_s`` from now; ``False`` if closed."""
        ...

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

        Idempotent by ``request_id``: settling twice changes nothing. A settlement above
        the reservation is recorded as it is. Settling an entry charged *unconfirmed*
        (its lease ended first) replaces that charge with this cost. Returns the entry's
        month as the settlement left it (read in the same transaction).
        """
        ...

    async def release(self, request_id: str, *, failed: bool = False) -> None:
        """Give the reservation back without spending (no money moved). Idempotent.

        ``failed``: the provider failed the call (a failed call in the statistics).
        """
        ...

    async def correct(
        self, request_id: str, actual_micros: int, *, reason: str, actor: str | None = None
    ) -> None:
        """An operator's correction of a settled entry's cost (e.g. an unconfirmed one).

        The month's totals follow; the change is audited with ``reason`` and ``actor``.
        """
        ...

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
        """Record a $0 call (free model), for quotas, stats and justification checks."""
        ...

    async def reclaim_expired(self, now: datetime | None = None) -> int:
        """Charge reservations whose lease ended (unconfirmed); returns how many."""
        ...

    async def summary(self, scope: str, month: str, *, now: datetime | None = None) -> SpendSummary:
        """Stored limit, spent and reserved for the scope's month (expired leases charged)."""
        ...

    async def scopes(self) -> Sequence[str]:
        """Every scope the ledger knows (with a stored limit or any entry), sorted."""
        ...

    async def entries(self, scope: str, month: str) -> Sequence[LedgerEntry]:
        """Every entry of the scope's month, oldest first."""
        ...

    async def tried_models(self, correlation_id: str, since: datetime) -> set[str]:
        """Models called (successfully or not) under ``correlation_id`` since ``since``."""
        ...

    async def take_quota(
        self,
        model: str,
        *,
        per_minute: int | None,
        per_day: int | None,
        now: datetime | None = None,
    ) -> bool:
        """Count one request against a free tier's limits.

        Returns ``False`` (and counts nothing) when a window is full.
        """
        ...

    async def claim_alert(
        self, scope: str, month: str, threshold: float, spent_micros: int
    ) -> bool:
        """Record that the scope's month crossed ``threshold``; ``True`` for the first caller.

        However many processes cross a threshold together, exactly one is told to alert.
        """
        ...

    async def record_feedback(self, request_id: str, verdict: bool | float) -> None:
        """A judged answer: ``True``/``False`` or a score in [0, 1] (the latest counts)."""
        ...

    async def routing_evidence(
        self, models: Sequence[str], tier: str, *, now: datetime | None = None
    ) -> Mapping[str, Evidence]:
        """Each model's recent calls, errors and judged answers on ``tier``."""
        ...

    async def model_stats(self, models: Sequence[str]) -> dict[str, ModelStats]:
        """Observed outcomes per model over the window (models never called are absent)."""
        ...

    async def preflight(
        self,
        scope: str,
        month: str,
        models: Sequence[str],
        tier: str,
        *,
        correlation_id: str = "",
        tried_since: datetime | None = None,
        now: datetime | None = None,
    ) -> Preflight:
        """What a routed call reads before it is made, in one round trip.

        The month, the models' evidence on ``tier`` and (with ``tried_since``) the models
        tried under ``correlation_id``.
        """
        ...

    async def close(self) -> None:
        """Release connections."""
        ...
