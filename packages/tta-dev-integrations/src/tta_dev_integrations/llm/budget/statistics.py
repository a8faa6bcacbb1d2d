"""What the router learns from the ledger: each model's recent calls, errors and judgements.

Every call the ledger records also adds to its model's row of ``tta_model_days`` (per
tier and UTC day), in the same transaction; a judged answer adds to the day the verdict
came. The router reads the last
:data:`~tta_dev_integrations.llm.policy.WINDOW_DAYS` days of those rows: a bounded read
whatever the number of entries, and a window, so a model that changes is re-learnt.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, cast

from tta_dev_integrations.llm.budget.core import utc_day
from tta_dev_integrations.llm.budget.ledger import ModelStats, Preflight, SpendSummary
from tta_dev_integrations.llm.complexity import Complexity
from tta_dev_integrations.llm.policy import WINDOW_DAYS, Evidence

__all__ = ["DaysQuery", "LedgerStatistics", "TriedQuery"]

DaysQuery = tuple[list[str], str | None, int]
"""The models, the tier (``None``: all) and the first UTC day of a rollup read."""

TriedQuery = tuple[str, datetime] | None
"""The correlation id and the time from which tried models are read; ``None``: not read."""


class LedgerStatistics(ABC):
    """The statistics reads of a ledger, over a backend's ``_op_model_days``."""

    async def routing_evidence(
        self, models: Sequence[str], tier: str, *, now: datetime | None = None
    ) -> dict[str, Evidence]:
        """What the router has observed of each model on ``tier``, recently.

        The window is :data:`~tta_dev_integrations.llm.policy.WINDOW_DAYS` days; a model
        never called there is absent. Read from the per-day rollup, so it costs the same
        whatever the ledger's size.
        """
        return {
            model: Evidence(model, cast(Complexity, tier), judged, score, calls, errors, latency)
            for model, calls, errors, judged, score, latency in await self._window(
                models, tier, now
            )
        }

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
        """What a routed call reads before it is made, in one round trip to the ledger.

        The scope's month (leases of the scope that ended are charged first, as in
        ``summary``), each model's evidence on ``tier`` over the window (as in
        ``routing_evidence``) and, when ``tried_since`` is given, the models called under
        ``correlation_id`` since then (as in ``tried_models``; none for an empty id).
        """
        moment = None if now is None else _aware(now)
        wanted = list(dict.fromkeys(models))
        days: DaysQuery = (wanted, tier, utc_day(moment or datetime.now(UTC)) - WINDOW_DAYS + 1)
        tried: TriedQuery = None
        if tried_since is not None and correlation_id:
            tried = (correlation_id, _aware(tried_since))
        summary, rows, names = await self._op_preflight(scope, month, moment, days, tried)
        evidence = {
            model: Evidence(model, cast(Complexity, tier), judged, score, calls, errors, latency)
            for model, calls, errors, judged, score, latency in _sums(rows)
        }
        if tried_since is None:
            return Preflight(summary, evidence)
        return Preflight(summary, evidence, frozenset(names or ()))

    async def model_stats(self, models: Sequence[str]) -> dict[str, ModelStats]:
        """Observed outcomes per model over the window, all tiers together.

        Models never called are absent.
        """
        return {
            model: ModelStats(
                model,
                int(calls),
                int(calls - errors),
                round(score),
                round(judged - score),
                latency,
            )
            for model, calls, errors, judged, score, latency in await self._window(
                models, None, None
            )
        }

    async def _window(
        self, models: Sequence[str], tier: str | None, now: datetime | None
    ) -> list[tuple[str, float, float, float, float, float | None]]:
        wanted = list(dict.fromkeys(models))
        if not wanted:
            return []
        since = utc_day(now or datetime.now(UTC)) - WINDOW_DAYS + 1
        return _sums(await self._op_model_days(wanted, tier, since))

    @abstractmethod
    async def _op_model_days(
        self, models: list[str], tier: str | None, since_day: int
    ) -> list[tuple[Any, ...]]:
        """Per model (on ``tier``, or all tiers): the days from ``since_day`` on, summed.

        Rows of (model, calls, errors, judged, judged score, latency sum, latency count).
        """

    @abstractmethod
    async def _op_preflight(
        self, scope: str, month: str, now: datetime | None, days: DaysQuery, tried: TriedQuery
    ) -> tuple[SpendSummary, list[tuple[Any, ...]], list[str] | None]:
        """Several reads in one round trip.

        The month as ``_op_summary`` reads it, the rows of ``_op_model_days(*days)``
        (none when ``days`` names no model) and, unless ``tried`` is ``None``, the
        models tried under its correlation id since its time.
        """


def _aware(moment: datetime) -> datetime:
    """``moment`` in UTC (a naive one is taken as UTC)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _sums(
    rows: list[tuple[Any, ...]],
) -> list[tuple[str, float, float, float, float, float | None]]:
    """Rollup sums as (model, calls, errors, judged, judged score, mean latency)."""
    return [
        (
            model,
            float(calls),
            float(errors),
            float(judged),
            min(float(score), float(judged)),
            float(latency_sum) / float(latency_count) if latency_count else None,
        )
        for model, calls, errors, judged, score, latency_sum, latency_count in rows
    ]
