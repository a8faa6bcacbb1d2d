"""The ledger's rules, once for every backend: checks, money arithmetic, rows, shared SQL.

A backend (``sqlite.py``, ``postgres.py``) holds only its connection handling and the
statements its dialect needs of its own; whatever decides about money lives here, so a
rule added once holds on both. Shared statements use ``:name`` parameters (SQLite's);
:func:`pyformat` turns them into psycopg's ``%(name)s``.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable, Generator, Mapping
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from tta_dev_integrations.llm.budget.ledger import EntryState, Justification, LedgerEntry

if TYPE_CHECKING:  # asyncio (and ssl, which it imports) loads when a call needs it
    import asyncio
    import concurrent.futures

__all__ = [
    "AUDIT",
    "CLAIM_ALERT",
    "COUNT_CALL",
    "ENSURE_BUDGET",
    "ENTRIES",
    "ENTRY_COLUMNS",
    "FEEDBACK",
    "FEEDBACK_ROLLUP",
    "INSERT_FREE",
    "INSERT_RESERVED",
    "LIMIT_CHANGES",
    "MAX_MICROS",
    "MOVE_MONEY",
    "RESERVE",
    "SCOPES",
    "STORED_LIMIT",
    "SUMMARY",
    "TAKE_QUOTA",
    "TRIED_MODELS",
    "BudgetDelta",
    "ThreadWork",
    "audit",
    "call_outcome",
    "check_lease",
    "check_micros",
    "correction_delta",
    "default_actor",
    "entry_from_row",
    "finish_despite_cancel",
    "justification_from",
    "justification_json",
    "pyformat",
    "settlement_delta",
    "utc_day",
]

T = TypeVar("T")

logger = logging.getLogger(__name__)

#: The largest amount the ledger accepts ($1,000,000,000): sums of a month's amounts stay
#: far inside a signed 64-bit integer on both databases.
MAX_MICROS = 10**15

#: Text kept of an audit reason; longer reasons are cut (and say so).
MAX_REASON_CHARS = 2_000

ENTRY_COLUMNS = (
    "request_id, scope, month, model, provider, state, reserved_micros, actual_micros, "
    "created_at, coder, profile, correlation_id, justification, justification_verified, "
    "ok, feedback_ok, latency_s, input_tokens, output_tokens, lease_expires_at, settled_at, "
    "measured, unconfirmed, tier"
)

# The one guarded statement of a reservation: it adds the amount only when the month
# stays within the caller's cap and within the scope's stored limit, both read by the
# statement itself, so no earlier step can fail open. The stored limit is read by an
# uncorrelated subquery (evaluated once per statement): on PostgreSQL, a concurrent
# reservation of the same row then makes the guard re-check against the newest row
# (EvalPlanQual); a correlated NOT EXISTS would be planned as an anti-join, which that
# re-check does not re-evaluate, and concurrent reservations could overspend.
RESERVE = """UPDATE tta_budgets SET reserved_micros = reserved_micros + :amount
    WHERE scope = :scope AND month = :month
      AND spent_micros + reserved_micros + :amount
          <= COALESCE(CAST(:cap AS BIGINT), 9223372036854775807)
      AND spent_micros + reserved_micros + :amount
          <= COALESCE((SELECT limit_micros FROM tta_limits WHERE scope = :scope),
                      9223372036854775807)"""

# A scope's month seen for the first time: its row, holding nothing yet.
ENSURE_BUDGET = """INSERT INTO tta_budgets (scope, month) VALUES (:scope, :month)
    ON CONFLICT (scope, month) DO NOTHING"""

INSERT_RESERVED = """INSERT INTO tta_entries (request_id, scope, month, model, provider,
        coder, profile, tier, correlation_id, state, reserved_micros, lease_expires_at,
        justification, justification_verified, created_at)
    VALUES (:request_id, :scope, :month, :model, :provider, :coder, :profile, :tier,
        :correlation_id, 'reserved', :amount, :lease_expires_at, :justification,
        :justification_verified, :now)
    ON CONFLICT (request_id) DO NOTHING"""

INSERT_FREE = """INSERT INTO tta_entries (request_id, scope, month, model, provider,
        coder, profile, tier, correlation_id, state, ok, latency_s, input_tokens,
        output_tokens, created_at, settled_at)
    VALUES (:request_id, :scope, :month, :model, :provider, :coder, :profile, :tier,
        :correlation_id, 'free', :ok, :latency_s, :input_tokens, :output_tokens, :now, :now)
    ON CONFLICT (request_id) DO NOTHING"""

# Every change of a month's money goes through this one statement.
MOVE_MONEY = """UPDATE tta_budgets SET reserved_micros = reserved_micros + :d_reserved,
        spent_micros = spent_micros + :d_spent,
        estimated_micros = estimated_micros + :d_estimated,
        unconfirmed_micros = unconfirmed_micros + :d_unconfirmed
    WHERE scope = :scope AND month = :month"""

SUMMARY = """SELECT b.spent_micros, b.reserved_micros, b.estimated_micros,
        b.unconfirmed_micros, (SELECT limit_micros FROM tta_limits WHERE scope = :scope)
    FROM tta_budgets b WHERE b.scope = :scope AND b.month = :month"""

STORED_LIMIT = """SELECT limit_micros FROM tta_limits WHERE scope = :scope"""

AUDIT = """INSERT INTO tta_audit (at, actor, action, scope, request_id, old_micros,
        new_micros, reason)
    VALUES (:at, :actor, :action, :scope, :request_id, :old, :new, :reason)"""

# Counts one request in a quota window unless the window is full.
TAKE_QUOTA = """INSERT INTO tta_quota_counters (model, window_kind, window_start, count)
    VALUES (:model, :kind, :start, 1)
    ON CONFLICT (model, window_kind, window_start) DO UPDATE
        SET count = tta_quota_counters.count + 1 WHERE tta_quota_counters.count < :limit"""

CLAIM_ALERT = """INSERT INTO tta_alerts (scope, month, threshold, spent_micros, fired_at)
    VALUES (:scope, :month, :threshold, :spent, :now)
    ON CONFLICT (scope, month, threshold) DO NOTHING"""

SCOPES = """SELECT scope FROM tta_limits UNION SELECT scope FROM tta_budgets ORDER BY 1"""

# A verdict on an answer: the model's day counts one more judged answer (or, for a
# verdict replacing an earlier one, the new score instead of the old), then the entry
# keeps the verdict. Judged answers count on the day the verdict came.
FEEDBACK_ROLLUP = """INSERT INTO tta_model_days (model, tier, day, judged, judged_score_sum)
    SELECT model, tier, :day, CASE WHEN feedback_score IS NULL THEN 1 ELSE 0 END,
        :score - COALESCE(feedback_score, 0)
    FROM tta_entries WHERE request_id = :request_id AND state IN ('settled', 'free')
    ON CONFLICT (tier, model, day) DO UPDATE SET
        judged = tta_model_days.judged + excluded.judged,
        judged_score_sum = tta_model_days.judged_score_sum + excluded.judged_score_sum"""

FEEDBACK = """UPDATE tta_entries SET feedback_ok = :ok, feedback_score = :score
    WHERE request_id = :request_id AND state IN ('settled', 'free')"""

# One call's outcome added to its model's day (in the transaction that records the call).
COUNT_CALL = """INSERT INTO tta_model_days (model, tier, day, calls, errors, latency_sum,
        latency_count)
    VALUES (:model, :tier, :day, 1, :errors, :latency_sum, :latency_count)
    ON CONFLICT (tier, model, day) DO UPDATE SET
        calls = tta_model_days.calls + 1,
        errors = tta_model_days.errors + excluded.errors,
        latency_sum = tta_model_days.latency_sum + excluded.latency_sum,
        latency_count = tta_model_days.latency_count + excluded.latency_count"""

ENTRIES = f"""SELECT {ENTRY_COLUMNS} FROM tta_entries
    WHERE scope = :scope AND month = :month ORDER BY created_at, request_id"""

TRIED_MODELS = """SELECT DISTINCT model FROM tta_entries
    WHERE correlation_id = :correlation_id AND created_at >= :since"""

LIMIT_CHANGES = """SELECT scope, old_micros, new_micros, actor, reason, at FROM tta_audit
    WHERE action = 'limit' AND (CAST(:scope AS TEXT) IS NULL OR scope = :scope) ORDER BY id"""

_NAMED = re.compile(r"(?<![:\w]):([a-z_][a-z0-9_]*)")


def audit(
    at: object,
    actor: str,
    action: str,
    scope: str,
    *,
    old: int | None,
    new: int | None,
    reason: str,
    request_id: str | None = None,
) -> dict[str, Any]:
    """The parameters of :data:`AUDIT` (``at`` in the backend's time representation)."""
    return {
        "at": at,
        "actor": actor,
        "action": action,
        "scope": scope,
        "request_id": request_id,
        "old": old,
        "new": new,
        "reason": reason,
    }


def utc_day(moment: datetime) -> int:
    """The UTC day of ``moment`` as days since 1970-01-01 (the statistics' bucket)."""
    return int(moment.timestamp() // 86_400)


def call_outcome(
    model: str, tier: str, moment: datetime, *, ok: bool, latency_s: float | None
) -> dict[str, Any]:
    """The parameters of :data:`COUNT_CALL` for one call that ended at ``moment``."""
    return {
        "model": model,
        "tier": tier,
        "day": utc_day(moment),
        "errors": 0 if ok else 1,
        "latency_sum": latency_s or 0.0,
        "latency_count": 0 if latency_s is None else 1,
    }


def pyformat(statement: str) -> str:
    """A shared statement with psycopg's ``%(name)s`` parameters instead of ``:name``."""
    return _NAMED.sub(r"%(\1)s", statement)


def check_micros(name: str, value: object, *, none_ok: bool = False) -> int | None:
    """``value`` as an amount of micro-dollars, or ``ValueError`` naming ``name``.

    Booleans, floats and strings are refused (``True`` is not one micro-dollar); so are
    negative amounts and amounts above :data:`MAX_MICROS`.
    """
    if value is None and none_ok:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        kind = "an integer number of micro-dollars" + (" or None" if none_ok else "")
        raise ValueError(f"{name} must be {kind}, got {value!r}")
    if not 0 <= value <= MAX_MICROS:
        raise ValueError(f"{name} must be between 0 and {MAX_MICROS} micro-dollars, got {value}")
    return value


def check_lease(lease_s: object) -> float:
    """A lease length in seconds: a finite number above 0."""
    if isinstance(lease_s, bool) or not isinstance(lease_s, int | float):
        raise ValueError(f"lease_s must be a number of seconds, got {lease_s!r}")
    if not 0 < lease_s < 366 * 86_400:
        raise ValueError(f"lease_s must be above 0 and under a year, got {lease_s!r}")
    return float(lease_s)


def audit_reason(reason: str) -> str:
    """An audit reason as stored: whitespace trimmed, cut at :data:`MAX_REASON_CHARS`."""
    text = str(reason).strip()
    if len(text) > MAX_REASON_CHARS:
        return text[: MAX_REASON_CHARS - 12] + " [truncated]"
    return text


def default_actor() -> str:
    """Who changes a limit when nobody says: ``user@host`` of this process."""
    import getpass
    import socket

    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def justification_json(justification: Justification | None) -> str | None:
    """The stored (JSON) form of a justification."""
    return None if justification is None else json.dumps(justification.as_dict())


def justification_from(data: str | Mapping[str, Any] | None) -> Justification | None:
    """A justification read back (JSON text on SQLite, a mapping from PostgreSQL)."""
    if data is None:
        return None
    fields = json.loads(data) if isinstance(data, str) else data
    return Justification(
        reason=str(fields.get("reason", "")),
        free_alternatives_tried=tuple(str(a) for a in fields.get("free_alternatives_tried", ())),
        expected_quality_delta=str(fields.get("expected_quality_delta", "")),
    )


def _flag(value: object) -> bool | None:
    return None if value is None else bool(value)


def entry_from_row(row: tuple[Any, ...], utc: Callable[[Any], datetime]) -> LedgerEntry:
    """An entry from a row of :data:`ENTRY_COLUMNS`; ``utc`` reads the backend's times."""
    (request_id, scope, month, model, provider, state, reserved, actual, created_at,
     coder, profile, correlation_id, justification, verified, ok, feedback_ok, latency_s,
     input_tokens, output_tokens, lease_expires_at, settled_at, measured, unconfirmed,
     tier) = row  # fmt: skip
    extra: dict[str, Any] = {}
    if lease_expires_at is not None:
        extra["lease_expires_at"] = utc(lease_expires_at)
    if settled_at is not None:
        extra["settled_at"] = utc(settled_at)
    entry_state: EntryState = state
    return LedgerEntry(
        request_id=request_id,
        scope=scope,
        month=month,
        model=model,
        provider=provider,
        state=entry_state,
        reserved_micros=int(reserved),
        actual_micros=int(actual),
        created_at=utc(created_at),
        coder=coder,
        profile=profile,
        correlation_id=correlation_id,
        justification=justification_from(justification),
        justification_verified=_flag(verified),
        ok=_flag(ok),
        feedback_ok=_flag(feedback_ok),
        latency_s=latency_s,
        input_tokens=int(input_tokens),
        output_tokens=int(output_tokens),
        extra=extra,
        measured=bool(measured),
        unconfirmed=bool(unconfirmed),
        tier=tier,
    )


@dataclass(frozen=True, slots=True)
class BudgetDelta:
    """How one event moves a month's money (the parameters of :data:`MOVE_MONEY`)."""

    reserved: int = 0
    spent: int = 0
    estimated: int = 0
    unconfirmed: int = 0

    def params(self, scope: str, month: str) -> dict[str, Any]:
        """The parameters of :data:`MOVE_MONEY` for the scope's month."""
        return {
            "scope": scope,
            "month": month,
            "d_reserved": self.reserved,
            "d_spent": self.spent,
            "d_estimated": self.estimated,
            "d_unconfirmed": self.unconfirmed,
        }

    def lowers_only(self) -> bool:
        """Whether the month holds no more money after it (reserved plus spent).

        Forgetting such a change (a power cut before its commit reached the disk) can
        only over-count the month, never under-count it.
        """
        return self.reserved + self.spent <= 0


def settlement_delta(
    *,
    state: str,
    reserved: int,
    old_actual: int,
    old_unconfirmed: bool,
    actual: int,
    measured: bool,
) -> BudgetDelta | None:
    """What settling an entry at ``actual`` does to its month; ``None``: nothing changes.

    - an open reservation: its amount is freed and ``actual`` spent;
    - a released one (given back, then served after all): ``actual`` is spent;
    - one charged *unconfirmed* at lease expiry: ``actual`` replaces that charge;
    - anything else (settled already, a free call): settling again changes nothing.
    """
    estimated = 0 if measured else actual
    if state == "reserved":
        return BudgetDelta(reserved=-reserved, spent=actual, estimated=estimated)
    if state == "released":
        return BudgetDelta(spent=actual, estimated=estimated)
    if state == "settled" and old_unconfirmed:
        return BudgetDelta(spent=actual - old_actual, estimated=estimated, unconfirmed=-old_actual)
    return None


def correction_delta(
    *, old_actual: int, old_measured: bool, old_unconfirmed: bool, actual: int
) -> BudgetDelta:
    """What an operator's correction of a settled entry to ``actual`` does to its month.

    The corrected cost counts as measured (the operator read it off the provider's bill).
    """
    if old_unconfirmed:
        return BudgetDelta(spent=actual - old_actual, unconfirmed=-old_actual)
    if not old_measured:
        return BudgetDelta(spent=actual - old_actual, estimated=-old_actual)
    return BudgetDelta(spent=actual - old_actual)


#: Work that must finish although its caller was cancelled (see finish_despite_cancel).
_FINISHING: set[asyncio.Future[Any]] = set()


class ThreadWork(Generic[T]):
    """Work handed to a worker thread, which finishes it whatever happens to its awaiter.

    Awaiting it awaits the thread's result. :func:`finish_despite_cancel` needs no task
    and no shield for it: a cancelled caller still finds the work's outcome on
    :attr:`done` (cancelled there only if the work never started).
    """

    __slots__ = ("done",)

    def __init__(self, done: concurrent.futures.Future[T]) -> None:
        self.done = done

    def __await__(self) -> Generator[Any, None, T]:
        import asyncio

        return asyncio.wrap_future(self.done).__await__()


async def finish_despite_cancel(
    work: Awaitable[T],
    *,
    undo: Callable[[T], Awaitable[object]] | None = None,
    wait_s: float = 30.0,
) -> T:
    """Await ``work`` to the end even if the caller is cancelled meanwhile.

    Money that moved must be recorded whatever happens to the caller: a cancelled caller
    still waits (up to ``wait_s``) for ``work`` to finish, then ``undo`` runs on its
    result (a reservation nobody will use is given back), and only then does the
    cancellation go on. A caller cancelled again while waiting leaves ``work`` (and its
    undo) running in the background: it still completes. A coroutine runs in a task of
    its own for that; a :class:`ThreadWork` is awaited directly.
    """
    import asyncio

    if isinstance(work, ThreadWork):
        done: concurrent.futures.Future[T] = work.done
        try:
            return await asyncio.wrap_future(done)
        except asyncio.CancelledError:
            if done.cancelled():  # it never started: nothing happened
                raise
            await _see_through(asyncio.wrap_future(done), undo, wait_s)
            raise
    task = asyncio.ensure_future(work)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        await _see_through(task, undo, wait_s)
        raise


async def _see_through(
    task: asyncio.Future[T], undo: Callable[[T], Awaitable[object]] | None, wait_s: float
) -> None:
    """Wait (up to ``wait_s``) for a cancelled caller's work to finish, then undo it."""
    import asyncio

    finishing = asyncio.ensure_future(_finish(task, undo))
    _FINISHING.add(finishing)
    finishing.add_done_callback(_FINISHING.discard)
    # Cancelled again, or out of time: it goes on in the background, the caller's
    # cancellation goes on now.
    with suppress(asyncio.CancelledError, TimeoutError):
        await asyncio.wait_for(asyncio.shield(finishing), wait_s)


async def _finish(task: asyncio.Future[T], undo: Callable[[T], Awaitable[object]] | None) -> None:
    try:
        result = await task
    except Exception:  # the work failed: nothing was done, nothing to undo
        return
    if undo is not None:
        try:
            await undo(result)
        except Exception:  # nobody awaits this any more: log it, never raise
            logger.warning("could not undo work of a cancelled caller", exc_info=True)
