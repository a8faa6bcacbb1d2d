"""What the budget layer reports: its Prometheus metrics and the alert it hands out."""

from __future__ import annotations

from tta_dev_primitives.observability import declare_metric

__all__ = [
    "ALERTS",
    "DECISIONS",
    "PAID_CALLS",
    "QUOTA_EXHAUSTED",
    "REMAINING",
    "RESERVED",
    "SPENT",
    "BudgetAlert",
]

SPENT = declare_metric(
    "tta_budget_spent_usd",
    "gauge",
    "Dollars spent this month, per scope and profile (as the ledger last reported).",
    ("scope", "profile"),
    unit="usd",
)
RESERVED = declare_metric(
    "tta_budget_reserved_usd",
    "gauge",
    "Dollars reserved for paid calls under way, per scope and profile.",
    ("scope", "profile"),
    unit="usd",
)
REMAINING = declare_metric(
    "tta_budget_remaining_usd",
    "gauge",
    "Dollars left under the monthly limit, per scope and profile (absent without a limit).",
    ("scope", "profile"),
    unit="usd",
)
PAID_CALLS = declare_metric(
    "tta_llm_paid_calls_total",
    "counter",
    "Paid LLM calls, by whether their justification was verified against the ledger.",
    ("profile", "justification"),
)
DECISIONS = declare_metric(
    "tta_llm_routing_decisions_total",
    "counter",
    "Routing decisions, by chosen model and reason code.",
    ("profile", "model", "reason"),
)
QUOTA_EXHAUSTED = declare_metric(
    "tta_llm_free_quota_exhausted_total",
    "counter",
    "Times a free model was skipped because its free-tier quota was used up.",
    ("model",),
)
ALERTS = declare_metric(
    "tta_budget_alerts_total",
    "counter",
    "Budget thresholds crossed, by threshold (0.5, 0.8, 1.0 of the limit).",
    ("scope", "threshold"),
)


class BudgetAlert:
    """A budget threshold crossed: handed to ``on_budget_alert`` once per crossing."""

    __slots__ = ("limit_usd", "month", "scope", "spent_usd", "threshold")

    def __init__(
        self, scope: str, month: str, threshold: float, spent_usd: float, limit_usd: float
    ) -> None:
        self.scope = scope
        self.month = month
        self.threshold = threshold
        self.spent_usd = spent_usd
        self.limit_usd = limit_usd

    def __repr__(self) -> str:
        return (
            f"BudgetAlert(scope={self.scope!r}, month={self.month!r}, "
            f"threshold={self.threshold}, spent_usd={self.spent_usd:.4f}, "
            f"limit_usd={self.limit_usd:.2f})"
        )
