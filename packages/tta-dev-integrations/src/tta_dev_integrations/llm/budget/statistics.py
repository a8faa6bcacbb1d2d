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
from tta_dev_integrations.llm.budget.ledger import ModelStats
from tta_dev_integrations.llm.complexity import Complexity
from tta_dev_integrations.llm.policy import WINDOW_DAYS, Evidence

__all__ = ["LedgerStatistics"]


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
        rows = await self._op_model_days(wanted, tier, since)
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

    @abstractmethod
    async def _op_model_days(
        self, models: list[str], tier: str | None, since_day: int
    ) -> list[tuple[Any, ...]]:
        """Per model (on ``tier``, or all tiers): the days from ``since_day`` on, summed.

        Rows of (model, calls, errors, judged, judged score, latency sum, latency count).
        """
